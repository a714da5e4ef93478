"""`--workers N`: N processes running the ask/tell loop on one shared study, and the parent that starts them,
shows progress from the storage and stops them (Ctrl-C once: after their batch; twice: at once)."""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import multiprocessing.connection
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..config import Sweep
from ..errors import UserError
from . import optuna_api as oa
from .loop import add_screening, run_optuna
from .progress import Progress, StopFlag, Tally


class _WorkerStop:
    """A worker's stop flag (StopFlag's interface): set by the parent through a shared Event, or when the
    parent is gone (killed), so that an orphaned worker ends after its batch instead of running on."""

    def __init__(self, event, parent_pid: int) -> None:
        self.event, self.parent_pid = event, parent_pid

    @property
    def requested(self) -> bool:
        return self.event.is_set() or os.getppid() != self.parent_pid


def _worker_main(sweep: Sweep, run_dir: Path, storage_url: str | None, index: int, event, parent_pid: int) -> None:
    """One of `--workers N` processes: the sweep with seed + index, on the study shared with the others.

    Ctrl-C is left to the parent, which tells the workers to stop after their batch (the event); a hard stop
    from the parent is SIGTERM.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    search = dataclasses.replace(sweep.search, seed=(sweep.search.seed + index) % 2**32)
    res = run_optuna(dataclasses.replace(sweep, search=search), run_dir, storage_url,
                     stop=_WorkerStop(event, parent_pid), shared=True)  # type: ignore[arg-type]
    sys.exit(130 if res.interrupted else 0)


def _tally_trials(tally: Tally, trials: list) -> None:
    """Add finished trials to a progress tally from their stored values and constraints (no re-scoring)."""
    if trials:
        tally.add(np.array([oa.trial_feasible(t) for t in trials]),
                  np.array([t.values for t in trials], dtype=float))


def start_method() -> str:
    """fork where available (workers start at once, sharing the loaded cost model and workload), else spawn."""
    return "fork" if "fork" in mp.get_all_start_methods() else "spawn"


def run_workers(sweep: Sweep, run_dir: Path, storage_url: str | None, workers: int,
                on_batch: Callable[[Progress], None] | None = None, stop: StopFlag | None = None) -> bool:
    """Run `workers` processes of ask/tell on one study; returns whether Ctrl-C stopped them.

    The parent creates the study (so the workers only join it), shows progress from the storage, and waits.
    A first Ctrl-C (`stop`) lets every worker finish its batch; a second stops them at once (SIGTERM). A worker
    that dies stops the others the first way, and the run reports it.
    """
    study = oa.open_study(sweep, run_dir, storage_url)
    if storage_url is None:  # the run folder's own journal: nobody else works on it, close what a kill left
        oa.fail_running_trials(study, 0.0)
    screened = add_screening(sweep, study)  # once, here, before the workers start (they find it done)
    ctx = mp.get_context(start_method())
    event = ctx.Event()
    procs = [ctx.Process(target=_worker_main, args=(sweep, run_dir, storage_url, k, event, os.getpid()),
                         name=f"cimdse-worker-{k}") for k in range(workers)]
    target = sweep.search.trials + screened
    start = time.perf_counter()
    seen = {t.number for t in oa.complete_trials(study)}
    first = len(seen)
    tally = Tally([d for _, d in sweep.objectives])
    if on_batch:
        _tally_trials(tally, oa.complete_trials(study))
    for p in procs:
        p.start()
    interrupted = False
    try:
        while any(p.is_alive() for p in procs):
            mp.connection.wait([p.sentinel for p in procs if p.is_alive()], timeout=0.5)
            if (stop is not None and stop.requested) or any(p.exitcode not in (None, 0, 130) for p in procs):
                event.set()
            if on_batch:
                done = oa.complete_trials(study)
                _tally_trials(tally, [t for t in done if t.number not in seen])
                seen.update(t.number for t in done)
                n = min(len(done), target)
                on_batch(Progress(n, target, (n - first) / max(time.perf_counter() - start, 1e-9), tally.feasible,
                                  len(tally.front)))
    except KeyboardInterrupt:  # the second Ctrl-C: stop now; their open trials are closed on resume
        interrupted = True
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join()
    failed = [(k, p.exitcode) for k, p in enumerate(procs) if p.exitcode not in (0, 130) and not interrupted]
    if failed:
        k, c = failed[0]
        how = f"was killed by signal {-c}" if c is not None and c < 0 else f"stopped with exit status {c}"
        raise UserError(f"worker {k} of {workers} {how}; the others were stopped. Run the same command again "
                        "to resume", file=str(run_dir))
    return interrupted or any(p.exitcode == 130 for p in procs)
