"""The exhaustive path: enumerate a discrete space in its fixed order and score it in vectorized chunks, in this
process or on a pool of worker processes; shards split the enumeration into contiguous blocks across machines."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import numpy as np

from ..config import Sweep
from ..cost.params import PARAMS
from ..errors import UserError
from .progress import Progress, StopFlag, Tally
from .scoring import Scored, concat_scored, score

CHUNK = 250_000  # designs scored per vectorized call
T = TypeVar("T")


def space_size(sweep: Sweep) -> int:
    """Number of designs in a discrete space."""
    return math.prod(len(d.discrete_values) for d in sweep.space)


def enumerate_space(sweep: Sweep, start: int = 0, stop: int | None = None, codes: bool = False) -> dict:
    """Designs start..stop of the Cartesian product of the space, as columns (last dimension varies fastest).
    `codes`: a categorical column holds each value's position in its parameter's choices (what `score` and the cost
    model take) instead of the value itself."""
    dims = [d.discrete_values for d in sweep.space]
    total = space_size(sweep)
    stop = total if stop is None else min(stop, total)
    idx = np.arange(start, stop, dtype=np.int64)
    cols = {}
    stride = 1
    for d, vals in zip(reversed(sweep.space), reversed(dims), strict=True):
        at = (idx // stride) % len(vals)
        p = PARAMS[d.name]
        if p.kind != "cat":
            arr = np.asarray(vals, dtype=float)
        elif codes and all(isinstance(v, str) and v in p.choices for v in vals):
            arr = np.asarray([p.choices.index(v) for v in vals], dtype=np.int64)
        else:
            arr = np.asarray(vals, dtype=object)
        cols[d.name] = arr[at]
        stride *= len(vals)
    return {d.name: cols[d.name] for d in sweep.space}


def score_range(sweep: Sweep, lo: int, hi: int) -> Scored:
    """Score designs lo..hi of the enumeration (one chunk; a worker process's job)."""
    return score(sweep, enumerate_space(sweep, lo, hi, codes=True))


def run_exhaustive(sweep: Sweep, chunk: int = CHUNK,
                   on_batch: Callable[[Progress], None] | None = None,
                   stop: StopFlag | None = None, first: int = 0, end: int | None = None,
                   workers: int = 1) -> Scored | None:
    """Evaluate designs first..end (default: all) of a discrete space's enumeration in vectorized chunks
    (the first ones only if `stop` is set), on `workers` processes when > 1. The chunks are joined in
    enumeration order, so the result does not depend on `workers`. Holds every design in memory: a run of a
    large space streams its chunks instead (`map_chunks`, cimdse/run/stream.py)."""
    end = space_size(sweep) if end is None else end
    tally = Tally([d for _, d in sweep.objectives])
    parts: list[Scored] = []
    start = time.perf_counter()
    for part, _, hi in map_chunks(sweep, score_range, chunk, stop, first, end, workers):
        parts.append(part)
        if on_batch:
            tally.add(part.feasible, part.objectives)
            on_batch(progress(tally, hi - first, end - first, start))
    return concat_scored(parts)


def progress(tally: Tally, done: int, total: int, start: float) -> Progress:
    """The progress record after `done` of `total` designs, scored since `start` (perf_counter seconds)."""
    rate = done / max(time.perf_counter() - start, 1e-9)
    return Progress(done, total, rate, tally.feasible, len(tally.front))


def map_chunks(sweep: Sweep, task: Callable[[Sweep, int, int], T], chunk: int = CHUNK,
               stop: StopFlag | None = None, first: int = 0, end: int | None = None,
               workers: int = 1, method: str | None = None) -> Iterator[tuple[T, int, int]]:
    """Yield (task(sweep, lo, hi), lo, hi) for the chunks [lo, hi) of designs first..end in enumeration order,
    computed here or on a pool of `workers` processes (a task must then be picklable: a module-level function or
    a functools.partial of one) started by multiprocessing start `method` (default: fork where available; a task
    that uses polars needs "forkserver" or "spawn": polars' thread pool does not survive a fork). After `stop` is
    requested no new chunk is started, so the chunks yielded are always a contiguous run from `first`."""
    end = space_size(sweep) if end is None else end
    bounds = [(lo, min(lo + chunk, end)) for lo in range(first, end, chunk)]
    if workers <= 1 or len(bounds) <= 1:
        for lo, hi in bounds:
            if stop is not None and stop.requested:
                break
            yield task(sweep, lo, hi), lo, hi
        return
    yield from _pooled(sweep, task, bounds, workers, stop, method)


_SWEEP: Sweep | None = None  # the sweep of a pool worker (set once by its initializer)
_TASK: Callable | None = None


def _init_worker(sweep: Sweep, task: Callable, parent: int | None = None) -> None:
    import signal
    import threading

    global _SWEEP, _TASK
    _SWEEP, _TASK = sweep, task
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it stops handing out chunks
    if parent is not None:
        threading.Thread(target=_end_with, args=(parent,), name="cimdse-parent-watch", daemon=True).start()


def _end_with(parent: int, poll_s: float = 1.0) -> None:
    """End this pool worker once the run that started it is gone (a killed run: its workers would otherwise wait
    for chunks forever, orphaned)."""
    import os
    import time

    while os.getppid() == parent:
        time.sleep(poll_s)
    os._exit(1)


def _run_in_worker(lo: int, hi: int):
    assert _SWEEP is not None and _TASK is not None
    return _TASK(_SWEEP, lo, hi)


def _pooled(sweep: Sweep, task: Callable, bounds: list[tuple[int, int]], workers: int, stop: StopFlag | None,
            method: str | None = None):
    """Yield (task result, lo, hi) in enumeration order, computed by a pool of `workers` processes with at most
    2 x workers chunks in flight (memory stays bounded); after `stop` no new chunk is started."""
    import multiprocessing as mp
    import os
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor

    from .workers import start_method

    ctx = mp.get_context(method or start_method())
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                             initargs=(sweep, task, os.getpid())) as pool:
        todo = deque(bounds)
        flight: deque = deque()
        while todo or flight:
            while todo and len(flight) < 2 * workers and not (stop is not None and stop.requested):
                lo, hi = todo.popleft()
                flight.append((pool.submit(_run_in_worker, lo, hi), lo, hi))
            if not flight:
                break
            fut, lo, hi = flight.popleft()
            yield fut.result(), lo, hi


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


def parse_shard(text: str) -> tuple[int, int]:
    """'I/N' (1 <= I <= N) -> (I, N): shard I of N of an exhaustive enumeration."""
    m = re.fullmatch(r"\s*(\d{1,9})\s*/\s*(\d{1,9})\s*", str(text))
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise UserError(f"expected I/N with 1 <= I <= N (shard I of N, e.g. 2/8), got {text!r}", key="--shard")
    return int(m.group(1)), int(m.group(2))


def shard_bounds(total: int, index: int, count: int) -> tuple[int, int]:
    """Designs [lo, hi) of shard `index` (1-based) of `count`: contiguous blocks of the enumeration order,
    sizes differing by at most one, so the shards laid end to end are exactly the unsharded enumeration."""
    return (index - 1) * total // count, index * total // count
