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

# Residual of the IR-drop attenuation after a global gain calibration: along a uniformly loaded line the relative
# drop at fractional position u is d_max (2u - u^2); its variance over u in [0, 1] is (8/15 - 4/9) d_max^2 = 4/45.
IR_RESIDUAL_VAR = 4.0 / 45.0


def wire_ohm_per_um(node_nm, tech: Tech) -> np.ndarray:
    """Resistance (ohm/um) of a minimum-width array line at node `node_nm` (log-log between table nodes)."""
    w = tech.periphery["array_wires"]
    nodes = np.asarray(w["nodes_nm"], dtype=float)
    order = np.argsort(nodes)
    log_r = np.log(np.asarray(w["ohm_per_um"], dtype=float)[order])
    return np.exp(np.interp(np.log(np.asarray(node_nm, dtype=float)), np.log(nodes[order]), log_r))


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


def on_off_range_scale(r_on_ohm, r_off_ohm) -> np.ndarray:
    """ADC range needed per weight level relative to an ideal (infinite on/off) cell: ratio / (ratio - 1)."""
    ratio = np.asarray(r_off_ohm, dtype=float) / np.asarray(r_on_ohm, dtype=float)
    return ratio / np.maximum(ratio - 1.0, 1e-12)


def design_ir_drop_frac(p: dict, tech: Tech, resistive, rows_active, cell_um2) -> np.ndarray:
    """Per design: `ir_drop_frac` of its arrays (0 where the cells draw no DC read current).

    resistive: mask of resistive-device designs; rows_active: rows driven at once; cell_um2: cell area (um^2)."""
    dev = tech.device
    d = p["device"]
    r_on, r_off, v_read = dev["r_on_ohm"].take(d), dev["r_off_ohm"].take(d), dev["read_voltage_v"].take(d)
    safe = lambda x: np.where(resistive, x, 1.0)  # noqa: E731  (no division by the zero resistances of SRAM/DRAM)
    g_mean = 0.5 * (1 / safe(r_on) + 1 / safe(r_off))
    r_cell = wire_ohm_per_um(p["node_nm"], tech) * np.sqrt(cell_um2)
    frac = ir_drop_frac(p["rows"], rows_active, r_cell, safe(v_read) * g_mean, safe(v_read))
    return np.where(resistive, frac, 0.0)
