"""Storing a single-owner study's finished batches (Study.add_trials into its journal) on a forked second process, so
that the ask/tell loop does not wait for the journal: Optuna's JournalStorage writes, reads back and replays every
added trial (about 0.17 ms each with the metrics as user attributes, a sixth of a 2,000-trial NSGA-II loop).

The batches arrive in order through a pipe and are stored in that order; closing waits until all are stored. A
killed run loses at most the batches still in the pipe (the study then resumes from the last one stored, as after a
kill between two batches). The process ignores Ctrl-C (the loop decides when to stop) and ends when the pipe closes,
so it never outlives the run. Without fork or a second core the batches are stored in this process."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal

from .progress import start_without_sigint


def background_possible() -> bool:
    """Whether this process can store batches on a second one: fork exists, a second core is usable, and this
    process may start processes (a daemonic one may not)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - no affinity mask (macOS, Windows)
        cores = os.cpu_count() or 1
    return "fork" in mp.get_all_start_methods() and cores > 1 and not mp.current_process().daemon


def _store(study, reader, writer) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    writer.close()
    while True:
        try:
            trials = reader.recv()
        except EOFError:   # the run is gone: what arrived is stored
            return
        if trials is None:
            return
        study.add_trials(trials)


class BatchStore:
    """study.add_trials(batch) for each `add`, on a forked process when `background`; `close` waits for all."""

    def __init__(self, study, background: bool) -> None:
        self.study, self.proc = study, None
        if not background:
            return
        ctx = mp.get_context("fork")
        reader, self.writer = ctx.Pipe(duplex=False)
        self.proc = ctx.Process(target=_store, args=(study, reader, self.writer), name="cimdse-journal", daemon=True)
        start_without_sigint(self.proc)
        reader.close()

    def add(self, trials: list) -> None:
        """Store finished trials (FrozenTrials numbered after those already stored)."""
        if self.proc is None:
            self.study.add_trials(trials)
        else:
            self.writer.send(trials)

    def abandon(self) -> None:
        """The loop failed: let the process store what it has and end, without raising."""
        try:
            self.close()
        except (RuntimeError, OSError):
            pass

    def close(self) -> None:
        """Wait until every batch added is stored; RuntimeError when the process failed."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        try:
            self.writer.send(None)
        except OSError:   # it is gone already: reported below
            pass
        self.writer.close()
        proc.join()
        if proc.exitcode:
            raise RuntimeError(f"storing the trials in the study failed (exit status {proc.exitcode}); run the same "
                               "command again to resume from the trials stored")
