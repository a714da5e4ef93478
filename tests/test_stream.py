"""The streamed exhaustive run (cimdse/run/stream.py): chunk size, workers and the in-memory sample do not change
trials.csv, the front or the counts; a float column whole in one chunk and fractional in another is written as
the whole table would be; trials.parquet holds the same rows; a killed run leaves no temporaries and its rerun
starts over to the same files."""

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
from _procs import all_gone
from _small_sweep import front_trials, write_small

from cimdse.config import load_sweep
from cimdse.results import trials_frame, write_csv
from cimdse.run.stream import keep_mask, stream_exhaustive
from cimdse.search.exhaustive import run_exhaustive, space_size

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def one_shot_csv(sw, path: Path) -> bytes:
    """trials.csv as the whole table written at once (the path before streaming)."""
    write_csv(trials_frame(run_exhaustive(sw)), path)
    return path.read_bytes()


@pytest.mark.parametrize("chunk,workers", [(7, 1), (50, 2), (10_000, 1)])
def test_chunks_and_workers_give_the_one_shot_table_and_front(tmp_path, chunk, workers):
    sw = load_sweep(write_small(tmp_path, "exhaustive", 1, "s", 1))
    n = space_size(sw)                       # 3 x 3 x 6 x 3 = 162 designs
    ref = one_shot_csv(sw, tmp_path / "ref.csv")
    (tmp_path / "run").mkdir()
    st = stream_exhaustive(sw, tmp_path / "run", 0, n, workers=workers, chunk=chunk)
    assert (tmp_path / "run" / "trials.csv").read_bytes() == ref
    assert st.done == n and not st.sampled and list(st.kept["trial"]) == list(range(n))
    assert st.feasible == int(st.kept["feasible"].sum())
    # the running front is the front of the whole table (ties included)
    full = pd.read_csv(tmp_path / "ref.csv")
    from cimdse.results import front_mask

    assert list(st.front["trial"]) == list(full["trial"][front_mask(full, sw.objectives)])
    assert not [p for p in (tmp_path / "run").iterdir() if ".tmp-" in p.name]


@pytest.mark.skipif("fork" not in __import__("multiprocessing").get_all_start_methods(), reason="no fork")
def test_forked_workers_in_a_fresh_process_give_the_one_shot_table(tmp_path):
    """A fresh process (polars not loaded) asked to fork forks its chunk workers (stream.clean_start); same bytes as
    one shot."""
    sw = load_sweep(write_small(tmp_path, "exhaustive", 1, "s", 1))
    ref = one_shot_csv(sw, tmp_path / "ref.csv")
    (tmp_path / "run").mkdir()
    code = ("import sys; from cimdse.config import load_sweep; from cimdse.run import stream; "
            "assert stream.clean_start() == 'fork', stream.clean_start(); "
            f"stream.stream_exhaustive(load_sweep({str(tmp_path / 's.yaml')!r}), {str(tmp_path / 'run')!r}, 0, 162, "
            "workers=2, chunk=50, fork=True); assert 'polars' in sys.modules")
    subprocess.run([sys.executable, "-c", code], env=ENV, check=True, capture_output=True, timeout=300)
    assert (tmp_path / "run" / "trials.csv").read_bytes() == ref


def test_a_column_whole_in_one_chunk_only_is_written_as_in_one_shot(tmp_path):
    # clock_ghz varies slowest: with chunks of 81 designs the first chunk holds only 1 GHz (whole: written "1"),
    # the second only 1.5 GHz; the whole table has a fraction, so every value is written as a float ("1.0")
    f = tmp_path / "clk.yaml"
    f.write_text(write_small(tmp_path, "exhaustive", 1, "s", 1).read_text()
                 .replace("space:\n", "space:\n  clock_ghz: [1, 1.5]\n"))
    sw = load_sweep(f)
    ref = one_shot_csv(sw, tmp_path / "ref.csv")
    assert b",1.0," in ref and b",1.5," in ref
    (tmp_path / "run").mkdir()
    st = stream_exhaustive(sw, tmp_path / "run", 0, space_size(sw), chunk=space_size(sw) // 2)
    assert [p[4] for p in st.parts][0] != [p[4] for p in st.parts][1]   # the chunks disagreed on clock_ghz
    assert (tmp_path / "run" / "trials.csv").read_bytes() == ref


def test_parquet_holds_every_row_at_full_precision(tmp_path):
    import polars as pl

    sw = load_sweep(write_small(tmp_path, "exhaustive", 1, "s", 1))
    (tmp_path / "run").mkdir()
    stream_exhaustive(sw, tmp_path / "run", 0, space_size(sw), workers=2, chunk=40, parquet=True)
    pq = pl.read_parquet(tmp_path / "run" / "trials.parquet")
    scored = run_exhaustive(sw)
    assert pq["trial"].to_list() == list(range(space_size(sw)))
    assert pq["device"].to_list() == list(np.asarray(["sram", "rram", "fefet"])[np.arange(162) // 54])
    np.testing.assert_array_equal(pq["energy_per_token_uj"].to_numpy(), scored.metrics["energy_per_token_uj"])
    assert not [p for p in (tmp_path / "run").iterdir() if ".tmp-" in p.name]


def test_a_sampled_run_keeps_the_front_and_a_fixed_sample_and_counts_every_row(tmp_path):
    sw = load_sweep(write_small(tmp_path, "exhaustive", 1, "s", 1))
    n = space_size(sw)
    runs = []
    for chunk in (13, 1000):
        d = tmp_path / f"run{chunk}"
        d.mkdir()
        runs.append(stream_exhaustive(sw, d, 0, n, chunk=chunk, keep_rows=40))
    a, b = runs
    assert a.sampled and a.done == n and a.feasible == b.feasible
    pd.testing.assert_frame_equal(a.kept, b.kept)          # the sample does not depend on the chunks
    assert set(a.front["trial"]) <= set(a.kept["trial"])
    sample = set(np.flatnonzero(keep_mask(0, n, 40 / n)))
    assert set(a.kept["trial"]) == sample | set(a.front["trial"])
    assert 20 <= len(sample) <= 60                          # about 40 of 162 (a hash, not an exact count)


def test_sampled_sweep_writes_true_counts(tmp_path, monkeypatch):
    import yaml

    from cimdse.run import stream
    from cimdse.run.sweep import run_sweep

    monkeypatch.setattr(stream, "KEEP_ROWS", 30)
    sw = load_sweep(write_small(tmp_path, "exhaustive", 1, "s", 1))
    res = run_sweep(sw, out=tmp_path / "run", workers=2)   # sampled on 2 workers: figures on a second process
    rec = yaml.safe_load((tmp_path / "run" / "run.yaml").read_text())
    trials = pd.read_csv(tmp_path / "run" / "trials.csv")
    assert rec["completed_trials"] == res.completed == len(trials) == 162 > len(res.trials)
    assert rec["feasible_trials"] == int(trials["feasible"].sum())
    html = (tmp_path / "run" / "report.html").read_text()
    assert "162 designs" in html
    assert all((tmp_path / "run" / f).stat().st_size > 0 for f in
               ("pareto.png", "breakdown.png", "history.png", "importance.png"))


def test_killed_exhaustive_run_leaves_no_temporaries_and_reruns_to_the_same_files(tmp_path):
    """SIGKILL while trials.csv is being streamed; the rerun starts over and writes what an uninterrupted run writes."""
    f = write_small(tmp_path, "exhaustive", 1, "k", 1, extra="  cols_per_adc: [1, 2, 4, 8, 16, 32, 64, 128]\n"
                    "  weight_bits: [2, 4, 8]\n  cols: [64, 128, 256]\n")
    cmd = [sys.executable, "-m", "cimdse", "sweep", f.name, "--quiet", "--workers", "1"]
    subprocess.run([*cmd, "--out", "ref"], cwd=tmp_path, env=ENV, check=True, capture_output=True)
    proc = subprocess.Popen([*cmd, "--out", "run"], cwd=tmp_path, env=ENV, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not list((tmp_path / "run").glob(".trials.csv.tmp-*")):
        assert proc.poll() is None and time.time() < deadline, "the run ended before streaming began"
        time.sleep(0.002)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "run" / "trials.csv").exists()    # no half table under the final name
    subprocess.run([*cmd, "--out", "run"], cwd=tmp_path, env=ENV, check=True, capture_output=True)
    for name in ("trials.csv", "pareto.csv"):
        assert (tmp_path / "run" / name).read_bytes() == (tmp_path / "ref" / name).read_bytes()
    assert not [p for p in (tmp_path / "run").iterdir() if ".tmp-" in p.name]
    assert front_trials(pd.read_csv(tmp_path / "run" / "pareto.csv"))


def test_front_groups_designs_with_equal_objectives():
    """pareto.csv: one row per distinct objective vector; a repeated design counts once."""
    from cimdse.results import front_frame

    df = pd.DataFrame({
        "trial": [0, 1, 2, 3, 4, 5],
        "device": ["sram", "sram", "rram", "sram", "rram", "sram"],
        "adc_bits": [6, 6, 8, 7, 8, 6],
        "tiles": [512, 512, 512, 1024, 512, 512],
        "energy_per_token_uj": [1.0, 1.0, 2.0, 1.0, 3.0, 1.0],
        "sqnr_db": [30.0, 30.0, 40.0, 30.0, 40.0, 30.0],
        "feasible": [True] * 6})
    # trials 0, 1, 5: one design (sram, 6, 512); trial 3 another with the same objectives (adc_bits, tiles differ);
    # trial 2 the best sqnr; trial 4 dominated by trial 2 (more energy, same sqnr)
    front = front_frame(df, [("energy_per_token_uj", "minimize"), ("sqnr_db", "maximize")])
    assert front["trial"].tolist() == [0, 2]
    assert front["found_in_trials"].tolist() == ["0 1 3 5", "2"]
    assert front["equal_designs"].tolist() == [2, 1]
    assert front["varying_params"].tolist() == ["adc_bits tiles", ""]


def test_sweep_front_rows_are_distinct_objective_vectors(tmp_path):
    """One objective that tiles do not change: the front is one row standing for every best design."""
    from _small_sweep import sweep

    f = write_small(tmp_path, "exhaustive", 1, "g", 1)
    f.write_text(f.read_text().replace("objectives: {energy_per_token_uj: minimize, sqnr_db: maximize}",
                                       "objectives: {sqnr_db: maximize}"))
    assert sweep(f, "--out", tmp_path / "run", "--quiet", "--workers", "1").exit_code == 0
    trials = pd.read_csv(tmp_path / "run" / "trials.csv")
    front = pd.read_csv(tmp_path / "run" / "pareto.csv", dtype={"found_in_trials": str}, keep_default_na=False)
    feas = trials[trials["feasible"]]
    best = feas[feas["sqnr_db"] == feas["sqnr_db"].max()]
    assert len(front) == 1 and front["equal_designs"][0] == len(best) >= 3
    assert front_trials(front) == set(best["trial"])
    assert "tiles" in front["varying_params"][0].split()
    # the front recomputed from trials.csv as read back (cimdse pareto, cimdse.pareto_front) has the same rows
    from cimdse.results import pareto_front

    again = pareto_front(trials, {"sqnr_db": "maximize"})
    assert again["trial"].tolist() == front["trial"].tolist()
    assert again["found_in_trials"].tolist() == front["found_in_trials"].tolist()


@pytest.mark.parametrize("workers", [1, 2])
def test_stopped_run_holds_a_contiguous_prefix(tmp_path, workers):
    """Ctrl-C's flag set after the first chunk: no new chunk starts; the chunks in flight finish, and trials.csv
    holds designs 0..done-1 exactly as the full run writes them."""
    from cimdse.search.progress import StopFlag

    sw = load_sweep(write_small(tmp_path, "exhaustive", 1, "s", 1))
    stop = StopFlag()

    def on_batch(p):
        stop.requested = True

    (tmp_path / "run").mkdir()
    st = stream_exhaustive(sw, tmp_path / "run", 0, space_size(sw), workers=workers, stop=stop, on_batch=on_batch,
                           chunk=20)
    assert st.done == (20 if workers == 1 else st.done) and 20 <= st.done <= 20 * 2 * workers
    # the rows of designs 0..done-1, written as that table alone is written (as an interrupted run always was)
    write_csv(trials_frame(run_exhaustive(sw, end=st.done)), tmp_path / "ref.csv")
    assert (tmp_path / "run" / "trials.csv").read_bytes() == (tmp_path / "ref.csv").read_bytes()


def test_a_library_run_forks_nothing(tmp_path, monkeypatch):
    """run_sweep called from a user's process (fork left False) starts no forked copy of it: the figures and the
    journal are written in-process and exhaustive workers are spawned; the CLI passes fork=True."""
    import multiprocessing as mp

    from cimdse.run.sweep import run_sweep

    asked = []
    real = mp.get_context
    monkeypatch.setattr(mp, "get_context", lambda method=None: asked.append(method) or real(method))
    run_sweep(load_sweep(write_small(tmp_path, "exhaustive", 1, "e", 1)), out=tmp_path / "e", workers=2)
    run_sweep(load_sweep(write_small(tmp_path, "nsga2", 40, "g", 10)), out=tmp_path / "g")
    assert "fork" not in asked
    assert (tmp_path / "e" / "pareto.png").exists() and (tmp_path / "g" / "study.journal").exists()
    from cimdse.search.exhaustive import usable_cores

    if usable_cores() > 1 and "fork" in mp.get_all_start_methods():   # the same run as the CLI makes it does fork
        run_sweep(load_sweep(write_small(tmp_path, "nsga2", 40, "f", 10)), out=tmp_path / "f", fork=True)
        assert "fork" in asked


def _slow_chunk(sweep, lo, hi):
    time.sleep(60)


def _pooled_run(sweep_file) -> None:
    from cimdse.search.exhaustive import map_chunks

    next(map_chunks(load_sweep(sweep_file), _slow_chunk, 7, workers=2, method="fork"))


@pytest.mark.skipif(not os.path.isdir("/proc") or not hasattr(os, "fork"), reason="forks; reads /proc")
def test_chunk_workers_of_a_killed_run_end(tmp_path):
    # a run killed while its workers score chunks (SIGKILL: no cleanup) leaves no worker waiting for more chunks
    import multiprocessing as mp

    run = mp.get_context("fork").Process(target=_pooled_run, args=(str(write_small(tmp_path, "exhaustive", 1, "s", 1)),))
    run.start()
    deadline = time.monotonic() + 20
    workers: list[int] = []
    while time.monotonic() < deadline and len(workers) < 2:   # the pool's workers, once started
        workers = [int(t) for t in _children(run.pid)]
        time.sleep(0.1)
    assert len(workers) >= 2
    os.kill(run.pid, signal.SIGKILL)
    run.join()
    assert all_gone(workers)


def _children(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return f.read().split()
    except FileNotFoundError:
        return []
