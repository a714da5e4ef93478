"""What a running search reports and how it is stopped: the progress record, the running feasible count and
front, and the Ctrl-C flag (first press: finish the batch; second: stop now)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from ..pareto import pareto_mask


@dataclass
class Progress:
    """What the progress callback is told after every batch."""

    done: int
    total: int
    rate: float            # trials (designs) per second in this run
    feasible: int = 0
    front: int = 0         # size of the current Pareto front of the feasible designs


class Tally:
    """Running feasible count and Pareto front of the designs scored so far (for the progress line)."""

    def __init__(self, directions: list[str]) -> None:
        self.directions = directions
        self.feasible = 0
        self.front = np.zeros((0, len(directions)))

    def add(self, feasible: np.ndarray, objectives: np.ndarray) -> None:
        """Count a batch: its feasibility flags and objective rows."""
        feasible = np.asarray(feasible, dtype=bool)
        self.feasible += int(feasible.sum())
        cand = np.vstack([self.front, np.asarray(objectives, dtype=float).reshape(len(feasible), -1)[feasible]])
        self.front = cand[pareto_mask(cand, self.directions)] if len(cand) else cand


class StopFlag:
    """Set by the first Ctrl-C: the sweep stops after the batch in progress. A second Ctrl-C stops at once."""

    requested: bool = False


@contextmanager
def graceful_sigint() -> Iterator[StopFlag]:
    """While active, Ctrl-C (SIGINT) sets a flag instead of raising, the second one raises KeyboardInterrupt.

    Only in the main thread, and only where SIGINT has Python's default handler (a process started with SIGINT
    ignored, e.g. under nohup, stays that way). The previous handler is restored on leaving.
    """
    flag = StopFlag()
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield flag
        return

    def handler(signum, frame):
        if flag.requested:
            raise KeyboardInterrupt
        flag.requested = True

    old = signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, old)


def start_without_sigint(proc) -> None:
    """proc.start() with SIGINT ignored while it forks, so the child cannot be interrupted before it ignores SIGINT
    itself (the caller's Ctrl-C handler would otherwise be copied into it); the handler is restored at once."""
    main = threading.current_thread() is threading.main_thread()
    old = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
    try:
        proc.start()
    finally:
        if main:
            signal.signal(signal.SIGINT, old)
