"""Accuracy proxy: signal-to-quantization-and-noise ratio (SQNR) of one analog matrix-vector product.

The reference MVM is one array column group: y = sum_i x_i w_i over K = rows inputs, x ~ U[0, 1) (unsigned
activations), w ~ U[-1, 1] (signed weights). Error sources: input and weight quantization, ADC quantization of
each bit-slice partial sum, and cell conductance variation. `sqnr_db` is the closed form (docs/MODEL.md, section
"Accuracy"); `monte_carlo_sqnr_db` simulates the same bit-sliced MVM in numpy to check it.
"""

from __future__ import annotations

import numpy as np

from ._select import select
from .analog import IR_RESIDUAL_VAR


def _weight_levels(weight_bits, differential):
    """Magnitude bits stored per weight and the weight value of one integer step."""
    wb = np.asarray(weight_bits, dtype=float)
    mag_bits = select(differential, np.maximum(wb - 1, 1.0), wb)
    # differential: w = sign * m / (2^(wb-1) - 1); binary weights (wb=1) are +-1
    p2 = np.exp2(wb)  # exact for integer bit counts, and much faster than 2.0 ** wb
    step_diff = np.where(wb >= 2, 1.0 / np.maximum(0.5 * p2 - 1, 1.0), 1.0)
    step_off = 2.0 / (p2 - 1)
    return mag_bits, select(differential, step_diff, step_off)


def weight_quant_var(weight_bits, differential, step=None):
    """Variance of the weight quantization error for w ~ U[-1, 1] (`step`: _weight_levels' step, if known)."""
    wb = np.asarray(weight_bits, dtype=float)
    if step is None:
        _, step = _weight_levels(wb, differential)
    return np.where((wb < 2) & differential, 1.0 / 3.0, step**2 / 12.0)


def adc_required_bits(rows_active, dac_bits, bits_per_cell):
    """ADC bits that resolve every partial sum exactly: log2(ra (2^dac - 1)(2^bpc - 1) + 1), rounded up."""
    full = rows_active * (np.exp2(dac_bits) - 1) * (np.exp2(bits_per_cell) - 1)
    return np.ceil(np.log2(full + 1))


def sqnr_db(rows, rows_active, input_bits, weight_bits, bits_per_cell, dac_bits, adc_bits, sigma, differential,
            analog=True, combined=False, ir_drop=0.0, range_scale=1.0, groups: tuple | None = None,
            codes: tuple | None = None):
    """Closed-form SQNR in dB (numpy arrays broadcast; every argument may be an array).

    combined: the bit-slice columns of a weight are charge-shared before one conversion (column_combine: analog),
    so the ADC sees the whole weight magnitude, ra (2^d - 1)(2^(slices bpc) - 1) levels, instead of one slice.
    ir_drop: IR-drop fraction at the worst cell (analog.ir_drop_frac): after a gain calibration the position-
    dependent attenuation leaves an error of power signal x IR_RESIDUAL_VAR x ir_drop^2. range_scale: ADC range
    per weight level relative to an ideal cell (finite on/off ratio, analog.on_off_range_scale).
    groups: (a design of each group, each design's group) of designs alike in every argument but ir_drop
    (errgroups.design_groups): the other noise terms once per group (the same sums, so the same numbers).
    codes: (columns, inv) of erroperands.operand_codes over input_bits, weight_bits, bits_per_cell, min(dac_bits,
    input_bits), differential, combined: the factors of these once per combination (the same numbers)."""
    args = (rows, rows_active, input_bits, weight_bits, bits_per_cell, dac_bits, adc_bits, sigma, differential,
            analog, combined, range_scale)
    if groups is None:
        signal, noise = _sqnr_noise(*args, codes=codes)
    else:
        first, inv = groups
        signal = np.asarray(rows, dtype=float) / 9.0
        noise = group_noise(args, first, len(inv)).take(inv)
    return sqnr_from_noise(signal, noise, analog, ir_drop)


def group_noise(args: tuple, first: np.ndarray, n: int) -> np.ndarray:
    """The noise powers of sqnr_db but IR drop's for the designs `first` of n (args: sqnr_db's, rows to
    range_scale, in its order)."""
    return _sqnr_noise(*(np.broadcast_to(np.asarray(a), (n,)).take(first) for a in args))[1]


def sqnr_from_noise(signal, noise, analog, ir_drop):
    """sqnr_db from the signal and noise powers of _sqnr_noise, with IR drop's noise added."""
    n_ir = select(analog, signal * IR_RESIDUAL_VAR * np.square(ir_drop), 0.0)
    return 10.0 * np.log10(signal / (noise + n_ir))


def _sqnr_factors(bi, weight_bits, bpc, db, differential, combined) -> dict:
    """The factors of _sqnr_noise that depend only on precisions and slicing (arrays of one length): dx^2, the weight
    quantization variance, the input and weight slice scale, its ADC share, the ADC's input and cell levels, the
    input slice's mean square and the cell's levels."""
    p2_db, p2_bpc = np.exp2(db), np.exp2(bpc)
    dx = 1.0 / (np.exp2(bi) - 1)
    mag_bits, dw = _weight_levels(weight_bits, differential)
    n_is = np.ceil(bi / db)
    n_ws = np.ceil(mag_bits / bpc)
    # sum over slices of the squared shift weights: sum_t 4^(t db) and sum_s 4^(s bpc)
    shift_in = (np.exp2(2 * n_is * db) - 1) / (p2_db * p2_db - 1)
    shift_w = (np.exp2(2 * n_ws * bpc) - 1) / (p2_bpc * p2_bpc - 1)
    columns = differential + 1.0                         # 2 columns (differential) or 1
    scale = (dx * dw) ** 2 * shift_in * shift_w * columns
    # the ADC input: one slice column, or (combined) all n_ws slices of a weight, already in weight-LSB units
    bpc_adc = select(combined, n_ws * bpc, bpc)
    return {"dx2": dx**2, "wq": weight_quant_var(weight_bits, differential, dw), "scale": scale,
            "scale_adc": scale * select(combined, 1.0 / shift_w, 1.0),   # one conversion per weight: no slice sum
            "lx": p2_db - 1, "lc": np.exp2(bpc_adc) - 1,
            "ex2": (p2_db - 1) * (2 * p2_db - 1) / 6.0,   # E[x_slice^2], slice uniform on 0..2^db-1
            "lb": p2_bpc - 1}


def _sqnr_noise(rows, rows_active, input_bits, weight_bits, bits_per_cell, dac_bits, adc_bits, sigma, differential,
                analog, combined, range_scale, codes: tuple | None = None) -> tuple:
    """(signal, the noise powers of sqnr_db but IR drop's, summed in its order); codes: sqnr_db's."""
    K = np.asarray(rows, dtype=float)
    ra = np.minimum(select(rows_active > 0, rows_active, K), K)
    signal = K / 9.0                                    # K E[x^2] E[w^2] = K (1/3)(1/3)
    if codes is None:
        bi = np.asarray(input_bits, dtype=float)
        f = _sqnr_factors(bi, weight_bits, np.asarray(bits_per_cell, dtype=float), np.minimum(dac_bits, bi),
                          np.asarray(differential, dtype=bool), np.asarray(combined, dtype=bool))
    else:
        cols, inv = codes
        f = {k: v.take(inv) for k, v in _sqnr_factors(*cols).items()}
    k3 = K / 3.0
    n_x = k3 * f["dx2"] / 12.0                          # input quantization
    n_w = k3 * f["wq"]
    full = ra * f["lx"] * f["lc"] * range_scale         # the off-state background uses ADC range
    lossy = adc_bits < np.ceil(np.log2(full + 1))        # adc_required_bits(ra, db, bpc_adc)
    step = full / (np.exp2(adc_bits) - 1)
    n_rg = np.ceil(K / ra)
    n_adc = select(lossy & analog, f["scale_adc"] * n_rg * step**2 / 12.0, 0.0)
    n_dev = select(analog, f["scale"] * (np.asarray(sigma) * f["lb"]) ** 2 * K * f["ex2"], 0.0)
    return signal, n_x + n_w + n_adc + n_dev


def monte_carlo_sqnr_db(rows, rows_active, input_bits, weight_bits, bits_per_cell, dac_bits, adc_bits, sigma,
                        differential=True, trials=4000, seed=0, combined=False):
    """Simulate the bit-sliced analog MVM `trials` times and return the measured SQNR in dB.

    combined: the slice columns of each weight are summed with their binary weights before one ADC conversion."""
    rng = np.random.default_rng(seed)
    K = rows
    ra = min(rows_active or rows, rows)
    db = min(dac_bits, input_bits)
    x = rng.random((trials, K))
    w = rng.uniform(-1, 1, (trials, K))
    ideal = (x * w).sum(axis=1)
    xi = np.rint(x * (2**input_bits - 1)).astype(np.int64)
    dx = 1.0 / (2**input_bits - 1)
    mag_bits, dw = _weight_levels(weight_bits, differential)
    mag_bits, dw = int(mag_bits), float(dw)
    if differential:
        if weight_bits >= 2:
            mag = np.rint(np.abs(w) / dw).astype(np.int64)
        else:
            mag = np.ones_like(w, dtype=np.int64)
        cols = [np.where(w > 0, mag, 0), np.where(w < 0, mag, 0)]   # G+ and G- columns
        signs = [1.0, -1.0]
    else:
        u = np.rint((w + 1) / dw).astype(np.int64)                  # w = u*dw - 1
        cols, signs = [u], [1.0]
    n_is = -(-input_bits // db)
    n_ws = -(-mag_bits // bits_per_cell)
    adc_cell_bits = n_ws * bits_per_cell if combined else bits_per_cell
    full = ra * (2**db - 1) * (2**adc_cell_bits - 1)
    exact = adc_bits >= int(np.ceil(np.log2(full + 1)))
    step = full / (2**adc_bits - 1)

    def convert(p):
        return p if exact else np.clip(np.rint(p / step), 0, 2**adc_bits - 1) * step

    y_int = np.zeros(trials)
    for col, sgn in zip(cols, signs, strict=True):
        for t in range(n_is):
            xs = (xi >> (t * db)) & (2**db - 1)
            merged = [np.zeros(trials) for _ in range(0, K, ra)]   # combined: charge-shared slices per row group
            for s in range(n_ws):
                cs = ((col >> (s * bits_per_cell)) & (2**bits_per_cell - 1)).astype(float)
                cs = cs + sigma * (2**bits_per_cell - 1) * rng.standard_normal(cs.shape)
                for i, g in enumerate(range(0, K, ra)):
                    p = (xs[:, g:g + ra] * cs[:, g:g + ra]).sum(axis=1)
                    if combined:
                        merged[i] += p * 2.0 ** (s * bits_per_cell)
                    else:
                        y_int += sgn * convert(p) * 2.0 ** (t * db + s * bits_per_cell)
            if combined:
                for p in merged:
                    y_int += sgn * convert(p) * 2.0 ** (t * db)
    if differential:
        y = y_int * dx * dw
    else:
        y = y_int * dx * dw - xi.sum(axis=1) * dx                   # offset removed digitally (exact)
    err = y - ideal
    return float(10 * np.log10(np.mean(ideal**2) / np.mean(err**2)))
