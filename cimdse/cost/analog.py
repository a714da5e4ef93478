"""Analog read non-idealities of resistive arrays: IR drop on the lines and the finite on/off ratio.

- IR drop (docs/MODEL.md 'IR drop'): a line of n cells, each drawing I, driven from one end, drops
  r I n(n+1)/2 at its far end (r: wire resistance per cell pitch). Every resistive cell of devices.yaml has an
  access transistor (1T1R, 1T1MTJ) or is one (FeFET), so the inputs drive gates and the row lines carry no DC
  current (CrossSim's `gate_input`); the worst cell sits at the far end of its column line, where the
  `rows_active` driven rows conduct (the driven group taken farthest from the sense end). `ir_drop_frac` is that
  drop over the read voltage, every driven row on and each cell at the mean conductance (G_on + G_off)/2.
  Charge-domain SRAM, digital CIM and DRAM draw no DC read current: 0.
- On/off ratio: the off state still conducts, so a column's current spans [0, ra x G_on] while the weights span
  only G_on - G_off of it: the ADC range in weight-level units grows by on_off / (on_off - 1).
Pure numpy over a batch; wire resistance from periphery.yaml `array_wires`.
"""

from __future__ import annotations

import numpy as np

from ..tech import Tech
from ._select import mask_bits, pick_bits
from .timing import memo_table

# Residual of the IR-drop attenuation after a global gain calibration: along a uniformly loaded line the relative
# drop at fractional position u is d_max (2u - u^2); its variance over u in [0, 1] is (8/15 - 4/9) d_max^2 = 4/45.
IR_RESIDUAL_VAR = 4.0 / 45.0


def wire_ohm_per_um(node_nm, tech: Tech) -> np.ndarray:
    """Resistance (ohm/um) of a minimum-width array line at node `node_nm` (log-log between table nodes)."""
    log_nodes, log_r = memo_table(tech, tech.periphery["array_wires"], "wires", _wire_table)
    return np.exp(np.interp(np.log(np.asarray(node_nm, dtype=float)), log_nodes, log_r))


def _wire_table(w: dict) -> tuple[np.ndarray, np.ndarray]:
    nodes = np.asarray(w["nodes_nm"], dtype=float)
    order = np.argsort(nodes)
    return np.log(nodes[order]), np.log(np.asarray(w["ohm_per_um"], dtype=float)[order])


def line_drop_v(n_cells, r_cell_ohm, i_cell_a) -> np.ndarray:
    """Voltage (V) lost at the far end of a line of `n_cells` cells each drawing `i_cell_a`: r I n(n+1)/2."""
    n = np.asarray(n_cells, dtype=float)
    return r_cell_ohm * i_cell_a * n * (n + 1) / 2


def ir_drop_frac(rows, rows_active, r_cell_ohm, i_cell_a, v_read) -> np.ndarray:
    """Fraction of the read voltage lost at the worst cell of a column line: the ra driven rows, placed farthest
    from the sense end, so that their summed current also crosses the rows - ra idle cells."""
    ra = np.asarray(rows_active, dtype=float)
    col_line = line_drop_v(ra, r_cell_ohm, i_cell_a) + r_cell_ohm * i_cell_a * ra * (np.asarray(rows) - ra)
    return col_line / v_read


def cell_wire_ohm(p: dict, tech: Tech, ohm_per_um=None) -> np.ndarray:
    """Per design: resistance (ohm) of an array line over one cell pitch, sqrt(cell area), at the design's node.
    ohm_per_um: wire_ohm_per_um(p["node_nm"], tech) when the caller has it."""
    cell_um2 = tech.device["cell_area_f2"].take(p["device"]) * (p["node_nm"] * 1e-3) ** 2
    return (wire_ohm_per_um(p["node_nm"], tech) if ohm_per_um is None else ohm_per_um) * np.sqrt(cell_um2)


def auto_rows_active(p: dict, tech: Tech, r_cell=None) -> np.ndarray:
    """`rows_active` with 0 resolved per design: all rows where the cells draw no DC read current or the drop of all
    rows stays within `max_ir_drop`, else the most rows whose drop does (docs/MODEL.md 'IR drop').

    With ra driven rows the worst drop is r I (ra(ra+1)/2 + ra(rows - ra)) / V_read (`ir_drop_frac`), increasing in
    ra up to rows; it stays within the limit m while ra^2 - (2 rows + 1) ra + 2K >= 0, K = m V_read / (r I), i.e.
    up to the smaller root of that quadratic (at least 1 row). r_cell: `cell_wire_ohm(p, tech)` if the caller has it."""
    ra = np.asarray(p["rows_active"], dtype=float)
    auto = ra <= 0
    if not np.any(auto):
        return ra
    rows = np.asarray(p["rows"], dtype=float)
    d = p["device"]
    tab = device_read_tables(tech)
    r_cell = cell_wire_ohm(p, tech) if r_cell is None else r_cell
    r_i = r_cell * tab["i_cell_a"].take(d) * tab["inv_v_read"].take(d)          # drop per unit of the bracket above
    # (np.where on the masks' bits: _select.pick_bits, the same bits without np.where's branches)
    k = np.asarray(p["max_ir_drop"], dtype=float) / pick_bits(mask_bits(r_i > 0), r_i, 1.0)
    b = 2 * rows + 1
    disc = b * b - 8 * k
    fits = (r_i <= 0) | (disc < 0) | (ir_drop_frac(rows, rows, r_i, 1.0, 1.0) <= p["max_ir_drop"])
    root = np.floor((b - np.sqrt(np.maximum(disc, 0.0))) / 2 + 1e-9)
    return pick_bits(mask_bits(auto), pick_bits(mask_bits(fits), rows, np.clip(root, 1, rows)), ra)


def on_off_range_scale(r_on_ohm, r_off_ohm) -> np.ndarray:
    """ADC range needed per weight level relative to an ideal (infinite on/off) cell: ratio / (ratio - 1)."""
    ratio = np.asarray(r_off_ohm, dtype=float) / np.asarray(r_on_ohm, dtype=float)
    return ratio / np.maximum(ratio - 1.0, 1e-12)


def device_read_tables(tech: Tech) -> dict:
    """Per device (DEVICES order), once per Tech: mean read current per cell (A) and 1 / V_read of the resistive
    devices (0 for the others, which draw no DC read current), and the on/off ADC range scale (1 for the others)."""
    def build(dev: dict) -> dict:
        resistive = ~tech.capacitive & ~tech.dram
        safe = lambda x: np.where(resistive, x, 1.0)  # noqa: E731  (SRAM/DRAM have no resistances)
        r_on, r_off, v = safe(dev["r_on_ohm"]), safe(dev["r_off_ohm"]), safe(dev["read_voltage_v"])
        return {"i_cell_a": np.where(resistive, v * 0.5 * (1 / r_on + 1 / r_off), 0.0),
                "inv_v_read": np.where(resistive, 1 / v, 0.0),
                "adc_range": np.where(resistive, on_off_range_scale(r_on, np.where(resistive, r_off, 2.0)), 1.0)}
    return memo_table(tech, tech.device, "read", build)


def design_ir_drop_frac(p: dict, tech: Tech, rows_active, cell_um2, log_node=None, r_cell=None) -> np.ndarray:
    """Per design: `ir_drop_frac` of its arrays (0 where the cells draw no DC read current).

    rows_active: rows driven at once; cell_um2: cell area (um^2); log_node: log(node_nm) and r_cell:
    `cell_wire_ohm(p, tech)` when the caller has them."""
    d = p["device"]
    tab = device_read_tables(tech)
    if r_cell is None:
        log_node = np.log(p["node_nm"]) if log_node is None else log_node
        log_nodes, log_r = memo_table(tech, tech.periphery["array_wires"], "wires", _wire_table)
        r_cell = np.exp(np.interp(log_node, log_nodes, log_r)) * np.sqrt(cell_um2)
    return ir_drop_frac(p["rows"], rows_active, r_cell, tab["i_cell_a"].take(d), 1.0) * tab["inv_v_read"].take(d)
