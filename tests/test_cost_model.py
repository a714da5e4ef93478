"""Cost-model formulas checked against small examples worked by hand (in the comments)."""

from __future__ import annotations

import numpy as np
import pytest

from cimdse.cost import evaluate, evaluate_arrays
from cimdse.cost.model import ENERGY_PARTS, _mvm_costs, circuits, map_weights, prepare
from cimdse.cost.params import check_value, defaults, to_batch
from cimdse.errors import UserError
from cimdse.tech import load_tech
from cimdse.workload import Scenario, preset


def batch(**kw):
    return to_batch([{**defaults(), **kw}])


def test_adc_energy_by_hand():
    # ZigZag-IMC law: 100 fJ * B * k(node)/k(28) * VDD^2 + 0.001 fJ * 4^B * (0.9 V)^2, each term times
    # max(1, f_s / corner) (docs/MODEL.md 'Timing'). 8 bits, 28 nm, 0.9 V, SAR at 1 GHz: f_s = 1/9 ns = 111.1 MHz,
    # below the Walden corner (1.221 GHz), 2.15996x the Schreier corner (51.44 MHz):
    # 800 * 0.81 = 648 fJ; 65.536 * 0.81 * 2.15996 = 114.660 fJ -> 762.660 fJ = 0.76266 pJ
    c = circuits(batch(adc_bits=8, node_nm=28, vdd=0.9), load_tech())
    assert c["e_adc"][0] == pytest.approx(0.7626604, rel=1e-6)
    # conversion time: (B + 1) cycles at 1 GHz = 9 ns
    assert c["t_conv"][0] == pytest.approx(9.0)


def test_rram_cell_read_energy_by_hand():
    # RRAM: V = 0.5 V, R_on 100 kOhm, R_off 1.7 MOhm -> G_avg = (1e-5 + 5.882e-7)/2 = 5.294e-6 S; t = 10 ns
    # V^2 G t = 0.25 * 5.294e-6 * 1e-8 = 1.3235e-14 J = 0.013235 pJ
    # bit-line wire: pitch = sqrt(48) * 0.022 um = 0.15242 um; 0.2 fF/um -> 0.030484 fF; * 0.25 V^2 = 7.62e-6 pJ
    # times input-bit density 0.5 (input_stats uniform: random test vectors) -> 0.0066213 pJ per cell per read pulse
    c = circuits(batch(device="rram", node_nm=22, input_stats="uniform"), load_tech())
    assert c["e_cell"][0] == pytest.approx(0.0066213, rel=1e-4)


def test_cap_scale_by_hand():
    # Stillmaker-Baas energy polynomials at 0.8 V: 45 nm 1.103*0.64 - 0.362*0.8 + 0.2767 = 0.693020;
    # 32 nm 0.9559*0.64 - 0.7823*0.8 + 0.471 = 0.456936; 20 nm (FinFET row) 0.373*0.64 - 0.1582*0.8 + 0.04104 = 0.15320.
    # 22 and 28 nm are planar: the planar power law from 32 nm, g = ln(0.693020/0.456936)/ln(45/32) = 1.221716:
    # k(22) = 0.456936 (22/32)^g = 0.289100, k(28) = 0.388155 -> 22 vs 28 nm: 0.744806 (Dennard: 22/28 = 0.786;
    # the old interpolation across the planar/FinFET break gave 0.573). 20 nm reads its FinFET row unchanged.
    # 7 nm: 0.1776*0.64 - 0.09097*0.8 + 0.02447 = 0.065358; 5 nm: 0.065358 * sqrt(5/7) = 0.055238.
    t = load_tech()
    assert t.cap_factor(22.0) == pytest.approx(0.289100, rel=1e-5)
    assert t.cap_scale(22.0, 28.0) == pytest.approx(0.744806, rel=1e-5)
    assert t.cap_factor(20.0) == pytest.approx(0.15320, rel=1e-4)
    assert t.cap_scale(5.0, 7.0) == pytest.approx((5 / 7) ** 0.5, rel=1e-12)
    assert t.cap_scale(np.array([45.0, 130.0]), 45.0).tolist() == pytest.approx(
        [1.0, (7.171 * 0.64 - 6.709 * 0.8 + 2.904) / (1.103 * 0.64 - 0.362 * 0.8 + 0.2767)])
    # a smaller node never switches more capacitance (3 to 180 nm, the node_nm range)
    assert np.all(np.diff(t.cap_scale(np.linspace(3.0, 180.0, 400), 45.0)) > 0)


def test_sram_cell_read_energy_by_hand():
    # SRAM: C = 0.35 fF at 28 nm, scaled to 22 nm by the Stillmaker-Baas ratio 0.744806 (test above): 0.260682 fF;
    # VDD(22 nm) = 0.85 V -> 0.260682 * 0.7225 = 0.188343 fJ
    # wire: pitch sqrt(280)*0.022 = 0.36813 um -> 0.073626 fF * 0.7225 = 0.053195 fJ; sum 0.241538 fJ * 0.5
    c = circuits(batch(device="sram", bits_per_cell=1, node_nm=22, input_stats="uniform"), load_tech())
    assert c["e_cell"][0] * 1e3 == pytest.approx(0.120769, rel=1e-4)


def test_mapping_llama2_7b_by_hand():
    # 8-bit weights, 2 bits/cell, differential: ceil(7/2) = 4 slices x 2 = 8 cells per weight.
    # 4096x4096 on 256x256: 16 row tiles x ceil(4096*8/256) = 128 col tiles = 2048 arrays (q, k, v, o)
    # 4096x11008 (gate, up): 16 x 344 = 5504; 11008x4096 (down): 43 x 128 = 5504
    # per layer 4*2048 + 3*5504 = 24,704; x 32 = 790,528; lm_head 16 x 1000 = 16,000 -> 806,528
    wl = prepare(preset("llama-2-7b"), Scenario())
    p = batch()
    mp = map_weights(p, wl, circuits(p, load_tech()))
    assert mp["cpw"][0] == 8
    assert mp["weight_arrays"][0] == 806_528
    # one chip holds 1024 tiles x 16 arrays = 16,384 arrays -> 49.2 -> 50 chips
    assert mp["chips_needed"][0] == 50
    assert not mp["fit"][0]


def test_offset_encoding_uses_fewer_cells():
    # offset: 8 bits in ceil(8/2) = 4 cells, one reference column per array
    wl = prepare(preset("gpt2"), Scenario())
    p = batch(weight_encoding="offset")
    mp = map_weights(p, wl, circuits(p, load_tech()))
    assert mp["cpw"][0] == 4 and mp["cols_eff"][0] == 255


def test_mvm_latency_and_conversions_by_hand():
    # 4096x4096, 256x256 arrays, 8 input bits bit-serial, all rows active, 32 columns per ADC:
    # t_step = max(10 ns read, 32 conversions x 9 ns) = 288 ns; t = 8 slices x 288 + log2(16) = 4 cycles = 2308 ns
    # conversions = 16 row tiles x 4096 cols x 8 cells x 8 slices x 1 row group = 4,194,304
    wl = prepare(preset("llama-2-7b"), Scenario())
    p = batch()
    c = circuits(p, load_tech())
    mp = map_weights(p, wl, c)
    k, n = np.array([[4096.0]]), np.array([[4096.0]])
    rt, ct = np.array([[16.0]]), np.array([[128.0]])
    e, t = _mvm_costs(p, c, mp, k, n, rt, ct, np.array([[1.0]]))
    assert t[0, 0] == pytest.approx(2308.0)
    assert e["adc"][0, 0] == pytest.approx(4_194_304 * c["e_adc"][0])


def test_adc_ns_sets_conversion_time_by_hand():
    # adc_ns = 2000 ns (an integrating neuron ADC), same layer as above, 1 GHz clock:
    # t_step = max(10 ns read, 32 conversions x 2000 ns) = 64,000 ns; t = 8 slices x 64,000 + 4 cycles = 512,004 ns
    # A 2 GHz clock changes only the 4-cycle adder tree: 8 x 64,000 + 4/2 = 512,002 ns. ADC energy is unchanged.
    wl = prepare(preset("llama-2-7b"), Scenario())
    k, n = np.array([[4096.0]]), np.array([[4096.0]])
    rt, ct = np.array([[16.0]]), np.array([[128.0]])
    for clock, want in ((1.0, 512_004.0), (2.0, 512_002.0)):
        p = batch(adc_ns=2000.0, clock_ghz=clock)
        c = circuits(p, load_tech())
        assert c["t_conv"][0] == 2000.0
        # the ADC's rate is 1/adc_ns = 0.5 MHz whatever the clock: below both of Murmann's corners, so its energy
        # is the slow converter's (docs/MODEL.md 'Timing') and the same at both clocks
        assert c["e_adc"][0] == circuits(batch(adc_ns=2000.0, clock_ghz=1.0), load_tech())["e_adc"][0]
        assert c["e_adc"][0] < circuits(batch(clock_ghz=clock), load_tech())["e_adc"][0]
        e, t = _mvm_costs(p, c, map_weights(p, wl, c), k, n, rt, ct, np.array([[1.0]]))
        assert t[0, 0] == pytest.approx(want)


def test_adc_ns_zero_is_the_clock_derived_time():
    # adc_ns = 0 (default) keeps the SAR law: (6 + 1) cycles at 0.5 GHz = 14 ns, bit for bit
    c = circuits(to_batch([{**defaults(), "adc_bits": 6, "clock_ghz": 0.5},
                           {**defaults(), "adc_bits": 6, "clock_ghz": 0.5, "adc_ns": 0.0}]), load_tech())
    assert c["t_conv"].tolist() == [14.0, 14.0]


@pytest.mark.parametrize("bad", [-1.0, 2e5, float("nan")])
def test_adc_ns_out_of_range_is_a_user_error(bad):
    with pytest.raises(UserError, match="adc_ns|finite|expected"):
        check_value("adc_ns", bad)


def test_peak_tops_by_hand():
    # one 256x256 array, 8 cells/weight: 256 x 32 = 8192 MACs per MVM of 8 x 288 = 2304 ns
    # -> 2 * 8192 / 2304 = 7.111 GOPS per array; gpt2 fits on 1 chip of 16,384 arrays -> 116.5 TOPS
    # (all 256 rows driven at once; the default, rows_active 0, would drive the 45 that IR drop allows)
    r = evaluate_arrays(batch(rows_active=256), "gpt2")
    assert r["chips_used"][0] == 1
    assert r["peak_tops"][0] == pytest.approx(16384 * 2 * 8192 / 2304 * 1e-3)


def test_breakdowns_sum_to_totals():
    designs = [{"device": d, "bits_per_cell": 1, "attention": a, "overflow": o, "tiles": t}
               for d in ("sram", "rram", "pcm") for a in ("digital", "cim") for o in ("chips", "reload")
               for t in (64, 4096)]
    b = to_batch([{**defaults(), **d} for d in designs])
    r = evaluate_arrays(b, "gpt2", Scenario(prompt_tokens=64, generate_tokens=16), breakdown=True)
    bd = r["breakdown"]
    area = sum(bd["area_mm2"].values())
    np.testing.assert_allclose(area, r["area_mm2"], rtol=1e-9)
    e_pre = sum(bd["energy_pj"]["prefill"].values())
    np.testing.assert_allclose(e_pre * 1e-9, r["prefill_energy_mj"], rtol=1e-9)
    e_dec = sum(bd["energy_pj"]["decode"].values())
    np.testing.assert_allclose(e_dec * 1e-6, r["energy_per_token_uj"], rtol=1e-9)
    for ph in ("prefill", "decode"):
        ops = sum(bd["operators_pj"][ph].values())
        parts = sum(bd["energy_pj"][ph][k] for k in ENERGY_PARTS)
        np.testing.assert_allclose(ops + bd["energy_pj"][ph]["leakage"], parts, rtol=1e-9)
    t_dec = sum(bd["latency_ns"]["decode"].values())
    np.testing.assert_allclose(t_dec * 1e-6, r["tpot_ms"], rtol=1e-9)


def test_batch_of_one_equals_batch():
    rng = np.random.default_rng(1)
    rows = [{**defaults(), "device": rng.choice(["sram", "rram", "pcm", "mram", "fefet"]),
             "rows": int(rng.choice([64, 128, 512])), "adc_bits": int(rng.integers(3, 10)),
             "bits_per_cell": 1, "tiles": int(rng.integers(16, 4096)), "attention": rng.choice(["digital", "cim"])}
            for _ in range(20)]
    together = evaluate(rows, "gpt2")
    for i, r in enumerate(rows):
        alone = evaluate([r], "gpt2")
        for col in together.columns:
            assert together[col].iloc[i] == alone[col].iloc[0], col


def test_reload_pays_writes_and_wear():
    # a 70B model on one small chip with overflow=reload rewrites weights every pass
    r = evaluate([{**defaults(), "overflow": "reload"}, {**defaults(), "overflow": "chips"}], "llama-2-70b")
    reload, chips = r.iloc[0], r.iloc[1]
    assert reload["chips_used"] == 1 and chips["chips_used"] == chips["chips_needed"] > 1
    assert reload["energy_per_token_uj"] > chips["energy_per_token_uj"]
    assert reload["lifetime_years"] < 1e6 and chips["lifetime_years"] == 1e6


def test_cim_attention_writes_wear_out_nvm():
    # KV in the arrays needs a second chip of the default size (overflow: chips adds it; one die stays in the reticle)
    # (32 driven rows keep the column IR drop under max_ir_drop: the default 256 rows lose 31 % of V_read)
    r = evaluate([{**defaults(), "attention": "cim", "rows_active": 32}], "gpt2")
    assert r["feasible"].iloc[0]
    assert r["lifetime_years"].iloc[0] < 1e6


def test_conflicts_are_infeasible_not_errors():
    r = evaluate([{**defaults(), "device": "sram", "bits_per_cell": 4}], "gpt2")
    assert not r["feasible"].iloc[0] and "bits_per_cell" in r["violation"].iloc[0]
    assert np.isfinite(r["energy_per_token_uj"].iloc[0])


def test_encoder_has_no_decode():
    r = evaluate([defaults()], "bert-base", Scenario(prompt_tokens=128))
    assert r["tpot_ms"].iloc[0] == 0 and r["ttft_ms"].iloc[0] > 0 and r["energy_per_token_uj"].iloc[0] > 0


def test_chip_energy_excludes_offchip_memory_by_hand():
    # gpt2 fits one default chip and its KV cache fits the 16 MB global buffer, so the only off-chip traffic of a
    # decode step is the embedding gather: 2 sequences x 768 values x 8 bits x 5 pJ/bit (HBM3) = 61,440 pJ,
    # i.e. 30,720 pJ = 0.03072 uJ per token less than energy_per_token_uj.
    sc = Scenario(batch=2, prompt_tokens=16, generate_tokens=4)
    r = evaluate_arrays(batch(), "gpt2", sc, breakdown=True)
    assert r["chips_used"][0] == 1
    assert r["breakdown"]["energy_pj"]["decode"]["offchip"][0] == pytest.approx(61_440.0)
    assert r["energy_per_token_uj"][0] - r["chip_energy_per_token_uj"][0] == pytest.approx(0.03072, rel=1e-9)
    # an encoder: per prompt token of the prefill pass, without the prefill's off-chip energy
    enc = evaluate_arrays(batch(overflow="reload", tiles=4), "bert-base", Scenario(prompt_tokens=128), breakdown=True)
    off = enc["breakdown"]["energy_pj"]["prefill"]["offchip"][0]
    assert off > 0
    assert enc["chip_energy_per_token_uj"][0] == pytest.approx(enc["energy_per_token_uj"][0] - off / 128 * 1e-6)
