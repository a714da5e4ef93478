"""Bit-slice statistics of the analytic error model (cost/errmodel.py, docs/MODEL.md section 6): the second moment
of one bit slice of a Gaussian operand, and the rounding of cell noise by an ADC that resolves every integer partial
sum (the factor on the device, drift and read terms). Tables once per process; per design only lookups.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from ._select import select
from ._util import sum_in_order
from .errgroups import dense_inverse, unique_inverse

SLICE_GRID = np.arange(-10.0, 24.001, 0.125)   # log2(rms / slice weight) at which slice moments are tabulated


def _u2(levels):
    """E[s^2] of a slice uniform over 0..levels."""
    return levels * (2 * levels + 1) / 6.0


@cache
def slice_moment_table(b: int) -> np.ndarray:
    """E[s^2] of a b-bit slice s = floor(|z| r / a) mod 2^b of a Gaussian magnitude (z ~ N(0,1), rms r integer
    steps, slice weight a), on SLICE_GRID = log2(r / a): exact sums over the values of floor(|z| r / a); where
    r / a > 64 2^b the slice is uniform over its levels. Slices far above the rms are almost always 0."""
    from scipy.special import ndtr

    m = 2**b
    out = np.empty(len(SLICE_GRID))
    for i, u in enumerate(SLICE_GRID):
        sc = 2.0**u
        if sc > 64 * m:
            out[i] = _u2(m - 1)
            continue
        j = np.arange(int(9 * sc) + m + 1)
        pj = 2 * (ndtr((j + 1) / sc) - ndtr(j / sc))
        out[i] = float(np.dot(pj, (j % m).astype(float) ** 2))
    return out


def _slice_m2(log2_rms, shifts, b):
    """E[s^2] of the slices of weight 2^shift (shifts: (U, T)) of Gaussian magnitudes with log2(rms) (U, 1)."""
    bs = b[:, 0]
    if len(bs) and bs.min() == bs.max():   # one slice width (the usual case): no masks
        return np.interp(log2_rms - shifts, SLICE_GRID, slice_moment_table(int(bs[0])))
    out = np.empty(shifts.shape)
    for bb in np.unique(bs):
        sel = bs == bb
        out[sel] = np.interp(log2_rms[sel] - shifts[sel], SLICE_GRID, slice_moment_table(int(bb)))
    return out


ROUND_STEPS = 32                                       # grid points per octave
ROUND_LOG2_GRID = np.arange(-8.0, 8.0001, 1.0 / ROUND_STEPS)   # log2(noise std / ADC step): rounding tabulated
RAGGED_CELLS = 16384   # rows x slices from which _noise_tables works over each row's own slices only


@cache
def noise_rounding_table() -> tuple[np.ndarray, np.ndarray]:
    """Rounding z ~ N(0, s^2) to the nearest integer (a noisy integer sum on an ADC whose step is one unit), on
    ROUND_LOG2_GRID = log2(s): the Bussgang gain alpha = E[z round(z)] / s^2 = (1/s) sum_k phi((k + 1/2) / s) (Stein's
    lemma: round' is a comb of unit steps at k + 1/2) and the power of the rest, E[round(z)^2] - alpha^2 s^2, with
    E[round(z)^2] = sum_(k>=1) (2k - 1) 2 Q((k - 1/2) / s). s -> 0: both -> 0 (the noise is rounded away); s large:
    alpha -> 1 and the rest -> 1/12 (Widrow and Kollar, "Quantization Noise", Cambridge 2008: a Gaussian wider than
    the step makes the quantizer's error uniform and independent of the input)."""
    from scipy.special import ndtr

    sd = np.exp2(ROUND_LOG2_GRID)[:, None]
    k = np.arange(-2000, 2001)[None, :]
    alpha = np.sum(np.exp(-0.5 * ((k + 0.5) / sd) ** 2), axis=1) / (np.sqrt(2 * np.pi) * sd[:, 0])
    kp = np.arange(1, 2001)[None, :]
    m2 = np.sum((2 * kp - 1) * 2 * ndtr(-(kp - 0.5) / sd), axis=1)
    return alpha, np.maximum(m2 - alpha**2 * sd[:, 0] ** 2, 0.0)


def _noise_groups(cfg: dict, step, var_c, shift_w) -> dict:
    """The designs of cfg with cell noise (var_c > 0, levels^2) grouped by what _noise_rounding tabulates: input bits,
    input bits per cycle and noise power per conversion. Returns those designs (sel), a design of each group (first_u),
    each one's group (inv_u), a design of each (input bits, bits per cycle) (first_b) and each group's (bd_u), and the
    gathers of cfg over sel that every kind of the stored operand reuses."""
    sel = (var_c > 0).nonzero()[0]
    comb, shift = cfg["combined"].take(sel), shift_w.take(sel)
    per_conv = var_c.take(sel) * cfg["ra"].take(sel) * select(comb, shift, 1.0)
    _, pidx = unique_inverse(per_conv)
    bd = np.rint(cfg["bits_x"].take(sel) * 16 + cfg["db"].take(sel)).astype(np.int64)   # < 512 (bits: 5 bits, db: 4)
    first_l, inv_u = dense_inverse(pidx * 512 + bd)
    first_u = sel.take(first_l)
    half_log2_conv = 0.5 * np.log2(per_conv.take(first_l))
    first_b, bd_u = dense_inverse(np.rint(cfg["bits_x"].take(first_u) * 16 + cfg["db"].take(first_u)).astype(np.int64))
    return {"sel": sel, "first_u": first_u, "inv_u": inv_u, "first_b": first_u.take(first_b), "bd_u": bd_u,
            "half_log2_conv": half_log2_conv,
            "comb_shift": select(comb, 1.0, shift), "shift": shift, "var": var_c.take(sel),
            "coarse": ~(step.take(sel) < 2.0)}


def _noise_rounding(cfg: dict, rnd: dict, r_x, var_c, shift_w, tab: tuple) -> np.ndarray:
    """Factor on the cell-noise NSR of designs whose ADC resolves every integer partial sum (step below 2 units):
    the noise of each conversion, z = sum_i xs_i n_i over ra rows (std s_t = sqrt(var_c ra E[xs_t^2] (shift_w when
    the slices are combined)) for input slice t, in units), leaves the ADC as round(z) = alpha_t z + d_t (Bussgang):
    the alpha part keeps the noise's correlation over the input slices (a power-weighted mean of alpha_t^2 times the
    unrounded noise), the rest d_t adds in power per conversion. var_c: cell noise variance in levels^2. Designs
    with coarser steps pass the noise in full (factor 1: the sum spans many steps, the quantizer error is independent
    of the noise), and never less than a finer step would (factor at least the step-one value: with noise wider
    than a unit, step one adds the uniform 1/12 per conversion, which a coarser ADC term need not contain when it
    caps a pair's error at its E[p^2]); so the factor never falls as ADC bits fall. (N,) over the designs of cfg.
    The slice statistics and the table lookups depend only on input bits, bits per cycle and noise per conversion:
    tab = _noise_tables' (alpha^2 mean, rest) per group of _noise_groups (rnd["noise_u"]); the rest per design."""
    f = np.ones(len(rnd["step"]))
    ng = rnd["noise_u"]
    sel, inv_u = ng["sel"], ng["inv_u"]
    if not len(sel):
        return f
    a2_mean, rest_sum = tab
    # the rest per output in integer units: sum_t 4^(t db) d_t^2 per cell column (slices: sum_s 4^(s bpc)),
    # per conversion; relative to the unrounded noise K E[x^2] var_c shift_w in the same units (times conv / K)
    r_xs = r_x.take(sel)
    rest_d = rest_sum.take(inv_u) * ng["comb_shift"] / (r_xs ** 2 * ng["shift"])
    per_k = ng.setdefault("per_k", {})   # (kinds of one contraction length share these)
    if cfg["K"] not in per_k:
        per_k[cfg["K"]] = cfg["conv"].take(sel), cfg["K"] * ng["var"]
    conv, k_var = per_k[cfg["K"]]
    fine = a2_mean.take(inv_u) + rest_d * conv / k_var
    f[sel] = np.maximum(fine, 1.0, out=fine, where=ng["coarse"])   # (coarse steps: at least 1; np.where's values)
    return f


def _noise_tables(cfg: dict, rnd: dict, r_xs: list, var_c, shift_w) -> list[tuple]:
    """Per kind (r_xs: each kind's r_x over the designs of cfg, all with the input slices cfg["n_x"]), per group of
    _noise_groups: the power-weighted mean of alpha_t^2 and sum_t 4^(t db) d_t^2 (noise_rounding_table interpolated
    at each input slice's noise std). The kinds are stacked: one pass for all kinds of a stored operand."""
    if "noise_u" not in rnd:   # shared by the kinds of one stored operand
        rnd["noise_u"] = _noise_groups(cfg, rnd["step"], var_c, shift_w)
    ng = rnd["noise_u"]
    n_k = len(r_xs)
    if not len(ng["sel"]):
        return [(None, None)] * n_k
    T = int(cfg["n_x"].max())
    fb = ng["first_b"]                       # slice statistics per kind and (input bits, bits per cycle), (kB, T)
    n_b = len(fb)
    db, n_x = np.concatenate([cfg["db"][fb]] * n_k), np.concatenate([cfg["n_x"][fb]] * n_k)
    t = np.arange(T)[None, :] * db[:, None]
    m2x = _slice_m2(np.log2(np.concatenate([r[fb] for r in r_xs]))[:, None], t, db[:, None].astype(int))
    m2x = np.where(np.arange(T)[None, :] < n_x[:, None], m2x, 0.0)
    w4 = np.exp2(2 * t)
    wm = w4 * m2x
    n_u = len(ng["bd_u"])
    bu = (ng["bd_u"][None, :] + n_b * np.arange(n_k)[:, None]).ravel()   # per kind and group u, (kU, T)
    w4m = wm / np.maximum(sum_in_order(wm), 1e-300)[:, None]              # each plane's power share
    half_l2 = 0.5 * np.log2(np.maximum(m2x, 1e-300))
    hlc = np.concatenate([ng["half_log2_conv"]] * n_k)
    if len(bu) * T >= RAGGED_CELLS:
        a2_mean, rest_sum = _rows_by_slices(bu, n_x, hlc, w4m, half_l2, w4, T)
    else:
        a2_mean, rest_sum = _rows(bu, hlc, w4m, half_l2, w4)
    return [(a2_mean[i * n_u:(i + 1) * n_u], rest_sum[i * n_u:(i + 1) * n_u]) for i in range(n_k)]


def _interpolated(half_l2, hlc):
    """noise_rounding_table's alpha^2 and rest at log2 noise std half_l2 + hlc (on the uniform ROUND_LOG2_GRID: index
    and fraction, no search)."""
    alpha_t, rest_t = noise_rounding_table()
    pos = np.minimum(np.maximum((half_l2 + hlc - ROUND_LOG2_GRID[0]) * ROUND_STEPS, 0.0),
                     len(ROUND_LOG2_GRID) - 1.000001)   # (np.clip's values)
    i0 = pos.astype(np.int64)
    fr_ = pos - i0
    a2 = (alpha_t[i0] * (1 - fr_) + alpha_t[i0 + 1] * fr_) ** 2
    return a2, rest_t[i0] * (1 - fr_) + rest_t[i0 + 1] * fr_


def _rows(bu, hlc, w4m, half_l2, w4):
    """_noise_tables' sums per row (kind and group: statistics row bu, log2 noise per conversion hlc) over every
    slice, T padded ones included (they add zeros), as (kU, T) arrays."""
    w4m = w4m[bu]
    a2, rest = _interpolated(half_l2[bu], hlc[:, None])
    # (in order: the bits do not depend on the padding to T slices)
    return sum_in_order(w4m * a2), sum_in_order(w4[bu] * (rest * (w4m > 0)))


def _rows_by_slices(bu, n_x, hlc, w4m, half_l2, w4, T):
    """_rows over each row's own slices only (n_x.take(bu) of its T, the others add exact zeros: a large table's
    padding is most of it): the rows ordered by their slice count, slice t of the rows that have it, added in
    slice order (the same sums, so the same bits)."""
    nx = n_x.take(bu)
    perm = np.argsort((T - nx).astype(np.int16), kind="stable")   # most slices first (a radix sort)
    bu, hlc = bu.take(perm), hlc.take(perm)
    active = np.searchsorted(-nx.take(perm), -np.arange(T), side="left")   # rows with more than t slices
    active[0] = len(bu)
    sums = []
    for t in range(T):
        m = int(active[t])
        if m == 0:
            break
        b = bu[:m]
        share = w4m[:, t].take(b)
        a2, rest = _interpolated(half_l2[:, t].take(b), hlc[:m])
        parts = (share * a2, w4[:, t].take(b) * (rest * (share > 0)))
        if t == 0:
            sums = list(parts)
        else:
            for total, part in zip(sums, parts, strict=True):
                total[:m] += part
    out = [np.empty(len(bu)), np.empty(len(bu))]
    for o, total in zip(out, sums, strict=True):
        o[perm] = total
    return out
