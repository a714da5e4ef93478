"""GPU roofline baseline: hand-worked rooflines, tensor-parallel laws, feasibility, calibration and hold-out errors,
`cimdse eval --gpu`, `cimdse gpus`, and a sweep with a `baseline:`."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from cimdse.cli import main
from cimdse.cost.gpu import (
    BASELINE_METRICS,
    GPU_METRICS,
    calibration_table,
    fit_calibration,
    get_gpu,
    gpu_metrics,
    load_gpus,
    min_gpus,
    price_phase_gpu,
    tensor_peak_tflops,
)
from cimdse.errors import UserError
from cimdse.workload import Scenario, preset

FP16 = dict(weight_bits=16, act_bits=16)


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_data_file_complete_and_cited():
    data = load_gpus()
    assert {"a100-80gb", "h100-sxm", "h200"} <= set(data.gpus)
    for g, entry in data.raw["gpus"].items():
        for k, leaf in entry.items():
            if k not in ("description", "aliases"):
                assert leaf["source"] and leaf["unit"], (g, k)
    for m in data.measurements:
        assert m["role"] in ("calibration", "holdout") and m["source"]
    assert sum(m["role"] == "holdout" for m in data.measurements) >= 1


def test_llama2_7b_decode_batch1_fp16_h100_by_hand():
    # Decode step of Llama-2-7B, batch 1, prompt 1, generate 1, FP16 on one H100 SXM:
    #   static weights = 6,738,415,616 params - embedding 32000*4096 (131,072,000) - norms (32*2*4096 + 4096 = 266,240)
    #                  = 6,607,077,376 params -> x 2 B = 13,214,154,752 B read once per step
    #   (activations ~5 MB, KV ~1 MB and elementwise traffic ~1 MB are < 0.1 % and left out of the hand figure)
    #   memory time = 13,214,154,752 B / (3.35e12 B/s * mem_efficiency)      [0.69 -> 5.717 ms]
    #   launches = 14 kernels per layer * 32 + embedding + final norm + lm_head = 451  x 0.58 us = 0.2616 ms
    #   tpot = 5.717 + 0.262 = 5.978 ms at the current constants
    cal = load_gpus().calibration
    t_mem = 13_214_154_752 / (3.35e12 * cal["mem_efficiency"])
    t_launch = 451 * cal["kernel_overhead_us"] * 1e-6
    r = gpu_metrics("h100-sxm", 1, preset("llama-2-7b"), Scenario(prompt_tokens=1, generate_tokens=1, **FP16))
    assert r["feasible"] and r["precision"] == "fp16"
    assert r["metrics"]["tpot_ms"] == pytest.approx((t_mem + t_launch) * 1e3, rel=1e-3)
    assert r["metrics"]["tokens_per_s"] == pytest.approx(1 / (t_mem + t_launch), rel=1e-3)
    # power: every decode kernel is memory bound (2 x 6.6e9 FLOP at 989.4 TFLOP/s x 0.68 is 0.02 ms << 5.7 ms), so
    # energy = t x idle + (TDP - idle) x mem_power_activity x t_mem = 5.978 ms x 70 W + 630 W x 0.236 x 5.717 ms = 1.268 J
    e = (t_mem + t_launch) * 70 + (700 - 70) * cal["mem_power_activity"] * t_mem
    assert r["metrics"]["energy_per_token_uj"] == pytest.approx(e * 1e6, rel=2e-3)
    assert r["metrics"]["area_mm2"] == 814 and r["metrics"]["peak_tops"] == pytest.approx(989.4)
    assert r["metrics"]["tops_per_w"] == pytest.approx(989.4 / 700)


def test_prefill_is_compute_bound_by_hand():
    # Prefill of Llama-2-7B, batch 1, 2048 tokens, FP16 on one A100: static FLOPs = 2 x 6,476,005,376 (static weights
    # without lm_head) x 2048 + lm_head 2 x 131,072,000 x 1 = 2.6526e13; attention (QK^T and S.V) = 2 x 2 x 32 layers
    # x 32 heads x 2048 x 1024.5 keys x 128 = 1.1006e12. Time >= (2.6526e13 + 1.1006e12) / (312e12 x compute_eff)
    cal = load_gpus().calibration
    flops = 2 * 6_476_005_376 * 2048 + 2 * 131_072_000 + 4 * 32 * 32 * 2048 * 1024.5 * 128
    r = gpu_metrics("a100-80gb", 1, preset("llama-2-7b"), Scenario(prompt_tokens=2048, generate_tokens=8, **FP16),
                    breakdown=True)
    t_tensor = flops / (312e12 * cal["compute_efficiency"]) * 1e3
    bd = r["breakdown"]["prefill"]
    assert bd["compute_bound"] == pytest.approx(t_tensor, rel=0.02)  # compute-bound kernels are the tensor ones
    assert r["metrics"]["ttft_ms"] == pytest.approx(bd["time_ms"]) and r["metrics"]["ttft_ms"] > t_tensor
    assert r["metrics"]["ttft_ms"] < 1.1 * t_tensor


def test_precision_selects_the_tensor_peak():
    a100, h100 = get_gpu("a100-80gb"), get_gpu("h100-sxm")
    assert tensor_peak_tflops(a100, Scenario(weight_bits=8, act_bits=8)) == (624, "int8")
    assert tensor_peak_tflops(h100, Scenario(weight_bits=8, act_bits=8)) == (1978.9, "fp8")
    assert tensor_peak_tflops(h100, Scenario(weight_bits=4, act_bits=16)) == (989.4, "fp16")  # weight-only quant
    assert tensor_peak_tflops(h100, Scenario(**FP16)) == (989.4, "fp16")
    # FP32 (a framework's default) runs on the CUDA cores, not the tensor cores (PyTorch leaves TF32 off)
    assert tensor_peak_tflops(h100, Scenario(weight_bits=32, act_bits=32)) == (66.9, "fp32")
    assert tensor_peak_tflops(h100, Scenario(weight_bits=16, act_bits=32)) == (66.9, "fp32")
    # a GPU without tensor cores: Pascal GP106 FP16 at 1/64 rate, INT8 by DP4A, FP32 on the CUDA cores
    gtx = get_gpu("gtx-1060")
    assert tensor_peak_tflops(gtx, Scenario(weight_bits=32, act_bits=32)) == (4.375, "fp32")
    assert tensor_peak_tflops(gtx, Scenario(**FP16)) == (0.06836, "fp16")
    assert tensor_peak_tflops(gtx, Scenario(weight_bits=8, act_bits=8)) == (17.5, "int8")


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 16), model=st.sampled_from(["llama-2-7b", "llama-2-70b", "mistral-7b"]))
def test_tensor_parallel_laws(n, model):
    """More GPUs never raise the bytes each GPU reads; all-reduce time appears exactly when n > 1."""
    m, sc, gpu = preset(model), Scenario(batch=4, prompt_tokens=64, generate_tokens=16, **FP16), get_gpu("h100-sxm")
    one = price_phase_gpu(gpu, n, m, sc, "decode")
    more = price_phase_gpu(gpu, n + 1, m, sc, "decode")
    assert more["bytes_per_gpu"] <= one["bytes_per_gpu"] * (1 + 1e-12)
    assert more["flops_per_gpu"] <= one["flops_per_gpu"] * (1 + 1e-12)
    assert (one["breakdown_ms"]["allreduce"] > 0) == (n > 1)
    assert more["breakdown_ms"]["allreduce"] > 0


def test_allreduce_term_by_hand():
    # Llama-2-7B decode, batch 1, 2 x H100: 2 all-reduces per layer x 32 layers, each of 1 x 4096 x 2 B = 8192 B:
    #   t = 10 us (2-GPU latency) + 2 x (2-1)/2 x 8192 B / (450e9 B/s x 0.69) = 10 us + 0.0264 us per all-reduce
    cal = load_gpus().calibration
    t_ar = 10e-6 + 8192 / (450e9 * cal["link_efficiency"])
    r = price_phase_gpu(get_gpu("h100-sxm"), 2, preset("llama-2-7b"), Scenario(**FP16), "decode")
    assert r["breakdown_ms"]["allreduce"] == pytest.approx(64 * t_ar * 1e3, rel=1e-9)


def test_kv_split_stops_at_kv_heads():
    # Llama-2-70B has 8 KV heads: per GPU, bytes = S/n + K/min(n, 8) (S: everything split n ways, K: KV reads).
    # So b8 - b16 = S/16 and K = 8 b8 - S. By hand, K for batch 64 at the mean decode context 2048 + (16+1)/2 = 2056.5:
    #   reads  64 x 2056.5 x 80 layers x 2 (K, V) x 1024 (kv_dim) x 2 B = 43,127,930,880 B
    #   writes 64 x 1 new token x 80 x 2 x 1024 x 2 B                    =     20,971,520 B   -> 43,148,902,400 B
    m, sc, gpu = preset("llama-2-70b"), Scenario(batch=64, prompt_tokens=2048, generate_tokens=16, **FP16), get_gpu("h200")
    b8, b16 = (price_phase_gpu(gpu, n, m, sc, "decode")["bytes_per_gpu"] for n in (8, 16))
    s_all = 16 * (b8 - b16)
    assert 8 * b8 - s_all == pytest.approx(43_148_902_400, rel=1e-9)


def test_infeasible_when_model_does_not_fit():
    # Llama-2-70B FP16: 68,976,648,192 params x 2 B = 137.95 GB > 0.9 x 80 GB = 72 GB of one A100; two hold it
    m, sc = preset("llama-2-70b"), Scenario(**FP16)
    r = gpu_metrics("a100-80gb", 1, m, sc)
    assert not r["feasible"] and "need 2 GPUs" in r["violation"] and "1 given" in r["violation"]
    assert all(math.isfinite(v) and v >= 0 for v in r["metrics"].values())
    assert r["metrics"]["weights_fit"] == 0 and r["metrics"]["chips_needed"] == 2
    assert min_gpus(get_gpu("a100-80gb"), m, sc) == 2
    auto = gpu_metrics("a100-80gb", None, m, sc)
    assert auto["feasible"] and auto["gpus"] == 2


def test_h200_cannot_hold_70b_fp16_but_can_int8():
    m = preset("llama-2-70b")
    assert not gpu_metrics("h200", 1, m, Scenario(**FP16))["feasible"]  # 137.95 GB > 126.9 GB usable
    assert gpu_metrics("h200", 1, m, Scenario(weight_bits=8, act_bits=8))["feasible"]  # 68.98 GB


def test_moe_decode_reads_only_touched_experts():
    # Mixtral 8x7B decode, batch 1: one token uses 2 of 8 experts -> expert weights read = 1/4 of 45,097,156,608 params
    m, sc = preset("mixtral-8x7b"), Scenario(prompt_tokens=1, generate_tokens=1, **FP16)
    p = m.param_counts()
    experts = 32 * 8 * 3 * 4096 * 14336
    assert p["ffn"] == experts + 32 * 4096 * 8  # plus the router (read in full)
    static = p["total"] - p["embedding"] - p["norms"]
    expect = (static - experts + experts / 4) * 2
    got = price_phase_gpu(get_gpu("h200"), 1, m, sc, "decode")["bytes_per_gpu"]
    assert got == pytest.approx(expect, rel=0.002)


def test_encoder_has_prefill_only():
    r = gpu_metrics("l40s", 1, preset("bert-base"), Scenario(prompt_tokens=128, generate_tokens=0))
    m = r["metrics"]
    assert m["tpot_ms"] == 0 and m["ttft_ms"] > 0 and m["tokens_per_s"] == pytest.approx(128 / m["ttft_ms"] * 1e3)


def test_bad_gpu_count_and_name():
    with pytest.raises(UserError, match="did you mean 'h100-sxm'"):
        get_gpu("h100sxm")
    with pytest.raises(UserError, match="expected an integer"):
        gpu_metrics("h100-sxm", 0, preset("gpt2"), Scenario())


# ------------------------------------------------------------------------------------------------ calibration

def test_calibration_constants_are_the_refit():
    """The efficiencies in gpus.yaml are what refitting them on the calibration measurements returns."""
    cal, fit = load_gpus().calibration, fit_calibration()
    assert set(fit) == {"mem_efficiency", "compute_efficiency"}
    for k, v in fit.items():
        assert len(v["implied"]) >= 2
        assert cal[k] == pytest.approx(v["value"], abs=0.006), k


def test_holdout_predictions_within_factor_2():
    rows = {r["id"]: r for r in calibration_table()}
    for r in rows.values():
        assert r["error_factor"] < (1.1 if r["role"] == "calibration" else 2.5), r
    # decode with tensor parallelism over 4 A100s (lmdeploy, 29.46 ms per token), held out of calibration
    assert rows["H1"]["role"] == "holdout" and rows["H1"]["error_factor"] < 2
    hold = [r["error_factor"] for r in rows.values() if r["role"] == "holdout"]
    assert sum(e < 2 for e in hold) >= len(hold) - 1  # H8 (short TP4 prefill, fixed overheads) is the known outlier
    assert math.exp(np.mean(np.log(hold))) < 1.4


def test_decode_power_in_measured_range():
    # Ma et al. 2026 (arXiv 2605.11999): H200 decode draws 137-300 W
    r = gpu_metrics("h200", 1, preset("llama-3-8b"), Scenario(batch=8, prompt_tokens=512, generate_tokens=256, **FP16))
    dec_w = r["metrics"]["energy_per_token_uj"] * 8 * 1e-6 / (r["metrics"]["tpot_ms"] * 1e-3)
    assert 137 <= dec_w <= 300


# ------------------------------------------------------------------------------------------------ CLI

def test_cli_eval_gpu_table_and_json():
    r = run("eval", "--gpu", "h100-sxm", "--model", "llama-2-7b", "--weight-bits", 16, "--act-bits", 16)
    assert r.exit_code == 0, r.output
    assert "1 x h100-sxm" in r.output and "fp16 tensor peak" in r.output
    for k in GPU_METRICS:
        assert k in r.output
    r = run("eval", "--gpu", "a100-80gb", "--gpus", 4, "--model", "llama-2-70b", "--json", "--batch", 2)
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["gpus"] == 4 and data["gpu"]["hbm_gbps"] == 2039 and data["feasible"] is True
    assert data["workload"]["model"] == "llama-2-70b" and data["workload"]["batch"] == 2
    assert set(data["metrics"]) == set(GPU_METRICS) and data["breakdown"]["decode"]["allreduce"] > 0
    # 4 x GA100 (826 mm^2 each, gpus.yaml): the die is one GPU's, the area all four
    assert data["metrics"]["die_area_mm2"] == 826 and data["metrics"]["area_mm2"] == 4 * 826
    r = run("eval", "--gpu", "a100-80gb", "--gpus", 1, "--model", "llama-2-70b", "--weight-bits", 16, "--breakdown")
    assert r.exit_code == 0 and "INFEASIBLE" in r.output and "time by kernel" in r.output


def test_cli_eval_gpu_errors():
    cases = [
        (["eval", "--gpu", "h100sxm"], "did you mean 'h100-sxm'"),
        (["eval", "--gpu", "h100-sxm", "--gpus", "0"], "--gpus"),
        (["eval", "--gpu", "h100-sxm", "--gpus", "-3"], "--gpus"),
        (["eval", "--gpus", "2"], "--gpu"),
        (["eval", "--gpu", "h100-sxm", "--set", "rows=128"], "drop DESIGN_FILE"),
        (["eval", "--gpu", "h100-sxm", "--model", "nope"], "unknown model"),
    ]
    for args, text in cases:
        r = run(*args)
        assert r.exit_code == 2, (args, r.output)
        assert text in r.output and len(r.output.strip().splitlines()) == 1, r.output
        assert "Traceback" not in r.output


def test_cli_gpus_listing():
    r = run("gpus")
    assert r.exit_code == 0 and "h200" in r.output and "hbm_gbps" in r.output
    r = run("gpus", "--sources")
    assert r.exit_code == 0 and "h100-sxm.hbm_gbps = 3350 GB/s" in r.output and "calibration.mem_efficiency" in r.output
    r = run("gpus", "--calibration")
    assert r.exit_code == 0 and "holdout" in r.output and "H1" in r.output


# ------------------------------------------------------------------------------------------------ sweeps

SWEEP = """
name: gpu-base
workload: {{model: gpt2, batch: 1, prompt_tokens: 32, generate_tokens: 8}}
space:
  device: [sram, rram]
  rows: [128, 256]
fixed: {{bits_per_cell: 1, chips: 1}}
{baseline}
objectives: {{{objectives}}}
constraints: [{constraints}]
search: {{sampler: exhaustive, trials: 10, seed: 1}}
"""


def _write(tmp_path, baseline="baseline: {gpu: h100-sxm, gpus: 1}",
           objectives="energy_per_token_uj: minimize, tpot_ms: minimize", constraints=""):
    f = tmp_path / "s.yaml"
    f.write_text(SWEEP.format(baseline=baseline, objectives=objectives, constraints=constraints))
    return f


def test_sweep_with_baseline_columns(tmp_path):
    out = tmp_path / "run"
    r = run("sweep", _write(tmp_path), "--out", out, "--quiet")
    assert r.exit_code == 0, r.output
    df, front = pd.read_csv(out / "trials.csv"), pd.read_csv(out / "pareto.csv")
    for col in BASELINE_METRICS:
        assert col in df.columns and col in front.columns
    rec = yaml.safe_load((out / "run.yaml").read_text())
    base = rec["baseline"]
    assert base["gpu"] == "h100-sxm" and base["gpus"] == 1
    direct = gpu_metrics("h100-sxm", 1, preset("gpt2"), Scenario(prompt_tokens=32, generate_tokens=8))["metrics"]
    assert base["metrics"]["tpot_ms"] == pytest.approx(direct["tpot_ms"])
    # one row by hand: speedup = GPU tpot / design tpot; energy gain = GPU uJ/token / design uJ/token
    row = df.iloc[0]
    assert row["speedup_vs_gpu"] == pytest.approx(direct["tpot_ms"] / row["tpot_ms"], rel=1e-8)
    assert row["energy_gain_vs_gpu"] == pytest.approx(direct["energy_per_token_uj"] / row["energy_per_token_uj"],
                                                      rel=1e-8)


def test_sweep_baseline_as_objective_and_constraint(tmp_path):
    out = tmp_path / "run"
    f = _write(tmp_path, baseline="baseline: {gpu: a100-80gb}",
               objectives="energy_gain_vs_gpu: maximize, speedup_vs_gpu: maximize",
               constraints='"speedup_vs_gpu >= 1e9"')
    r = run("sweep", f, "--out", out, "--quiet")
    assert r.exit_code == 0, r.output
    df = pd.read_csv(out / "trials.csv")
    assert not df["feasible"].any() and df["violation"].str.contains("speedup_vs_gpu").all()


def test_sweep_baseline_errors(tmp_path):
    cases = [
        ("baseline: {gpu: h100sxm}", "energy_per_token_uj: minimize", "did you mean 'h100-sxm'"),
        ("baseline: {gpu: h100-sxm, gpus: 0}", "energy_per_token_uj: minimize", "baseline.gpus"),
        ("baseline: {gpu: h100-sxm, gpu_count: 2}", "energy_per_token_uj: minimize", "baseline.gpu_count"),
        ("baseline: h100-sxm", "energy_per_token_uj: minimize", "expected a mapping"),
        ("baseline: {gpus: 1}", "energy_per_token_uj: minimize", "baseline.gpu"),
        ("", "speedup_vs_gpu: maximize", "unknown metric 'speedup_vs_gpu'"),
    ]
    for baseline, objectives, text in cases:
        r = run("sweep", _write(tmp_path, baseline=baseline, objectives=objectives), "--out", tmp_path / "x")
        assert r.exit_code == 2, (baseline, r.output)
        assert text in r.output and len(r.output.strip().splitlines()) == 1, r.output
    assert not (tmp_path / "x").exists()


def test_sweep_baseline_too_few_gpus(tmp_path):
    f = tmp_path / "big.yaml"
    f.write_text(SWEEP.format(baseline="baseline: {gpu: a100-80gb, gpus: 1}",
                              objectives="energy_per_token_uj: minimize", constraints="")
                 .replace("model: gpt2", "model: llama-2-70b, weight_bits: 16, act_bits: 16"))
    r = run("sweep", f, "--out", tmp_path / "x")
    assert r.exit_code == 2 and "needs at least 2 x a100-80gb" in r.output


def test_docs_calibration_table_is_current():
    """docs/MODEL.md §8 shows the predictions the model makes now (4 significant digits)."""
    from pathlib import Path

    text = (Path(__file__).parent.parent / "docs" / "MODEL.md").read_text()
    for r in calibration_table():
        line = next(ln for ln in text.splitlines() if ln.startswith(f"| {r['id']} | {r['role']} |"))
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert float(cells[8]) == pytest.approx(r["published"], rel=5e-4), r["id"]
        assert float(cells[9]) == pytest.approx(r["predicted"], rel=5e-4), r["id"]
        assert float(cells[10]) == pytest.approx(r["error_factor"], abs=0.006), r["id"]
