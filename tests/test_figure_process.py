"""The run's figure process (cimdse/run/helper.py): the figures it draws are the bytes drawn in the run's own
process, a failure in it is raised by the run, and it leaves no process behind (also when the run is killed)."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from pathlib import Path

import pytest
from _procs import all_gone
from _small_sweep import write_small

from cimdse.config import load_sweep
from cimdse.run import sweep as run_sweep_module
from cimdse.run.helper import FigureProcess, helper_wanted
from cimdse.run.outputs import RUN_FIGURE_NAMES

needs_fork = pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="no fork on this platform")


@needs_fork
@pytest.mark.parametrize("sampler", ["nsga2", "exhaustive"])
def test_figures_from_the_figure_process_equal_those_drawn_in_process(tmp_path, monkeypatch, sampler):
    sw = load_sweep(write_small(tmp_path, sampler, 60, f"fp-{sampler}", 20))
    runs = {}
    for helper in (False, True):
        monkeypatch.setattr(run_sweep_module, "helper_wanted", lambda plots, cores, h=helper: h)
        runs[helper] = run_sweep_module.run_sweep(sw, out=tmp_path / f"run-{helper}", workers=1, fork=True).run_dir
    for name in RUN_FIGURE_NAMES:
        assert (runs[True] / f"{name}.png").read_bytes() == (runs[False] / f"{name}.png").read_bytes(), name
    assert (runs[True] / "report.html").read_bytes() == (runs[False] / "report.html").read_bytes()
    assert not mp.active_children()


def _fail() -> None:
    raise ValueError("no such metric: area_cm2")


@needs_fork
def test_a_failure_in_the_figure_process_is_raised_and_the_process_ends():
    with pytest.raises(RuntimeError, match="ValueError: no such metric: area_cm2"):
        with FigureProcess(_call) as proc:
            proc.submit(_fail)
            proc.wait()
    assert not mp.active_children()


def _call(fn) -> None:
    fn()


def _figure_process_of_killed_run(conn) -> None:
    proc = FigureProcess(_call)
    conn.send(proc.proc.pid)
    time.sleep(60)


@needs_fork
@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads the process table from /proc")
def test_the_figure_process_of_a_killed_run_ends():
    # a run killed while its search runs (SIGKILL: no cleanup) leaves no figure process behind
    ctx = mp.get_context("fork")
    reader, writer = ctx.Pipe(duplex=False)
    run = ctx.Process(target=_figure_process_of_killed_run, args=(writer,))
    run.start()
    figures = reader.recv()
    os.kill(run.pid, signal.SIGKILL)
    run.join()
    assert all_gone([figures])


def test_no_figure_process_without_plots_or_a_second_core():
    assert not helper_wanted(False, 8)
    assert not helper_wanted(True, 1)


def test_warm_designs_meet_every_choice_and_both_ends_of_every_range(tmp_path):
    """The figure process's warm-up scores designs that together take every choice of each categorical parameter
    and the low and high end of each numeric one (so the cost model's tables that the front's designs need are
    built while the search runs); the quickstart space: 5 devices, so 5 designs."""
    from cimdse.run.outputs import warm_designs

    sw = load_sweep(str(Path(__file__).resolve().parents[1] / "sweeps" / "quickstart.yaml"))
    designs = warm_designs(sw)
    assert len(designs) == max(len(d.choices) for d in sw.space if d.choices) == 5
    for d in sw.space:
        seen = {x[d.name] for x in designs}
        assert seen == (set(d.choices) if d.choices else {d.low, d.high}), d.name

