"""A design's own cell read pulse, `read_ns` (docs/MODEL.md section 2, cost/model.circuits)."""

from __future__ import annotations

import numpy as np
import pytest

from cimdse.cost.model import circuits
from cimdse.cost.params import defaults, to_batch
from cimdse.tech import load_tech


def test_read_ns_sets_cell_energy_and_step_by_hand():
    # rram constants: V_read 0.5 V, R_on 100 kOhm, R_off 1.7 MOhm, device pulse 10 ns.
    # G_avg = (1/1e5 + 1/1.7e6) / 2 = 5.29412e-6 S; V^2 G_avg = 1.32353e-6 W = 1.32353e-3 pJ per ns.
    # Cell energy differs only by the resistive term: act * 1.32353e-3 pJ/ns * (10 - 1.9) ns.
    # Step: max(t_read, cols_per_adc * t_conv) with 1 column per ADC at 10 GHz: t_conv = (8 + 1) / 10 = 0.9 ns, so the
    # step is the read pulse itself, 10 ns (device) and 1.9 ns (read_ns).
    kw = {**defaults(), "device": "rram", "adc_bits": 8, "cols_per_adc": 1, "clock_ghz": 10.0}
    c = circuits(to_batch([kw, {**kw, "read_ns": 1.9}]), load_tech())
    act = c["act"][0]
    assert c["e_cell"][0] - c["e_cell"][1] == pytest.approx(act * 1.32353e-3 * 8.1, rel=1e-5)
    assert c["t_step"][0] == pytest.approx(10.0) and c["t_step"][1] == pytest.approx(1.9)
    assert c["t_read"][1] == 1.9


def test_read_ns_zero_is_the_device_pulse_bit_for_bit():
    t = load_tech()
    kw = {**defaults(), "device": "mram", "bits_per_cell": 1}
    a = circuits(to_batch([kw]), t)
    b = circuits(to_batch([kw, {**kw, "read_ns": 3.0}]), t)   # a batch mixing both paths
    for key in ("e_cell", "t_step", "e_adc", "e_fe"):
        assert np.asarray(a[key])[0] == np.asarray(b[key])[0]


def test_read_ns_does_not_touch_digital_cim_or_dram():
    t = load_tech()
    for kw in ({"device": "sram", "compute": "digital", "bits_per_cell": 1}, {"device": "dram", "bits_per_cell": 1}):
        d = {**defaults(), **kw}
        a = circuits(to_batch([d, {**d, "read_ns": 50.0}]), t)
        assert a["e_cell"][0] == a["e_cell"][1] and a["t_step"][0] == a["t_step"][1]
