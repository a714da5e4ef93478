"""Small array helpers the cost model's steps share."""

from __future__ import annotations

import numpy as np

SMALL_WHOLE = 4096   # `distinct` counts whole values below this (a table of this many entries) instead of sorting
WHOLE_CELLS = 4096   # designs x matrix shapes up to which a step prices every shape at once ((N, J) arrays)


def all_shapes_at_once(designs: int, shapes: int) -> bool:
    """Whether a batch is small enough for a step (static.py, traffic.py) to compute every matrix shape in one set of
    (N, J) array operations (fewer, larger calls) instead of shape by shape (temporaries that stay in cache);
    elementwise either way, so the same numbers."""
    return designs * shapes <= WHOLE_CELLS


def dot_shapes(x: np.ndarray, v: np.ndarray) -> np.ndarray:
    """x (N, J) . v (J,) summed in a fixed order, so a design's result never depends on the batch around it."""
    out = x[:, 0] * v[0]
    for j in range(1, x.shape[1]):
        out = out + x[:, j] * v[j]
    return out


def sum_in_order(x: np.ndarray) -> np.ndarray:
    """x summed over its second axis one entry after the other (x[:, 0] + x[:, 1] + ...): zeros padded anywhere along
    that axis leave the bits as they are, which numpy's pairwise summation (from 8 entries) does not promise; the
    error model pads its slice axes to the largest slice count of the designs scored together."""
    out = x[:, 0].copy()
    for j in range(1, x.shape[1]):
        out += x[:, j]
    return out


def total(parts) -> np.ndarray:
    """Sum of two or more arrays in their order, accumulated in place in one fresh array (the numbers of sum())."""
    it = iter(parts)
    out = next(it) + next(it)
    for v in it:
        out += v
    return out


def ceil(x):
    """Ceiling that ignores float round-off just above an integer (3.0000000001 -> 3)."""
    y = np.subtract(x, 1e-9)
    if type(y) is np.ndarray and y.ndim:
        return np.ceil(y, out=y)             # in place: one temporary fewer (the same numbers)
    return np.ceil(y)


def distinct(x: np.ndarray, most: int = 16):
    """(values, index) with values.take(index) == x, to compute an elementwise function of x once per distinct value
    and gather it (the same numbers); index None when x is constant; None when x has more than `most` distinct
    values (or a NaN), where the function is best computed per design."""
    if len(x) == 0:
        return None
    if (x == x[0]).all():
        return x[:1], None
    lo, hi = x.min(), x.max()
    if 0 <= lo and hi < SMALL_WHOLE:   # whole numbers (nodes in nm): counted, no sort (np.unique sorts every design)
        xi = x.astype(np.intp)
        if np.array_equal(xi, x):
            u = np.flatnonzero(np.bincount(xi))
            if len(u) > most:
                return None
            code = np.zeros(u[-1] + 1, dtype=np.intp)
            code[u] = np.arange(len(u))
            return u.astype(x.dtype), code.take(xi)
    u = np.unique(x)
    if len(u) > most or np.isnan(u[-1]):
        return None
    index = (x >= u[1]).astype(np.intp)      # (a few comparisons: cheaper than searchsorted's branches)
    for v in u[2:]:
        index += x >= v
    return u, index


def spread(values: np.ndarray, index, n: int) -> np.ndarray:
    """Per design, the values computed per distinct value (see `distinct`)."""
    return np.full(n, values[0]) if index is None else values.take(index)


def fill_rows(out: dict, part: dict, i: int, n: int) -> None:
    """In place: a chunk's results (nested dicts of arrays) into rows i.. of the batch's arrays of n rows (made on
    the first chunk), while they are still in cache; placeholders (0 rows) stay as they are."""
    for k, v in part.items():
        if isinstance(v, dict):
            fill_rows(out.setdefault(k, {}), v, i, n)
        elif len(v) == 0:
            out[k] = v
        else:
            if k not in out:
                out[k] = np.empty((n, *v.shape[1:]), dtype=v.dtype)
            out[k][i:i + len(v)] = v


def equal_chunks(ends, most: int) -> list[tuple[int, int, int]]:
    """(run, start, end) of the chunks of consecutive runs of rows ending at `ends`: each run in equal chunks of at
    most `most` rows (no short last one paying a whole chunk's fixed cost)."""
    out, start = [], 0
    for run, end in enumerate(int(e) for e in ends):
        if end > start:
            size = -(-(end - start) // -(-(end - start) // most))
            out += [(run, i, min(i + size, end)) for i in range(start, end, size)]
        start = end
    return out
