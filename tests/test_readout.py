"""Column read-out front end (cimdse/cost/readout.py, docs/MODEL.md section 16)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cimdse.cost.model import circuits
from cimdse.cost.params import defaults, to_batch
from cimdse.tech import load_tech


def batch(**kw):
    return to_batch([{**defaults(), **kw}])


def test_current_mode_front_end_by_hand():
    # RRAM, 22 nm, 0.85 V, 8-bit ADC, 27 C. kT = 1.380649e-23 * 300.15 = 4.1440e-21 J;
    # C_s = 12 kT 4^8 / V^2 = 12 * 4.1440e-21 * 65536 / 0.7225 = 4.5107 fF -> sampling 4.5107 * 0.7225 = 3.2590 fJ.
    # Column line: 256 cells x 0.2 fF/um x sqrt(48) x 0.022 um = 7.8039 fF.
    # Clamp: 2 * 0.85 * 9 * ln 2 * (7.8039 + 4.5107) fF / 15 = 8.7067 fJ. Sum 11.966 fJ per conversion.
    # Area: W L = (2 mV um * 2^9 / 0.85 V)^2 = 1.45132 um^2, 4 devices 5.8053 um^2; capacitor 4.5107 / 1.7 =
    # 2.6534 um^2 (above ISAAC's S+H, 0.039 * (22/32)^2 = 0.0184 um^2) -> 8.4587 um^2 per column.
    c = circuits(batch(device="rram", node_nm=22, adc_bits=8, rows=256), load_tech())
    assert c["e_fe"][0] == pytest.approx(0.011966, rel=2e-4)
    assert c["a_fe"][0] == pytest.approx(8.4587, rel=2e-4)


def test_modes():
    t = load_tech()
    sram = circuits(batch(device="sram", bits_per_cell=1, adc_bits=8), t)
    rram = circuits(batch(device="rram", adc_bits=8), t)
    # charge mode (SRAM): the sampling capacitor only, no clamp amplifier
    assert sram["e_fe"][0] == pytest.approx(12 * 1.380649e-23 * 300.15 * 4**8 / sram["vdd"][0] ** 2 * 1e15
                                            * sram["vdd"][0] ** 2 * 1e-3, rel=1e-9)
    assert sram["e_fe"][0] < rram["e_fe"][0]
    # voltage mode (1-bit sense amplifier): the comparator is the ADC, no sampling energy; digital CIM: nothing
    sa = circuits(batch(device="rram", adc_bits=1), t)
    dig = circuits(batch(device="sram", compute="digital", bits_per_cell=1), t)
    assert sa["e_fe"][0] == 0.0 and sa["a_fe"][0] > 0
    assert dig["e_fe"][0] == 0.0 and dig["a_fe"][0] == 0.0


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["rram", "pcm", "mram", "fefet", "sram"]), st.integers(1, 13), st.integers(1, 13),
       st.sampled_from([16, 64, 256, 1024]), st.floats(27.0, 127.0))
def test_front_end_grows_with_resolution_and_temperature(device, b1, b2, rows, temp):
    lo, hi = sorted((b1, b2))
    t = load_tech()
    bpc = 1 if device in ("sram", "mram") else 2
    a = circuits(to_batch([{**defaults(), "device": device, "bits_per_cell": bpc, "adc_bits": b, "rows": rows,
                            "temperature_c": x} for b, x in ((lo, 27.0), (hi, 27.0), (hi, temp))]), t)
    assert np.all(np.isfinite(a["e_fe"])) and np.all(a["e_fe"] >= 0)
    if lo > 1:   # (a 1-bit sense amplifier has no sampling capacitor)
        assert a["e_fe"][1] >= a["e_fe"][0] and a["a_fe"][1] >= a["a_fe"][0]
    assert a["e_fe"][2] >= a["e_fe"][1] - 1e-15    # hotter: more kT/C noise, a larger sampling capacitor
