"""Screening: score `search.screen` quasi-random designs (scrambled Sobol, seeded) with the vectorized cost model
before an Optuna sampler starts, and keep the best of them (the non-dominated feasible ones, or the best
`search.screen_keep` by non-dominated rank) to add to the study as finished trials.

The cost model scores about a million designs a second and a sampler costs milliseconds a trial, so a few hundred
thousand screened designs cost less than a hundred sampler trials and give the sampler a front to start from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import Sweep
from ..cost.params import PARAMS
from ..pareto import pareto_mask
from .scoring import Scored, concat_scored, score

CHUNK_LOG2 = 16        # designs per scored chunk: 2^16 (a power of two keeps Sobol's balance in every chunk)
FALLBACK_KEEP = 50     # with no feasible design, this many of the least-violating ones are kept


@dataclass
class Screened:
    """The kept designs, in the order they were drawn: columns of searched values, their scoring, and their index
    in the Sobol sequence."""

    params: list[dict]
    scored: Scored | None
    index: np.ndarray
    drawn: int              # designs scored


def unit_to_values(sweep: Sweep, u: np.ndarray) -> dict:
    """Map points of the unit cube (N, D) to the searched parameters' values, one column per dimension of the
    space: equal shares of [0, 1) per choice; ranges uniformly, or in log space for log ranges, then snapped to
    the range's step (integers to the nearest integer), as Optuna's distributions lay them out."""
    cols = {}
    for k, d in enumerate(sweep.space):
        x = u[:, k]
        if d.choices:
            idx = np.minimum((x * len(d.choices)).astype(np.int64), len(d.choices) - 1)
            kind = PARAMS[d.name].kind
            arr = np.asarray(d.choices, dtype=object if kind == "cat" else float)
            cols[d.name] = arr[idx]
            continue
        lo, hi = float(d.low), float(d.high)
        if d.log:
            v = np.exp(np.log(lo) + x * (np.log(hi) - np.log(lo)))
        else:
            v = lo + x * (hi - lo)
        step = d.step if d.step is not None else (1 if d.is_int else None)
        if step is not None:
            v = lo + np.round((v - lo) / step) * step
        cols[d.name] = np.clip(v, lo, hi)
    return cols


def nondominated_best(objectives: np.ndarray, directions, keep: int | None) -> np.ndarray:
    """Indices (ascending) of the first non-dominated layer, or of the best `keep` rows by non-dominated rank
    (layers peeled off in turn; the last layer taken in row order)."""
    n = len(objectives)
    rest = np.arange(n)
    chosen: list[np.ndarray] = []
    count = 0
    while len(rest):
        layer = rest[pareto_mask(objectives[rest], directions)]
        if keep is None:
            return layer
        take = layer[:keep - count]
        chosen.append(take)
        count += len(take)
        if count >= keep:
            break
        rest = np.setdiff1d(rest, layer, assume_unique=True)
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)


def _take(s: Scored, idx: np.ndarray) -> Scored:
    """Rows `idx` of a scored batch."""
    return Scored(batch={k: v[idx] for k, v in s.batch.items()},
                  metrics={k: np.asarray(v)[idx] for k, v in s.metrics.items()},
                  objectives=s.objectives[idx], violations=s.violations[idx], feasible=s.feasible[idx],
                  violation_text=s.violation_text[idx], derived=s.derived)


def _best(s: Scored, cols: dict, index: np.ndarray, sweep: Sweep) -> tuple[Scored, dict, np.ndarray]:
    """The rows worth keeping of a scored set: by rank among feasible ones, else the least violating."""
    dirs = [d for _, d in sweep.objectives]
    keep = sweep.search.screen_keep
    feas = np.flatnonzero(s.feasible)
    if len(feas):
        sel = feas[nondominated_best(s.objectives[feas], dirs, keep)]
    else:
        total = np.where(s.violations > 0, s.violations, 0.0).sum(axis=1)
        sel = np.sort(np.argsort(total, kind="stable")[:keep or FALLBACK_KEEP])
    return _take(s, sel), {k: v[sel] for k, v in cols.items()}, index[sel]


def screen(sweep: Sweep, n: int | None = None, seed: int | None = None) -> Screened:
    """Score `n` (default search.screen) scrambled-Sobol designs in chunks of 2^16 and keep the best: the running
    selection is merged with each chunk, so memory stays bounded by the chunk and the kept set. Identical designs
    (a discrete space maps many points to one) are kept once, at their first draw."""
    from scipy.stats import qmc

    n = sweep.search.screen if n is None else n
    seed = sweep.search.seed if seed is None else seed
    sobol = qmc.Sobol(d=len(sweep.space), scramble=True, seed=np.random.default_rng(seed))
    chunk = 1 << CHUNK_LOG2
    kept: Scored | None = None
    kept_cols: dict = {}
    kept_index = np.zeros(0, dtype=np.int64)
    drawn = 0
    while drawn < n:
        m = min(chunk, n - drawn)
        u = sobol.random(chunk)[:m]     # always a power of two from the sequence (no balance warning)
        cols = unit_to_values(sweep, u)
        s = score(sweep, cols)
        index = np.arange(drawn, drawn + m)
        if kept is not None:
            s = concat_scored([kept, s])
            cols = {k: np.concatenate([kept_cols[k], cols[k]]) for k in cols}
            index = np.concatenate([kept_index, index])
        kept, kept_cols, kept_index = _best(s, cols, index, sweep)   # type: ignore[arg-type]
        drawn += m
    if kept is None:
        return Screened([], None, kept_index, 0)
    # one row per distinct design, in draw order
    keys = np.array([repr(tuple(kept_cols[d.name][i] for d in sweep.space)) for i in range(len(kept_index))])
    _, first = np.unique(keys, return_index=True)
    order = first[np.argsort(kept_index[first], kind="stable")]
    kept = _take(kept, order)
    params = [{d.name: _native(d, kept_cols[d.name][i]) for d in sweep.space} for i in order]
    return Screened(params, kept, kept_index[order], drawn)


def _native(d, v):
    """A searched value as the Python type its Optuna distribution holds (a choice as written in the sweep)."""
    if d.choices:
        return next(c for c in d.choices if c == v or str(c) == str(v))
    return int(round(float(v))) if d.is_int else float(v)
