"""The figure process of a run: once the run's tables are in memory, a forked copy of this process draws the heavier
figures while this one writes the tables, the report and the other figures. The run waits for it, so every file
is written when run_sweep returns.

Forked, not spawned: the copy starts at once with the plotting code, the cost model's tables and the data already
loaded (a fresh interpreter spent more CPU importing and warming up than the figures it drew), and nothing is
pickled. It uses matplotlib, pandas and numpy only, never a library whose thread pool a fork leaves broken (polars).
It runs one job and exits (it cannot outlive a killed run waiting for more work), ignores Ctrl-C (the run decides
when to stop; waiting for it waits for the figures in progress) and sends back the exception of a failed job."""

from __future__ import annotations

import gc
import multiprocessing as mp
import signal
import traceback
from collections.abc import Callable

from ..search.progress import start_without_sigint


def helper_wanted(plots: bool, cores: int) -> bool:
    """Whether a run draws its figures on a second process: it draws figures, has a second core, can fork, and may
    start processes (a daemonic process, e.g. a multiprocessing pool's worker, may not)."""
    return plots and cores > 1 and "fork" in mp.get_all_start_methods() and not mp.current_process().daemon


def _child(conn, fn: Callable, args: tuple) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.freeze()   # the copied objects stay out of this short-lived process's collections (fewer copied pages)
    try:
        fn(*args)
        conn.send(None)
    except BaseException as err:  # noqa: BLE001 -- reported to the run, which raises it
        conn.send(f"{type(err).__name__}: {err}\n{traceback.format_exc()}")
        raise SystemExit(1) from None
    finally:
        conn.close()


class FigureProcess:
    """fn(*args) on a forked copy of this process, started now; `wait` returns when it is done and raises when it
    failed. A context manager: leaving waits for it (after an error too: no process is left behind)."""

    def __init__(self, fn: Callable, *args) -> None:
        ctx = mp.get_context("fork")
        self.conn, child = ctx.Pipe(duplex=False)
        self.proc = ctx.Process(target=_child, args=(child, fn, args), name="cimdse-figures", daemon=True)
        start_without_sigint(self.proc)
        child.close()
        self.done = False

    def wait(self) -> None:
        """Wait for the job; RuntimeError with the job's error when it failed or the process died."""
        if self.done:
            return
        self.done = True
        try:
            err = self.conn.recv()
        except EOFError:
            err = "the process ended without a result"
        finally:
            self.conn.close()
            self.proc.join()
        if err is not None or self.proc.exitcode:
            raise RuntimeError(f"the figure process failed (exit status {self.proc.exitcode}): {err}")

    def __enter__(self) -> FigureProcess:
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self.wait()
        elif not self.done:   # already failing: wait for the process, keep the first error
            self.done = True
            self.conn.close()
            self.proc.join()
