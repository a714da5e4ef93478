"""Digital SRAM CIM, DRAM bank PIM and attention-token pruning (kv_keep) against hand-worked numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cimdse.cost import evaluate_arrays
from cimdse.cost.model import _mvm_costs, circuits, map_weights, prepare
from cimdse.cost.params import check_value, conflicts, defaults, to_batch
from cimdse.errors import UserError
from cimdse.tech import load_tech
from cimdse.workload import Scenario, preset

GAMMA = load_tech().periphery["digital_cim"]["adder_tree_activity"]


def batch(**kw):
    return to_batch([{**defaults(), **kw}])


# ------------------------------------------------------------------------------------------------ digital CIM

@pytest.mark.parametrize("ra, d, n_fa", [
    (2, 1, 1),      # one 1-bit adder
    (4, 1, 4),      # level 1: two 1-bit adders; level 2: one 2-bit adder
    (256, 1, 502),  # 256 (2 - 10/256)
    (256, 2, 757),  # 256 ((2-1)(1 - 1/256) + 2 - 10/256) = 255 + 502
])
def test_digital_adder_tree_energy_and_area(ra, d, n_fa):
    b = batch(device="sram", compute="digital", bits_per_cell=1, rows=ra, dac_bits=d, node_nm=28, vdd=0.9)
    c = circuits(b, load_tech())
    # 28 nm, 0.9 V: E_FA = (3 x 0.7 + 2 x 1.05) fF x 0.81 V^2 = 3.402 fJ; E_AND = 0.5 x 0.7 x 0.81 = 0.2835 fJ
    assert c["e_tree"][0] == pytest.approx(GAMMA * n_fa * 3.402e-3, rel=1e-12)
    assert c["e_cell"][0] == pytest.approx(GAMMA * d * 0.2835e-3, rel=1e-12)
    # area per column: ra d NAND2 (0.614 um^2) + n_FA full adders (3 x 0.614 + 2 x 1.4736 = 4.7892 um^2)
    assert c["a_tree_col"][0] == pytest.approx(ra * d * 0.614 + n_fa * 4.7892, rel=1e-12)
    # no ADC, DAC or sample-and-hold; one input slice per clock cycle
    assert c["e_adc"][0] == 0 and c["a_adc"][0] == 0 and c["a_dac"][0] == 0 and c["a_fe"][0] == 0
    assert c["t_step"][0] == pytest.approx(1.0)


def test_digital_gate_energy_scales_with_node_and_supply():
    c28 = circuits(batch(device="sram", compute="digital", bits_per_cell=1, node_nm=28, vdd=0.9), load_tech())
    c14 = circuits(batch(device="sram", compute="digital", bits_per_cell=1, node_nm=14, vdd=0.45), load_tech())
    # E = C V^2 with C from the Stillmaker-Baas factors at 0.8 V: k(14) = 0.2363*0.64 - 0.09675*0.8 + 0.02239 =
    # 0.096222, k(28) = 0.388155 (planar power law, tests/test_cost_model.py) -> 0.247895 x (0.45/0.9)^2 = 0.061974
    assert c14["e_tree"][0] == pytest.approx(c28["e_tree"][0] * 0.096222 / 0.388155 / 4, rel=1e-5)


def test_digital_weights_are_twos_complement_bits():
    wl = prepare(preset("gpt2"), Scenario(prompt_tokens=16, generate_tokens=2))
    b = batch(device="sram", compute="digital", bits_per_cell=1, weight_bits=8, weight_encoding="offset", cols=64)
    mp = map_weights(b, wl, circuits(b, load_tech()))
    assert mp["cpw"][0] == 8 and mp["cols_eff"][0] == 64 and not mp["differential"][0]


def test_digital_sqnr_is_quantization_only():
    # 8-bit inputs and weights, no ADC: S = K/9, N = K/3 (dx^2 + dw^2)/12 with dx = 1/255, dw = 2/255
    # S/N = (1/9) / (5 / (36 x 65025)) = 52020 -> 47.162 dB, whatever the (lossy) adc_bits
    # (64 tiles per chip: the default 1024 tiles of digital SRAM make a 6,900 mm2 die, beyond the reticle)
    r = evaluate_arrays(batch(device="sram", compute="digital", bits_per_cell=1, adc_bits=1, tiles=64), "gpt2",
                        Scenario(prompt_tokens=16, generate_tokens=2))
    assert r["sqnr_db"][0] == pytest.approx(10 * math.log10(52020), abs=1e-9)
    assert r["feasible"][0]


# ------------------------------------------------------------------------------------------------ DRAM PIM

HBM_PIM = dict(device="dram", bits_per_cell=1, node_nm=45, vdd=0.9, rows=8192, cols=8192, arrays_per_tile=2,
               tiles=128, chips=1, simd_lanes=16, clock_ghz=0.3, weight_bits=16, input_bits=16)


def test_dram_static_matmul_energy_and_latency():
    wl = prepare(preset("gpt2"), Scenario(prompt_tokens=16, generate_tokens=2, weight_bits=16, act_bits=16))
    b = batch(**HBM_PIM)
    c = circuits(b, load_tech())
    mp = map_weights(b, wl, c)
    assert mp["chips_used"][0] == 1 and mp["rep"][0] == 1
    e_vec, t_vec = _mvm_costs(b, c, mp, wl.k[None, :], wl.n[None, :], mp["row_tiles"], mp["col_tiles"], mp["n_rg"])
    j = [i for i in range(len(wl.k)) if (wl.k[i], wl.n[i]) == (768, 3072)][0]
    kn = 768 * 3072
    # every weight bit read from its bank: (0.11 + 0.44) pJ/bit x 16 bits
    assert e_vec["cells"][0, j] == pytest.approx(kn * 16 * 0.55, rel=1e-12)
    # 16-bit MAC at 45 nm, 0.9 V (Horowitz): 3.1 (16/32)^2 + 0.1 (2 x 16 + 8)/32 = 0.775 + 0.125 = 0.9 pJ
    assert e_vec["mac_units"][0, j] == pytest.approx(kn * 0.9, rel=1e-12)
    assert e_vec["adc"][0, j] == 0 and e_vec["shift_add"][0, j] == 0
    # 128 banks: 18432 weights each, 16 lanes at 0.3 GHz -> 3840 ns; ceil(18432 x 16 / 8192) = 36 rows x 28 ns
    assert t_vec[0, j] == pytest.approx(3840 + 36 * 28, rel=1e-12)


def test_dram_peak_is_lanes_times_clock():
    r = evaluate_arrays(batch(**HBM_PIM), "gpt2", Scenario(prompt_tokens=16, generate_tokens=2, weight_bits=16,
                                                             act_bits=16))
    # 2 x 128 units x 16 lanes x 0.3 GHz = 1228.8 GOPS (HBM-PIM's published 1.2 TFLOPS)
    assert r["peak_tops"][0] == pytest.approx(1.2288, rel=1e-12)
    # 2 ops per (0.9 pJ MAC + 16 bits x 0.55 pJ) = 2 / 9.7
    assert r["macro_tops_per_w"][0] == pytest.approx(2 / 9.7, rel=1e-12)
    assert r["sqnr_db"][0] > 90 and r["feasible"][0]


def test_dram_kv_cache_lives_in_the_banks():
    sc = Scenario(prompt_tokens=256, generate_tokens=16, weight_bits=16, act_bits=16)
    r = evaluate_arrays(batch(**HBM_PIM, global_buffer_mb=0), "gpt2", sc, breakdown=True)
    dec = r["breakdown"]["energy_pj"]["decode"]
    ops = r["breakdown"]["operators_pj"]["decode"]
    # nothing leaves the stack but the embedding rows: off-chip energy is the embedding alone
    assert dec["offchip"][0] == pytest.approx(ops["embedding"][0], rel=1e-12)
    assert dec["adc"][0] == 0 and dec["dac"][0] == 0
    assert sum(dec.values())[0] == pytest.approx(sum(ops.values())[0] + dec["leakage"][0], rel=1e-9)


def test_dram_bank_leakage_is_background_and_refresh():
    # 7.5 pW per provisioned bit: 128 x 2 arrays x 8192 x 8192 bits = 17.18 Gbit -> 0.1288 W (+ buffers)
    r = evaluate_arrays(batch(**HBM_PIM, global_buffer_mb=0, tile_buffer_kb=1), "gpt2",
                        Scenario(prompt_tokens=16, generate_tokens=2, weight_bits=16, act_bits=16), breakdown=True)
    bits = 128 * 2 * 8192 * 8192
    buffer_bits = 128 * 8192
    # buffer bits leak by the SRAM law (45 nm lstp, 27 C): 0.9 V x 10.1 pA/um x 4.62 x 0.045 um = 1.889811 pW per bit
    expected_w = bits * 7.5e-12 + buffer_bits * 1.889811e-12
    dec_e = r["breakdown"]["energy_pj"]["decode"]["leakage"][0]
    t = sum(r["breakdown"]["latency_ns"]["decode"].values())[0]
    assert dec_e == pytest.approx(expected_w * t * 1e3, rel=1e-9)


# ------------------------------------------------------------------------------------------------ conflicts

@pytest.mark.parametrize("design, text", [
    (dict(device="rram", compute="digital"), "compute 'digital' needs device sram"),
    (dict(device="pcm", compute="digital", bits_per_cell=1), "compute 'digital' needs device sram"),
    (dict(device="dram", bits_per_cell=1, attention="cim"), "not available on dram"),
    (dict(device="dram", bits_per_cell=1, compute="digital"), ""),
    (dict(device="sram", bits_per_cell=1, compute="digital"), ""),
])
def test_conflicts_of_the_extensions(design, text):
    bad, reason = conflicts(batch(**design))
    assert bool(bad[0]) == bool(text) and text in reason[0]


def test_parameter_validation():
    assert check_value("kv_keep", 0.25) == 0.25 and check_value("compute", "digital") == "digital"
    for bad in (0, 1.5, -0.1):
        with pytest.raises(UserError):
            check_value("kv_keep", bad)
    with pytest.raises(UserError):
        check_value("compute", "quantum")


# ------------------------------------------------------------------------------------------------ kv_keep

def _attn(keep, **kw):
    sc = Scenario(prompt_tokens=256, generate_tokens=16)
    r = evaluate_arrays(batch(node_nm=45, vdd=0.9, global_buffer_mb=64, kv_keep=keep, **kw), "gpt2", sc,
                        breakdown=True)
    return r


def test_kv_keep_scales_attention_macs_linearly():
    wl = prepare(preset("gpt2"), Scenario(prompt_tokens=256, generate_tokens=16))
    dyn_macs = wl.phase_totals["decode"]["dyn_macs"]
    full, half = _attn(1.0), _attn(0.5)
    d_full = full["breakdown"]["energy_pj"]["decode"]["digital"][0]
    d_half = half["breakdown"]["energy_pj"]["decode"]["digital"][0]
    # 8-bit MAC at 45 nm, 0.9 V: 3.1 (8/32)^2 + 0.1 (2 x 8 + 8)/32 = 0.19375 + 0.075 = 0.26875 pJ
    assert d_full - d_half == pytest.approx(0.5 * dyn_macs * 0.26875, rel=1e-9)
    # the static matmuls do not change; attention energy is affine in kv_keep
    ops = {k: _attn(k)["breakdown"]["operators_pj"]["decode"] for k in (1.0, 0.5, 0.25)}
    assert ops[1.0]["static_matmul"][0] == ops[0.25]["static_matmul"][0]
    a = {k: v["attention"][0] for k, v in ops.items()}
    assert a[1.0] - a[0.5] == pytest.approx(2 * (a[0.5] - a[0.25]), rel=1e-9)
    assert full["tpot_ms"][0] >= half["tpot_ms"][0]


def test_kv_keep_shrinks_cim_attention():
    full, quarter = _attn(1.0, attention="cim"), _attn(0.25, attention="cim")
    assert quarter["energy_per_token_uj"][0] < full["energy_per_token_uj"][0]
    assert quarter["tpot_ms"][0] <= full["tpot_ms"][0]
    # KV writes are unchanged: every token is still stored
    w = [r["breakdown"]["energy_pj"]["decode"]["writes"][0] for r in (full, quarter)]
    assert w[0] == w[1] > 0


def test_one_design_equals_batch_of_many():
    designs = [dict(device="dram", bits_per_cell=1), dict(device="sram", bits_per_cell=1, compute="digital"),
               dict(kv_keep=0.3), dict(device="rram", compute="digital")]
    sc = Scenario(prompt_tokens=32, generate_tokens=4)
    many = evaluate_arrays(to_batch([{**defaults(), **d} for d in designs]), "gpt2", sc)
    for i, d in enumerate(designs):
        one = evaluate_arrays(batch(**d), "gpt2", sc)
        for k in ("energy_per_token_uj", "tpot_ms", "area_mm2", "peak_tops", "sqnr_db"):
            assert np.array_equal(one[k], many[k][i:i + 1]), (d, k)


def test_eval_reports_extension_conflicts_as_user_errors():
    from click.testing import CliRunner

    from cimdse.cli import main

    r = CliRunner().invoke(main, ["eval", "--model", "gpt2", "--set", "device=rram", "--set", "compute=digital"])
    assert r.exit_code == 2 and "needs device sram" in r.output and len(r.output.strip().splitlines()) == 1
    r = CliRunner().invoke(main, ["eval", "--model", "gpt2", "--set", "device=dram", "--set", "bits_per_cell=1",
                                  "--set", "compute=digital", "--json"])
    assert r.exit_code == 0, r.output
