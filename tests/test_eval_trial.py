"""`cimdse eval RUN_DIR --trial N [--export design.yaml]`: a trial of a finished run re-scored (issue 18 item 4)."""

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
