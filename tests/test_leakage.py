"""SRAM leakage law and power gating (cimdse/cost/leakage.py) against hand-worked numbers from leakage.yaml."""

from __future__ import annotations

import numpy as np
import pytest

from cimdse.cost import evaluate_arrays
from cimdse.cost.leakage import FLAVOURS, sram_bit_leakage_pw
from cimdse.cost.model import prepare
from cimdse.cost.params import PARAMS, defaults, to_batch
from cimdse.workload import Scenario, preset

LSTP, LOP, HP = (FLAVOURS.index(f) for f in ("lstp", "lop", "hp"))


def law(code, node, vdd, temp):
    return float(sram_bit_leakage_pw(np.array([code]), np.array([node], float), np.array([vdd]), np.array([temp]))[0])


def test_flavour_codes_follow_the_parameter_choices():
    assert PARAMS["sram_vt"].choices == FLAVOURS


@pytest.mark.parametrize("code, node, vdd, temp, pw", [
    # 22 nm lstp, 27 C: 24.3 pA/um x 4.62 x 0.022 um = 2.469852 pA; x 0.8 V = 1.9758816 pW
    (LSTP, 22, 0.8, 27, 1.9758816),
    # 65 nm lstp, 27 C, 1.0 V: 9.12 x 4.62 x 0.065 = 2.738736 pW (Wang et al., JSSC 2008, measured ~2 pA/bit at 65 nm)
    (LSTP, 65, 1.0, 27, 2.738736),
    # 45 nm lop, 127 C, 1.0 V: 20300 pA/um x 4.62 x 0.045 um = 4220.37 pW
    (LOP, 45, 1.0, 127, 4220.37),
    # 22 nm hp, 27 C, 0.8 V: 121600 x 0.10164 x 0.8 = 9887.539 pW (about 10 nW per bit)
    (HP, 22, 0.8, 27, 9887.5392),
    # 32 nm lstp, 77 C (half way): sqrt(20.6 x 744) = 123.7999 pA/um x 4.62 x 0.032 um x 0.9 V = 16.47231 pW
    (LSTP, 32, 0.9, 77, 16.47231),
    # 28 nm lstp, 27 C: log-log between 22 nm (24.3) and 32 nm (20.6): w = ln(28/22)/ln(32/22) = 0.643620,
    # 24.3 x (20.6/24.3)^0.643620 = 21.8487 pA/um x 4.62 x 0.028 um x 0.9 V = 2.54375 pW
    (LSTP, 28, 0.9, 27, 2.543758),
    # 7 nm (below the table) keeps the 22 nm current per um with its own width: 24.3 x 4.62 x 0.007 x 0.7 = 0.5501034
    (LSTP, 7, 0.7, 27, 0.5501034),
])
def test_bit_leakage_hand_worked(code, node, vdd, temp, pw):
    assert law(code, node, vdd, temp) == pytest.approx(pw, rel=2e-6)


def test_leakage_rises_with_temperature_supply_and_lower_threshold():
    for code in (LSTP, LOP, HP):
        for node in (90, 65, 45, 32, 22, 28):
            cold, hot = law(code, node, 0.9, 27), law(code, node, 0.9, 127)
            assert hot > cold
            assert law(code, node, 1.0, 27) > cold          # power = supply x current
    for node in (90, 65, 45, 32, 22):
        assert law(LSTP, node, 0.9, 27) < law(LOP, node, 0.9, 27) < law(HP, node, 0.9, 27)


def _eval(**kw):
    sc = Scenario(prompt_tokens=32, generate_tokens=4, weight_bits=8, act_bits=8)
    design = {**defaults(), "device": "rram", "tiles": 64, "chips": 1, "overflow": "chips", **kw}
    return evaluate_arrays(to_batch([design]), "gpt2", sc, breakdown=True), sc


def test_buffer_leakage_in_the_breakdown():
    # default rram design at 22 nm, 0.85 V (node default), lstp, 27 C: only buffer bits leak (rram cells do not)
    r, _ = _eval(node_nm=22, vdd=0.85, tile_buffer_kb=16, global_buffer_mb=2)
    chips = r["chips_used"][0]
    bits = chips * (64 * 16 * 8192 + 2 * 8e6)
    p_w = bits * 24.3 * 4.62 * 0.022 * 0.85 * 1e-12
    t = sum(r["breakdown"]["latency_ns"]["decode"].values())[0]
    assert r["breakdown"]["energy_pj"]["decode"]["leakage"][0] == pytest.approx(p_w * t * 1e3, rel=1e-9)


def test_power_gating_keeps_leakage_while_busy_and_retention_fraction_while_idle():
    kw = dict(node_nm=22, vdd=0.85, tile_buffer_kb=64, global_buffer_mb=8, temperature_c=85)
    full, sc = _eval(**kw)
    gated, _ = _eval(power_gating="idle", **kw)
    wl = prepare(preset("gpt2"), sc)
    macs = float((wl.vectors["decode"] * wl.k * wl.n).sum())
    # mean busy fraction of the arrays: decode MACs / (peak MAC rate x pass time); peak_tops counts 2 ops per MAC
    t = sum(full["breakdown"]["latency_ns"]["decode"].values())[0]
    duty = macs / (full["peak_tops"][0] * 1e3 / 2 * t)
    assert 0 < duty < 1
    ratio = gated["breakdown"]["energy_pj"]["decode"]["leakage"][0] / full["breakdown"]["energy_pj"]["decode"]["leakage"][0]
    assert ratio == pytest.approx(duty + (1 - duty) * 0.1, rel=1e-9)
    # at peak every array is busy: gating saves nothing there, and it changes no latency; the area grows by the sleep
    # transistors' 4 % of the cells and buffers (test_power_gating_charges_the_sleep_transistors_area)
    assert gated["peak_power_w"][0] == full["peak_power_w"][0]
    assert gated["tpot_ms"][0] == full["tpot_ms"][0]
    a = full["breakdown"]["area_mm2"]
    assert gated["area_mm2"][0] == pytest.approx(full["area_mm2"][0] + 0.04 * (a["cells"][0] + a["buffers"][0]), rel=1e-9)


def test_power_gating_leaves_dram_refresh_alone():
    hbm = dict(device="dram", bits_per_cell=1, node_nm=45, vdd=0.9, rows=8192, cols=8192, arrays_per_tile=2,
               tiles=128, chips=1, simd_lanes=16, clock_ghz=0.3, weight_bits=16, input_bits=16)
    a, _ = _eval(**hbm)
    b, _ = _eval(power_gating="idle", **hbm)
    assert b["energy_per_token_uj"][0] == a["energy_per_token_uj"][0]


def test_power_gating_charges_the_sleep_transistors_area():
    """power_gating: idle adds 4 % to the area of the gated cells and buffers (gated-ground transistors; Agarwal, Li
    and Roy, DRG-Cache, DAC 2002: 'within 4% increase in area overhead'); DRAM PIM is not gated and keeps its area."""
    from cimdse.cost import evaluate_arrays
    from cimdse.workload import Scenario
    base = {"rows_active": [32, 32], "power_gating": ["none", "idle"]}
    r = evaluate_arrays(base, "gpt2", Scenario(prompt_tokens=32), breakdown=True)
    a = r["breakdown"]["area_mm2"]
    # default chip (22 nm, 1024 tiles of 16 KB, 16 MB global buffer, one chip): (1024 x 16 x 8192 + 16 x 8e6) bits
    # = 262,217,728 bits x 146 F^2 x 0.022^2 um^2 / 0.7 = 26.4705 mm^2 of buffers; gated 1.04 x = 27.5293 mm^2
    assert a["buffers"][0] == pytest.approx(26.4705, abs=1e-4)
    assert a["buffers"][1] == pytest.approx(1.04 * a["buffers"][0], rel=1e-12)
    assert a["cells"][1] == pytest.approx(1.04 * a["cells"][0], rel=1e-12)
    for part in ("adc", "dac", "shift_add", "digital", "noc", "readout"):
        assert a[part][1] == a[part][0]
    assert r["area_mm2"][1] - r["area_mm2"][0] == pytest.approx(0.04 * (a["cells"][0] + a["buffers"][0]), rel=1e-9)
    d = evaluate_arrays({**base, "device": ["dram", "dram"]}, "gpt2", Scenario(prompt_tokens=32))
    assert d["area_mm2"][1] == d["area_mm2"][0]
