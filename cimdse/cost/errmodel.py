"""Workload-aware analytic error model: the noise-to-signal ratio (NSR) of every matmul of a model on a design,
and its accumulation over the layers into the SQNR of the output logits (docs/MODEL.md section 6, docs/ACCURACY.md).

Per matmul y = x W (contraction length K), the NSR is noise power / signal power of y, split into terms:
  weight_quant   round-to-nearest weights, symmetric, one scale per output column (max |w| of the column)
  input_quant    round-to-nearest inputs, one scale per token vector (max |x|, outlier channels included)
  adc            ADC quantization and, with `adc_range_sigma` > 0, clipping of each bit-slice partial sum
  device         cell programming noise (devices.yaml sigma_g_rel), static per cell
  drift          conductance drift left after a global drift compensation, at a stated time (tech/data/noise.yaml)
  read           accumulated 1/f read noise at the same time (tech/data/noise.yaml)
  ir_drop        IR drop along the lines: the read voltage falls to 1 - ir_drop_frac at the worst cell (profile
                 ir_drop_frac (2u - u^2) along the line); what a global gain calibration leaves
Signal: K E[x^2] E[w^2] with weights and ordinary activation channels taken as zero-mean and independent; the
activation power of outlier channels is not counted as signal (conservative: the ordinary channels carry most
of what a token means). Terms add in power (independent errors), with two laws where they do not:
  - ADC errors proportional to their own partial sum (a step just above one unit, or one so coarse that sums
    round to 0) add in amplitude over the bit-slice pairs (_coherence);
  - an ADC whose step is below two units returns integer sums on their own levels and rounds the cell noise of
    each conversion: round(z) = alpha z + d (Bussgang), alpha and E[d^2] of a Gaussian z (_noise_rounding).
Per-workload constants (crest factors, propagation weights) live in errstats.py, bit-slice moments and the noise
rounding tables in errslices.py; error_metrics computes the terms once per distinct configuration (errgroups.py).

Public entry points:
  matmul_nsr(design, model, ...)      per matmul kind, per term, (N,) arrays: what the accuracy helper injects
  error_metrics(p, shapes, ...)       equivalent_bits and logit_sqnr_db for a batch (the cost model's call)
  error_shapes(model, scenario)       the per-workload constants (contraction lengths, crest factors, weights)
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..tech import Tech, load_tech
from ..workload import ModelConfig, Scenario
from . import erroperands
from ._select import select
from ._util import sum_in_order
from .analog import auto_rows_active, design_ir_drop_frac, device_read_tables
from .errgroups import design_groups, query_order, unique_rows
from .errlogit import logit_nsr_parts
from .erroperands import (  # noqa: F401  (SIGN_QUANT_NSR: re-exported)
    SIGN_QUANT_NSR,
    Reciprocal,
    adc_configs,
    operand_codes,
    operand_factors,
)
from .errpairs import _log_key, _pair_rows, _pair_sums, zero_pairs
from .errslices import (  # noqa: F401  (ROUND_LOG2_GRID, noise_rounding_table: re-exported)
    ROUND_LOG2_GRID,
    _noise_rounding,
    _noise_tables,
    _slice_m2,
    _u2,
    noise_rounding_table,
)
from .errstats import (  # noqa: F401  (re-exported: the error model's public names)
    ATTENTION,
    NORM_FED,
    ErrorShapes,
    _propagation,
    activation_stats,
    block_nsr,
    device_noise,
    equivalent_bits,
    error_shapes,
    ffn_down_crest,
    gauss_crest,
    layer_profile,
    logit_nsr,
    logit_sqnr_db,
    rtn_reference,
    total_but_ir,
    weighted_kinds,
)
from .pruning import with_pruning

IR_RESIDUAL_VAR = 4.0 / 45.0   # variance of 2u - u^2 over u in [0, 1]: the IR-drop profile after a gain calibration
TERMS = ("weight_quant", "input_quant", "adc", "device", "drift", "read", "ir_drop", "kv_prune")


# ------------------------------------------------------------------------------------------------ per design

def _tail_ms(k):
    """E[(Z - k)^2 ; Z > k] for Z ~ N(0,1): the mean-square clipping error at k sigma, upper side only."""
    from scipy.special import ndtr  # imported here: scipy is slow to import and most batches never clip

    k = np.asarray(k, dtype=float)
    q = ndtr(-k)
    phi = np.exp(-0.5 * k * k) / np.sqrt(2 * np.pi)
    return np.maximum((1 + k * k) * q - k * phi, 0.0)


CLIP_K_GRID = np.arange(0.0, 12.0001, 1.0 / 16)   # adc_range_sigma values at which the clipping error is tabulated


def _pair_moments(ra, db, bpc, b_adc, n_x, n_w, r_x, r_w, w_sparse, combined, T=None, S=None):
    """Per configuration (rows: (M,) arrays), the bit-slice pairs (t, s) of one output: E[p_ts^2] of their bipolar
    partial sums and their shift weights 4^(t db + s bpc), both (M, P), and the rms of a partial sum of uniform
    slices (M,), against which `adc_range_sigma` is measured.

    p = sum_i sign(x_i) xs_i cs_i over ra rows: E[p] = 0, E[p^2] = ra E[xs^2] E[cs^2] with the Gaussian slice
    moments (slice_moment_table, halved for a differential column, which holds the weights of one sign;
    offset-coded weights: uniform slices; combined columns: the whole magnitude, E = rms^2)."""
    lx, lc = np.exp2(db) - 1, np.exp2(b_adc) - 1
    T, S = T or int(n_x.max()), S or int(n_w.max())
    t = np.arange(T)[None, :] * db[:, None]
    s = np.arange(S)[None, :] * bpc[:, None]
    m2x = _slice_m2(np.log2(r_x)[:, None], t, db[:, None].astype(int))
    m2x = np.where(np.arange(T)[None, :] < n_x[:, None], m2x, 0.0)
    m2c = np.where(w_sparse[:, None], _slice_m2(np.log2(r_w)[:, None], s, bpc[:, None].astype(int)),
                   _u2(lc)[:, None])
    whole = np.where(w_sparse, np.minimum(r_w * r_w, _u2(lc)), _u2(lc))       # combined: one "slice"
    m2c = np.where(combined[:, None], whole[:, None], m2c)
    m2c = np.where(np.arange(S)[None, :] < np.where(combined, 1, n_w)[:, None], m2c, 0.0)
    m2c = m2c * np.where(w_sparse, 0.5, 1.0)[:, None]    # a differential column holds one sign: half its cells 0
    e = ra[:, None, None] * m2x[:, :, None] * m2c[:, None, :]                      # (M, T, S)
    wt = np.exp2(2 * t)[:, :, None] * np.where(combined[:, None], 1.0, np.exp2(2 * s))[:, None, :]
    m = len(ra)
    return e.reshape(m, -1), (wt * (e > 0)).reshape(m, -1), np.sqrt(ra * _u2(lx) * _u2(lc))


def _clip_table(e, wt, sig_u):
    """sum over pairs of w 2 E tail(k sig_u / sqrt(E)) on CLIP_K_GRID, (M, len(grid)): the mean-square error of
    clipping both Gaussian tails of every pair's partial sum at +-k sig_u (E[(|p| - h)^2; |p| > h])."""
    from scipy.special import ndtr

    sd = np.sqrt(np.maximum(e, 1e-300))[:, :, None]
    kk = np.minimum(CLIP_K_GRID[None, None, :] * sig_u[:, None, None] / sd, 40.0)   # beyond 40 sigma: 0
    tail = np.maximum((1 + kk * kk) * ndtr(-kk) - kk * np.exp(-0.5 * kk * kk) / np.sqrt(2 * np.pi), 0.0)
    return sum_in_order(wt[:, :, None] * 2 * e[:, :, None] * tail)


# Per-configuration arrays kept across calls (chunks of one batch, batches of one sweep): they depend only on the
# configuration's packed key and the signature they are filed under, and computing them again would give the same
# bits. Bounded: beyond _CACHE_MAX signatures the store starts over.
_ROWS_CACHE: dict[tuple, tuple] = {}   # (kind statistics, T, S) -> (sorted config keys, pair rows of each)
_CLIP_CACHE: dict[tuple, tuple] = {}   # (kind statistics, T, S) -> (sorted config keys, (_clip_table of each,))
_CACHE_MAX = 256                       # signatures kept per store (a handful per model); then it starts over


def _cached(store: dict, key: tuple, ukeys, build) -> tuple[tuple, np.ndarray]:
    """(arrays, pos): per-configuration arrays (one row per configuration) kept in `store` under `key`, with the
    row of each configuration of ukeys (sorted packed keys) at pos; build(miss) gives the rows of the
    configurations ukeys[miss] that the store does not hold yet."""
    known, arrays = store.get(key, (np.empty(0, np.int64), None))
    pos = np.minimum(np.searchsorted(known, ukeys), max(len(known) - 1, 0))
    miss = (known[pos] != ukeys).nonzero()[0] if len(known) else np.arange(len(ukeys))
    if len(miss):
        new = build(miss)
        allk = np.concatenate([known, ukeys[miss]])
        srt = np.argsort(allk)
        known = allk[srt]
        arrays = tuple((np.concatenate([old, nw]) if arrays is not None else nw)[srt]
                       for old, nw in zip(arrays or new, new, strict=True))
        if len(store) >= _CACHE_MAX:
            store.clear()
        store[key] = (known, arrays)
        pos = np.searchsorted(known, ukeys)
    return arrays, pos


def _cached_pair_rows(sig: tuple, ukeys, first_c, cfg: dict, r_x, r_w):
    """_pair_rows of the pair moments scaled by their coherence, for the configurations ukeys (packed keys from
    unique_rows; first_c: a design of each), as _pair_sums takes them. They depend only on the configuration and
    the kind's statistics (sig), so they are kept across calls (_cached) and computed once."""
    g = lambda v, i: v[first_c[i]]  # noqa: E731
    T, S = int(cfg["n_x"].max()), int(cfg["n_w"].max())

    def build(miss):
        v, w, _ = _pair_moments(np.ones(len(miss)), g(cfg["db"], miss), g(cfg["bpc"], miss), g(cfg["b_adc"], miss),
                                g(cfg["n_x"], miss), g(cfg["n_w"], miss), g(r_x, miss), g(r_w, miss),
                                g(cfg["differential"], miss), g(cfg["combined"], miss), T, S)
        coh = _coherence(v, w, g(r_x, miss), g(r_w, miss), g(cfg["differential"], miss), g(cfg["bits_w"], miss))
        rows = _pair_rows(coh[:, None] * v, w)
        return rows[0], zero_pairs(rows[0]), rows[1], rows[2]

    (lk, n0, pre, suf), pos = _cached(_ROWS_CACHE, (*sig, T, S), ukeys, build)
    return lk, n0, pos, pre, suf   # every row kept: _pair_sums looks up the rows pos


def _adc_rounding(cfg: dict, inv_c) -> dict:
    """Per design, the ADC step terms of _adc_error that do not depend on the matmul kind: a = ra near and
    r = q / a (rounding error q = step^2/12 per conversion, capped at near E[p^2]), the clipped designs (sel) and
    their adc_range_sigma (k), and the order of the designs by (configuration inv_c, r) with its sorted keys."""
    ra, lx, lc = cfg["ra"], np.exp2(cfg["db"]) - 1, np.exp2(cfg["b_adc"]) - 1
    # finite on/off ratio: the off-state background takes ADC range (range_scale >= 1 per weight level)
    full = ra * lx * lc * cfg["range_scale"]
    k = cfg["k_sigma"]
    levels = np.exp2(cfg["adc_bits"]) - 1
    if k.any():   # some designs clip at adc_range_sigma x the rms of a partial sum of uniform slices
        sig_u = np.sqrt(ra * _u2(lx) * _u2(lc))
        clipped = (k > 0) & (k * sig_u < full)
        half = select(clipped, k * sig_u, full)
        lossy = (levels < 2 * full) | clipped
        sel = (clipped & (k <= CLIP_K_GRID[-1])).nonzero()[0]
    else:
        half, lossy, sel = full, levels < 2 * full, np.empty(0, dtype=np.int64)
    # integer sums on a step just above 1 unit: |p| < 1/(2(step - 1)) rounds to itself and the error is
    # (step - 1) p, so the cap is (step - 1)^2 E[p^2]; an ADC with more levels than its range needs has a step of
    # 1 unit (no rounding error, only clipping)
    step = np.maximum(2 * half / levels, 1.0)
    q = select(lossy, step ** 2 / 12.0, 0.0)
    near = np.minimum(step - 1, 1.0) ** 2
    a = near * ra
    pos = a > 0
    r = select(pos, q / select(pos, a, 1.0), 0.0)
    lk = _log_key(r)
    qkey = inv_c * 2200.0 + lk
    order = query_order(inv_c, lk)                # ascending qkey to 1/64, then exactly (a stable sort: few moves)
    order = order.take(np.argsort(qkey.take(order), kind="stable"))
    return {"a": a, "r": r, "sel": sel, "k": k[sel], "order": order, "qkey": qkey.take(order), "step": step}


def _coherence(v, w, r_x, r_w, differential, bits_w):
    """Per configuration, E[(sum_ts w'_ts p_ts)^2] / sum_ts w'_ts^2 E[p_ts^2] (w' = 2^(t db + s bpc)): how much more
    power errors proportional to their own partial sums (e = beta p, the same beta in every pair) have when they
    add in amplitude than in power. The numerator is the column's whole integer product: ra r_x^2 E[m^2] with m the
    stored integer (one sign of a differential pair: E[m^2] = r_w^2 / 2; offset code: uniform over 0..2^bits - 1,
    as its slices are taken); v: E[p_ts^2] per row, w: 4^(t db + s bpc). At least 1 (bit planes of one magnitude
    are positively correlated), at most (sum_ts sqrt(w v))^2 / sum_ts w v (Cauchy-Schwarz: fully correlated)."""
    diag = np.maximum(sum_in_order(v * w), 1e-300)
    m2 = np.where(differential, 0.5 * r_w * r_w, _u2(np.exp2(bits_w) - 1))
    full = sum_in_order(np.sqrt(v * w)) ** 2 / diag
    return np.clip(r_x * r_x * m2 / diag, 1.0, np.maximum(full, 1.0))


def _adc_error(cfg: dict, rnd: dict, r_x, r_w, combo: tuple, sig: tuple) -> np.ndarray:
    """ADC mean-square error of one output per design, in integer (input step x weight step)^2 units: over the
    bit-slice pairs, sum_ts 4^(t db + s bpc) (min(step^2/12, c near E[p_ts^2]) + clipping) for one row group.

    ADC range +-ra (2^db - 1)(2^b_adc - 1), or +-adc_range_sigma x the rms of a partial sum of uniform slices when
    that is smaller; rounding adds step^2/12 per conversion, at most near E[p^2]: a step coarser than the sums
    rounds them to 0 (error -p), a step just above one unit returns small integer sums step times too large (error
    (step - 1) p). Both are proportional to the pair's own sum, so over the pairs they add in amplitude: the
    coherence c (_coherence) multiplies them until they reach the incoherent step^2/12. Clipping adds the
    Gaussian tails beyond the range (tabulated in adc_range_sigma, linear between CLIP_K_GRID points). E[p_ts^2] = ra v_ts with v_ts per configuration of slices and precisions (combo: first
    design of each, each design's configuration), so the rounding term is a sum_ts w_ts min(r, v_ts) with a and r
    from _adc_rounding (_pair_sums); the clipping table is built per configuration with the rows, for clipped
    designs only."""
    first_c, inv_c, ukeys = combo
    # errors proportional to their own sums add in amplitude (coherence c per configuration), until they reach the
    # incoherent rounding error: sum_ts w min(q, c a v) = a sum_ts w min(r, c v)
    rows = _cached_pair_rows(sig, ukeys, first_c, cfg, r_x, r_w)
    err = rnd["a"] * _pair_sums(rows, inv_c, rnd["r"], rnd["order"], rnd["qkey"])
    sel = rnd["sel"]
    if len(sel):
        cols = [(cfg["ra"], 14, 1), (cfg["db"], 4, 1), (cfg["bpc"], 4, 1), (cfg["combined"], 1, 1),
                (cfg["bits_x"], 5, 1), (cfg["bits_w"], 5, 1), (cfg["differential"], 1, 1)]
        first_m, inv_m, mkeys = unique_rows([(c[sel], b, sc) for c, b, sc in cols])
        h = lambda v, i: v[sel[first_m[i]]]  # noqa: E731
        T, S = int(h(cfg["n_x"], slice(None)).max()), int(h(cfg["n_w"], slice(None)).max())

        def build(miss):   # the clipping table of the configurations not kept yet (_cached), padded to T x S pairs
            e, wt, sig_m = _pair_moments(h(cfg["ra"], miss), h(cfg["db"], miss), h(cfg["bpc"], miss),
                                         h(cfg["b_adc"], miss), h(cfg["n_x"], miss), h(cfg["n_w"], miss),
                                         h(r_x, miss), h(r_w, miss), h(cfg["differential"], miss),
                                         h(cfg["combined"], miss), T, S)
            return (_clip_table(e, wt, sig_m),)

        (tab,), pos_m = _cached(_CLIP_CACHE, (*sig, T, S), mkeys, build)
        inv_m = pos_m[inv_m]
        pos_k = np.minimum(rnd["k"], CLIP_K_GRID[-1]) * 16
        i0 = np.minimum(np.floor(pos_k).astype(np.int64), len(CLIP_K_GRID) - 2)
        fr = pos_k - i0
        err[sel] = err[sel] + (tab[inv_m, i0] * (1 - fr) + tab[inv_m, i0 + 1] * fr)
    return err


def nsr_terms(p: Mapping, shapes: ErrorShapes, *, sigma, drift, read, analog, differential, ra, db, combined,
              ir_drop_frac=0.0, adc_range_scale=1.0) -> dict[str, dict[str, np.ndarray]]:
    """NSR per matmul kind (shapes.names) and term (TERMS) for a batch of designs ((N,) arrays).

    sigma, drift, read: cell noise std relative to g_max (programming; drift and read noise at the stated time);
    analog: False for digital CIM and DRAM (no ADC, no cell noise); differential: weights as sign and magnitude
    (a differential pair; also digital CIM's symmetric grid), else offset-coded; ra: rows driven at once; db: input
    bits per cycle; combined: analog column combination (one conversion per weight); ir_drop_frac: the read
    voltage lost at a column's worst cell, as a fraction (0 until the physics step provides it per design);
    adc_range_scale: ADC range per weight level relative to an ideal cell, >= 1 for a finite on/off ratio (1 until
    provided; a function of the device)."""
    n, zero, parts = nsr_parts(p, shapes, sigma=sigma, drift=drift, read=read, analog=analog,
                               differential=differential, ra=ra, db=db, combined=combined, ir_drop_frac=ir_drop_frac,
                               adc_range_scale=adc_range_scale)
    out: dict[str, dict[str, np.ndarray]] = {}
    made: dict[int, dict[str, np.ndarray]] = {}   # kinds that share their parts share their terms
    for nm, part in parts.items():
        if id(part) not in made:
            terms = dict.fromkeys(TERMS, zero)
            code = part["code"]   # (the quantization terms per combination: gathered per design)
            for t in ("weight_quant", "input_quant"):
                terms[t] = part[t] if code is None else part[t].take(code)
            ix = part["ix"]
            if ix is not None:   # the terms of the designs that convert, 0 for the others
                for t in ("adc", "device", "drift", "read"):
                    if t in part:
                        terms[t] = _scatter(n, ix, part[t])
                if "ir" in part:   # (IR drop of every design of the stored operand, 0 where it does not convert)
                    ir = part["ir"]
                    if "full" not in ir:
                        ir["full"] = select(ir["on"], ir["all"], 0.0)
                    terms["ir_drop"] = ir["full"]
            made[id(part)] = terms
        out[nm] = made[id(part)]
    return out


def nsr_parts(p: Mapping, shapes: ErrorShapes, *, sigma, drift, read, analog, differential, ra, db, combined,
              ir_drop_frac=0.0, adc_range_scale=1.0, codes: tuple | None = None) -> tuple[int, np.ndarray, dict]:
    """nsr_terms' arithmetic without its full-size arrays of the terms that only converting designs have: (n, a
    zero array, {kind: part}) with part (one dict per distinct kind, shared) holding weight_quant and input_quant
    (N,), or per combination of precisions and slicing with code (each design's; else None) and code_on (the
    converting designs'), ix (the designs of the kind's stored operand that convert: indices or slice(None); None
    when none do)
    and for those designs adc, device and where set drift and read (len(ix),), and where any design has IR drop
    ir ({on: the converting designs' mask, all: every design's IR drop NSR, sub: the converting designs'}).
    errlogit.logit_nsr_parts sums them without the zeros.
    codes: ({bi, bw, bpc, db, differential, combined: one value per combination}, each design's combination) where
    the caller has them (accmetrics); else from CODED_DESIGNS designs operand_codes of these columns."""
    n = len(np.atleast_1d(p["rows"]))
    f = lambda v, t=float: _column(v, n, t)  # noqa: E731
    rows, bpc, adc_bits, bi, bw = (f(p[k]) for k in ("rows", "bits_per_cell", "adc_bits", "input_bits",
                                                     "weight_bits"))
    ra, db = f(ra), f(db)
    k_sigma = f(p.get("adc_range_sigma", 0.0))
    sigma, drift, read, range_scale = f(sigma), f(drift), f(read), f(adc_range_scale)
    analog, differential, combined = f(analog, bool), f(differential, bool), f(combined, bool)
    zero = np.zeros(n)
    attn_analog = analog & (np.asarray(p["attention"]) == 1)
    any_on = {False: bool(np.any(analog)), True: bool(np.any(attn_analog))}   # else those terms stay 0
    # the factors of precisions and slicing once per distinct combination of them (erroperands.py), gathered per
    # design; per design where they are not small whole numbers
    kv_any = bool(shapes.stored_kv.any())   # K and V at input precision
    if codes is None and n >= erroperands.CODED_DESIGNS:
        coded = operand_codes([bi, bw, bpc, db], [differential, combined])
        codes = None if coded is None else (dict(zip(erroperands.COLUMNS, coded[0], strict=True)), coded[1])
    if codes is None:
        fac, code = operand_factors(bi, bw, bpc, db, differential, combined, kv_any), None
    else:
        u, code = codes
        fac = operand_factors(*(u[k] for k in erroperands.COLUMNS), kv_any)
    sides = fac["sides"]
    # IR drop: attenuation delta (2u - u^2) along the line (u: position), delta = ir_drop_frac at the worst cell; a
    # global gain calibration removes its mean, the rest has variance (4/45) delta^2 (8/15 - (2/3)^2) of the signal
    ir_all = IR_RESIDUAL_VAR * np.asarray(ir_drop_frac, dtype=float) ** 2
    timed = bool(np.any(drift) or np.any(read))
    any_ir = bool(np.any(ir_all))
    # the ADC and cell-noise terms only for the designs that convert (the others' are 0), per stored operand: their
    # parameters gathered once, slice moments once per distinct configuration of slices and precisions among them
    on_sides: dict[bool, dict] = {}
    for kv in sides:
        if any_on[kv]:
            on = attn_analog if kv else analog
            idx = on.nonzero()[0]
            ix = slice(None) if len(idx) == n else idx      # all convert: views, no gathers
            at = (lambda v: v) if len(idx) == n else (lambda v, i=idx: v.take(i))  # noqa: E731  (v[ix], faster)
            inv_on = None if code is None else at(code)
            fat = at if code is None else (lambda v, i=inv_on: v.take(i))  # noqa: E731  (the factors of these designs)
            sd = sides[kv][2]
            cfg = {"ra": ra, "db": db, "bpc": bpc, "differential": differential, "combined": combined,
                   "adc_bits": adc_bits, "k_sigma": k_sigma, "range_scale": range_scale, "bits_x": bi,
                   "bits_w": bi if kv else bw}
            cfg = {name: at(v) for name, v in cfg.items()}
            cfg["b_adc"], cfg["n_w"] = fat(sd["b_adc"]), fat(sd["n"])
            if code is None:
                uniq = unique_rows([(cfg["db"], 4, 1), (cfg["bpc"], 4, 1), (cfg["combined"], 1, 1),
                                    (cfg["bits_x"], 5, 1), (cfg["bits_w"], 5, 1), (cfg["differential"], 1, 1)])
            else:   # (the same configurations, from the combinations present)
                uniq = adc_configs({"db": u["db"], "bpc": u["bpc"], "combined": u["combined"], "bits_x": u["bi"],
                                    "bits_w": u["bi"] if kv else u["bw"], "differential": u["differential"]},
                                   inv_on, len(u["bi"]))
            # cell noise (g_max^2) of these designs: programming, and for weights drift and read noise
            s_on = at(sigma)
            d_on, r_on = (at(drift), at(read)) if timed and not kv else (None, None)
            var_c = s_on * s_on + (d_on * d_on + r_on * r_on if d_on is not None else 0.0)
            rnd = _adc_rounding(cfg, uniq[1])    # the ADC step terms, shared by the kinds of one stored operand
            rnd["var_lv"], rnd["shift"] = var_c * fat(fac["lv2"]), fat(sd["shift"])   # levels^2
            step = fat(sd["step"])
            on_sides[kv] = {"on": on, "ix": ix, "cfg": cfg, "uniq": uniq, "rnd": rnd, "rows": at(rows), "fat": fat,
                            "cols": fat(sd["cols"]), "step": step, "step2": step ** 2, "cell": fat(sides[kv][1]),
                            "code_on": inv_on,
                            "conv": {},
                            "sigma": s_on, "drift": d_on, "read": r_on, "n_x": {}, "noise_tab": {},
                            "ir": {"on": on, "all": ir_all, "sub": at(np.broadcast_to(ir_all, (n,)))} if any_ir
                            else None}
    crests: dict[tuple, list] = {}                # (stored K/V, unsigned inputs) -> the kinds' input crest factors
    for kv, uns, cx in zip(shapes.stored_kv, shapes.unsigned_x, shapes.x_crest, strict=True):
        cxs = crests.setdefault((bool(kv), bool(uns)), [])
        if float(cx) not in cxs:
            cxs.append(float(cx))
    out: dict[str, dict] = {}
    done: dict[tuple, dict] = {}   # kinds with the same shape and statistics share their arrays
    for j, nm in enumerate(shapes.names):
        kv, uns = bool(shapes.stored_kv[j]), bool(shapes.unsigned_x[j])
        cx, cw, K = float(shapes.x_crest[j]), float(shapes.w_crest[j]), float(shapes.k[j])
        key = (kv, uns, cx, cw, K)
        if key in done:
            out[nm] = done[key]
            continue
        cx2, cw2 = cx * cx, cw * cw
        terms = {"weight_quant": cw2 * sides[kv][0], "input_quant": cx2 * fac["q_xu" if uns else "q_xs"], "ix": None,
                 "code": code}
        if any_on[kv]:   # attention: digital lanes unless `attention: cim`
            st = on_sides[kv]
            ix, rnd = st["ix"], st["rnd"]
            if uns not in st["n_x"]:
                st["n_x"][uns] = tuple(st["fat"](fac[name]) for name in (("sx_u", "n_xu") if uns else ("sx_s", "n_xs")))
            sx, n_x = st["n_x"][uns]
            cfg = {**st["cfg"], "n_x": n_x}
            r_x = Reciprocal(cx, sx)   # (1 / (cx sx), read at a design of each configuration and the noisy ones)
            pairs = _adc_error(cfg, rnd, r_x, Reciprocal(cw, st["step"]), st["uniq"], (kv, uns, cx, cw))
            # conversions summed into one output: row tiles x row groups per tile
            if K not in st["conv"]:   # (kinds of one contraction length share it)
                rows_on = st["rows"]
                st["conv"][K] = np.ceil(K / rows_on - 1e-9) * np.ceil(np.minimum(rows_on, K) / cfg["ra"] - 1e-9)
            conv = st["conv"][K]
            # error in (max x max w)^2 units over the signal K (max x / cx)^2 (max w / cw)^2
            terms["ix"], terms["code_on"] = ix, st["code_on"]
            terms["adc"] = pairs * st["cols"] * conv / K * (cx2 * sx * sx) * (cw2 * st["step2"])
            # cell noise: programming (and for weights drift and read noise), rounded by a fine ADC
            fr = 1.0
            if rnd["var_lv"].any():
                tabs = st["noise_tab"]
                if (uns, cx) not in tabs:   # every kind of this operand and input sign at once
                    cxs = crests[(kv, uns)]
                    tabs.update(zip(((uns, c) for c in cxs),
                                    _noise_tables(cfg, rnd, [Reciprocal(c, sx) for c in cxs], rnd["var_lv"], rnd["shift"]),
                                    strict=True))
                fr = _noise_rounding({**cfg, "conv": conv, "K": K}, rnd, r_x, rnd["var_lv"], rnd["shift"],
                                     tabs[(uns, cx)])
            cell_on = st["cell"]
            terms["device"] = cw2 * cell_on * st["sigma"] * st["sigma"] * fr
            # K and V are written during the request: programming noise only (seconds: no time to drift)
            if timed and not kv:
                terms["drift"] = cw2 * cell_on * st["drift"] * st["drift"] * fr
                terms["read"] = cw2 * cell_on * st["read"] * st["read"] * fr
            if any_ir:
                terms["ir"] = st["ir"]   # (its designs' IR drop as "sub"; shared by the operand's kinds)
        out[nm] = done[key] = terms
    return n, zero, out


def _column(v, n: int, dtype) -> np.ndarray:
    """v as an (n,) array of dtype: as given where it is one, else converted and broadcast (a read-only view)."""
    if type(v) is np.ndarray and v.shape == (n,) and v.dtype == dtype:
        return v
    return np.broadcast_to(np.asarray(v, dtype=dtype), (n,))


def _scatter(n: int, ix, v) -> np.ndarray:
    """(n,) array of v at ix (a slice(None) or indices), 0 elsewhere."""
    if isinstance(ix, slice):
        return v
    out = np.zeros(n)
    out[ix] = v
    return out


# ------------------------------------------------------------------------------------------------ entry points

def error_groups(p: Mapping, c: Mapping, mp: Mapping, adc_range_scale=1.0) -> tuple:
    """(kw: nsr_terms' design arguments, attn_analog, groups: errgroups.design_groups of the error model's inputs,
    or None) of a batch, from its circuits (c) and mapping (mp) steps; the cost model shares the groups with
    summary.sqnr (the same inputs)."""
    dn = device_noise(c.get("tech"))
    dev = p["device"]
    analog = ~c["gate"]
    kw = {"sigma": c["sigma"], "drift": dn["drift"].take(dev), "read": dn["read"].take(dev), "analog": analog,
          "differential": mp["differential"] | c["gate"],   # digital: symmetric two's complement grid
          "ra": mp["ra"], "db": c["db"], "combined": (p["column_combine"] == 1) & analog,
          "adc_range_scale": adc_range_scale}
    n = len(np.atleast_1d(p["rows"]))
    attn_analog = analog & (np.asarray(p["attention"]) == 1)
    grp = design_groups(p, kw, ("sigma", "adc_range_scale"),
                        (p["rows"], kw["ra"], p["bits_per_cell"], p["adc_bits"], p["input_bits"], p["weight_bits"],
                         kw["db"]), (analog, kw["differential"], kw["combined"], attn_analog), n)
    return kw, attn_analog, grp


def error_metrics(p: Mapping, shapes: ErrorShapes, c: Mapping, mp: Mapping, ir_drop_frac=0.0,
                  adc_range_scale=1.0, groups: tuple | None = None, codes: tuple | None = None) -> dict:
    """The cost model's call: equivalent_bits and logit_sqnr_db per design, from its circuits (c) and mapping
    (mp) steps. ir_drop_frac: per design, the read voltage lost at a column's worst cell (0: not given);
    adc_range_scale: per design, ADC range per weight level for a finite on/off ratio (1: not given);
    groups: error_groups(p, c, mp, adc_range_scale) when the caller has it; codes: nsr_parts'.
    The NSR terms are computed once per distinct configuration of the error model's inputs (cost/errgroups.py)
    where a batch repeats them, IR drop (continuous) per design."""
    kw, attn_analog, grp = error_groups(p, c, mp, adc_range_scale) if groups is None else groups
    n = len(np.atleast_1d(p["rows"]))
    if grp is None:
        rho = logit_nsr_parts(*nsr_parts(p, shapes, ir_drop_frac=ir_drop_frac, codes=codes, **kw), p, shapes)
    else:
        rho = _grouped_logit_nsr(p, shapes, kw, grp, ir_drop_frac, attn_analog, n)
    return {"equivalent_bits": equivalent_bits(rho, shapes), "logit_sqnr_db": logit_sqnr_db(rho)}


def _grouped_logit_nsr(p: Mapping, shapes: ErrorShapes, kw: dict, grp: tuple, ir_drop_frac, attn_analog,
                       n: int) -> np.ndarray:
    """logit_nsr of nsr_terms (with_pruning) per design, with the terms computed once per configuration (grp: a
    design of each, each design's): logit_rows of logit_plan over all the designs."""
    return logit_rows(logit_plan(p, shapes, kw, grp, ir_drop_frac, attn_analog, n), slice(None))


def logit_plan(p: Mapping, shapes: ErrorShapes, kw: dict, grp: tuple, ir_drop_frac, attn_analog, n: int) -> dict:
    """The per-configuration part of the grouped logit NSR (grp: a design of each configuration, each design's):
    the NSR terms once per configuration, and what logit_rows adds per design (IR drop, S.V's pruning term).
    Split from logit_rows so a large batch adds the per-design part in cache-sized slices."""
    first, inv = grp
    g = lambda v: np.broadcast_to(np.asarray(v), (n,)).take(first)  # noqa: E731
    names = ("rows", "bits_per_cell", "adc_bits", "input_bits", "weight_bits", "adc_range_sigma", "attention")
    nsr = nsr_terms({k: g(p[k]) for k in names if k in p}, shapes, **{k: g(v) for k, v in kw.items()})
    ir_drop_frac = np.asarray(ir_drop_frac, dtype=float)
    pruned = with_pruning({"score_v": {}}, p, shapes).get("score_v", {}).get("kv_prune")   # per design, or None
    # nothing per design: the logit NSR per configuration (where IR drop is 0 both ways add the same zeros)
    if not np.any(ir_drop_frac) and pruned is None:
        return {"inv": inv, "flat": logit_nsr(nsr, shapes)}
    kv_of = dict(zip(shapes.names, shapes.stored_kv, strict=True))
    # per distinct kind (kinds of the same shape and statistics share their terms): weight, terms but IR drop per
    # configuration, K/V side, whether S.V's pruning term adds to it
    kinds = [(w, total_but_ir(nsr[nm]), bool(kv_of[nm]), nm == "score_v" and pruned is not None)
             for nm, w in weighted_kinds(nsr, shapes)]
    return {"inv": inv, "kinds": kinds, "ir_drop_frac": ir_drop_frac, "analog": kw["analog"], "attn_analog": attn_analog,
            "pruned": pruned}


def logit_rows(plan: dict, rows: slice) -> np.ndarray:
    """The logit NSR of the designs `rows` from a logit_plan, in logit_nsr's order (the same bits: a kind without
    a pruning term adds 0)."""
    inv = plan["inv"][rows]
    if "flat" in plan:
        return plan["flat"].take(inv)
    at = lambda v: v[rows] if np.ndim(v) else v  # noqa: E731  (scalars stand for every design)
    ir_all, zero = IR_RESIDUAL_VAR * at(plan["ir_drop_frac"]) ** 2, np.zeros(len(inv))
    ir = {False: select(at(plan["analog"]), ir_all, 0.0) + zero,
          True: select(at(plan["attn_analog"]), ir_all, 0.0) + zero}
    out = 0.0
    for w, per_config, kv, prune in plan["kinds"]:
        total = per_config.take(inv) + ir[kv]
        if prune:
            total = total + plan["pruned"][rows]
        out = out + w * total
    return out


def matmul_nsr(design, model: ModelConfig | str, scenario: Scenario | None = None, tech: Tech | None = None,
               ir_drop_frac=None, adc_range_scale=None) -> dict[str, dict[str, np.ndarray]]:
    """Predicted NSR of every matmul kind of `model` on `design`, split into TERMS.

    design: one design (dict of parameters; defaults fill the rest) or a batch (dict of arrays, params.to_batch).
    Returns {kind: {term: (N,) array}} for the kinds q_proj, k_proj, v_proj, o_proj, ffn_gate (gated FFNs),
    ffn_up, ffn_down, lm_head (decoders) or pooler, and qk_scores, score_v (attention; with `attention:
    digital` only the KV-cache and input quantization terms are non-zero). Every layer has the same values.
    To inject: add Gaussian noise of variance sum(terms) * mean(y^2) to the exact output y of that matmul.
    Sum the terms of a kind for its total NSR; 10 log10(1 / total) is its SQNR in dB.
    ir_drop_frac, adc_range_scale: None (default) takes the design's own, as the cost model does (cost/analog.py)."""
    from ..models import load_model
    from .params import to_batch

    tech = tech or load_tech()
    m = load_model(model) if isinstance(model, str) else model
    batch = to_batch([design]) if isinstance(design, Mapping) and not any(
        np.ndim(v) for v in design.values()) else to_batch(design)
    p = {k: np.asarray(v) for k, v in batch.items()}
    dev = p["device"]
    p["bits_per_cell"] = np.minimum(p["bits_per_cell"], tech.device["max_bits_per_cell"].take(dev))  # as the cost model
    dram = tech.dram.take(dev)
    gate = ((p["compute"] == 1) & ~dram) | dram
    analog = ~gate
    differential = (p["weight_encoding"] == 0) | gate   # digital: symmetric two's complement grid
    rows = p["rows"].astype(float)
    ra = np.minimum(auto_rows_active(p, tech), rows)   # rows_active 0: as many rows as IR drop allows (cost model)
    p = {k: (v if k in ("device", "attention", "column_combine", "compute", "weight_encoding") else v.astype(float))
         for k, v in p.items()}
    dn = device_noise(tech)
    if ir_drop_frac is None:   # the design's IR drop (docs/MODEL.md section 11), as in the cost model
        cell_um2 = tech.device["cell_area_f2"].take(dev) * (p["node_nm"] * 1e-3) ** 2
        ir_drop_frac = design_ir_drop_frac(p, tech, ra, cell_um2)
    if adc_range_scale is None:   # the device's finite on/off ratio widens the ADC range
        adc_range_scale = device_read_tables(tech)["adc_range"].take(dev)
    shapes = error_shapes(m, scenario)
    nsr = nsr_terms(p, shapes, sigma=tech.device["sigma_g_rel"].take(dev),
                    drift=dn["drift"].take(dev), read=dn["read"].take(dev), analog=analog,
                    differential=differential, ra=ra, db=np.minimum(p["dac_bits"], p["input_bits"]),
                    combined=(p["column_combine"] == 1) & analog, ir_drop_frac=ir_drop_frac,
                    adc_range_scale=adc_range_scale)
    return with_pruning(nsr, p, shapes)
