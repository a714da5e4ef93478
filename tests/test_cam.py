"""CAM blocks (docs/MODEL.md section 14): token-selection TCAM and analog-CAM non-linear lookups, against
hand-worked numbers and monotonic properties."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from cimdse.cost import cam, evaluate_arrays
from cimdse.cost.model import circuits, prepare
from cimdse.cost.params import defaults, to_batch
from cimdse.tech import load_tech
from cimdse.workload import Scenario, preset

TECH = load_tech()
SC = Scenario(prompt_tokens=64, generate_tokens=4)


def run(**kw):
    """Metrics and breakdown of one design on gpt2 (64-token prompt, 4 generated)."""
    return evaluate_arrays(to_batch([{**defaults(), **kw}]), "gpt2", SC, breakdown=True)


def test_energy_per_search_hand_checked():
    # at the published point (180 nm, 1.8 V) one cell costs the published 2.89 fJ; an array of 4 rows x 8 bits:
    # 4 x 8 x 2.89 fJ = 92.48 fJ = 0.09248 pJ
    e_bit = cam.cam_bit_energy_pj(TECH, TECH.cap_factor(180.0), np.array([1.8]))
    assert e_bit[0] == pytest.approx(2.89e-3, rel=1e-12)
    assert cam.search_energy_pj(4, 8, e_bit)[0] == pytest.approx(0.09248, rel=1e-12)
    # half the supply, same node: (0.9 / 1.8)^2 = 1/4 -> 0.7225 fJ per cell
    assert cam.cam_bit_energy_pj(TECH, TECH.cap_factor(180.0), np.array([0.9]))[0] == pytest.approx(0.7225e-3)


def test_search_time_hand_checked():
    # the published 7 ns for 144 bits at 180 nm, 1.8 V; 72 bits: 3.5 ns; a 1 GHz clock floors it at 1 ns
    t = cam.search_time_ns(TECH, np.array([144.0, 72.0, 8.0]), np.full(3, 1.8), np.full(3, 180.0), np.full(3, 1.0))
    assert t == pytest.approx([7.0, 3.5, 1.0])


def test_selection_costs_hand_checked():
    # 2 layers, head_dim 4, 2 query heads sharing 1 KV head, batch 1, one decode query over 10 cached keys;
    # cam_rows 8 -> 2 arrays = 16 rows searched; 144-bit signatures; 180 nm, 1.8 V (2.89 fJ per cell)
    wl = SimpleNamespace(model=SimpleNamespace(layers=2, hd=4, heads=2, kv_heads=1), scenario=SimpleNamespace(batch=1))
    p = {"token_select": np.array([1]), "cam_hash_bits": np.array([144.0]), "cam_rows": np.array([8.0]),
         "input_bits": np.array([8.0]), "node_nm": np.array([180.0]), "clock_ghz": np.array([1.0])}
    c = {"vdd": np.array([1.8]), "s45": np.array([1.0]), "e_tile_bit": np.array([0.01])}
    out = cam.selection_costs(p, wl, c, {}, "decode", {"keys": 10.0, "queries": 1.0}, TECH)
    # searches: 2 layers x 1 sequence x 1 query x 2 heads = 4, each 16 x 144 x 2.89 fJ = 6.65856 pJ -> 26.63424 pJ
    # hashing: (4 queries + 2 new keys) x 144 bits x 4 dims x 8-bit add (0.1 pJ x 8/32 = 0.025 pJ) = 86.4 pJ
    # writes: 2 new keys x 144 bits x 0.01 pJ = 2.88 pJ                      total 115.91424 pJ
    assert out["energy"][0] == pytest.approx(115.91424, rel=1e-12)
    # time: 2 layers x 1 query x 2 query heads per KV head x 7 ns (144 bits at the published point) = 28 ns
    assert out["time"][0] == pytest.approx(28.0, rel=1e-12)


def test_acam_lookup_hand_checked():
    # 8-bit input: 2^8 = 256 rows of ceil(8 / 4) = 2 analog cells, 512 x 2.89 fJ = 1.47968 pJ at 180 nm, 1.8 V;
    # plus an 8-bit DAC: 50 fF x 8 x 1.8^2 = 1.296 pJ; 1000 lookups -> 2775.68 pJ
    p = {"nonlinear": np.array([1]), "input_bits": np.array([8.0]), "node_nm": np.array([180.0]),
         "clock_ghz": np.array([1.0])}
    out = cam.nonlinear_costs(p, {"vdd": np.array([1.8])}, {"nl_lookups": 1000.0}, TECH)
    assert out["energy"][0] == pytest.approx(2775.68, rel=1e-12)
    assert out["t_lookup"][0] == pytest.approx(1.0)     # 2 cells: 7 ns x 2/144 < one 1 GHz cycle


def test_nonlinear_lookups_count_softmax_exp_and_ffn_activation():
    wl = prepare(preset("gpt2"), SC)
    m = wl.model
    # decode: one exp per score (12 layers x 12 heads x 1 query x keys), one GELU per FFN element (12 x 3072)
    keys = wl.phase_totals["decode"]["keys"]
    assert wl.phase_totals["decode"]["nl_lookups"] == pytest.approx(m.layers * m.heads * keys + m.layers * m.ffn_dim)


def test_cam_rows_in_breakdown_and_zero_when_off():
    off, on = run(), run(token_select="cam", nonlinear="acam", kv_keep=0.25)
    for ph in ("prefill", "decode"):
        assert off["breakdown"]["energy_pj"][ph]["cam"][0] == 0
        assert off["breakdown"]["latency_ns"][ph]["cam"][0] == 0
        assert on["breakdown"]["energy_pj"][ph]["cam"][0] > 0
        assert on["breakdown"]["latency_ns"][ph]["cam"][0] > 0
    assert off["breakdown"]["area_mm2"]["cam"][0] == 0 < on["breakdown"]["area_mm2"]["cam"][0]


@pytest.mark.parametrize("key, values", [("cam_rows", [16, 64, 256, 1024]), ("cam_hash_bits", [8, 32, 128, 512])])
def test_more_rows_or_bits_never_cheaper(key, values):
    res = [run(token_select="cam", kv_keep=0.5, **{key: v}) for v in values]
    e = [r["breakdown"]["energy_pj"]["decode"]["cam"][0] for r in res]
    a = [r["breakdown"]["area_mm2"]["cam"][0] for r in res]
    assert all(x <= y for x, y in zip(e, e[1:], strict=False))
    assert all(x <= y for x, y in zip(a, a[1:], strict=False))
    rows = np.array([16.0, 64.0, 256.0, 1024.0])
    assert np.all(np.diff(cam.search_energy_pj(rows, 8.0, 1e-3)) > 0)


def test_selection_costs_something_and_kv_keep_lowers_kv_traffic():
    # the KV cache off-chip (no global buffer): its reads are the decode step's off-chip energy
    base = dict(global_buffer_mb=0.0, token_select="cam")
    full, kept = run(**base, kv_keep=1.0), run(**base, kv_keep=0.25)
    off = lambda r: r["breakdown"]["energy_pj"]["decode"]["offchip"][0]  # noqa: E731
    assert off(kept) < off(full)
    free = run(global_buffer_mb=0.0, kv_keep=0.25)            # the same pruning, selection not priced
    assert free["energy_per_token_uj"][0] < kept["energy_per_token_uj"][0]
    assert free["area_mm2"][0] < kept["area_mm2"][0]


def test_acam_replaces_digital_nonlinear_ops():
    dig, acam = run(), run(nonlinear="acam")
    wl = prepare(preset("gpt2"), SC)
    e_vec = dig["breakdown"]["energy_pj"]["decode"]["digital"][0] - acam["breakdown"]["energy_pj"]["decode"]["digital"][0]
    assert e_vec > 0
    # the lanes lose exactly one element op per lookup: saved energy / lookups = one vector op's energy
    per_op = e_vec / wl.phase_totals["decode"]["nl_lookups"]
    assert per_op == pytest.approx(circuits(to_batch([defaults()]), TECH)["e_vec"][0], rel=1e-9)
