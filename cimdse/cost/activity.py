"""Data-dependent input activity of bit-serial CIM arrays (docs/MODEL.md section 15).

An activation x is drawn from a stated distribution (`input_stats`): `laplace` = Laplace(0, b) clipped at the
MSE-optimal value for `input_bits` (Banner, Nahshan, Soudry, NeurIPS 2019) and quantized uniformly; `uniform` =
independent input bits, each 1 with probability periphery.yaml `activity.input_bit_density` (0.5: every code
equally likely, random test vectors). The input is split into
slices of `dac_bits` bits, applied one per array step:
- `twos_complement`: the B bits of (q mod 2^B), ceil(B / dac_bits) slices, the top one carrying the sign;
- `sign_magnitude`: the B - 1 magnitude bits of |q|, ceil((B - 1) / dac_bits) slices; the sign sets the polarity
  of the row drive (no slice of its own). A 1-bit input is one binary slice in both encodings.
Per slice s (w_s bits, value u_s): activity a_s = E[u_s] / (2^w_s - 1) and nonzero probability nz_s = P(u_s != 0).
Cell and row (DAC) energy scale with the mean activity over the slices; with `slice_skip` a slice whose inputs are
0 on all rows_active rows of a row group is not converted: probability (1 - nz_s)^rows_active (rows independent).
Tables are built once per (stats, encoding, bits, dac_bits) code; a batch gathers them (no per-design loop).
"""

from __future__ import annotations

import numpy as np

from ._select import keep, mask_bits
from .errgroups import unique_inverse

MAX_BITS = 16          # input_bits and dac_bits range of params.py
MAX_SLICES = MAX_BITS  # at most one slice per bit
_N_CODES = 2 * 2 * (MAX_BITS + 1) * (MAX_BITS + 1)
_TABLES: dict = {}     # uniform bit density -> tables filled lazily: "rho" (codes,), "nz" (codes, MAX_SLICES),
#                        "log_zero" (codes, MAX_SLICES): log(1 - nz), "slices" (codes,), "done" (codes,)


def laplace_clip(bits: int) -> float:
    """MSE-optimal clipping value alpha / b of a Laplace(0, b) variable quantized to `bits` bits (Banner et al.,
    NeurIPS 2019, eq. 5 minimized): alpha = 3 4^M b exp(-alpha / b), solved by fixed-point iteration
    (gives 2.83, 3.89, 5.03, ... 9.89 for M = 2, 3, 4, ... 8, their published values)."""
    x = 2.0 * bits + 1.0
    for _ in range(60):
        x = np.log(3.0 * 4.0**bits / x)
    return float(x)


def magnitude_probs(bits: int) -> np.ndarray:
    """Probabilities of the quantized magnitude |q| = 0..Q (Q = 2^(bits-1) - 1) of a Laplace(0, 1) input clipped at
    laplace_clip(bits): step = clip / Q, |q| = round(|x| / step), the tail beyond the clip on the top level."""
    q = 2 ** (bits - 1) - 1
    m = np.arange(q + 1, dtype=float)
    step = laplace_clip(bits) / q
    upper = np.exp(-np.minimum(m + 0.5, q + 0.5) * step)     # P(|x| > (m + 1/2) step)
    lower = np.exp(-np.maximum(m - 0.5, 0.0) * step)         # P(|x| > (m - 1/2) step), 1 at m = 0
    p = lower - upper
    p[-1] = lower[-1]                                        # clipped tail
    return p


def slice_stats(stats: int, encoding: int, bits: int, dac_bits: int, density: float = 0.5) -> tuple[float, np.ndarray]:
    """(mean activity over the slices, nonzero probability of each slice) of one input format.

    encoding 0: twos_complement, 1: sign_magnitude (module docstring); density: the bit density of stats 1."""
    if stats == 1:                                    # independent bits: activity p, slice of w bits nonzero 1 - (1-p)^w
        width = bits if encoding == 0 or bits <= 1 else bits - 1
        w = np.minimum(dac_bits, width - dac_bits * np.arange(-(-width // dac_bits)))
        return float(density), 1.0 - (1.0 - density) ** w
    if bits <= 1:                                     # one binary slice, a 1 half the time
        return 0.5, np.array([0.5])
    p = magnitude_probs(bits)
    m = np.arange(len(p))
    if encoding == 1:                                 # the magnitude bits only
        codes, probs, width = m, p, bits - 1
    else:                                             # two's complement codes of +m and -m (a sign each half the time)
        neg = np.where(m > 0, 0.5, 0.0)
        codes = np.concatenate([m, (2**bits - m) % 2**bits])
        probs = np.concatenate([p * (1 - neg), p * neg])
        width = bits
    n_slices = -(-width // dac_bits)
    act, nz = np.empty(n_slices), np.empty(n_slices)
    for s in range(n_slices):
        w = min(dac_bits, width - s * dac_bits)
        u = (codes >> (s * dac_bits)) & (2**w - 1)
        act[s] = float(probs @ u) / (2**w - 1)
        nz[s] = float(probs @ (u != 0))
    return float(act.mean()), nz


def _code(stats, encoding, bits, dac_bits):
    return ((stats * 2 + encoding) * (MAX_BITS + 1) + bits) * (MAX_BITS + 1) + dac_bits


def _tables(density: float) -> dict:
    t = _TABLES.get(density)
    if t is None:
        t = _TABLES[density] = dict(rho=np.zeros(_N_CODES), nz=np.zeros((_N_CODES, MAX_SLICES)),
                                    log_zero=np.full((_N_CODES, MAX_SLICES), -np.inf), slices=np.ones(_N_CODES), done=np.zeros(_N_CODES, dtype=bool))
    return t


def input_activity(stats, encoding, bits, dac_bits, tech=None, density: float = 0.5) -> dict:
    """Per design: mean slice activity `rho`, input slices per vector `slices`, and `code`, the row of the
    per-slice nonzero probabilities for `skip_fraction`. Arguments: arrays of codes and bit counts; density: the
    bit density of uniform inputs (periphery.yaml activity.input_bit_density, read from `tech` when given)."""
    if tech is not None:
        density = tech.periphery["activity"]["input_bit_density"]
    b = np.clip(np.asarray(bits).astype(np.int64), 1, MAX_BITS)
    db = np.clip(np.minimum(np.asarray(dac_bits).astype(np.int64), b), 1, MAX_BITS)
    code = _code(np.asarray(stats, dtype=np.int64), np.asarray(encoding, dtype=np.int64), b, db)
    t = _tables(float(density))
    if not t["done"].take(code).all():
        for c in np.unique(code[~t["done"].take(code)]):
            rest, d_ = divmod(int(c), MAX_BITS + 1)
            rest, b_ = divmod(rest, MAX_BITS + 1)
            st, enc = divmod(rest, 2)
            rho, nz = slice_stats(st, enc, b_, d_, float(density))
            t["rho"][c], t["slices"][c] = rho, len(nz)
            t["nz"][c] = 1.0
            t["nz"][c, :len(nz)] = nz
            with np.errstate(divide="ignore"):   # (the same elementwise log1p skip_fraction would take per design)
                t["log_zero"][c] = np.log1p(-np.minimum(t["nz"][c], 1.0))
            t["done"][c] = True
    return {"rho": t["rho"].take(code), "slices": t["slices"].take(code), "code": code}


def skip_fraction(code, rows_active, density: float = 0.5) -> np.ndarray:
    """Per design: the fraction of (slice, row group) conversions skipped because every one of the rows_active
    inputs of the slice is 0: mean over the slices of (1 - nz_s)^rows_active (rows independent); density as for
    input_activity."""
    t = _tables(float(density))
    n_s = int(t["slices"].take(code).max(initial=1))
    log_zero = t["log_zero"][code, :n_s]      # (N, slices) log(1 - nz); -inf (never skipped) beyond a design's
    ra = np.asarray(rows_active, dtype=float)[:, None]
    p_skip = np.exp(ra * log_zero)                                # (1 - nz)^ra, 0 where nz = 1
    return p_skip.sum(axis=1) / t["slices"].take(code)


def conversions_kept(slice_skip, code, rows_active, tech) -> np.ndarray:
    """Per design: the fraction of conversions left after zero-slice skipping (1 where `slice_skip` is off);
    computed only for the designs that enable it."""
    keep = np.ones(len(rows_active))
    i = np.flatnonzero(np.asarray(slice_skip) == 1)
    if len(i):
        code, ra = code.take(i), np.asarray(rows_active, dtype=float).take(i)
        density = tech.periphery["activity"]["input_bit_density"]
        ra_int = ra.astype(np.int64)
        if len(i) >= 256 and ra_int.min() >= 0 and ra_int.max() < 1 << 24 and np.array_equal(ra_int, ra):
            # a sweep repeats few (code, rows active) pairs: once per distinct pair, gathered (the same numbers)
            pairs = _distinct_pairs(code, ra_int) if ra_int.max() < DENSE_ROWS else None
            if pairs is not None:
                codes, rows, inv = pairs
                keep[i] = 1.0 - skip_fraction(codes, rows.astype(float), density).take(inv)
            else:
                first, inv = unique_inverse((code.astype(np.int64) << 24) | ra_int)
                keep[i] = 1.0 - skip_fraction(code.take(first), ra.take(first), density).take(inv)
        else:
            keep[i] = 1.0 - skip_fraction(code, ra, density)
    return keep


DENSE_ROWS = 1 << 13   # rows_active below which conversions_kept groups (code, rows) pairs by counting, not sorting


def _distinct_pairs(code: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(code, rows) of each distinct pair and, per element, the number of its pair: the codes and the row counts
    (whole, below DENSE_ROWS) numbered by counting (np.bincount), then their pairs in a table of
    distinct codes x distinct rows; no sort. None where that table would be large (many distinct of both)."""
    def numbered(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        values = np.flatnonzero(np.bincount(x))
        number = np.zeros(values[-1] + 1, dtype=np.intp)
        number[values] = np.arange(len(values))
        return values, number.take(x)
    codes, c = numbered(code)
    counts, r = numbered(rows)
    if len(codes) * len(counts) > max(4 * len(code), 1 << 16):
        return None
    pairs, inv = numbered(c * len(counts) + r)
    return codes.take(pairs // len(counts)), counts.take(pairs % len(counts)), inv


def skip_detection_pj(p: dict, tech, k_node, vdd, is_dram, no_dram_bits=None):
    """Energy (pJ) per driven row and slice of zero-slice detection: one 2-input OR, costed as half a NAND2's
    C V^2 (ZigZag-IMC's gate, scaled to the node like logic); 0 where `slice_skip` is off and for DRAM.
    no_dram_bits: _select.mask_bits(~is_dram) when the caller has it."""
    skip = (p["slice_skip"] == 1) & ~is_dram
    if not np.any(skip):
        return 0.0
    dc = tech.periphery["digital_cim"]
    bits = mask_bits(p["slice_skip"] == 1) & (~mask_bits(is_dram) if no_dram_bits is None else no_dram_bits)
    return keep(0.5 * dc["nd2_cap_ff"] * k_node / tech.cap_factor(dc["ref_node_nm"]) * vdd**2 * 1e-3, bits)

