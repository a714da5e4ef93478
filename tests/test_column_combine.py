"""column_combine: analog (charge-shared weight-bit columns, one conversion per weight) against hand-worked numbers
and its SQNR against the Monte-Carlo simulation (its laws over the design space are in test_cost_properties.py)."""

from __future__ import annotations

import numpy as np
import pytest

from cimdse.cost import evaluate_arrays
from cimdse.cost.accuracy import monte_carlo_sqnr_db, sqnr_db
from cimdse.cost.model import _mvm_costs, circuits, map_weights, prepare
from cimdse.cost.params import check_value, defaults, to_batch
from cimdse.errors import UserError
from cimdse.tech import load_tech
from cimdse.workload import Scenario, preset


def batch(**kw):
    return to_batch([{**defaults(), **kw}])


def test_parameter_values():
    assert check_value("column_combine", "analog") == "analog"
    assert defaults()["column_combine"] == "digital"
    with pytest.raises(UserError, match="expected one of digital, analog"):
        check_value("column_combine", "charge")


# a Sinangil-like 7 nm macro: 64 rows, 64 weight-bit columns + 1 offset reference column, 4-bit weights in four
# 1-bit columns, 4-bit inputs in one shot, one ADC per 4 columns converting in 5.5 ns
MACRO = dict(device="sram", node_nm=7, vdd=0.8, rows=64, cols=65, bits_per_cell=1, weight_bits=4, input_bits=4,
             dac_bits=4, adc_bits=4, cols_per_adc=4, arrays_per_tile=1, tiles=1, adc_ns=5.5,
             weight_encoding="offset", overflow="reload", simd_lanes=1, tile_buffer_kb=1, global_buffer_mb=0)


def test_peak_throughput_by_hand():
    # 64 usable columns / 4 cells per weight = 16 weights x 64 rows = 1024 MACs per MVM, one input slice.
    # digital: each ADC converts its 4 columns one by one: t_step = max(2 ns read, 4 x 5.5) = 22 ns
    #   -> 2 x 1024 / 22 ns = 93.09 GOPS
    # analog: the 4 columns of a weight are one conversion: t_step = max(2, ceil(4/4) x 5.5) = 5.5 ns
    #   -> 2 x 1024 / 5.5 ns = 372.36 GOPS (Sinangil et al. JSSC 2021: 372.4 GOPS)
    r = evaluate_arrays(to_batch([{**defaults(), **MACRO, "column_combine": c} for c in ("digital", "analog")]),
                        "gpt2", Scenario(prompt_tokens=16, generate_tokens=4, weight_bits=4, act_bits=4))
    assert r["peak_tops"][0] == pytest.approx(2 * 1024 / 22.0 * 1e-3, rel=1e-9)
    assert r["peak_tops"][1] == pytest.approx(2 * 1024 / 5.5 * 1e-3, rel=1e-9)


def test_mvm_conversions_and_latency_by_hand():
    # default design (rram, 8-bit weights, 2 bits/cell, differential): 7 magnitude bits -> 4 slice columns per sign,
    # 8 cells per weight. 4096x4096 layer on 256x256 arrays: 16 row tiles, 8 input slices, 1 row group.
    # digital: 16 x 4096 x 8 x 8 = 4,194,304 conversions; analog: one per 4 slice columns -> 1,048,576.
    # t_step = max(10 ns read, ceil(32 columns per ADC / 4) = 8 conversions x 9 ns) = 72 ns;
    # t = 8 slices x 72 + log2(16) = 4 cycles = 580 ns (digital: 8 x 288 + 4 = 2308 ns)
    wl = prepare(preset("llama-2-7b"), Scenario())
    k, n = np.array([[4096.0]]), np.array([[4096.0]])
    rt, ct = np.array([[16.0]]), np.array([[128.0]])
    p = batch(column_combine="analog")
    c = circuits(p, load_tech())
    assert c["comb_w"][0] == 4
    e, t = _mvm_costs(p, c, map_weights(p, wl, c), k, n, rt, ct, np.array([[1.0]]))
    assert t[0, 0] == pytest.approx(580.0)
    assert e["adc"][0, 0] == pytest.approx(1_048_576 * c["e_adc"][0])
    # recombination: per conversion the shift-add and the combining network, plus 16 x 4096 row-tile adds
    want = 1_048_576 * (c["e_sa"][0] + c["e_comb"][0]) + 16 * 4096 * c["e_acc"][0]
    assert e["shift_add"][0, 0] == pytest.approx(want)


def test_combining_network_energy_and_area_by_hand():
    # 4 slices of 2 bits: binary weights 1, 4, 16, 64 unit capacitors = (2^8 - 1)/(2^2 - 1) = 85 fF (C_u = 1 fF).
    # Charged once per conversion at 22 nm default supply 0.85 V, input-bit density 0.5 (uniform inputs):
    # 0.5 x 85 fF x 0.7225 V^2 = 30.706 fJ. Area 85 fF / 1.7 fF/um^2 = 50 um^2 per 4 columns = 12.5 um^2 per column.
    c = circuits(batch(column_combine="analog", input_stats="uniform"), load_tech())
    assert c["e_comb"][0] == pytest.approx(0.5 * 85 * 0.7225 * 1e-3)
    assert c["a_comb_col"][0] == pytest.approx(12.5)
    off = circuits(batch(), load_tech())
    assert off["e_comb"][0] == 0.0 and off["a_comb_col"][0] == 0.0 and off["comb_w"][0] == 1


def test_no_effect_without_adcs_or_slices():
    # digital CIM and DRAM have no ADC; one slice per weight (bits_per_cell covers the magnitude) has nothing to merge
    sc = Scenario(prompt_tokens=32, generate_tokens=4)
    for d in (dict(device="sram", bits_per_cell=1, compute="digital"), dict(device="dram", bits_per_cell=1),
              dict(device="rram", bits_per_cell=4, weight_bits=5)):
        r = evaluate_arrays(to_batch([{**defaults(), **d, "column_combine": c} for c in ("digital", "analog")]),
                            "gpt2", sc)
        for m in ("peak_tops", "energy_per_token_uj", "tpot_ms", "area_mm2", "sqnr_db", "macro_tops_per_w"):
            assert r[m][0] == r[m][1], (d, m)


def test_adc_must_cover_the_combined_range():
    # 64 rows, 1-bit input slices, 4-bit offset weights in 1-bit cells: one column spans 64 levels (7 bits), a
    # charge-shared weight 64 x 15 = 960 levels (10 bits). Combined: lossless from 10 bits, lossy at 9.
    args = dict(rows=64, rows_active=64, input_bits=8, weight_bits=4, bits_per_cell=1, dac_bits=1, sigma=0.0,
                differential=False)
    q = lambda b, comb: float(sqnr_db(adc_bits=b, combined=comb, **args))  # noqa: E731
    assert q(10, True) == q(16, True) == q(7, False)
    assert q(9, True) < q(10, True)
    assert q(8, True) < q(8, False)       # same ADC, wider range: coarser steps


@pytest.mark.parametrize("case", [
    # rows, rows_active, input bits, weight bits, bits/cell, dac bits, adc bits, sigma, differential
    (64, 64, 4, 4, 1, 4, 8, 0.0, False),       # the Sinangil-like unit with an 8-bit ADC
    (128, 32, 8, 8, 1, 1, 8, 0.0, True),       # 7 one-bit slices per sign, lossy
    (128, 128, 8, 8, 2, 1, 10, 0.02, True),    # device variation and ADC
])
def test_combined_sqnr_matches_monte_carlo_within_1db(case):
    analytic = float(sqnr_db(*case, combined=True))
    simulated = monte_carlo_sqnr_db(*case, trials=3000, seed=7, combined=True)
    assert abs(analytic - simulated) < 1.0, (analytic, simulated)
