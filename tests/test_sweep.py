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
from click.testing import CliRunner

from cimdse.cli import main
from cimdse.cost import evaluate
from cimdse.cost.model import METRICS
from cimdse.cost.params import PARAMS

SMALL = """
name: {name}
workload: {{model: gpt2, batch: 1, prompt_tokens: 32, generate_tokens: 8}}
space:
  device: [sram, rram, fefet]
  rows: [64, 128, 256]
  adc_bits: {{low: 4, high: 9}}
  tiles: [512, 1024, 4096]
fixed: {{bits_per_cell: 1, chips: 1}}
objectives: {{energy_per_token_uj: minimize, sqnr_db: maximize}}
constraints: ["weights_fit == 1"]
search: {{sampler: {sampler}, trials: {trials}, seed: 3, batch_size: 8}}
"""


def write(tmp_path: Path, sampler="tpe", trials=24, name="t") -> Path:
    f = tmp_path / f"{name}.yaml"
    f.write_text(SMALL.format(name=name, sampler=sampler, trials=trials))
    return f


def sweep(*args):
    return CliRunner().invoke(main, ["sweep", *map(str, args)])


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
    assert set(front["trial"]) == brute_front(df, objs)
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
