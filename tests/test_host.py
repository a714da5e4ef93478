"""Host GPU + CIM/PIM offload (cimdse/cost/host.py, docs/MODEL.md 'Host GPU and PIM offload')."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from cimdse.cli import main
from cimdse.cost import evaluate_arrays
from cimdse.cost.gpu import gpu_metrics, gpu_names
from cimdse.cost.params import HOST_GPUS, to_batch
from cimdse.metrics import metric_units
from cimdse.models import load_model
from cimdse.workload import Scenario, operator_table

GPT2 = load_model("gpt2")
SC16 = Scenario(batch=2, prompt_tokens=128, generate_tokens=32, weight_bits=16, act_bits=16)
# AttAcc-like: attention on a DRAM bank PIM of 64 banks x 16 lanes at 1 GHz, reached over a board link
ATT = {"host": "h100-sxm", "offload": "attention", "device": "dram", "host_link": "board", "tiles": 64,
       "simd_lanes": 16, "clock_ghz": 1.0, "weight_bits": 16, "input_bits": 16, "chips": 1}


def _eval(designs, model=GPT2, sc=SC16, breakdown=True):
    return evaluate_arrays(to_batch(designs), model, sc, breakdown=breakdown)


def test_host_choices_are_the_gpus_of_gpus_yaml():
    assert list(HOST_GPUS) == gpu_names()


def test_decode_step_is_the_sum_of_host_link_and_pim_hand_checked():
    """GPT-2 (12 layers, hidden 768, 12 heads of 64), batch 2, 16-bit, decode, attention offloaded, board link.

    link: per token and layer Q, K, V go out (3 x 768) and the heads' output comes back (768): 3072 elements;
      bits = 12 layers x 2 tokens x 3072 x 16 = 1,179,648; 1,179,648 / 8 B / 450 GB/s (NVLink-C2C, one direction)
      = 327.68 ns, plus 2 transfers x 12 layers x 2 ns = 48 ns -> 375.68 ns; energy 1,179,648 x 1.3 pJ = 1,533,542 pJ.
    PIM: 64 banks x 16 lanes x 1 chip = 1024 lanes at 1 GHz; QK^T + S.V = 2 x 2,663,424 MACs plus 208,080 softmax ops
      -> 5,534,928 / 1024 = 5405.20 ns of compute; the KV traffic (5,326,848 read + 36,864 written elements x 2 B =
      10,727,424 B at 1024 x 16 bit x 1 GHz / 8 = 2048 GB/s) takes 5238.0 ns, so compute bounds: 5405.20 ns.
    host: the H100 roofline of the pass without its attention and kv_write kernels (read from the GPU breakdown,
      an independent path). Step (MODEL.md: per layer in turn) = host + PIM + link.
    host wait: 70 W idle x (step - host) ns -> pJ (x 1e3)."""
    r = _eval([ATT])
    h = {k: float(v[0]) for k, v in r["breakdown"]["host"]["decode"].items()}
    assert h["link_ns"] == pytest.approx(375.68, rel=1e-9)
    assert h["link_pj"] == pytest.approx(1_179_648 * 1.3, rel=1e-9)
    assert h["pim_ns"] == pytest.approx(5_534_928 / 1024, rel=1e-9)
    g = gpu_metrics("h100-sxm", 1, GPT2, SC16, breakdown=True)["breakdown"]["decode"]
    host_ms = g["time_ms"] - g["kernels_ms"]["attention"] - g["kernels_ms"]["kv_write"]
    assert h["host_ns"] == pytest.approx(host_ms * 1e6, rel=1e-9)
    step = host_ms * 1e6 + 5_534_928 / 1024 + 375.68
    assert h["step_ns"] == pytest.approx(step, rel=1e-9)
    assert float(r["tpot_ms"][0]) == pytest.approx(step * 1e-6, rel=1e-9)
    assert h["host_wait_pj"] == pytest.approx(70 * (step - host_ms * 1e6) * 1e3, rel=1e-9)
    e = h["host_pj"] + h["host_wait_pj"] + h["pim_pj"] + h["pim_wait_pj"] + h["link_pj"]
    assert float(r["energy_per_token_uj"][0]) == pytest.approx(e / 2 * 1e-6, rel=1e-9)


def test_shared_memory_pim_has_no_transfer():
    """HBM-PIM in the host's own memory (host_link auto on a dram device): no link time or energy."""
    r = _eval([{**ATT, "host_link": "auto"}, {**ATT, "host_link": "shared"}])
    for ph in ("prefill", "decode"):
        assert np.all(r["breakdown"]["host"][ph]["link_ns"] == 0)
        assert np.all(r["breakdown"]["host"][ph]["link_pj"] == 0)
    board = _eval([ATT])
    assert float(board["tpot_ms"][0]) > float(r["tpot_ms"][0])


@pytest.mark.parametrize(("model", "sc", "n"), [
    ("llama-2-7b", Scenario(batch=4, prompt_tokens=256, generate_tokens=64), 1),
    ("llama-2-13b", Scenario(batch=8, prompt_tokens=128, generate_tokens=32, weight_bits=16, act_bits=16), 2),
])
def test_host_only_limit_equals_the_gpu_roofline(model, sc, n):
    """offload: none with a host is the GPU alone (the idle PIM chips hold nothing, run 0 ns and are taken as off):
    within 1 % of `cimdse eval --gpu` on every metric both report, area = GPU dies + the PIM chips."""
    m = load_model(model)
    r = _eval([{"host": "h100-sxm", "host_count": n, "offload": "none", "device": "sram"}], m, sc)
    g = gpu_metrics("h100-sxm", n, m, sc)["metrics"]
    for k in ("ttft_ms", "tpot_ms", "tokens_per_s", "energy_per_token_uj", "prefill_energy_mj", "avg_power_w"):
        assert float(r[k][0]) == pytest.approx(g[k], rel=0.01), k
    area = r["breakdown"]["area_mm2"]
    pim_area = float(sum(v[0] for k, v in area.items() if k != "host"))
    assert float(area["host"][0]) == g["area_mm2"]
    assert float(r["area_mm2"][0]) == pytest.approx(g["area_mm2"] + pim_area, rel=1e-9)


def test_subbatch_overlap_is_the_max_of_the_sides():
    """host_overlap subbatch (NeuPIMs): each side runs two half batches; the step is max(host, PIM + link) plus the
    fill of one sub-batch-layer on the lesser side; batch 1 cannot be split (same as none)."""
    sc = Scenario(batch=8, prompt_tokens=128, generate_tokens=32, weight_bits=16, act_bits=16)
    r = _eval([{**ATT, "host_overlap": "subbatch"}, ATT], GPT2, sc)
    h = {k: v[0] for k, v in r["breakdown"]["host"]["decode"].items()}
    L = 12
    expect = max(h["host_ns"], h["pim_ns"] + h["link_ns"] + 2 * L * 2.0) + min(h["host_ns"], h["pim_ns"]) / (2 * L)
    assert h["step_ns"] == pytest.approx(expect, rel=1e-9)
    half = Scenario(batch=4, prompt_tokens=128, generate_tokens=32, weight_bits=16, act_bits=16)
    g = gpu_metrics("h100-sxm", 1, GPT2, half, breakdown=True)["breakdown"]["decode"]
    assert h["host_ns"] == pytest.approx(2e6 * (g["time_ms"] - g["kernels_ms"]["attention"]
                                                - g["kernels_ms"]["kv_write"]), rel=1e-9)
    one = Scenario(batch=1, prompt_tokens=128, generate_tokens=32, weight_bits=16, act_bits=16)
    r1 = _eval([{**ATT, "host_overlap": "subbatch"}, ATT], GPT2, one)
    assert float(r1["tpot_ms"][0]) == float(r1["tpot_ms"][1])


def test_every_metric_defined_and_plain_designs_unchanged():
    designs = [{"host": h, "offload": o, "device": dev} for h in ("none", "h100-sxm") for o in
               ("none", "attention", "ffn", "all") for dev in ("sram", "rram", "dram")]
    m = load_model("llama-2-7b")
    sc = Scenario(batch=4, prompt_tokens=64, generate_tokens=16)
    r = _eval(designs, m, sc, breakdown=False)
    for k in metric_units():
        assert np.all(np.isfinite(r[k])) and np.all(r[k] >= 0), k
    plain = [d for d in designs if d["host"] == "none"]
    alone = _eval(plain, m, sc, breakdown=False)
    idx = [i for i, d in enumerate(designs) if d["host"] == "none"]
    for k in metric_units():
        assert np.array_equal(r[k][idx], alone[k]), k


def test_offload_groups_cover_the_operators_once():
    """attention + ffn + rest = all: the PIM shares of the three groups add up to the whole pass (MACs and weights)."""
    from cimdse.cost.host import on_pim

    m = load_model("llama-2-7b")
    t = operator_table(m, Scenario(batch=2, prompt_tokens=32, generate_tokens=8), "decode")
    att, ffn, every = on_pim(t, "attention"), on_pim(t, "ffn"), on_pim(t, "all")
    assert not np.any(att & ffn) and np.array_equal(every, np.ones(len(t), dtype=bool))
    assert not np.any(on_pim(t, "none"))
    names = set(t.cols["name"][ffn])
    assert names == {"ffn_gate", "ffn_up", "ffn_act", "ffn_down"}


def test_host_memory_limit_names_both_numbers():
    """llama-2-70b at 16 bit on one T4 (16 GB) with only attention offloaded: the host cannot hold the weights."""
    m = load_model("llama-2-70b")
    sc = Scenario(batch=1, prompt_tokens=64, generate_tokens=8, weight_bits=16, act_bits=16)
    r = _eval([{**ATT, "host": "t4", "chips": 64}], m, sc, breakdown=False)
    assert not r["feasible"][0]
    assert "host memory" in r["violation"][0] and "GB usable" in r["violation"][0]


def test_cli_eval_with_a_host_shows_both_sides():
    r = CliRunner().invoke(main, ["eval", "--model", "gpt2", "--set", "host=h100-sxm", "--set", "offload=attention",
                                  "--set", "device=dram", "--breakdown"])
    assert r.exit_code == 0, r.output
    out = r.output
    assert "host and CIM/PIM sides" in out and "host_ns" in out and "pim_ns" in out


def test_host_side_reads_the_technology_files_gpu_data(tmp_path):
    """A technology file's GPU constants reach the host side: with offload none the hosted design still equals
    `eval --gpu` on the same technology, and halving mem_efficiency slows the memory-bound llama decode."""
    from cimdse.tech import load_tech

    half = load_tech().raw["gpus"]["calibration"]["mem_efficiency"]["value"] / 2
    f = tmp_path / "tech.yaml"
    f.write_text(f"gpus:\n  calibration:\n    mem_efficiency: {half}\n")
    tech = load_tech(f)
    m, sc = load_model("llama-2-7b"), Scenario(batch=1, prompt_tokens=64, generate_tokens=16)
    design = to_batch([{"host": "h100-sxm", "offload": "none", "device": "sram"}])
    shipped = evaluate_arrays(design, m, sc, breakdown=False)
    mine = evaluate_arrays(design, m, sc, breakdown=False, tech=tech)
    g = gpu_metrics("h100-sxm", 1, m, sc, tech=tech)["metrics"]
    assert float(mine["tpot_ms"][0]) == pytest.approx(g["tpot_ms"], rel=0.01)
    assert float(mine["tpot_ms"][0]) > 1.5 * float(shipped["tpot_ms"][0])   # decode is memory-bound on one H100


def test_hosted_batch_scores_each_offload_share_as_its_own_batch(monkeypatch):
    """evaluate_hosted puts the batch (span by span) in the order of its offload shares and runs it in chunks, the
    accuracy metrics once for all shares: every design gets the bits of its share evaluated as a CIM batch of its own on the share's
    workload (a design's numbers do not depend on the designs scored beside it, tests/test_errmodel_batch.py)."""
    import sys
    from pathlib import Path

    from cimdse.cost import host, model

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from cost_equivalence import SCENARIOS, every_param_batch

    b = every_param_batch(600, 1)
    b["adc_range_sigma"][:] = 0.0          # (the clipped-ADC error path is slow)
    m, sc = load_model("llama-2-7b"), SCENARIOS[0]
    monkeypatch.setattr(model, "CHUNK_DESIGNS", 97)      # several chunks per share, chunks across no share's end
    wl = model.prepare(m, sc)   # (a decoder: the scenario as given)
    with np.errstate(all="ignore"):
        whole = evaluate_arrays(b, m, sc)
        for code, offload in enumerate(("plain", *host.OFFLOAD)):
            rows = np.flatnonzero(b["host"] == 0) if code == 0 else np.flatnonzero((b["host"] != 0)
                                                                                   & (b["offload"] == code - 1))
            share = {k: v[rows] for k, v in b.items()}
            share["host"] = np.zeros_like(share["host"])
            w = wl if code == 0 else host.pim_workload(m, sc, offload, model.build_workload)
            alone = model.evaluate_batch(share, w)
            for k in ("sqnr_db", "equivalent_bits", "logit_sqnr_db"):
                assert np.array_equal(whole[k][rows], alone[k]), (offload, k)
            if code == 0:   # the designs without a host: every metric and text as alone
                for k in (*metric_units(), "reason"):
                    assert np.array_equal(whole[k][rows], alone[k]), k


def test_host_choice_groups_counted_or_sorted_alike():
    """host._keys groups the designs by their host choices: by counting where the packed values are few, else by
    a sort; both give np.unique's groups (ascending), each group's first design and every design's group."""
    from cimdse.cost import host

    rng = np.random.default_rng(3)
    for n, cnt_hi in ((500, 3), (40, 1000)):   # a small range (counted) and a wide one (sorted)
        p = {"host": rng.integers(1, 10, n), "host_count": rng.integers(1, cnt_hi, n).astype(float),
             "offload": rng.integers(0, 4, n)}
        choices, first, inv = host._keys(p, ("host", "host_count", "offload"))
        rows = np.stack([p["host"], p["host_count"].astype(int), p["offload"]], axis=1)
        uniq, first_ref, inv_ref = np.unique(rows, axis=0, return_index=True, return_inverse=True)
        assert choices == [tuple(int(x) for x in r) for r in uniq]
        assert np.array_equal(first, first_ref) and np.array_equal(inv, inv_ref.ravel())


def _flat(res: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in res.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": np.asarray(v)})
    return out


@pytest.mark.parametrize("fixed_count", [True, False])
def test_hosted_batch_in_spans_and_chunks_equals_each_design_alone(monkeypatch, fixed_count):
    """evaluate_hosted cuts a batch larger than CHUNK_DESIGNS into spans, puts each span in offload order, prices it in
    chunks and puts the results back: every metric, reason text and breakdown array of every design (hosts, offload
    shares, links, sub-batch overlap, host counts mixed; some designs without a host, some failing only on the
    host's memory: llama-2-7b's weights on a 6 GB GPU) has the bits it gets scored alone; without the breakdown
    (the PIM side's pass sums handed over by the cost model, not re-added from the parts) every metric keeps them."""
    from cimdse.cost import host, model
    from cimdse.cost._util import total

    rng = np.random.default_rng(12)
    n = 60
    b = {k: np.repeat(v, n) for k, v in to_batch([{}]).items()}   # (the default chip: feasible on its own)
    b["host"] = rng.integers(0, len(host.HOSTS), n)
    b["offload"] = rng.integers(0, len(host.OFFLOAD), n)
    b["host_link"] = rng.integers(0, 3, n)
    b["host_overlap"] = rng.integers(0, 2, n)
    b["host_count"] = np.ones(n) if fixed_count else rng.integers(1, 4, n).astype(float)
    m, sc = load_model("llama-2-7b"), Scenario(batch=2, prompt_tokens=64, generate_tokens=16)
    spans, calls = [], []
    real_spans, real_chunk = host._spans, model._evaluate_chunk
    monkeypatch.setattr(host, "_spans", lambda *a: spans.append(real_spans(*a)) or spans[-1])
    monkeypatch.setattr(model, "_evaluate_chunk", lambda p, *a: calls.append(len(p["rows"])) or real_chunk(p, *a))
    monkeypatch.setattr(model, "CHUNK_DESIGNS", 8)
    whole = _flat(evaluate_arrays(b, m, sc, breakdown=True))
    assert len(spans[0]) >= 2 and max(calls) <= 8 and len(calls) > 10   # several spans, chunks of at most 8 designs
    reasons = [str(r) for r in whole["reason"]]
    assert any(r.startswith("host memory") for r in reasons) and any(r == "" for r in reasons)
    hosted = b["host"] != 0
    for ph in ("prefill", "decode"):   # the PIM side's pass time: its latency parts added in order (sub-batches: x 2)
        parts = [v for k, v in whole.items() if k.startswith(f"breakdown.latency_ns.{ph}.")
                 and k.rsplit(".", 1)[1] not in ("host", "host_link")]
        assert np.array_equal(whole[f"breakdown.host.{ph}.pim_ns"][hosted], total(parts)[hosted]), ph
    lean = _flat(evaluate_arrays(b, m, sc, breakdown=False))
    monkeypatch.undo()
    assert set(lean) == {k for k in whole if not k.startswith("breakdown.")}
    for k, v in lean.items():
        assert np.array_equal(v, whole[k], equal_nan=v.dtype.kind == "f"), k
    for i in range(n):
        alone = _flat(evaluate_arrays({k: v[i:i + 1] for k, v in b.items()}, m, sc, breakdown=True))
        extra = set(whole) - set(alone)   # a design without a host alone: no host entries (zeros in a hosted batch)
        assert set(alone) <= set(whole) and (not extra or b["host"][i] == 0), i
        assert all(whole[k][i] == 0 for k in extra), i
        for k, v in alone.items():
            w = whole[k][i:i + 1] if len(whole[k]) else whole[k]
            assert np.array_equal(v, w, equal_nan=v.dtype.kind == "f"), (i, k)


def test_one_value_is_bit_for_bit():
    """A parameter left unpermuted in every span (host._one_value) has one bit pattern over the batch: -0.0 beside
    0.0 is two values (a permutation would move them), a difference after the first 16 designs is found, NaNs of one
    pattern are one value."""
    from cimdse.cost import host

    assert host._one_value(np.full(40, 2.0)) and host._one_value(np.full(40, 3)) and host._one_value(np.full(5, np.nan))
    assert not host._one_value(np.array([0.0, -0.0, 0.0]))
    assert not host._one_value(np.r_[np.full(20, 1.0), 2.0, np.full(20, 1.0)])
    assert not host._one_value(np.array([], dtype=float)) and not host._one_value(np.array(["a", "a"]))
