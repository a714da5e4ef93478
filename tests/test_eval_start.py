"""`cimdse eval RUN_DIR --trial N [--export design.yaml]` and `cimdse eval isaac`: a trial of a finished run
re-scored, a published chip as the starting point (issue 18 items 3 and 4)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from _small_sweep import sweep, write_small
from click.testing import CliRunner

from cimdse.cli import main


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("evaltrial")
    f = write_small(tmp, "random", 12, "evaltrial", 4)
    out = tmp / "run"
    r = sweep(f, "--out", out, "--quiet", "--no-plots")
    assert r.exit_code == 0, r.output
    return out


def _eval(*args):
    return CliRunner().invoke(main, ["eval", *map(str, args)])


def test_a_trial_rescored_gives_its_recorded_metrics(run_dir):
    df = pd.read_csv(run_dir / "trials.csv")
    row = df.iloc[5]
    r = _eval(run_dir, "--trial", int(row["trial"]), "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    # the run's workload (gpt2, batch 1, 32 + 8 tokens) and the trial's parameters
    assert out["workload"]["model"] == "gpt2" and out["workload"]["prompt_tokens"] == 32
    assert out["design"]["device"] == row["device"] and out["design"]["tiles"] == row["tiles"]
    for m in ("energy_per_token_uj", "tpot_ms", "area_mm2", "equivalent_bits"):
        assert out["metrics"][m] == pytest.approx(row[m], rel=1e-8), m   # trials.csv keeps 10 significant digits
    assert out["feasible"] == bool(row["feasible"])


def test_export_writes_a_design_file_that_eval_reads_back(run_dir, tmp_path):
    trial = int(pd.read_csv(run_dir / "trials.csv")["trial"].iloc[2])
    path = tmp_path / "d.yaml"
    r = _eval(run_dir, "--trial", trial, "--export", path)
    assert r.exit_code == 0 and f"wrote {path}" in r.output, r.output
    a = json.loads(_eval(run_dir, "--trial", trial, "--json").output)
    b = json.loads(_eval(path, "--json").output)
    assert a["design"] == b["design"] and a["metrics"] == b["metrics"] and a["workload"] == b["workload"]


@pytest.mark.parametrize("args, words", [
    (("RUN",), "needs --trial N"),
    (("--trial", 3), "--trial needs a run folder"),
    (("RUN", "--trial", 999), "no trial 999 in this run"),
    (("RUN", "--trial", 0, "--export", "d.txt"), "ending in .yaml"),
])
def test_bad_trial_options_give_one_line_and_exit_2(run_dir, tmp_path, args, words):
    args = [run_dir if a == "RUN" else (tmp_path / a if a == "d.txt" else a) for a in args]
    r = _eval(*args)
    assert r.exit_code == 2 and words in r.output, r.output
    assert len(r.output.strip().splitlines()) == 1
    assert not (tmp_path / "d.txt").exists()


def test_a_folder_that_is_not_a_run_is_refused(tmp_path):
    r = _eval(tmp_path, "--trial", 0)
    assert r.exit_code == 2 and "trials.csv" in r.output and len(r.output.strip().splitlines()) == 1


def test_a_published_chip_is_a_starting_point():
    """`cimdse eval isaac` and `cimdse eval cimdse/reference/isaac.yaml` score ISAAC's design on its workload, the
    value `cimdse check` records; --set changes it from there (issue 18 item 3)."""
    import yaml

    from cimdse.reference import folder

    recorded = yaml.safe_load((folder() / "_recorded.yaml").read_text())["recorded"]["isaac"]
    for spec in ("isaac", folder() / "isaac.yaml"):
        out = json.loads(_eval(spec, "--json").output)
        assert out["design"]["tiles"] == 168 and out["workload"]["model"] == "gpt2"
        assert out["metrics"]["peak_tops"] == pytest.approx(recorded["peak_tops"], rel=1e-9)
    # ISAAC's 168 tiles x 96 crossbars at 2 x 128 x 16 MACs per 16 x 100 ns MVM: peak_tops scales with the tiles
    half = json.loads(_eval("isaac", "--set", "tiles=84", "--json").output)
    assert half["metrics"]["peak_tops"] == pytest.approx(recorded["peak_tops"] / 2, rel=1e-9)


def test_an_unknown_reference_name_suggests_the_closest():
    r = _eval("isaak")
    assert r.exit_code == 2 and "did you mean 'isaac'" in r.output and len(r.output.strip().splitlines()) == 1


def test_a_sweep_around_a_published_chip(tmp_path):
    """`base: isaac`: every trial carries ISAAC's design except what `space` searches and `fixed` sets; the
    workload is ISAAC's reference workload when the sweep names none."""
    f = tmp_path / "around.yaml"
    f.write_text("name: around\nbase: isaac\nspace: {adc_bits: [6, 7, 8]}\nfixed: {tiles: 84}\n"
                 "objectives: {energy_per_token_uj: minimize, peak_tops: maximize}\n"
                 "search: {sampler: exhaustive}\n")
    r = sweep(f, "--out", tmp_path / "run", "--quiet", "--no-plots")
    assert r.exit_code == 0, r.output
    df = pd.read_csv(tmp_path / "run" / "trials.csv")
    assert sorted(df["adc_bits"]) == [6, 7, 8]
    assert set(df["tiles"]) == {84} and set(df["rows"]) == {128} and set(df["weight_encoding"]) == {"offset"}
    assert set(df["adc_ns"]) == {0.78} and set(df["input_bits"]) == {16}


@pytest.mark.parametrize("base, words", [("isaak", "did you mean 'isaac'"), ("[1, 2]", "expected a reference name")])
def test_a_bad_base_is_one_line(tmp_path, base, words):
    f = tmp_path / "bad.yaml"
    f.write_text(f"name: bad\nbase: {base}\nspace: {{adc_bits: [6, 8]}}\nobjectives: {{area_mm2: minimize}}\n")
    r = sweep(f, "--out", tmp_path / "run", "--quiet")
    assert r.exit_code == 2 and words in r.output and "base" in r.output, r.output
    assert len(r.output.strip().splitlines()) == 1 and not (tmp_path / "run").exists()
