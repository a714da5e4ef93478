"""The exhaustive path: enumerate a discrete space in its fixed order and score it in vectorized chunks, in this
process or on a pool of worker processes; shards split the enumeration into contiguous blocks across machines."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable

import numpy as np

from ..config import Sweep
from ..cost.params import PARAMS
from ..errors import UserError
from .progress import Progress, StopFlag, Tally
from .scoring import Scored, concat_scored, score

CHUNK = 250_000  # designs scored per vectorized call


def space_size(sweep: Sweep) -> int:
    """Number of designs in a discrete space."""
    return math.prod(len(d.discrete_values) for d in sweep.space)


def enumerate_space(sweep: Sweep, start: int = 0, stop: int | None = None) -> dict:
    """Designs start..stop of the Cartesian product of the space, as columns (last dimension varies fastest)."""
    dims = [d.discrete_values for d in sweep.space]
    total = space_size(sweep)
    stop = total if stop is None else min(stop, total)
    idx = np.arange(start, stop, dtype=np.int64)
    cols = {}
    stride = 1
    for d, vals in zip(reversed(sweep.space), reversed(dims), strict=True):
        codes = (idx // stride) % len(vals)
        arr = np.asarray(vals, dtype=object if PARAMS[d.name].kind == "cat" else float)
        cols[d.name] = arr[codes]
        stride *= len(vals)
    return {d.name: cols[d.name] for d in sweep.space}


def score_range(sweep: Sweep, lo: int, hi: int) -> Scored:
    """Score designs lo..hi of the enumeration (one chunk; a worker process's job)."""
    return score(sweep, enumerate_space(sweep, lo, hi))


def run_exhaustive(sweep: Sweep, chunk: int = CHUNK,
                   on_batch: Callable[[Progress], None] | None = None,
                   stop: StopFlag | None = None, first: int = 0, end: int | None = None) -> Scored | None:
    """Evaluate designs first..end (default: all) of a discrete space's enumeration in vectorized chunks
    (the first ones only if `stop` is set)."""
    end = space_size(sweep) if end is None else end
    total = end - first
    parts = []
    start = time.perf_counter()
    tally = Tally([d for _, d in sweep.objectives])
    for lo in range(first, end, chunk):
        if stop is not None and stop.requested:
            break
        parts.append(score_range(sweep, lo, min(lo + chunk, end)))
        if on_batch:
            done = min(lo + chunk, end) - first
            tally.add(parts[-1].feasible, parts[-1].objectives)
            on_batch(Progress(done, total, done / max(time.perf_counter() - start, 1e-9), tally.feasible,
                              len(tally.front)))
    return concat_scored(parts)


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
