"""Non-dominated sorting and hypervolume in plain numpy, for any number of objectives and mixed directions.

Everything is computed in *minimization space*: maximized columns are negated first, so "better" always
means "smaller". A row dominates another when it is <= in every objective and < in at least one; exact
duplicates therefore never dominate each other, and all copies of a non-dominated row stay on the front.
Fronts: a sort-based sweep for 2 objectives, a z-sweep over an (x, y) staircase for 3, and a blocked numpy
filter for 4+. Hypervolume is exact: a sweep for 2 and 3 objectives, recursive slicing (HSO) up to 6.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

import numpy as np

DIRECTIONS = ("minimize", "maximize")

# Rows per block in the 3+-objective front filter; the pairwise comparison arrays are capped at _CELLS.
_BLOCK = 512
_CELLS = 1 << 22
_MAX_HV_OBJECTIVES = 6


def _signs(directions: Sequence[str]) -> np.ndarray:
    """+1 for minimized and -1 for maximized objectives, so that multiplying converts either way."""
    bad = [d for d in directions if d not in DIRECTIONS]
    if bad:
        raise ValueError(f"unknown direction {bad[0]!r}; expected one of {', '.join(DIRECTIONS)}")
    return np.array([1.0 if d == "minimize" else -1.0 for d in directions], dtype=float)


def to_minimization(values: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    """(N, M) float copy of `values` with maximized columns negated, so every objective is minimized."""
    signs = _signs(directions)
    arr = np.asarray(values, dtype=float)
    if arr.size == 0 and arr.ndim < 2:
        arr = arr.reshape(0, len(signs))
    if arr.ndim != 2 or arr.shape[1] != len(signs):
        raise ValueError(f"values must have shape (N, {len(signs)}) to match the directions, got {arr.shape}")
    if np.isnan(arr).any():
        raise ValueError("objective values contain NaN; drop or repair those rows first")
    return arr * signs


def _reference_to_minimization(reference: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    """(M,) reference point in minimization space, validated like one row of values."""
    ref = np.asarray(reference, dtype=float)
    if ref.shape != (len(directions),):
        raise ValueError(f"reference must have shape ({len(directions)},), got {ref.shape}")
    return to_minimization(ref[None, :], directions)[0]


def _dominated_by(a: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Boolean (len(c),): whether some row of `a` dominates each row of `c` (chunked to bound memory)."""
    out = np.zeros(len(c), dtype=bool)
    if len(a) == 0 or len(c) == 0:
        return out
    step = max(1, _CELLS // (len(c) * a.shape[1]))
    for start in range(0, len(a), step):
        ac = a[start:start + step, None, :]
        weak = (ac <= c[None, :, :]).all(axis=2)
        strict = (ac < c[None, :, :]).any(axis=2)
        out |= (weak & strict).any(axis=0)
    return out


def _front_1d(v: np.ndarray) -> np.ndarray:
    """Mask of rows equal to the minimum of a single objective."""
    return v[:, 0] == v[:, 0].min()


def _front_2d(v: np.ndarray) -> np.ndarray:
    """O(N log N) sweep: a row survives if it is its x-group's minimum y and beats every smaller-x row's y."""
    n = len(v)
    order = np.lexsort((v[:, 1], v[:, 0]))
    xs = v[order, 0]
    ys = v[order, 1]
    new_group = np.empty(n, dtype=bool)
    new_group[0] = True
    np.not_equal(xs[1:], xs[:-1], out=new_group[1:])
    starts = np.flatnonzero(new_group)
    gid = np.cumsum(new_group) - 1
    running = np.minimum.accumulate(ys)
    # Best y among rows with strictly smaller x, per x-group (the first group has none).
    prev_best = np.empty(len(starts))
    prev_best[0] = np.inf
    prev_best[1:] = running[starts[1:] - 1]
    keep = (ys == ys[starts][gid]) & ((gid == 0) | (ys < prev_best[gid]))
    mask = np.empty(n, dtype=bool)
    mask[order] = keep
    return mask


def _front_3d(v: np.ndarray) -> np.ndarray:
    """Sweep up in z keeping the (x, y) staircase of earlier rows; a row is dominated if the staircase covers it."""
    n = len(v)
    order = np.lexsort((v[:, 1], v[:, 0], v[:, 2]))
    keep = np.zeros(n, dtype=bool)
    xs: list[float] = []  # staircase: x ascending, y strictly descending; zs holds each step's lowest z
    ys: list[float] = []
    zs: list[float] = []
    for row, (px, py, pz) in zip(order.tolist(), v[order].tolist(), strict=True):
        left = bisect.bisect_right(xs, px) - 1  # last step with x <= px: the lowest y left of px
        if left >= 0 and ys[left] <= py:
            # Covered; only an exact duplicate (same x, y and z) of the covering step leaves it undominated.
            keep[row] = xs[left] == px and ys[left] == py and zs[left] == pz
            continue
        keep[row] = True
        j = bisect.bisect_left(xs, px)
        k = j
        while k < len(xs) and ys[k] >= py:  # steps the new row covers in (x, y)
            k += 1
        xs[j:k] = [px]
        ys[j:k] = [py]
        zs[j:k] = [pz]
    return keep


def _front_nd(v: np.ndarray, block: int = _BLOCK) -> np.ndarray:
    """Block filter for 3+ objectives: visit rows by rank-sum so dominators come first; test blocks vs the front."""
    n, m = v.shape
    # Per-column dense ranks keep order and ties exactly (even with +-inf); their sum strictly increases
    # along any dominance relation, so every dominator of a row is visited before it or in its block.
    ranks = np.empty((n, m), dtype=np.int64)
    for k in range(m):
        ranks[:, k] = np.unique(v[:, k], return_inverse=True)[1].ravel()
    order = np.argsort(ranks.sum(axis=1), kind="stable")
    pts = ranks[order]
    keep = np.zeros(n, dtype=bool)
    front = np.empty((0, m), dtype=np.int64)
    for start in range(0, n, block):
        idx = np.arange(start, min(start + block, n))
        cand = pts[idx]
        alive = ~_dominated_by(front, cand)
        idx, cand = idx[alive], cand[alive]
        alive = ~_dominated_by(cand, cand)
        idx, cand = idx[alive], cand[alive]
        keep[idx] = True
        front = np.concatenate([front, cand])
    mask = np.empty(n, dtype=bool)
    mask[order] = keep
    return mask


def _front_min(v: np.ndarray) -> np.ndarray:
    """Non-dominated mask of an (N, M) minimization-space array without NaN."""
    n, m = v.shape
    if n == 0:
        return np.zeros(0, dtype=bool)
    if m == 1:
        return _front_1d(v)
    if m == 2:
        return _front_2d(v)
    if m == 3:
        return _front_3d(v)
    return _front_nd(v)


def pareto_mask(values: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    """Boolean (N,) mask of non-dominated rows; duplicated front rows are all kept."""
    return _front_min(to_minimization(values, directions))


def pareto_order(values: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    """Indices of the front rows, sorted best-first by the first objective, then the next ones (for pareto.csv)."""
    v = to_minimization(values, directions)
    idx = np.flatnonzero(_front_min(v))
    keys = (idx,) + tuple(v[idx, k] for k in reversed(range(v.shape[1])))
    return idx[np.lexsort(keys)]


def _hv_2d(p: np.ndarray, ref: np.ndarray) -> float:
    """Exact 2-D hypervolume of points that all strictly dominate `ref` (dominated points are harmless)."""
    order = np.lexsort((p[:, 1], p[:, 0]))
    xs = p[order, 0]
    best_y = np.minimum.accumulate(p[order, 1])
    widths = np.diff(np.append(xs, ref[0]))
    return float(np.sum(widths * (ref[1] - best_y)))


def _z_levels(z: np.ndarray, ref_z: float) -> tuple[np.ndarray, np.ndarray]:
    """For z sorted ascending: where each distinct level's rows end, and the slice thickness above it."""
    ends = np.append(np.flatnonzero(np.diff(z) != 0) + 1, len(z))
    return ends, np.diff(np.append(z[ends - 1], ref_z))


def _hv_3d(p: np.ndarray, ref: np.ndarray) -> float:
    """Exact 3-D hypervolume: sweep up in z, keeping the 2-D staircase and its area updated per insertion."""
    order = np.lexsort((p[:, 1], p[:, 0], p[:, 2]))
    pts = p[order].tolist()
    rx, ry, rz = (float(r) for r in ref)
    xs: list[float] = []  # staircase of the (x, y) seen so far: x ascending, y strictly descending
    ys: list[float] = []
    area = 0.0
    total = 0.0
    for i, (px, py, pz) in enumerate(pts):
        left = bisect.bisect_right(xs, px) - 1  # last step with x <= px: the lowest y left of px
        if not (left >= 0 and ys[left] <= py):
            j = bisect.bisect_left(xs, px)
            k = j
            while k < len(xs) and ys[k] >= py:  # steps the new point dominates (weakly)
                k += 1
            # Newly covered area: over [px, end) the staircase height drops from g(x) to py.
            x_prev, y_prev = px, ys[j - 1] if j > 0 else ry
            for t in range(j, k):
                area += (xs[t] - x_prev) * (y_prev - py)
                x_prev, y_prev = xs[t], ys[t]
            area += ((xs[k] if k < len(xs) else rx) - x_prev) * (y_prev - py)
            xs[j:k] = [px]
            ys[j:k] = [py]
        next_z = pts[i + 1][2] if i + 1 < len(pts) else rz
        total += area * (next_z - pz)
    return total


def _hv_min(p: np.ndarray, ref: np.ndarray) -> float:
    """Exact hypervolume in minimization space of points that all strictly dominate `ref` (HSO slicing)."""
    n, m = p.shape
    if n == 0:
        return 0.0
    if m == 1:
        return float(ref[0] - p[:, 0].min())
    if m == 2:
        return _hv_2d(p, ref)
    if m == 3:
        return _hv_3d(p, ref)
    p = p[np.argsort(p[:, -1], kind="stable")]
    ends, heights = _z_levels(p[:, -1], ref[-1])
    total = 0.0
    for end, height in zip(ends, heights, strict=True):
        sub = p[:end, :-1]
        total += _hv_min(sub[_front_min(sub)], ref[:-1]) * height
    return total


def _front_hypervolume(front: np.ndarray, ref: np.ndarray) -> float:
    """Hypervolume of a set of mutually non-dominated points, in a canonical order so results are repeatable."""
    if len(front) == 0:
        return 0.0
    return _hv_min(np.unique(front, axis=0), ref)


def _check_hv_objectives(m: int) -> None:
    """Refuse objective counts whose exact hypervolume would be impractically slow."""
    if m > _MAX_HV_OBJECTIVES:
        raise NotImplementedError(f"hypervolume supports at most {_MAX_HV_OBJECTIVES} objectives, got {m}")


def hypervolume(values: np.ndarray, directions: Sequence[str], reference: np.ndarray) -> float:
    """Exact hypervolume dominated by the rows w.r.t. `reference` (original units); rows not beating it add 0."""
    v = to_minimization(values, directions)
    ref = _reference_to_minimization(reference, directions)
    _check_hv_objectives(v.shape[1])
    v = v[(v < ref).all(axis=1)]
    return _front_hypervolume(v[_front_min(v)], ref)


def default_reference(values: np.ndarray, directions: Sequence[str], margin: float = 0.1) -> np.ndarray:
    """Reference point in original units: each objective's worst value pushed outward by margin x its range."""
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    v = to_minimization(values, directions)
    if len(v) == 0:
        raise ValueError("cannot derive a reference point from no rows")
    worst = v.max(axis=0)
    span = worst - v.min(axis=0)
    offset = np.where(span > 0, margin * span, margin * np.maximum(np.abs(worst), 1.0))
    ref = worst + offset
    # a span so small (subnormal) that margin x span vanishes falls back to the span-free offset
    ref = np.where((ref > worst) | (margin == 0), ref, worst + margin * np.maximum(np.abs(worst), 1.0))
    return ref * _signs(directions)


def hypervolume_history(values: np.ndarray, directions: Sequence[str], reference: np.ndarray) -> np.ndarray:
    """(N,) hypervolume of the first i rows for i = 1..N, for a hypervolume-against-trials plot."""
    v = to_minimization(values, directions)
    ref = _reference_to_minimization(reference, directions)
    _check_hv_objectives(v.shape[1])
    out = np.zeros(len(v))
    front = np.empty((0, v.shape[1]))
    current = 0.0
    for i, row in enumerate(v):
        if (row < ref).all() and not (front <= row).all(axis=1).any():
            # The row is new and not weakly dominated, so any front row it weakly dominates it strictly dominates.
            front = np.concatenate([front[~(row <= front).all(axis=1)], row[None, :]])
            # hypervolume never shrinks when a row is added; recomputing it can round a few ulps lower
            current = max(current, _front_hypervolume(front, ref))
        out[i] = current
    return out
