"""Step 3 of the cost model, static matmuls on the CIM arrays: energy (pJ) by component and latency (ns) of one
input vector through one k x n weight matrix (docs/MODEL.md section 5, 'DRAM bank PIM'), and their sums over the
vectors of one pass of each phase.

Per-matrix arrays are (N, J) for the J distinct static matrix shapes (column-major, see model.map_weights). The
pass sums go one shape at a time, so that each shape's (N,) temporaries stay in cache; the order of every product
and sum is that of `mvm_costs` on (N, J) arrays followed by `_util.dot_shapes` (the same numbers).
"""

from __future__ import annotations

import numpy as np

from ._util import all_shapes_at_once
from ._util import ceil as _ceil


def mvm_factors(p: dict, c: dict, mp: dict) -> dict:
    """Per-design factors of `mvm_costs` that do not depend on the matrix shape, as (N, 1) columns."""
    s = mp["in_slices"]
    f = mp["cpw"] * s                                     # cells read per weight column per input vector
    fac = {
        "conv": f / c["comb_w"] * mp["conv_keep"],   # analog column combination, zero-slice skipping
        "cells": f * c["e_cell"], "dac": s * c["e_row"], "sa": c["e_sa"] + c["e_comb"], "step": s * c["t_step"],
    }
    fac = {k: v[:, None] for k, v in fac.items()}
    i = fac["dram"] = np.flatnonzero(c["is_dram"])
    if len(i):   # the DRAM designs' own factors (_dram_mvm_costs), gathered once
        col = lambda x: x[i][:, None]  # noqa: E731
        fac["dram_cols"] = {"banks": col(p["tiles"] * mp["chips_used"]), "bits": col(p["weight_bits"]),
                            "cols": col(p["cols"]), "lanes": col(p["simd_lanes"] * p["clock_ghz"]),
                            "t_act": col(c["t_act"]), "e_bits": col(p["weight_bits"] * c["e_dram_bit"]),
                            "e_mac": col(c["e_mac_w"])}
    return fac


def mvm_costs(p, c, mp, k, n, row_tiles, col_tiles, n_rg, fac: dict | None = None, dram_zero: bool = True):
    """Energy (pJ) of one vector through one k x n matrix, split by component, and its latency (ns).
    k, n: (1, J) shapes; row_tiles, col_tiles, n_rg: (N, J); fac: mvm_factors(p, c, mp) when the caller has it;
    dram_zero False: the DRAM designs' DRAM_ZERO parts are left for the caller to zero."""
    fac = mvm_factors(p, c, mp) if fac is None else fac
    outer = lambda shape_row, design_col: np.multiply(shape_row, design_col, order="F")  # noqa: E731  (N, J), column-major
    # one conversion per comb_w columns (analog column combination); zero-slice skipping keeps conv_keep of them
    conv = row_tiles * n_rg * outer(n, fac["conv"])
    e = {
        "cells": outer(k * n, fac["cells"]),
        "adc": conv * c["e_adc"][:, None],
        "dac": col_tiles * outer(k, fac["dac"]),
        "shift_add": conv * fac["sa"] + row_tiles * outer(n, c["e_acc"][:, None]),
        "mac_units": conv * c["e_tree"][:, None],
        "readout": conv * c["e_fe"][:, None],
    }
    # adder-tree depth ceil(log2(row_tiles)): the bit length of row_tiles - 1 (frexp's exponent), exact for the
    # integer row tiles (>= 1) and the same numbers as the logarithm, without it
    t = n_rg * fac["step"] + np.frexp(np.maximum(row_tiles - 1, 0))[1] / p["clock_ghz"][:, None]
    if len(fac["dram"]):
        e, t = _dram_mvm_costs(k, n, e, t, fac["dram"], fac["dram_cols"], dram_zero)
    return e, t


DRAM_ZERO = ("adc", "dac", "shift_add", "readout")   # parts a DRAM PIM design does not have


def _dram_mvm_costs(k, n, e, t, i, d: dict, zero: bool = True):
    """DRAM bank PIM (docs/MODEL.md 'DRAM bank PIM'): every weight bit is read from its bank row (activation +
    column access) into the bank's MAC unit; each matrix is interleaved over all banks of the chips used.
    Computed on the DRAM designs `i` only (d: their factors, mvm_factors) and written in place into their rows of
    the fresh arrays e, t (N, J)."""
    kn = k * n
    per_bank = kn / d["banks"]                                        # weights each bank streams
    rows_opened = _ceil(per_bank * d["bits"] / d["cols"])
    t[i] = per_bank / d["lanes"] + rows_opened * d["t_act"]
    for part in DRAM_ZERO if zero else ():
        e[part][i] = 0.0
    e["cells"][i] = kn * d["e_bits"]
    e["mac_units"][i] = kn * d["e_mac"]
    return e, t


def static_pass_costs(p: dict, wl, c: dict, mp: dict) -> tuple[dict, list]:
    """(phase -> component -> energy (pJ, (N,)) of the static matmuls of one pass: the sum over the shapes j of the
    per-vector energy times the vectors through j, in shape order; the per-vector latency (ns, (N,)) of each shape)."""
    fac = mvm_factors(p, c, mp)
    rt, ct, nrg = mp["row_tiles"], mp["col_tiles"], mp["n_rg"]
    phases = list(wl.vectors)
    # per part, the (N, phases) sums, column-major: each phase's column a contiguous (N,) array; a shape's term of
    # every phase in one multiply (its vectors per phase as a row), the same products and sums as phase by phase
    per_shape = np.array([[wl.vectors[ph][j] for ph in phases] for j in range(len(wl.k))])   # (J, phases)
    acc: dict = {}
    t_vec = []
    # a small batch prices all shapes in one call (fewer, larger array operations); a large one shape by shape, so
    # that the (N, 1) temporaries stay in cache: elementwise either way, so the same numbers
    whole = all_shapes_at_once(len(p["rows"]), len(wl.k))
    if whole:
        e_all, t_all = mvm_costs(p, c, mp, wl.k[None, :], wl.n[None, :], rt, ct, nrg, fac, False)
    for j in range(len(wl.k)):
        if whole:
            e, t, col = e_all, t_all, j
        else:
            sl = slice(j, j + 1)
            e, t = mvm_costs(p, c, mp, wl.k[None, sl], wl.n[None, sl], rt[:, sl], ct[:, sl], nrg[:, sl], fac, False)
            col = 0
        t_vec.append(t[:, col])
        row = per_shape[j][None, :]
        for part, val in e.items():
            if j == 0:
                acc[part] = np.multiply(val[:, col:col + 1], row, order="F")
            else:
                acc[part] += np.multiply(val[:, col:col + 1], row, order="F")
    words = c.get("dram_bits")    # (_select.mask_bits of the DRAM designs, from circuits)
    clear = ~words if len(fac["dram"]) and words is not None and words.dtype == np.int64 else None
    for part in DRAM_ZERO if len(fac["dram"]) else ():   # the DRAM designs' parts they do not have: 0 (as a sum
        a = acc[part]                                     # of zero terms would be)
        if clear is not None:   # (+0.0 by clearing their bits in place: no index arrays)
            np.bitwise_and(a.view(np.int64), clear[:, None], out=a.view(np.int64))
        else:
            a[fac["dram"]] = 0.0
    energy = {ph: {part: a[:, i] for part, a in acc.items()} for i, ph in enumerate(phases)}
    return energy, t_vec
