"""The figure process of a run: a forked copy of this process, started when the run starts, prepares the plotting
code (imports matplotlib and draws a throw-away figure, which loads the fonts) while the search runs, then draws the
run's figures from the tables it is sent while this process writes the tables and the report. The run waits for
it, so every file is written when run_sweep returns.

Forked, not spawned: the copy starts at once with the cost model's tables and the sweep loaded (a fresh interpreter
spent more CPU importing and warming up than the figures it drew). It uses matplotlib, pandas and numpy only, never a
library whose thread pool a fork leaves broken (polars). It ignores Ctrl-C (the run decides when to stop; waiting for
it waits for the figures in progress), ends when the run sends no more jobs or is gone (a killed run), and sends back
the exception of a failed job."""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
import signal
import traceback
from collections.abc import Callable

from ..search.progress import start_without_sigint

PARENT_POLL_S = 1.0   # how often an idle figure process checks that the run that started it is still there


def helper_wanted(plots: bool, cores: int) -> bool:
    """Whether a run draws its figures on a second process: it draws figures, has a second core, can fork, and may
    start processes (a daemonic process, e.g. a multiprocessing pool's worker, may not)."""
    return plots and cores > 1 and "fork" in mp.get_all_start_methods() and not mp.current_process().daemon


def _child(conn, fn: Callable, fixed: tuple, warm: Callable | None, parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.freeze()   # the copied objects stay out of this short-lived process's collections (fewer copied pages)
    if warm is not None:
        try:
            warm()
        except Exception:  # noqa: BLE001 -- preparing is optional: a real failure shows in the jobs
            pass
        gc.freeze()   # and so do the objects of the warm-up (matplotlib's modules, fonts): the figures' collections
        #               then walk only the figures' own objects
    err = None
    try:
        while True:
            while not conn.poll(PARENT_POLL_S):
                if os.getppid() != parent:   # the run was killed: nobody waits for the figures
                    return
            job = conn.recv()
            if job is None:
                break
            if err is None:   # after a failure the remaining jobs are skipped; the first error is reported
                try:
                    fn(*fixed, *job)
                except BaseException as exc:  # noqa: BLE001 -- reported to the run, which raises it
                    err = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
        conn.send(err)
    except (EOFError, OSError):   # the run closed the pipe without waiting (it failed): nothing to report
        return
    finally:
        conn.close()


class FigureProcess:
    """A forked process, started now, that runs fn(*fixed, *args) for each `submit(*args)`, in order, after
    `warm()` (run while this process searches). `wait` returns when every job is done and raises when one failed.
    A context manager: leaving waits for it (after an error it is stopped: no process is left behind)."""

    def __init__(self, fn: Callable, *fixed, warm: Callable | None = None) -> None:
        ctx = mp.get_context("fork")
        self.conn, child = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=_child, args=(child, fn, fixed, warm, os.getpid()), name="cimdse-figures",
                                daemon=True)
        start_without_sigint(self.proc)
        child.close()
        self.done = False

    def submit(self, *args) -> None:
        """Run fn(*fixed, *args) on the process after the jobs submitted before (the arguments are pickled)."""
        self.conn.send(args)

    def wait(self) -> None:
        """Wait for every job; RuntimeError with the job's error when one failed or the process died."""
        if self.done:
            return
        self.done = True
        try:
            self.conn.send(None)
            err = self.conn.recv()
        except (EOFError, OSError):
            err = "the process ended without a result"
        finally:
            self.conn.close()
            self.proc.join()
        if err is not None or self.proc.exitcode:
            raise RuntimeError(f"the figure process failed (exit status {self.proc.exitcode}): {err}")

    def stop(self) -> None:
        """End the process without waiting for its jobs (the run failed or was stopped at once)."""
        if self.done:
            return
        self.done = True
        self.conn.close()
        self.proc.terminate()
        self.proc.join()

    def __enter__(self) -> FigureProcess:
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self.wait()
        else:   # already failing: stop it, keep the first error
            self.stop()
