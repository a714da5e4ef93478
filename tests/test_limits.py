"""The limit mechanism (cimdse/cost/limits.py) and the physical limits wired through it."""

from __future__ import annotations

import numpy as np
import pytest

from cimdse.cost import evaluate_arrays
from cimdse.cost.limits import Check, apply_limits, first_broken, reason_texts
from cimdse.cost.params import defaults, to_batch
from cimdse.workload import Scenario

TEXTS = ("", "rows_active exceeds rows")


def test_reason_names_the_limit_and_both_numbers():
    ok, why = apply_limits(np.zeros(4, dtype=np.int8), TEXTS,
                           [Check("max_die_mm2", np.array([1234.0, 858.0, 171700.0, 858.04]), 858.0, "mm2", "die area")])
    assert ok.tolist() == [False, True, False, False]          # at the limit is still within it
    assert why.tolist() == ["die area 1230 mm2 > max_die_mm2 858 mm2", "",          # 3 significant digits
                            "die area 172000 mm2 > max_die_mm2 858 mm2",
                            "die area 858.04 mm2 > max_die_mm2 858 mm2"]            # more where 3 would read 858


def test_conflicts_come_first_then_checks_in_order():
    code = np.array([1, 0, 0, 0], dtype=np.int8)
    a = Check("max_a", np.array([5.0, 5.0, 0.0, 0.0]), 1.0, "W", "a")
    b = Check("max_b", np.array([5.0, 5.0, 5.0, 0.0]), np.array([1.0, 1.0, 2.5, 9.0]), "V", "b")
    ok, why = apply_limits(code, TEXTS, [a, b])
    assert ok.tolist() == [False, False, False, True]
    assert why.tolist() == ["rows_active exceeds rows", "a 5 W > max_a 1 W", "b 5 V > max_b 2.5 V", ""]


def test_texts_made_once_for_two_chunks_are_those_of_each_chunk():
    # a batch of several chunks decides per chunk (first_broken) and writes the texts once after them
    # (reason_texts): the same texts, although the second chunk's limit varies where the first's is one value
    chunks = [(np.array([0, 0, 1], dtype=np.int8), [Check("max_a", np.array([5.0, 0.5, 9.0]), 1.0, "W", "a"),
                                                    Check("max_b", np.array([7.0, 8.0, 9.0]), 7.5, "V", "b")]),
              (np.array([0, 0, 0], dtype=np.int8), [Check("max_a", np.array([2.0, 0.0, 0.0]), 1.0, "W", "a"),
                                                    Check("max_b", np.array([0.0, 7.75, 1.0]),
                                                          np.array([1.0, 7.5, 2.0]), "V", "b")])]
    each = [apply_limits(code, TEXTS, checks) for code, checks in chunks]
    parts = [first_broken(code, checks) for code, checks in chunks]
    joined = [np.concatenate([part[i] for part in parts]) for i in range(4)]
    code = np.concatenate([code for code, _ in chunks])
    why = reason_texts(code, TEXTS, *joined[1:], chunks[0][1])
    assert joined[0].tolist() == [False] * 5 + [True] == np.concatenate([e[0] for e in each]).tolist()
    assert why.tolist() == ["a 5 W > max_a 1 W", "b 8 V > max_b 7.5 V", "rows_active exceeds rows",
                            "a 2 W > max_a 1 W", "b 7.75 V > max_b 7.5 V", ""]
    assert why.tolist() == np.concatenate([e[1] for e in each]).tolist()


def test_nan_is_never_feasible_and_small_numbers_keep_their_digits():
    ok, why = apply_limits(np.zeros(2, dtype=np.int8), TEXTS,
                           [Check("max_x", np.array([np.nan, 0.012345]), 0.01, "W/mm2", "power density")])
    assert not ok.any()
    assert why.tolist() == ["power density nan W/mm2 > max_x 0.01 W/mm2",
                            "power density 0.0123 W/mm2 > max_x 0.01 W/mm2"]


def test_equal_values_share_one_text_and_each_row_gets_its_own():
    vals = np.array([2000.0, 3000.0, 2000.0, 100.0])
    ok, why = apply_limits(np.zeros(4, dtype=np.int8), TEXTS, [Check("max_die_mm2", vals, 858.0, "mm2", "die area")])
    assert why[0] is why[2]                    # formatted once
    assert why[1] == "die area 3000 mm2 > max_die_mm2 858 mm2" and why[3] == ""


def _eval(designs, model="gpt2", sc=None):
    # 32 driven rows: the default 256 would break max_ir_drop (31 % of V_read lost), hiding the limit under test
    return evaluate_arrays(to_batch([{**defaults(), "rows_active": 32, **d} for d in designs]), model,
                           sc or Scenario(prompt_tokens=32))


def test_die_limit_is_wired_through_the_cost_model():
    r = _eval([{}])
    die = float(r["die_area_mm2"][0])
    assert np.isclose(die, r["area_mm2"][0] / r["chips_used"][0])
    r = _eval([{"max_die_mm2": die * 1.01}, {"max_die_mm2": die * 0.99}])
    assert r["feasible"].tolist() == [True, False]
    shown = lambda x: f"{float(f'{x:.3g}'):.7g}"  # noqa: E731  (3 significant digits, no exponent below 1e7)
    assert r["reason"][1] == f"die area {shown(die)} mm2 > max_die_mm2 {shown(die * 0.99)} mm2"


def test_llama_70b_default_design_says_what_it_builds():
    """The default design on llama-2-70b needs hundreds of chips of its own size; the metrics say so."""
    r = _eval([{}], "llama-2-70b", Scenario())
    assert r["chips_used"][0] > 100
    assert np.isclose(r["die_area_mm2"][0] * r["chips_used"][0], r["area_mm2"][0])


# ------------------------------------------------------------------------------------------------ KV cache bytes

LLAMA_KV_B = 32 * 2 * 4096 * 640          # layers x (K, V) x kv_dim x (512 + 128) tokens x 1 byte = 167,772,160 B
LLAMA_EMB_B = 32000 * 4096                # embedding table at 8-bit weights: vocab x hidden x 1 byte


def test_kv_cache_bytes_by_hand():
    """llama-2-7b, batch 1, 512 + 128 tokens at 8 bits: 167.8 MB of KV cache, counted once. With no global buffer
    it spills to off-chip memory next to the embedding table: (167,772,160 + 131,072,000) B = 0.29884416 GB."""
    sc = Scenario(batch=1, prompt_tokens=512, generate_tokens=128)
    r = _eval([{"global_buffer_mb": 0.0}, {"global_buffer_mb": 0.0, "input_bits": 4}], "llama-2-7b", sc)
    assert r["offchip_gb"][0] == pytest.approx((LLAMA_KV_B + LLAMA_EMB_B) * 1e-9, rel=1e-12)
    # the KV precision follows the design's input_bits when the workload sets no kv_bits: 4 bits, half the bytes
    assert r["offchip_gb"][1] == pytest.approx((LLAMA_KV_B / 2 + LLAMA_EMB_B) * 1e-9, rel=1e-12)
    # ... and the workload's kv_bits when it sets one (4-bit KV cache, 8-bit inputs)
    r4 = _eval([{"global_buffer_mb": 0.0}], "llama-2-7b", Scenario(prompt_tokens=512, generate_tokens=128, kv_bits=4))
    assert r4["offchip_gb"][0] == pytest.approx((LLAMA_KV_B / 2 + LLAMA_EMB_B) * 1e-9, rel=1e-12)


def test_kv_cache_stays_on_chip_exactly_when_the_global_buffers_hold_167_8_mb():
    sc = Scenario(batch=1, prompt_tokens=512, generate_tokens=128)
    chips = _eval([{}], "llama-2-7b", sc)["chips_used"][0]
    per_chip_mb = LLAMA_KV_B / 1e6 / chips                 # the buffer per chip that just holds the cache
    r = _eval([{"global_buffer_mb": per_chip_mb * 1.001}, {"global_buffer_mb": per_chip_mb * 0.999}], "llama-2-7b", sc)
    assert r["chips_used"].tolist() == [chips, chips]
    assert r["offchip_gb"][0] == pytest.approx(LLAMA_EMB_B * 1e-9, rel=1e-12)
    assert r["offchip_gb"][1] == pytest.approx((LLAMA_KV_B + LLAMA_EMB_B) * 1e-9, rel=1e-12)


# ------------------------------------------------------------------------------------------------ power, capacity

def test_power_density_limit():
    r = _eval([{}])
    pd = float(r["power_density_w_mm2"][0])
    assert pd == pytest.approx(r["peak_power_w"][0] / r["area_mm2"][0], rel=1e-12)
    r = _eval([{"max_power_density_w_mm2": pd * 1.01}, {"max_power_density_w_mm2": pd * 0.99}])
    assert r["feasible"].tolist() == [True, False]
    assert r["reason"][1].startswith("peak power density ") and "> max_power_density_w_mm2 " in r["reason"][1]


def test_offchip_capacity_limit_names_both_numbers():
    # llama-2-70b on one chip with overflow: reload streams about 69 GB of weights from one 24 GB HBM3 stack
    sc = Scenario()
    r = _eval([{"overflow": "reload"}, {"overflow": "reload", "offchip_devices": 3}], "llama-2-70b", sc)
    assert r["offchip_gb"][0] > 24
    gb = float(f"{r['offchip_gb'][0]:.3g}")                        # 3 significant digits
    assert r["reason"][0] == f"off-chip data {gb:g} GB > chips_used x offchip_devices x capacity_gb 24 GB"
    assert r["feasible"][1], r["reason"][1]            # 3 stacks x 24 GB = 72 GB hold it (4 break the die edge)
    # batch 1024 x 4k context: 262,144 B per token x 1024 x 4096 = 1.1 TB of KV cache; one chip with 2 stacks of
    # 24 GB cannot hold it (50 chips of the default size, 2 stacks each, 2.4 TB, can)
    big = _eval([{"offchip_devices": 2, "overflow": "reload"}, {"offchip_devices": 2}], "llama-2-7b",
                Scenario(batch=1024, prompt_tokens=3072, generate_tokens=1024))
    kv_emb = 262_144 * 1024 * 4096 + LLAMA_EMB_B
    assert big["offchip_gb"][1] == pytest.approx(kv_emb * 1e-9, rel=1e-12)
    assert big["offchip_gb"][0] > kv_emb * 1e-9                     # plus the reloaded weights
    assert not big["feasible"][0] and big["reason"][0].endswith("> chips_used x offchip_devices x capacity_gb 48 GB")
    assert big["chips_used"][1] == 50 and big["feasible"][1], big["reason"][1]


def test_offchip_bandwidth_per_die_edge():
    """Memory PHYs sit on the die edge: at most 4,800 GB/s (H200: six HBM3e stacks on the 814 mm2 GH100) scaled by
    sqrt(die area / 814 mm2); one device is always allowed."""
    r = _eval([{"offchip_devices": 3}, {"offchip_devices": 4}])
    die = float(r["die_area_mm2"][0])
    assert die == pytest.approx(371, rel=0.01)          # the default chip
    edge = 4800 * np.sqrt(die / 814)                    # 4800 * sqrt(371 / 814) = 4800 * 0.6751 = 3240 GB/s
    assert 3 * 819.2 < edge < 4 * 819.2                 # 3 HBM3 stacks (2457.6 GB/s) fit, 4 (3276.8 GB/s) do not
    assert r["feasible"].tolist() == [True, False]
    assert r["reason"][1] == f"off-chip bandwidth 3280 GB/s > offchip_edge_gbps {float(f'{edge:.3g}'):g} GB/s"
    # a 1-tile chip (13 mm2, mostly its 16 MB buffer): below 814 * (819.2 / 4800)^2 = 23.7 mm2 the edge carries less
    # than one HBM3 stack, which is still allowed; two are not
    small = _eval([{"tiles": 1, "arrays_per_tile": 1, "offchip_devices": n, "overflow": "reload"} for n in (1, 2)])
    assert small["die_area_mm2"][0] < 23.7 and small["feasible"][0], small["reason"][0]
    assert small["reason"][1] == "off-chip bandwidth 1640 GB/s > offchip_edge_gbps 819 GB/s"


def test_tile_buffer_holds_one_array_input_vector():
    """Each matmul input is read once from the tile buffer and applied over the array's input slices, so the buffer
    holds at least rows x input_bits bits (ISAAC's 2 KB input register: 8 crossbars x 128 rows x 16 bits)."""
    # sram, 8-bit inputs, 1 KB = 8192 bits: 1024 rows need 1024 * 8 = 8192 bits (fits exactly), 2048 rows 2 KB
    r = _eval([{"device": "sram", "rows": n, "tiles": 256, "tile_buffer_kb": 1.0} for n in (1024, 2048)])
    assert r["feasible"][0], r["reason"][0]
    assert r["reason"][1] == "one array's input vector 2 KB > tile_buffer_kb 1 KB"
    # 16-bit inputs on 4096 rows: 4096 * 16 / 8192 = 8 KB > 4 KB
    r = _eval([{"device": "sram", "rows": 4096, "tiles": 64, "input_bits": 16, "tile_buffer_kb": 4.0}])
    assert r["reason"][0] == "one array's input vector 8 KB > tile_buffer_kb 4 KB"
    # DRAM bank PIM: rows are DRAM pages, not inputs applied at once (AttAcc-like 8192 rows, 16 bits, 1 KB): no limit
    d = _eval([{"device": "dram", "rows": 8192, "cols": 8192, "bits_per_cell": 1, "input_bits": 16, "weight_bits": 16,
                "tile_buffer_kb": 1.0, "tiles": 128, "max_power_density_w_mm2": 100.0}])
    assert d["feasible"][0], d["reason"][0]


def test_dram_pim_logic_is_bounded_by_the_dram_process():
    """Bank units are logic in a DRAM process: node_nm at least the finest DRAM process of shipped silicon (12 nm,
    Samsung 12nm-class DDR5, 2023) and clock_ghz at most the fastest published DRAM PIM logic (1 GHz, SK hynix
    GDDR6-AiM, ISSCC 2022); other devices are not bound by either."""
    hbm = {"device": "dram", "rows": 8192, "cols": 8192, "bits_per_cell": 1, "input_bits": 16, "weight_bits": 16,
           "tile_buffer_kb": 1.0, "tiles": 128, "max_power_density_w_mm2": 100.0, "node_nm": 20.0, "clock_ghz": 0.3}
    r = _eval([hbm, {**hbm, "node_nm": 12.0}, {**hbm, "node_nm": 11.9}, {**hbm, "node_nm": 7.0},
               {**hbm, "clock_ghz": 1.0}, {**hbm, "clock_ghz": 1.01}, {**hbm, "clock_ghz": 2.7}])
    assert r["feasible"].tolist() == [True, True, False, False, True, False, False]     # at a bound is within it
    assert r["reason"][2] == "finest DRAM process 12 nm > node_nm 11.9 nm"
    assert r["reason"][3] == "finest DRAM process 12 nm > node_nm 7 nm"
    assert r["reason"][5] == "clock 1.01 GHz > dram_logic_clock_max_ghz 1 GHz"
    assert r["reason"][6] == "clock 2.7 GHz > dram_logic_clock_max_ghz 1 GHz"
    # an SRAM design at 7 nm and 2 GHz (below the 6.2 GHz record at its nominal supply): neither bound applies
    s = _eval([{"device": "sram", "node_nm": 7.0, "clock_ghz": 2.0, "tiles": 256}])
    assert "DRAM" not in s["reason"][0] and "dram_" not in s["reason"][0]


@pytest.mark.parametrize("name", ["hbm_pim", "gddr6_aim", "attacc", "neupims", "ianus", "pim_gpt"])
def test_dram_pim_references_stay_within_the_dram_process(name):
    # 20, 18, 14, 20, 18 and 18 nm (all >= 12 nm) at 0.3, 1.0, 0.184, 1.0, 1.0 and 1.0 GHz (all <= 1 GHz)
    from cimdse.reference import evaluate_reference, find_reference
    assert evaluate_reference(find_reference(name))["feasible"] == 1.0


def test_silicon_in_one_package_is_at_most_the_dojo_training_tile():
    """Chips sharing a package hold at most 16,125 mm2 of silicon together (Tesla Dojo training tile: 25 D1 dies of
    645 mm2, IEEE Micro 2023); a die alone in its package is bounded by max_die_mm2 only."""
    # llama-2-7b on the default 370.8 mm2 chip needs 50 chips; 16125 / 370.8 = 43.5 chips fit one package:
    # 43 x 370.8 = 15,943 mm2 fits, 44 x 370.8 = 16,314 mm2 does not
    r = _eval([{"chips_per_package": n} for n in (1, 8, 43, 44, 100)], "llama-2-7b", Scenario())
    die = float(r["die_area_mm2"][0])
    assert die == pytest.approx(370.8, abs=0.05) and r["chips_used"].tolist() == [50] * 5
    assert 43 * die <= 16125 < 44 * die
    assert r["feasible"].tolist() == [True, True, True, False, False]
    assert r["reason"][3] == "silicon in one package 16300 mm2 > package_silicon_mm2 16100 mm2"
    assert r["reason"][4] == "silicon in one package 18500 mm2 > package_silicon_mm2 16100 mm2"   # 50 x 370.8
    # a wafer-scale die (max_die_mm2 46225) alone in its package: not bounded by the package record
    w = _eval([{"tiles": 60000, "max_die_mm2": 46225.0, "max_power_density_w_mm2": 100.0}], "gpt2")
    assert w["die_area_mm2"][0] > 16125 and w["chips_used"][0] == 1 and w["feasible"][0], w["reason"][0]


def test_weights_fit_means_resident_in_the_chips_used():
    r = _eval([{"overflow": "chips"}, {"overflow": "reload"}], "llama-2-7b", Scenario())
    assert r["chips_used"][0] > 1 and r["weights_fit"][0] == 1      # chips were added: the weights fit in them
    assert r["chips_used"][1] == 1 and r["weights_fit"][1] == 0      # one chip, weights streamed every pass


# ------------------------------------------------------------------------------------------------ endurance

def test_lifetime_counts_the_write_verify_pulses_of_each_device():
    """PCM programs a level with an 8-step SET sequence (Ambrogio et al., Nature 2018), FeFET with up to 31 update
    pulses (Jerry et al., IEDM 2017) and RRAM with about 11 SET/RESET pulses of a closed-loop write (Falcone et al.,
    arXiv:2502.04524, 2 % acceptance): each pulse is an endurance cycle, so a cell survives endurance / pulses writes
    and the lifetime is 1/8 (1/31, 1/11) of what one cycle per write would give."""
    import dataclasses

    from cimdse.cost.model import evaluate_batch, prepare
    from cimdse.models import load_model
    from cimdse.tech import DEVICES, load_tech

    tech = load_tech()
    one = dataclasses.replace(tech, device={**tech.device, "write_verify_pulses": np.ones(len(DEVICES))})
    wl = prepare(load_model("llama-2-7b"), Scenario())
    devs = ("pcm", "fefet", "mram", "rram")
    b = to_batch([{**defaults(), "device": d, "bits_per_cell": 1, "overflow": "reload"} for d in devs])
    real, once = evaluate_batch(b, wl, tech)["lifetime_years"], evaluate_batch(b, wl, one)["lifetime_years"]
    assert np.all(real < 1e6)                                      # every design rewrites weights
    assert real / once == pytest.approx([1 / 8, 1 / 31, 1.0, 1 / 11], rel=1e-12)


def test_reason_numbers_round_without_overflow_for_tiny_values():
    """A subnormal value (1e-310) in a broken limit printed 10^(2 + 310) on the way; found by the whole-space
    property. 1234.5678 -> 1230 at 3 significant digits; 1e-310 shows as 0."""
    import numpy as np

    from cimdse.cost.limits import _rounded

    with np.errstate(over="raise", invalid="raise"):
        out = _rounded(np.array([1e-310, 1234.5678, 0.0, 5e307]), 3)
    assert list(out) == [0.0, 1230.0, 0.0, 5e307]


def test_sram_array_clock_is_slowed_by_the_cells_threshold_flavour():
    """An SRAM array reads at the clock; both clock limits (f_max, the 6.2 GHz record) are hp logic's, so an SRAM of
    flavour f clocks at most min(f_max, record) x tau_hp / tau_f (ITRS intrinsic delays CV/I via CACTI 7)."""
    # 22 nm at its nominal supply: the record binds (6.2 GHz < f_max). tau (ps) = (C_g_ideal + C_fringe) Vdd / I_on:
    # hp (3.27e-16 + 6e-17) x 0.8 / 2.6264e-3 = 0.1179, lstp (3.22e-16 + 8e-17) x 0.8 / 7.276e-4 = 0.442,
    # lop (3.16e-16 + 8e-17) x 0.6 / 9.161e-4 = 0.2594 -> lstp 6.2 x 0.1179/0.442 = 1.654 GHz,
    # lop 6.2 x 0.1179/0.2594 = 2.818 GHz, hp 6.2 GHz. At 7 nm (below the table) the 22 nm ratios are kept.
    ds = [{"device": "sram", "node_nm": n, "sram_vt": vt, "clock_ghz": f} for n in (22.0, 7.0)
          for vt, f in (("lstp", 1.65), ("lstp", 1.66), ("lop", 2.81), ("lop", 2.83), ("hp", 6.0))]
    r = _eval(ds)
    assert r["feasible"].tolist() == [True, False, True, False, True] * 2
    assert r["reason"][1] == r["reason"][6] == "clock 1.66 GHz > sram_clock_max_ghz 1.65 GHz"
    assert r["reason"][3] == "clock 2.83 GHz > sram_clock_max_ghz 2.82 GHz"
    # 28 nm, log-linear in log(node) between 22 and 32 nm: w = ln(28/22)/ln(32/22) = 0.6436, ratio
    # exp(ln 0.26674 + 0.6436 x (ln 0.31251 - ln 0.26674)) = 0.2953 -> 6.2 x 0.2953 = 1.831 GHz
    r = _eval([{"device": "sram", "node_nm": 28.0, "clock_ghz": 1.83}, {"device": "sram", "node_nm": 28.0,
                                                                       "clock_ghz": 1.9}])
    assert r["feasible"].tolist() == [True, False]
    assert r["reason"][1] == "clock 1.9 GHz > sram_clock_max_ghz 1.83 GHz"
    # other devices' arrays are not SRAM: an lstp rram design at 3 GHz is not bound by it
    assert _eval([{"device": "rram", "sram_vt": "lstp", "clock_ghz": 3.0}])["feasible"].tolist() == [True]
