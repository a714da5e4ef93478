"""Grouping designs by what the analytic error model (cost/errmodel.py) reads of them, so that its per-configuration
work runs once per distinct configuration and is gathered back per design (docs/MODEL.md section 6).

A sweep draws many designs from few discrete choices (device, array rows, bits per cell, ADC bits, precisions,
slicing); the error model's inputs are those columns and constants of the device, so a batch holds far fewer
distinct error configurations than designs. Grouping only reorders work: every value is computed by the same
arithmetic on the same numbers, so the results are the same bits as computing them per design.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

MIN_GROUPED = 256        # designs below which grouping costs more than it saves
MAX_GROUP_SHARE = 0.75   # more distinct configurations than this share of the designs: not grouped
SAMPLE = 2048            # designs looked at first: when SAMPLE_DISTINCT of them are distinct, not grouped
SAMPLE_DISTINCT = 0.98
DENSE_TABLE = 1 << 22   # most entries of dense_inverse's tables (two int64 tables: 64 MB)


def unique_inverse(key) -> tuple[np.ndarray, np.ndarray]:
    """An index of each distinct value of key (1-D) and, per element, the number of its value (values in ascending
    order): np.unique's groups without its overhead (one sort of key and position packed together where they fit in
    63 bits, else one unstable argsort)."""
    n = len(key)
    if n <= 1:
        return np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    ib = (n - 1).bit_length()
    if key.dtype.kind in "iu" and key.min() >= 0 and int(key.max()) < 1 << (63 - ib):
        # key and position packed into one int64: a plain sort (SIMD) is ~3x faster than argsort
        packed = np.sort((key.astype(np.int64) << ib) | np.arange(n))
        order = packed & ((1 << ib) - 1)
        ks = packed >> ib
    else:
        order = np.argsort(key)
        ks = key[order]
    new = np.empty(n, dtype=bool)
    new[0] = True
    np.not_equal(ks[1:], ks[:-1], out=new[1:])
    grp = np.cumsum(new) - 1
    inv = np.empty(n, dtype=np.int64)
    inv[order] = grp
    return order[new], inv


def unique_rows(cols: list[tuple]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index of a design of each distinct configuration, per design the number of its configuration, and the
    configurations' packed keys (sorted).

    cols: (values, bits, scale) of non-negative numbers with values x scale integers below 2^bits (adc_range_sigma:
    scale 1000), packed into one 64-bit key (at most 63 bits in all)."""
    bits = [c[1] for c in cols]
    assert sum(bits) <= 63
    v = np.array([c[0] for c in cols], dtype=float)   # (as np.stack: one row per column, bools as 0.0 and 1.0)
    scale = [float(c[2]) for c in cols]
    if any(sc != 1.0 for sc in scale):   # (x 1.0 changes no value)
        v = v * np.array(scale)[:, None]
    v = np.rint(v).astype(np.int64)
    assert v.min(initial=0) >= 0 and np.all(v.max(axis=1, initial=0) < np.exp2(bits))
    shift = np.cumsum(bits[::-1])[::-1] - bits    # the first column in the highest bits
    key = np.left_shift(v, shift[:, None]).sum(axis=0)   # fields do not overlap: the sum is their bitwise or
    first, inv = unique_inverse(key)                   # one design of each configuration (all are alike)
    return first, inv, key.take(first)


def _per_device(x, dev: np.ndarray, n_dev: int) -> bool:
    """True where x (a scalar or (N,) array) is a function of the device code alone."""
    x = np.asarray(x, dtype=float)
    if x.ndim == 0:
        return True
    tab = np.zeros(n_dev)
    tab[dev] = x
    return bool(np.array_equal(tab.take(dev), x))


def design_groups(p: Mapping, kw: Mapping, device_cols: tuple[str, ...], int_cols: tuple, bool_cols: tuple,
                  n: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(a design of each distinct configuration, each design's configuration), or None where grouping does not pay
    or the columns cannot be packed into one 64-bit key.

    The key: p["device"]; kw[name] for device_cols must be functions of the device (checked: a constant of each
    device); int_cols (arrays) must hold non-negative integers (checked); bool_cols are packed as one bit each;
    p["adc_range_sigma"] (a continuous setting, mostly 0) by the rank of its value."""
    if n < MIN_GROUPED:
        return None
    dev = np.asarray(p["device"])
    if dev.dtype.kind not in "iu" or dev.shape != (n,) or int(dev.min()) < 0:
        return None
    k_sigma = np.asarray(p.get("adc_range_sigma", 0.0), dtype=float)
    if n > 2 * SAMPLE:   # the first SAMPLE designs alone first: nearly all distinct, the batch repeats too little to
        # pay for the sort (their key packed by their own ranges: as distinct as in the whole batch's key)
        cut = lambda x: x[:SAMPLE] if np.ndim(x) else x  # noqa: E731
        key = _packed(dev[:SAMPLE], [cut(x) for x in int_cols], [cut(x) for x in bool_cols], cut(k_sigma), SAMPLE)
        if key is not None and len(unique_inverse(key)[0]) > SAMPLE_DISTINCT * SAMPLE:
            return None
    n_dev = int(dev.max()) + 1
    if not all(_per_device(kw[k], dev, n_dev) for k in device_cols):
        return None
    key = _packed(dev, int_cols, bool_cols, k_sigma, n)
    if key is None:
        return None
    first, inv = unique_inverse(key)
    if len(first) > MAX_GROUP_SHARE * n:
        return None
    return first, inv


def _packed(dev: np.ndarray, int_cols, bool_cols, k_sigma: np.ndarray, n: int) -> np.ndarray | None:
    """design_groups' key of n designs (one int64 each: the device, int_cols and the rank of k_sigma packed by their
    ranges, a bit per bool_cols), or None where they are not non-negative integers or take more than 63 bits."""
    key = dev.astype(np.int64)
    used = (int(dev.max()) + 1).bit_length()
    if k_sigma.ndim and k_sigma.any():
        _, inv_k = unique_inverse(k_sigma)
        int_cols = (*int_cols, inv_k)
    for x in int_cols:
        x = np.asarray(x)
        xi = x.astype(np.int64)
        if xi.shape != (n,) or (x.dtype.kind == "f" and not np.array_equal(xi, x)):
            return None
        lo, hi = int(xi.min()), int(xi.max())
        b = (hi - lo).bit_length()   # packed as x - lo: a constant column takes no bits (the same groups)
        used += b
        if lo < 0 or used > 63:
            return None
        if b:   # (in place: xi is a fresh copy, key this function's own array)
            key <<= b
            if lo:
                xi -= lo
            key |= xi
    if used + len(bool_cols) > 63:
        return None
    for x in bool_cols:
        key <<= 1
        key |= np.broadcast_to(np.asarray(x, dtype=bool), (n,))
    return key


def query_order(group: np.ndarray, key: np.ndarray) -> np.ndarray:
    """An order of the elements by group (non-negative integers) and, within a group, by key (non-negative, below
    4096) to 1/64, for queries that a searchsorted answers faster in about ascending order: one sort of the two
    and the position packed into an int64, ~3x faster than an argsort of floats (np.argsort of group x 2200 + key
    where they do not fit in 63 bits, or key is not finite)."""
    n = len(key)
    with np.errstate(invalid="ignore"):   # (NaN cast to int64: refused below)
        q = (key * 64.0).astype(np.int64)
    ib = max((n - 1).bit_length(), 1)
    gb = int(group.max(initial=0)).bit_length()
    if n < 2 or gb + 18 + ib > 63 or q.min(initial=0) < 0 or q.max(initial=0) >= 1 << 18:
        return np.argsort(group * 2200.0 + key)
    packed = (group.astype(np.int64) << (18 + ib)) | (q << ib) | np.arange(n)
    packed.sort()
    return packed & ((1 << ib) - 1)


def dense_inverse(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """unique_inverse's groups (ascending values; the first member of each) of non-negative integer keys, marked in
    a table of max(key) + 1 entries where that is at most 64 per element and DENSE_TABLE in all (no sort; bounded
    memory); else unique_inverse."""
    n = len(key)
    size = int(key.max(initial=0)) + 1
    if n < 2 or size > min(64 * n, DENSE_TABLE):
        return unique_inverse(key)
    seen = np.zeros(size, dtype=bool)
    seen[key] = True
    uniq = np.flatnonzero(seen)
    number = np.empty(size, dtype=np.int64)
    number[uniq] = np.arange(len(uniq))
    member = np.empty(size, dtype=np.int64)
    member[key[::-1]] = np.arange(n - 1, -1, -1)   # (the last write of each value: its first element)
    return member.take(uniq), number.take(key)
