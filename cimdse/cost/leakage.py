"""SRAM leakage by node, threshold flavour, supply and temperature, and power gating of idle SRAM.

The law is stated in docs/MODEL.md ("Leakage and power gating"); its constants, each with its source, are in
cimdse/tech/data/leakage.yaml. Vectorized over a batch of designs like the rest of the cost model.
"""

from __future__ import annotations

import numpy as np

from ..tech import Tech, _values, load_tech, memo
from ._select import mask_bits, pick_bits

FLAVOURS = ("lstp", "lop", "hp")   # the order of the `sram_vt` choices in cost/params.py
T_LOW_C, T_HIGH_C = 27.0, 127.0    # the two temperature columns of the table (300 K and 400 K)


def leakage_data(tech: Tech | None = None) -> dict:
    """The leakage table as arrays: log off-current (pA/um) per flavour (rows) and node (columns, ascending); once
    per Tech (None: the shipped data)."""
    return memo(tech or load_tech(), "leakage", _leakage_table)


def _leakage_table(tech: Tech) -> dict:
    data = _values(tech.raw["leakage"])
    cell = data["sram_cell"]
    nodes = np.asarray(cell["nodes_nm"], dtype=float)
    order = np.argsort(nodes)
    table = {t: np.log(np.array([cell[key][f] for f in FLAVOURS], dtype=float))[:, order]
             for t, key in (("low", "ioff_27c_pa_per_um"), ("high", "ioff_127c_pa_per_um"))}
    tau = np.log(np.array([cell["intrinsic_delay_ps"][f] for f in FLAVOURS], dtype=float))[:, order]
    return {"log_nodes": np.log(nodes[order]), "log_i_low": table["low"], "log_i_high": table["high"],
            "log_speed": tau[FLAVOURS.index("hp")] - tau,   # log(tau_hp / tau_flavour) per [flavour, node]
            "width_f": float(cell["leak_width_f"]), "retention": float(data["power_gating"]["retention_fraction"]),
            "gate_area": float(data["power_gating"]["area_overhead_fraction"])}


def gating_area_factor(p: dict, c: dict) -> np.ndarray | float:
    """Area factor of the gated cells and buffers: 1 + the sleep transistors' overhead (0.04) where `power_gating: idle`
    gates them (not DRAM PIM), else 1."""
    if not np.any(p["power_gating"] == 1):
        return 1.0
    return 1.0 + leakage_data(c.get("tech"))["gate_area"] * _gated(p, c)


def sram_speed_factor(vt_code, node_part, tech: Tech | None = None) -> np.ndarray:
    """tau_hp / tau_flavour of the SRAM cells' flavour (1 for hp, about 0.27-0.36 for lstp): how much slower than in
    hp an SRAM of that flavour reads, from the ITRS intrinsic delays CV/I, log-linear in log(node) as the leakage
    (node_part: leakage_node_part of the design's node; clamped at 22 and 90 nm)."""
    return np.exp(_along_nodes(leakage_data(tech)["log_speed"], vt_code, node_part))


def _along_nodes(table: np.ndarray, vt_code, node_part) -> np.ndarray:
    """A [flavour, node] table at each design's flavour, interpolated linearly between the nodes of node_part
    (leakage_node_part's column i and weight w)."""
    i, w = node_part
    flat = table.ravel()
    at = np.asarray(vt_code, dtype=np.int64) * table.shape[1] + i
    v0 = flat.take(at)
    return v0 + w * (flat.take(at + 1) - v0)


def sram_bit_leakage_pw(vt_code, node_nm, vdd, temp_c, tech: Tech | None = None, log_node=None,
                        node_part=None) -> np.ndarray:
    """Leakage power (pW) of one 6T SRAM bit: vdd x I_off(flavour, node, T) x 4.62 F of leaking width.

    I_off is interpolated log-linearly in log(node) between the table's nodes (clamped at 22 and 90 nm) and in
    temperature between 27 C and 127 C; `vt_code` indexes FLAVOURS. log_node: log(node_nm) and node_part:
    leakage_node_part(log_node, tech) if the caller has them."""
    t = leakage_data(tech)
    if node_part is None:
        ln = np.log(np.asarray(node_nm, dtype=float)) if log_node is None else log_node
        node_part = leakage_node_part(ln, tech)
    f = (np.asarray(temp_c, dtype=float) - T_LOW_C) / (T_HIGH_C - T_LOW_C)
    log_lo = _along_nodes(t["log_i_low"], vt_code, node_part)
    log_hi = _along_nodes(t["log_i_high"], vt_code, node_part)
    i_pa_per_um = np.exp(log_lo + f * (log_hi - log_lo))
    width_um = t["width_f"] * np.asarray(node_nm, dtype=float) * 1e-3
    return vdd * i_pa_per_um * width_um                       # V x pA = pW


def leakage_node_part(log_node, tech: Tech | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(table column i, weight w) of the log-linear interpolation in log(node) of sram_bit_leakage_pw."""
    xs = leakage_data(tech)["log_nodes"]
    ln_c = np.minimum(np.maximum(log_node, xs[0]), xs[-1])               # np.clip, without its call overhead
    i = np.minimum(np.maximum(np.searchsorted(xs, ln_c, side="right") - 1, 0), len(xs) - 2)
    x0 = xs.take(i)
    return i, (ln_c - x0) / (xs.take(i + 1) - x0)


def gated_fraction(p: dict, c: dict, mp: dict, macs: float, t_pass) -> np.ndarray:
    """Leakage of one pass relative to leaking in full for the whole pass (docs/MODEL.md).

    Without gating 1. With `power_gating: idle` the SRAM leaks in full while the arrays compute and at the
    retention fraction r otherwise: d + (1 - d) r, d = `macs` of the pass / (peak MAC rate x pass time), the mean
    busy fraction of the arrays. DRAM PIM designs keep 1 (their banks must refresh)."""
    rates = gating_rates(p, c, mp)
    if rates is None:
        return np.ones(len(p["rows"]))
    return gated_fraction_of(rates, macs, t_pass)


def gating_rates(p: dict, c: dict, mp: dict, macs_per_mvm=None, t_mvm=None) -> tuple | None:
    """(gated designs as _select.mask_bits, peak MAC rate per ns of their arrays, retention fraction of the design's
    Tech) for `gated_fraction_of`; None when no design gates.
    macs_per_mvm, t_mvm: the peak figures of one array's full MVM when the caller has them (summary.peak_mvm)."""
    gated = _gated(p, c)
    if not np.any(gated):
        return None
    if macs_per_mvm is None:
        cols_used = np.floor(mp["cols_eff"] / mp["cpw"]) * mp["cpw"]   # as the peak figures of evaluate_batch
        macs_per_mvm = p["rows"] * cols_used / mp["cpw"]
        t_mvm = mp["in_slices"] * np.ceil(p["rows"] / mp["ra"] - 1e-9) * c["t_step"]
    return mask_bits(gated), mp["avail"] * macs_per_mvm / t_mvm, leakage_data(c.get("tech"))["retention"]


def gated_fraction_of(rates: tuple, macs: float, t_pass) -> np.ndarray:
    """`gated_fraction` from the pass-independent `gating_rates` (computed once for all phases)."""
    gated_bits, peak_macs_per_ns, r = rates
    duty = np.minimum(macs / np.maximum(peak_macs_per_ns * t_pass, 1e-30), 1.0)
    return pick_bits(gated_bits, duty + (1.0 - duty) * r, 1.0)   # np.where(gated, ..., 1.0) (_select.pick_bits)


def _gated(p: dict, c: dict) -> np.ndarray:
    """The designs whose SRAM is power-gated: `power_gating: idle`, not DRAM PIM (its banks must refresh)."""
    return (p["power_gating"] == 1) & ~c["is_dram"]
