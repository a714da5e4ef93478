"""Exact emulation of one matmul on the design's CIM arrays (numpy, vectorized; for small models).

y = x W^T with x (..., M, K) real activations and W (..., N, K) real weights (or stored K / V in attention):
  1. weights: round-to-nearest, symmetric, one scale per output column (max |w|; 1 bit: sign times mean |w|),
     stored as a differential pair of magnitude columns (G+, G-) or with an offset (u = w + max, one column;
     the offset times the input sum is removed digitally, exactly);
  2. magnitudes cut into ceil(bits / bits_per_cell) cell slices; each cell gets a static Gaussian error of
     sigma (2^bits_per_cell - 1) levels (programming noise; for weights also drift and read noise at the stated
     time, which are static within one inference);
  3. inputs: round-to-nearest, one scale per token vector (max |x|), sign and magnitude: the magnitude's
     input_bits - 1 bits are applied dac_bits at a time (bit-serial when 1), the drive polarity carries the sign,
     so partial sums are bipolar; non-negative inputs (attention probabilities) use all input_bits for magnitude;
  4. each (input slice, cell slice, row group of rows_active rows within a tile of `rows`) partial sum is
     converted by a bipolar ADC: 2^adc_bits - 1 levels (mid-tread: zero is a level) over +-full, full =
     ra (2^dac - 1)(2^bpc - 1), or over +-adc_range_sigma times the rms of a partial sum of uniform slices when
     that is smaller, clipping beyond (the step is never below one unit of the integer sums); with column_combine: analog the slices of one weight are summed with
     their binary weights first and converted once over the combined range. An ADC with at least 2 full + 1
     levels (and the full range) returns integer sums unchanged, and rounds noisy ones to the nearest integer;
  5. shift-and-add digitally, rescale.
Digital CIM (compute: digital) and DRAM keep steps 1 and 3 only (exact integer arithmetic, no ADC, no noise).
These are the assumptions of the analytic model (cimdse/cost/errmodel.py), emulated on the real operands.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .forward import MatmulOps


@dataclass(frozen=True)
class CimSpec:
    """Everything the emulation needs about one design, resolved from its parameters and the tech data."""

    rows: int
    ra: int                     # rows driven at once
    bits_per_cell: int
    weight_bits: int
    input_bits: int
    db: int                     # input bits per cycle, min(dac_bits, input_bits)
    adc_bits: int
    adc_range_sigma: float      # 0: full range
    differential: bool
    analog: bool                # False: digital CIM or DRAM (no ADC, no cell noise)
    attention_cim: bool         # K and V written into CIM arrays
    combined: bool              # column_combine: analog
    weight_sigma: float         # static cell error of weights, relative to g_max (programming, drift, read)
    kv_sigma: float             # of K and V cells (programming only: no time to drift)
    ir_drop_frac: float = 0.0   # read voltage lost at the worst cell (docs/MODEL.md section 11)
    adc_range_scale: float = 1.0  # full ADC range per weight level for a finite on/off ratio (rho / (rho - 1))
    kv_keep: float = 1.0        # fraction of each query's keys kept (exact top-k of its probabilities)


def cim_spec(design: Mapping, ir_drop_frac: float | None = None, tech=None) -> CimSpec:
    """Resolve one design (dict of parameters; defaults fill the rest) as the cost model does: rows_active 0 as
    many rows as the IR-drop limit allows, the design's IR drop (unless `ir_drop_frac` is given) and its device's
    on/off ADC range."""
    from ..cost.analog import auto_rows_active, design_ir_drop_frac, device_read_tables
    from ..cost.errmodel import device_noise
    from ..cost.params import defaults, to_batch
    from ..tech import DEVICES, load_tech

    d = {**defaults(), **design}
    tech = tech or load_tech()   # a cimdse.tech.Tech (a technology file's), None for the shipped data
    dev = DEVICES.index(d["device"])
    dram = bool(tech.dram[dev])
    analog = not (dram or d["compute"] == "digital")
    sigma = float(tech.device["sigma_g_rel"][dev])
    dn = device_noise(tech)  # drift and read noise at the stated time (tech/data/noise.yaml)
    drift, read = float(dn["drift"][dev]), float(dn["read"][dev])
    rows = int(d["rows"])
    b = {k: (v if k == "device" else np.asarray(v, dtype=float)) for k, v in to_batch([d], tech).items()}
    ra = min(int(auto_rows_active(b, tech)[0]), rows)
    if ir_drop_frac is None:
        cell_um2 = tech.device["cell_area_f2"].take(b["device"]) * (b["node_nm"] * 1e-3) ** 2
        ir_drop_frac = float(design_ir_drop_frac(b, tech, np.array([float(ra)]), cell_um2)[0])
    range_scale = float(device_read_tables(tech)["adc_range"][dev]) if analog else 1.0
    k_sigma = float(d["adc_range_sigma"])
    return CimSpec(rows=rows, ra=ra, bits_per_cell=int(d["bits_per_cell"]), weight_bits=int(d["weight_bits"]),
                   input_bits=int(d["input_bits"]), db=min(int(d["dac_bits"]), int(d["input_bits"])),
                   adc_bits=int(d["adc_bits"]), adc_range_sigma=k_sigma,
                   differential=d["weight_encoding"] == "differential" and analog, analog=analog,
                   attention_cim=d["attention"] == "cim" and analog, combined=d["column_combine"] == "analog" and analog,
                   weight_sigma=float(np.sqrt(sigma**2 + drift**2 + read**2)), kv_sigma=sigma,
                   ir_drop_frac=float(ir_drop_frac) if analog else 0.0, adc_range_scale=range_scale,
                   kv_keep=float(d["kv_keep"]))


# --------------------------------------------------------------------------------------------- quantizers

def quantize_stored(w: np.ndarray, bits: int, differential: bool) -> tuple[list[tuple[np.ndarray, float]], np.ndarray,
                                                                             np.ndarray, int]:
    """Integer columns of W (..., N, K) as (cells, sign) pairs, per-column scale (..., N, 1), the per-column
    offset removed digitally (..., N, 1) (offset encoding; else 0), and the magnitude bits per column.

    w_hat = scale * (sum over pairs of sign * cells) - offset."""
    w = w.astype(np.float64)
    amax = np.abs(w).max(axis=-1, keepdims=True)
    amax = np.where(amax > 0, amax, 1.0)
    if differential:
        if bits >= 2:
            scale = amax / (2.0 ** (bits - 1) - 1)
            m = np.rint(w / scale)
            mag_bits = bits - 1
        else:  # sign only, scaled by mean |w| (the MSE-optimal scale of a sign quantizer)
            scale = np.abs(w).mean(axis=-1, keepdims=True)
            scale = np.where(scale > 0, scale, 1.0)
            m = np.where(w >= 0, 1.0, -1.0)
            mag_bits = 1
        return [(np.maximum(m, 0), 1.0), (np.maximum(-m, 0), -1.0)], scale, np.zeros_like(scale), mag_bits
    scale = 2.0 * amax / (2.0**bits - 1)
    u = np.clip(np.rint((w + amax) / scale), 0, 2.0**bits - 1)
    return [(u, 1.0)], scale, amax, bits


def quantize_inputs(x: np.ndarray, bits: int, unsigned: bool) -> tuple[np.ndarray, np.ndarray]:
    """Integer inputs and the per-row scale (..., M, 1): x_hat = scale * xi."""
    x = x.astype(np.float64)
    amax = np.abs(x).max(axis=-1, keepdims=True)
    amax = np.where(amax > 0, amax, 1.0)
    if unsigned:
        scale = amax / (2.0**bits - 1)
        return np.clip(np.rint(x / scale), 0, 2.0**bits - 1), scale
    if bits >= 2:
        scale = amax / (2.0 ** (bits - 1) - 1)
        return np.rint(x / scale), scale
    scale = np.abs(x).mean(axis=-1, keepdims=True)
    return np.where(x >= 0, 1.0, -1.0), np.where(scale > 0, scale, 1.0)


def input_planes(xi: np.ndarray, bits: int, db: int, unsigned: bool) -> list[tuple[np.ndarray, float]]:
    """Slices of integer inputs as applied to the word lines: (signed plane values, shift weight) with
    xi = sum(shift * plane); each plane is sign(x) times a dac_bits slice of |x| (|x| < 2^(bits - 1), or 2^bits
    when unsigned)."""
    mag = np.abs(xi).astype(np.int64)
    sign = np.where(xi < 0, -1.0, 1.0)
    mag_bits = bits if unsigned else max(bits - 1, 1)
    return [(sign * ((mag >> (t * db)) & (2**db - 1)), 2.0 ** (t * db)) for t in range(-(-mag_bits // db))]


# ------------------------------------------------------------------------------------------------ the ADC

def _u2(levels: float) -> float:
    """E[s^2] of a slice uniform over 0..levels."""
    return levels * (2 * levels + 1) / 6.0


def adc_range(spec: CimSpec, cell_levels: float) -> tuple[float, bool]:
    """Half range of the bipolar ADC (partial-sum units) and whether conversion loses anything: +-full, or
    +-adc_range_sigma x sqrt(ra E[xs^2] E[cs^2]) for slices uniform over their levels when that is smaller."""
    lx = 2.0**spec.db - 1
    full = spec.ra * lx * cell_levels * spec.adc_range_scale   # a finite on/off ratio widens the full range
    half = full
    if spec.adc_range_sigma > 0:
        half = min(full, spec.adc_range_sigma * np.sqrt(spec.ra * _u2(lx) * _u2(cell_levels)))
    lossy = (2.0**spec.adc_bits - 1) < 2 * full or half < full
    return half, bool(lossy)


def convert(p: np.ndarray, half: float, adc_bits: int) -> np.ndarray:
    """One ADC conversion of bipolar partial sums p: 2^adc_bits - 1 levels (zero is one) spaced by
    step = max(2 half / (2^adc_bits - 1), 1) (an ADC with more levels than its range needs steps by one unit of
    the integer sums), clipping at +-half; round to the nearest level. A 1-bit ADC is a comparator: +-step / 2."""
    levels = 2.0**adc_bits - 1
    step = max(2 * half / levels, 1.0)
    if adc_bits == 1:
        return np.where(p >= 0, 0.5, -0.5) * step
    kmax = np.floor(levels / 2)
    return np.clip(np.rint(np.clip(p, -half, half) / step), -kmax, kmax) * step


# --------------------------------------------------------------------------------------------- the matmul

def _row_groups(K: int, rows: int, ra: int) -> list[slice]:
    """Contraction indices of each conversion: tiles of `rows` rows, each in groups of `ra` rows."""
    out = []
    for t0 in range(0, K, rows):
        t1 = min(t0 + rows, K)
        out += [slice(g, min(g + ra, t1)) for g in range(t0, t1, ra)]
    return out


def _shift_add(X: np.ndarray, cells: np.ndarray, groups: list[slice], spec: CimSpec, half: float, lossy: bool,
               shifts: np.ndarray, slice_w: np.ndarray, atten: np.ndarray | None) -> np.ndarray:
    """Integer result (M, N) of input planes X (P, M, K) against cell slices (S, N, K): one partial sum per
    (plane, slice, row group), converted, shifted by plane and slice weights, added."""
    P, M, _ = X.shape
    S, N, _ = cells.shape
    acc = np.zeros((M, N))
    for g in groups:
        xg = X[..., g] if atten is None else X[..., g] * atten[g]
        ps = (xg.reshape(P * M, -1) @ cells[..., g].reshape(S * N, -1).T).reshape(P, M, S, N)  # one GEMM
        if spec.combined:  # binary-weighted slices charge-shared, one conversion per weight
            ps = np.einsum("pmsn,s->pmn", ps, slice_w)
            if lossy:
                ps = convert(ps, half, spec.adc_bits)
            acc += np.einsum("pmn,p->mn", ps, shifts)
        else:
            if lossy:
                ps = convert(ps, half, spec.adc_bits)
            acc += np.einsum("pmsn,p,s->mn", ps, shifts, slice_w, optimize=True)
    return acc


def cim_matmul(x: np.ndarray, w: np.ndarray, spec: CimSpec, *, stored_kv: bool = False, unsigned_x: bool = False,
               rng: np.random.Generator | None = None) -> np.ndarray:
    """x (..., M, K) times W (..., N, K) -> (..., M, N), float32, as the design's arrays compute it.

    stored_kv: W holds K or V (written at input_bits, programming noise only); analog only when attention is cim.
    unsigned_x: non-negative inputs (attention probabilities)."""
    bits_w = spec.input_bits if stored_kv else spec.weight_bits
    analog = spec.analog and (spec.attention_cim if stored_kv else True)
    differential = spec.differential if analog else True
    cols, w_scale, w_off, mag_bits = quantize_stored(w, bits_w, differential)
    xi, x_scale = quantize_inputs(x, spec.input_bits, unsigned_x)
    if not analog:  # digital: exact integer arithmetic on the quantized operands
        wi = sum(sgn * c for c, sgn in cols)
        y = (xi @ np.swapaxes(wi, -1, -2)) * x_scale * np.swapaxes(w_scale, -1, -2)
        return y.astype(np.float32)
    bpc = spec.bits_per_cell
    n_ws = -(-mag_bits // bpc)
    lc = 2.0**bpc - 1
    sigma = spec.kv_sigma if stored_kv else spec.weight_sigma
    rng = rng or np.random.default_rng(0)
    planes = input_planes(xi, spec.input_bits, spec.db, unsigned_x)
    K = x.shape[-1]
    groups = _row_groups(K, spec.rows, spec.ra)
    # every partial sum goes through the ADC: even a lossless one (enough levels) rounds a noisy analog sum to
    # the nearest integer level, which removes cell noise below half a level (the analytic model does not)
    half, _ = adc_range(spec, 2.0 ** (n_ws * bpc) - 1 if spec.combined else lc)
    lossy = True
    atten = None
    if spec.ir_drop_frac > 0:  # each row's product attenuated by delta (2u - u^2) along the line (u: position),
        u = (np.arange(K) % spec.rows + 0.5) / spec.rows      # then a global gain calibration (errmodel, MODEL.md 6)
        atten = 1.0 - spec.ir_drop_frac * (2 * u - u * u)
        atten = atten / atten.mean()
    # stack the input planes: (P, ..., M, K); their shift weights (P,)
    X = np.stack([p for p, _ in planes])
    shifts = np.array([s for _, s in planes])
    y_int = 0.0
    for col, sgn in cols:
        col = col.astype(np.int64)
        # cell slices with static noise: (S, ..., N, K)
        cells = np.stack([((col >> (s * bpc)) & (2**bpc - 1)).astype(np.float64) for s in range(n_ws)])
        if sigma > 0:
            cells = cells + sigma * lc * rng.standard_normal(cells.shape)
        slice_w = 2.0 ** (bpc * np.arange(n_ws))
        lead = cells.shape[1:-2]
        acc = np.empty((*lead, x.shape[-2], w.shape[-2]))
        for idx in np.ndindex(*lead):  # one 2-D problem per attention head (none for static weights)
            at = (slice(None), *idx)
            acc[idx] = _shift_add(X[at], cells[at], groups, spec, half, lossy, shifts, slice_w, atten)
        y_int = y_int + sgn * acc
    y = y_int * x_scale * np.swapaxes(w_scale, -1, -2)
    if not differential:  # offset encoding: w_hat = scale u - max; remove max * sum(x_hat) digitally
        y = y - (xi * x_scale).sum(axis=-1, keepdims=True) * np.swapaxes(w_off, -1, -2)
    return y.astype(np.float32)


def _seed(seed: int, op: str, layer: int) -> np.random.Generator:
    """A generator per (seed, matmul, layer): the same cells get the same programming noise in every run."""
    return np.random.default_rng([seed, layer, zlib.crc32(op.encode())])


class EmulateOps(MatmulOps):
    """The forward pass's matmuls emulated exactly on the design (cim_matmul), seeded per matmul."""

    def __init__(self, spec: CimSpec, seed: int = 0) -> None:
        self.spec, self.seed = spec, seed

    def static(self, op: str, layer: int, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        return cim_matmul(x, w, self.spec, rng=_seed(self.seed, op, layer))

    def dynamic(self, op: str, layer: int, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        if op == "score_v" and self.spec.kv_keep < 1.0:
            x = keep_top(x, self.spec.kv_keep)
        return cim_matmul(x, w, self.spec, stored_kv=True, unsigned_x=op == "score_v",
                          rng=_seed(self.seed, op, layer))


def keep_top(p: np.ndarray, keep: float) -> np.ndarray:
    """Attention probabilities (..., T) with only the ceil(keep n) largest of each row's n non-zero (causal) keys
    kept, at least one, and renormalized: an exact top-k selector (token pruning, `kv_keep`)."""
    n = np.count_nonzero(p, axis=-1)
    k = np.maximum(np.ceil(keep * n - 1e-9), 1).astype(np.int64)
    srt = -np.sort(-p, axis=-1)
    thr = np.take_along_axis(srt, (k - 1)[..., None], axis=-1)
    q = np.where(p >= thr, p, np.float32(0.0))
    return (q / q.sum(axis=-1, keepdims=True)).astype(p.dtype)
