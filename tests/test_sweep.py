"""End-to-end sweeps through the real CLI: every sampler, determinism, exhaustive, kill-and-resume, bad files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _small_sweep import front_trials, sweep, write_small

from cimdse.cost import evaluate
from cimdse.cost.model import METRICS
from cimdse.cost.params import PARAMS


def write(tmp_path: Path, sampler="tpe", trials=24, name="t") -> Path:
    return write_small(tmp_path, sampler, trials, name, batch=8)


def brute_front(df, objs):
    feas = df[df["feasible"]]
    v = np.column_stack([feas[k] * (1 if d == "minimize" else -1) for k, d in objs])
    keep = []
    for i in range(len(v)):
        dominated = np.any(np.all(v <= v[i], axis=1) & np.any(v < v[i], axis=1))
        keep.append(not dominated)
    return set(feas["trial"][np.array(keep)])


@pytest.mark.parametrize("sampler", ["tpe", "nsga2", "nsga3", "random", "qmc", "grid", "exhaustive"])
def test_each_sampler_writes_run(tmp_path, sampler):
    out = tmp_path / "run"
    r = sweep(write(tmp_path, sampler), "--out", out, "--quiet")
    assert r.exit_code == 0, r.output
    df = pd.read_csv(out / "trials.csv")
    expected = 3 * 3 * 6 * 3 if sampler == "exhaustive" else 24
    assert len(df) == expected and df["trial"].is_unique
    for col in ["trial", *PARAMS, *METRICS, "feasible", "violation"]:
        assert col in df.columns, col
    front = pd.read_csv(out / "pareto.csv")
    objs = [("energy_per_token_uj", "minimize"), ("sqnr_db", "maximize")]
    assert front_trials(front) == brute_front(df, objs)
    assert not front.duplicated([p for p in PARAMS]).any()  # each distinct design once
    assert (out / "run.yaml").exists() and (out / "pareto.png").stat().st_size > 1000
    assert front["energy_per_token_uj"].is_monotonic_increasing


def test_same_seed_same_bytes(tmp_path):
    f = write(tmp_path, "tpe", 32)
    for out in ("a", "b"):
        assert sweep(f, "--out", tmp_path / out, "--quiet").exit_code == 0
    for name in ("trials.csv", "pareto.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_exhaustive_matches_one_by_one(tmp_path):
    out = tmp_path / "ex"
    assert sweep(write(tmp_path, "exhaustive"), "--out", out, "--quiet").exit_code == 0
    df = pd.read_csv(out / "trials.csv")
    from cimdse.workload import Scenario

    sc = Scenario(batch=1, prompt_tokens=32, generate_tokens=8)
    for i in range(0, len(df), 17):
        row = df.iloc[i]
        d = {k: (row[k] if PARAMS[k].kind == "cat" else float(row[k])) for k in PARAMS}
        one = evaluate([d], "gpt2", sc).iloc[0]
        for m in METRICS:
            assert one[m] == pytest.approx(row[m], rel=1e-9), m


def test_interrupted_sweep_resumes_to_exact_count(tmp_path):
    f = write(tmp_path, "tpe", 120, name="killme")
    out = tmp_path / "kill"
    cmd = [sys.executable, "-m", "cimdse", "sweep", str(f), "--out", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    journal = out / "study.journal"
    deadline = time.time() + 60
    while time.time() < deadline and (not journal.exists() or journal.stat().st_size < 20000):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    df = pd.read_csv(out / "trials.csv")
    assert len(df) == 120 and df["trial"].is_unique


@pytest.mark.parametrize("body,key", [
    ("name: x\nspace: {rowz: [1]}\nobjectives: {area_mm2: minimize}\n", "space.rowz"),
    ("name: x\nspace: {rows: []}\nobjectives: {area_mm2: minimize}\n", "space.rows"),
    ("name: x\nspace: {adc_bits: {low: 9, high: 3}}\nobjectives: {area_mm2: minimize}\n", "space.adc_bits"),
    ("name: x\nspace: {rows: [64]}\nobjectives: {area_mm3: minimize}\n", "objectives.area_mm3"),
    ("name: x\nspace: {rows: [64]}\nobjectives: {area_mm2: minimise}\n", "objectives.area_mm2"),
    ("name: x\nspace: {rows: [64]}\nobjectives: {area_mm2: minimize}\nconstraints: ['area_mm2 <<= 3']\n",
     "constraints[0]"),
    ("name: x\nspace: {rows: [64]}\nobjectives: {area_mm2: minimize}\n"
     "constraints: ['area_mm2 <= 3', 'area_mm2 >= 5']\n", "constraints"),
    ("name: x\nspace: {rows: [64]}\nobjectives: {area_mm2: minimize}\nsearch: {sampler: annealing}\n",
     "search.sampler"),
    ("name: x\nspace: {rows: [64\n", ""),
    ("name: x\nspace: {clock_ghz: {low: 0.5, high: 2}}\nobjectives: {area_mm2: minimize}\n"
     "search: {sampler: exhaustive}\n", "space.clock_ghz"),
])
def test_bad_sweep_files(tmp_path, body, key):
    f = tmp_path / "bad.yaml"
    f.write_text(body)
    os.chdir(tmp_path)
    r = sweep(f)
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and str(f) in lines[0] and key in lines[0], r.output
    assert not (tmp_path / "results").exists()


def test_other_sweeps_folder_refused(tmp_path):
    out = tmp_path / "shared"
    assert sweep(write(tmp_path, "random", 8, "one"), "--out", out, "--quiet").exit_code == 0
    r = sweep(write(tmp_path, "random", 8, "two"), "--out", out, "--quiet")
    assert r.exit_code == 2 and "different sweep" in r.output
    assert sweep(write(tmp_path, "random", 8, "two"), "--out", out, "--quiet", "--fresh").exit_code == 0


def test_shipped_sweeps_parse():
    from cimdse.config import load_sweep

    for f in sorted(Path(__file__).parent.parent.joinpath("sweeps").glob("*.yaml")):
        assert load_sweep(f).search.trials >= 1


def test_no_plots_writes_tables_only(tmp_path):
    from click.testing import CliRunner

    from cimdse.cli import main

    out = tmp_path / "run"
    quickstart = Path(__file__).resolve().parent.parent / "sweeps" / "quickstart.yaml"
    r = CliRunner().invoke(main, ["sweep", str(quickstart), "--trials", "20", "--out", str(out),
                                  "--quiet", "--no-plots"])
    assert r.exit_code == 0, r.output
    assert {"trials.csv", "pareto.csv", "run.yaml"} <= {p.name for p in out.iterdir()}
    assert not list(out.glob("*.png"))


def test_batched_sync_journal_writes_optunas_own_journal_lines(tmp_path):
    """The batched-fsync journal backend writes exactly the lines Optuna's own JournalFileBackend writes for the
    same trials (worker ids aside), and Optuna's own backend reads them back as the same trials."""
    import json

    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend
    from optuna.trial import TrialState, create_trial

    from cimdse.search.optuna_api import journal_backend

    dists = {"device": CategoricalDistribution(["sram", "rram"]), "adc_bits": IntDistribution(3, 10),
             "vdd": FloatDistribution(0.3, 1.0, log=True)}
    trials = [create_trial(params={"device": "rram", "adc_bits": 7, "vdd": 0.55}, distributions=dists,
                           values=[1.5, -2.0], system_attrs={"constraints": [0.0, 1.0], "nsga2:generation": 3},
                           user_attrs={"note": "x", "energy_per_token_uj": 1.5}),
              create_trial(params={"device": "sram", "adc_bits": 3, "vdd": 1.0}, distributions=dists,
                           state=TrialState.FAIL)]
    lines = {}
    for how, backend in (("optuna", JournalFileBackend), ("cimdse", journal_backend)):
        path = str(tmp_path / f"{how}.journal")
        study = optuna.create_study(storage=JournalStorage(backend(path)), directions=["minimize", "maximize"],
                                    study_name="s")
        study.set_metric_names(["energy_per_token_uj", "sqnr_db"])
        study.add_trials(trials)
        lines[how] = [json.loads(line) for line in Path(path).read_text().splitlines()]
        for line in lines[how]:
            line.pop("worker_id", None)
        back = optuna.load_study(study_name="s", storage=JournalStorage(JournalFileBackend(path)))
        assert back.metric_names == ["energy_per_token_uj", "sqnr_db"]
        assert [(t.params, t.values, t.state, t.system_attrs, t.user_attrs) for t in back.get_trials()] == \
            [(t.params, t.values, t.state, t.system_attrs, t.user_attrs) for t in trials]
    assert lines["cimdse"] == lines["optuna"]




def test_timeout_says_timeout_and_a_finished_run_says_complete(tmp_path):
    """A sweep stopped by search.timeout before its budget records status: timeout (it used to say complete)."""
    import yaml

    f = write(tmp_path, "random", trials=100000)
    f.write_text(f.read_text().replace("seed: 3,", "seed: 3, timeout: 0.5,"))
    r = sweep(f, "--out", tmp_path / "t", "--quiet", "--no-plots")
    assert r.exit_code == 0, r.output
    rec = yaml.safe_load((tmp_path / "t" / "run.yaml").read_text())
    assert rec["status"] == "timeout" and 0 < rec["completed_trials"] < 100000
    r = sweep(write(tmp_path, "random", trials=16), "--out", tmp_path / "c", "--quiet", "--no-plots")
    assert r.exit_code == 0, r.output
    assert yaml.safe_load((tmp_path / "c" / "run.yaml").read_text())["status"] == "complete"


def test_front_lists_each_design_once_with_the_trials_that_found_it(tmp_path):
    """Random sampling of a 4-design space repeats designs: pareto.csv holds each distinct design once, its row is
    the first trial that found it, and found_in_trials names every trial of trials.csv with that design."""
    f = tmp_path / "tiny.yaml"
    f.write_text(SMALL_TINY)
    r = sweep(f, "--out", tmp_path / "run", "--quiet")
    assert r.exit_code == 0, r.output
    df = pd.read_csv(tmp_path / "run" / "trials.csv")
    front = pd.read_csv(tmp_path / "run" / "pareto.csv", dtype={"found_in_trials": str})
    assert len(df) == 30 and not front.duplicated(list(PARAMS)).any()
    assert max(len(v.split()) for v in front["found_in_trials"]) > 1  # repeats happened and are listed
    for _, row in front.iterrows():
        same = df[(df[list(PARAMS)] == row[list(PARAMS)]).all(axis=1)]["trial"].tolist()
        assert row["found_in_trials"].split() == [str(t) for t in sorted(same)] and row["trial"] == min(same)
    assert f"Pareto front {len(front)} " in r.output


SMALL_TINY = """
name: tiny
workload: {model: gpt2, batch: 1, prompt_tokens: 32, generate_tokens: 8}
space: {device: [sram, rram], adc_bits: [4, 8]}
fixed: {bits_per_cell: 1, chips: 1}
objectives: {energy_per_token_uj: minimize, sqnr_db: maximize}
search: {sampler: random, trials: 30, seed: 3, batch_size: 10}
"""


def test_study_holds_metric_names_and_every_metric_as_user_attributes(tmp_path):
    """optuna-dashboard reads the journal: named objectives, and each trial's metrics equal to trials.csv's."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    out = tmp_path / "run"
    for extra in ((), ("--workers", 2)):  # one process (in-memory copy, add_trials) and shared workers
        r = sweep(write(tmp_path, "tpe", trials=16), "--out", out, "--quiet", "--no-plots", "--fresh", *extra)
        assert r.exit_code == 0, r.output
        study = optuna.load_study(study_name="t", storage=JournalStorage(JournalFileBackend(
            str(out / "study.journal"))))
        assert study.metric_names == ["energy_per_token_uj", "sqnr_db"]
        df = pd.read_csv(out / "trials.csv").set_index("trial")
        done = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
        assert len(done) == 16
        for t in done:
            for m in METRICS:
                assert t.user_attrs[m] == pytest.approx(df.loc[t.number, m], rel=1e-9, abs=1e-12), m
            assert t.user_attrs["feasible"] == bool(df.loc[t.number, "feasible"])


def test_batch_option_runs_the_sweep_at_another_batch(tmp_path):
    """`cimdse sweep FILE --batch N`: the workload's batch is N, the run is NAME-bN (run.yaml and default folder
    name), and a bad batch is one usage error with exit 2."""
    import yaml
    from _small_sweep import sweep, write_small

    f = write_small(tmp_path, "random", 8, "batchy", 8)
    r = sweep(f, "--batch", 4, "--out", tmp_path / "b4", "--quiet")
    assert r.exit_code == 0, r.output
    assert "batchy-b4:" in r.output
    rec = yaml.safe_load((tmp_path / "b4" / "run.yaml").read_text())
    assert rec["name"] == "batchy-b4" and rec["scenario"]["batch"] == 4
    one = yaml.safe_load((tmp_path / "b4" / "run.yaml").read_text())["fingerprint"]
    r = sweep(f, "--out", tmp_path / "b1", "--quiet")
    assert r.exit_code == 0 and yaml.safe_load((tmp_path / "b1" / "run.yaml").read_text())["fingerprint"] != one
    r = sweep(f, "--batch", 0, "--out", tmp_path / "b0")
    assert r.exit_code == 2 and "--batch" in r.output and not (tmp_path / "b0").exists()
