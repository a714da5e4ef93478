"""Column read-out front end between a CIM column and its ADC (docs/MODEL.md section 16).

Sensing mode per design: `current` for resistive cells (a clamp amplifier holds the column at virtual ground and
its output is sampled: a transimpedance front end), `charge` for capacitive (SRAM charge-domain) columns (the
column charge is shared onto a sampling capacitor), `voltage` where the ADC is a 1-bit sense amplifier (a latch
comparator reads the column voltage). Digital CIM and DRAM have none. Laws, per column conversion:
- sampling capacitor: C_s = max(C_unit, 12 k T 4^B / V_fs^2), its kT/C noise below the quantization noise of a
  B-bit ADC with full scale V_fs = VDD; energy C_s VDD^2, area C_s / capacitor density (at least ISAAC's S+H);
- clamp amplifier (current mode): a one-pole loop settling to half an LSB, (B + 1) ln 2 time constants, within the
  read pulse needs gm = (B + 1) ln 2 (C_col + C_s) / t_read; a differential pair biased at gm/I_D draws
  2 gm / (gm/I_D) for t_read: E = 2 VDD (B + 1) ln 2 (C_col + C_s) / (gm/I_D), independent of t_read;
- matched input devices (current: 4, an input pair and its mirror load; voltage: 2, the latch's input pair), each
  sized by Pelgrom's law so that the offset stays below half an LSB: W L = (A_VT 2^(B+1) / V_fs)^2.
Pure numpy over a batch; constants from periphery.yaml `readout`.
"""

from __future__ import annotations

import numpy as np

from ..tech import Tech
from ._select import keep, mask_bits, pick_bits

K_BOLTZMANN = 1.380649e-23   # J/K (SI exact value)


def readout(p: dict, tech: Tech, vdd, col_ff, resistive, gate, a32, analog_bits=None) -> dict:
    """Per design: front-end energy per conversion `e_fe` (pJ) and area per column `a_fe` (um^2).

    vdd: supply (V); col_ff: capacitance of one column line (fF); resistive / gate: device masks (charge mode is
    every other analog column);
    a32: logic area scale (node / 32 nm)^2 of ISAAC's sample-and-hold area, the floor of the sampling area;
    analog_bits: _select.mask_bits(~gate) when the caller has it (np.where(~gate, x, 0.0) as _select.keep)."""
    ro = tech.periphery["readout"]
    a_sh = tech.periphery["shift_add"]["sample_hold_area_um2"] * a32
    b = np.asarray(p["adc_bits"], dtype=float)
    kt = K_BOLTZMANN * (np.asarray(p["temperature_c"], dtype=float) + 273.15)
    vdd2 = vdd**2
    c_s_ff = np.maximum(ro["unit_cap_ff"], 12 * kt * np.exp2(2 * b) / vdd2 * 1e15)
    sense_amp = b <= 1                                   # voltage mode: the 1-bit ADC is a latch comparator
    current = resistive & ~sense_amp & ~gate
    analog = ~mask_bits(gate) if analog_bits is None else analog_bits     # (bits: _select.keep)
    sense_bits, current_bits = mask_bits(sense_amp), mask_bits(current)
    no_sense = ~sense_bits
    e_sample = c_s_ff * vdd2 * 1e-3                    # fF V^2 = fJ -> pJ
    e_clamp = 2 * vdd * (b + 1) * np.log(2) * (col_ff + c_s_ff) / ro["gm_over_id_per_v"] * 1e-3
    e_fe = keep(keep(e_sample, no_sense) + keep(e_clamp, current_bits), analog)
    wl_um2 = (ro["avt_mv_um"] * 1e-3 * np.exp2(b + 1) / vdd) ** 2          # one matched device (Pelgrom)
    n_dev = pick_bits(current_bits, 4.0, keep(2.0, sense_bits))   # np.where(current, 4, np.where(sense_amp, 2, 0))
    a_cap = keep(np.maximum(c_s_ff / ro["cap_density_ff_per_um2"], a_sh), no_sense)
    a_fe = keep(a_cap + n_dev * wl_um2, analog)
    return {"e_fe": e_fe, "a_fe": a_fe}
