"""The error model's per-design factors that depend only on precisions and slicing (input and weight bits, bits per
cell, input bits per cycle, differential weights, analog column combination): quantization NSRs, integer steps,
slice counts and shift sums, the cell-noise factor and the cell bits one conversion sees (docs/MODEL.md section 6).

A batch holds few distinct combinations of these small integers, so the error model computes the factors once per
combination (`operand_codes`: a dense table of the combinations, no sort) and gathers them per design: elementwise
functions of the same numbers, so the same bits as computing them design by design.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._select import select
from .accuracy import _weight_levels
from .errgroups import dense_inverse, unique_rows

SIGN_QUANT_NSR = 1.0 - 2.0 / np.pi   # 1-bit (sign) quantization of a Gaussian: E[(x - sign(x) E|x|)^2] / E[x^2]
CODED_DESIGNS = 16384                # designs from which the error model numbers combinations (fewer: per design)
COLUMNS = ("bi", "bw", "bpc", "db", "differential", "combined")   # the columns of the combinations (nsr_parts)


def _operand(bits, bpc, differential, den=None):
    """Integer step of a signed operand of `bits` bits, its magnitude slices, and sum_s 4^(s bpc) over them
    (den: 4^bpc - 1 where the caller has it)."""
    mag_bits, step = _weight_levels(bits, differential)
    n_s = np.ceil(mag_bits / bpc - 1e-9)
    shift = (np.exp2(2 * n_s * bpc) - 1) / (np.exp2(2 * bpc) - 1 if den is None else den)
    return step, n_s, shift


def _side(bits, bpc, differential, combined, lv2, den):
    """Per-design factors of one kind of stored operand (weights, or K/V at input precision): its quantization
    NSR per crest^2, its cell-noise NSR per (sigma crest)^2, and the pieces its ADC term needs (lv2: the cell's
    (2^bpc - 1)^2, den: 4^bpc - 1)."""
    step_w, n_ws, shift_w = _operand(bits, bpc, differential, den)
    cols = differential + 1.0                                               # 2 or 1
    q_w = np.where((bits < 2), SIGN_QUANT_NSR, step_w * step_w / 12.0)     # x crest^2 -> NSR
    cell = lv2 * step_w * step_w * shift_w * cols                           # x (sigma^2 crest^2) -> NSR
    b_adc = select(combined, n_ws * bpc, bpc)                                 # cell bits one conversion sees
    return q_w, cell, {"step": step_w, "n": n_ws, "cols": cols, "b_adc": b_adc, "shift": shift_w}


def operand_factors(bi, bw, bpc, db, differential, combined, kv: bool) -> dict:
    """The factors of designs given as arrays of one length: signed inputs (sx_s: integer step, n_xs: slices,
    q_xs: quantization NSR per crest^2), unsigned inputs (sx_u, n_xu, q_xu; attention probabilities), the cell's
    (2^bpc - 1)^2 (lv2), and per stored operand (False: weights; True, with kv: K and V at input precision)
    _side's (q_w, cell, pieces)."""
    # inputs: sign and magnitude (the drive polarity carries the sign); attention probabilities: magnitude only
    mag_x, sx_s = _weight_levels(bi, True)
    sx_u = 1.0 / (np.exp2(bi) - 1)
    out = {"sx_s": sx_s, "n_xs": np.ceil(mag_x / db - 1e-9),                 # (_operand's slices)
           "q_xs": np.where(bi >= 2, sx_s * sx_s / 12.0, SIGN_QUANT_NSR),
           "sx_u": sx_u, "n_xu": np.ceil(bi / db - 1e-9), "q_xu": sx_u * sx_u / 12.0}
    lv2, den = (np.exp2(bpc) - 1) ** 2, np.exp2(2 * bpc) - 1    # cell levels^2, 4^bpc - 1 (both operands')
    out["lv2"] = lv2
    out["sides"] = {False: _side(bw, bpc, differential, combined, lv2, den)}
    if kv:
        out["sides"][True] = _side(bi, bpc, differential, combined, lv2, den)
    return out


def operand_codes(ints: list, flags: list) -> tuple[list, np.ndarray] | None:
    """(columns, inv): the distinct combinations of the columns `ints` (whole non-negative numbers) and `flags`
    (booleans) over the designs, as one array per column (floats, booleans), and each design's combination;
    None where an `ints` column holds anything else (a fraction, a negative number or -0.0, NaN, infinity), so
    that a combination's values are the designs' own bits. Combinations are numbered by errgroups.dense_inverse of
    their codes (mixed radix, each column's largest value + 1)."""
    cols, radix = [], []
    with np.errstate(invalid="ignore"):   # (NaN and infinities cast to int32: refused below)
        for x in ints:
            x = np.asarray(x, dtype=np.float64)
            if x.view(np.int64).min(initial=0) < 0:   # a sign bit: negative, or -0.0
                return None
            xi = x.astype(np.int32)                 # (values beyond int32 come back different: refused)
            if not np.array_equal(xi, x):
                return None
            cols.append(xi)
            radix.append(int(xi.max(initial=0)) + 1)
    if float(np.prod(radix, dtype=np.float64)) * 2 ** len(flags) > 2**31 - 1:   # codes in int32
        return None
    codes = cols[0]
    for xi, r in zip(cols[1:], radix[1:], strict=True):
        codes = codes * r + xi
    if flags:   # the flags as one small number first (one byte per design)
        small = np.uint8 if len(flags) < 8 else np.int32
        bits = np.asarray(flags[0], dtype=bool).view(np.uint8).astype(small)
        for b in flags[1:]:
            bits = bits * small(2) + np.asarray(b, dtype=bool).view(np.uint8)
        codes = codes * (1 << len(flags)) + bits
        radix += [2] * len(flags)
    member, inv = dense_inverse(codes)   # (a table of the codes where it is small, else a sort)
    uniq = codes.take(member)
    cols = []
    for r in radix[::-1]:   # the last column in the lowest digit
        cols.append(uniq % r)
        uniq = uniq // r
    cols = cols[::-1]
    k = len(ints)
    return [c.astype(np.float64) for c in cols[:k]] + [c.astype(bool) for c in cols[k:]], inv


def adc_configs(cols: dict, inv_on: np.ndarray, n_codes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """unique_rows' (a design of each configuration, each design's, the sorted packed keys) over the designs whose
    operand combinations are inv_on (cols: every combination's db, bpc, combined, bits_x, bits_w, differential),
    from the combinations present instead of a sort of the designs (combinations that differ only in what the ADC
    configuration leaves out, K/V's weight bits, share one)."""
    seen = np.zeros(n_codes, dtype=bool)
    seen[inv_on] = True
    present = np.flatnonzero(seen)
    c = {k: v.take(present) for k, v in cols.items()}
    first_p, inv_p, keys = unique_rows([(c["db"], 4, 1), (c["bpc"], 4, 1), (c["combined"], 1, 1),
                                        (c["bits_x"], 5, 1), (c["bits_w"], 5, 1), (c["differential"], 1, 1)])
    config = np.empty(n_codes, dtype=np.int64)
    config[present] = inv_p
    design_of = np.empty(n_codes, dtype=np.int64)
    design_of[inv_on] = np.arange(len(inv_on))          # a design of each combination present
    return design_of.take(present.take(first_p)), config.take(inv_on), keys


@dataclass(frozen=True)
class Reciprocal:
    """1 / (c v) of per-design v, computed only where it is read (v[idx], take): the error model reads a kind's
    r_x = 1 / (cx sx) and r_w = 1 / (cw step) at a design of each configuration and at the designs with cell
    noise, not at every design (the same numbers as computing it everywhere and indexing)."""

    c: float
    v: np.ndarray

    def __getitem__(self, idx) -> np.ndarray:
        return 1.0 / (self.c * self.v[idx])

    def take(self, idx) -> np.ndarray:
        return 1.0 / (self.c * self.v.take(idx))
