"""The ADC rounding term's sum over bit-slice pairs, sum_ts w_ts min(r, v_ts) per design (cost/errmodel.py
_adc_error, docs/MODEL.md section 6): piecewise linear in r with breaks at the pairs' v_ts, so per configuration the
pairs sorted by v with prefix and suffix sums (_pair_rows), and per design one count of the pairs below r
(_pair_sums: one searchsorted over the configurations' pairs)."""

from __future__ import annotations

import numpy as np


def _log_key(a):
    """log2 of non-negative values, clipped to [-1000, 1100] and shifted to [0, 2100]: a sort key within 2200."""
    return np.minimum(np.maximum(np.log2(np.maximum(a, 1e-300)), -1000.0), 1100.0) + 1000.0   # (np.clip's values)


LOG_KEY_0 = float(_log_key(np.zeros(1))[0])   # _log_key of 0 (and of anything below 1e-300): the least key


def _pair_rows(v, w) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per configuration (rows of v, w (C, P)): the pairs sorted by v, as _log_key(v) (C, P), the prefix sums of
    w v (C, P + 1) and the suffix sums of w (C, P + 1) that _pair_sums looks up."""
    n_c, n_p = v.shape
    srt = np.argsort(v, axis=1, kind="stable")   # ties in pair order: the sums do not depend on the padding
    vs, ws = np.take_along_axis(v, srt, 1), np.take_along_axis(w, srt, 1)
    pre = np.zeros((n_c, n_p + 1))
    pre[:, 1:] = np.cumsum(ws * vs, axis=1)
    suf = np.zeros((n_c, n_p + 1))
    suf[:, :n_p] = np.cumsum(ws[:, ::-1], axis=1)[:, ::-1]
    return _log_key(vs), pre, suf


def zero_pairs(lk: np.ndarray) -> np.ndarray:
    """Per row of _pair_rows' keys, how many lead with the least key LOG_KEY_0 (the padding to P pairs and pairs of
    no power): every design's r counts them, so _pair_sums leaves them out of its search."""
    return np.count_nonzero(lk <= LOG_KEY_0, axis=1)


def _pair_sums(rows, inv_c, r, order, qkey):
    """sum_ts w_ts min(r, v_ts) per design: rows = (lk, n0, pos, pre, suf) with lk = _log_key(v) of the pairs of
    each kept configuration (sorted by v), n0 their leading least keys (zero_pairs), pre, suf (_pair_rows of v, w)
    and pos the row of each of this call's configurations; inv_c each design's configuration, r (N,); order sorts
    the designs by qkey = inv_c x 2200 + _log_key(r), given sorted (shared by every kind of one stored operand).

    Piecewise linear in r with breaks at the v_ts: with the pairs sorted by v, it is the prefix sum of w v below r
    plus r times the suffix sum of w above. The count of pairs below r: the least keys n0 always (r >= 0), and the
    others counted over the configurations' other pairs (keys: configuration x 2200 + _log_key(v); a tie adds the
    same either way): each key's place among the sorted queries (a search per key: far fewer keys than designs),
    and per query the keys placed at or before it (a running count)."""
    lk, n0, pos, pre, suf = rows
    n_p = lk.shape[1]
    lead = n0.take(pos)
    real = n_p - lead                                   # pairs searched, per configuration of this call
    start = np.zeros(len(pos) + 1, dtype=np.int64)
    np.cumsum(real, out=start[1:])
    flat = np.repeat(pos * n_p + lead - start[:-1], real) + np.arange(start[-1])   # their places in lk
    keys = np.repeat(np.arange(len(pos)) * 2200.0, real) + lk.ravel().take(flat)
    below = np.empty(len(r), dtype=np.int64)
    first = np.searchsorted(qkey, keys, side="left")   # the first query at or above each key
    below[order] = np.cumsum(np.bincount(first, minlength=len(r) + 1)[:len(r)])   # keys <= each query
    # row pos in pre and suf, its leading least keys, the searched pairs below r of this configuration
    idx = (pos * (n_p + 1) + lead - start[:-1]).take(inv_c) + below
    return pre.ravel().take(idx) + r * suf.ravel().take(idx)
