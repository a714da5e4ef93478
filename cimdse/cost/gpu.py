"""GPU roofline baseline: the CIM cost model's metrics for a GPU (or N GPUs in tensor parallel) on the same workload.

Each operator of the workload's operator tables runs as one kernel bounded by its own roofline, time =
max(compute at the achieved FLOP/s, memory traffic at the achieved bandwidth), summed over the operators of a pass,
plus two all-reduces per layer when the model is split over N GPUs (Megatron-style tensor parallelism). Power is
idle + (TDP - idle) x activity, with the activity of each kernel taken from its roofline position. Equations and the
calibration are in docs/MODEL.md ("GPU baseline"); constants with citations in cimdse/tech/data/gpus.yaml.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from functools import cache, lru_cache
from importlib import resources

import numpy as np
import yaml

from ..errors import UserError, did_you_mean
from ..metrics import BASELINE_METRICS, UNITS
from ..workload import ModelConfig, Scenario, fit_scenario, operator_table, phases

GPU_KEYS = ("fp16_tflops", "fp8_tflops", "int8_tops", "vector_tflops", "hbm_gb", "hbm_gbps", "tdp_w", "idle_w",
            "link_gbps", "die_mm2", "node_nm")
GPU_UNITS = {"fp16_tflops": "TFLOP/s", "fp8_tflops": "TFLOP/s", "int8_tops": "TOPS", "vector_tflops": "TFLOP/s",
             "hbm_gb": "GB", "hbm_gbps": "GB/s", "tdp_w": "W", "idle_w": "W", "link_gbps": "GB/s", "die_mm2": "mm^2",
             "node_nm": "nm"}
CAL_KEYS = ("mem_efficiency", "compute_efficiency", "link_efficiency", "mem_power_activity", "usable_memory_fraction",
            "kernel_overhead_us")

# Metrics a GPU reports, with the same names and units as the CIM model's (cimdse.cost.model.metric_units).
GPU_METRICS = ("ttft_ms", "tpot_ms", "tokens_per_s", "energy_per_token_uj", "prefill_energy_mj", "avg_power_w",
               "area_mm2", "die_area_mm2", "peak_tops", "tops_per_w", "tops_per_mm2", "peak_power_w", "chips_needed",
               "chips_used", "weights_fit")
# Columns a sweep with a `baseline:` adds next to the CIM metrics.
BASELINE_UNITS = {k: UNITS[k] for k in BASELINE_METRICS}
MAX_GPUS = 4096


@dataclass(frozen=True)
class GPU:
    """One GPU's datasheet figures (dense peaks) in the units of GPU_UNITS."""

    name: str
    description: str
    fp16_tflops: float
    fp8_tflops: float
    int8_tops: float
    vector_tflops: float
    hbm_gb: float
    hbm_gbps: float
    tdp_w: float
    idle_w: float
    link_gbps: float
    die_mm2: float
    node_nm: float

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class GpuData:
    """Everything in gpus.yaml: the GPUs, the shared calibrated constants and the published measurements."""

    gpus: dict            # name -> GPU
    calibration: dict     # CAL_KEYS -> float
    allreduce_n: np.ndarray
    allreduce_us: np.ndarray
    measurements: tuple   # dicts as in the file
    raw: dict             # the file as read (units, sources), for `cimdse gpus --sources`


def load_gpus(tech=None) -> GpuData:
    """The GPU data: cimdse/tech/data/gpus.yaml, read once, or a cimdse.tech.Tech's (with a technology file's
    `gpus:` overrides), built once per Tech."""
    if tech is None or "gpus" not in tech.overrides:
        return _shipped_gpus()
    from ..tech import memo

    return memo(tech, "gpus", lambda t: _gpu_data(t.raw["gpus"]))


@cache
def _shipped_gpus() -> GpuData:
    text = resources.files("cimdse.tech").joinpath("data/gpus.yaml").read_text()
    return _gpu_data(yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))   # libyaml where built


def _gpu_data(raw: dict) -> GpuData:
    gpus = {}
    for name, entry in raw["gpus"].items():
        gpus[name] = GPU(name=name, description=entry["description"],
                         **{k: float(entry[k]["value"]) for k in GPU_KEYS})
    cal = {k: float(raw["calibration"][k]["value"]) for k in CAL_KEYS}
    table = raw["calibration"]["allreduce_latency_us"]["value"]
    n = np.array(sorted(int(k) for k in table), dtype=float)
    us = np.array([float(table[int(k)]) for k in n])
    return GpuData(gpus=gpus, calibration=cal, allreduce_n=n, allreduce_us=us,
                   measurements=tuple(raw["measurements"]), raw=raw)


def gpu_names() -> list[str]:
    return list(load_gpus().gpus)


@cache
def gpu_aliases() -> dict[str, str]:
    """Alias -> documented entry of gpus.yaml (each entry's `aliases` list)."""
    raw = load_gpus().raw["gpus"]
    return {str(a).lower(): name for name, entry in raw.items() for a in entry.get("aliases", ())}


def _normal(name: str) -> str:
    """'NVIDIA H100 SXM' -> 'h100-sxm': lower case, spaces and underscores as hyphens, no vendor prefix."""
    s = "-".join(str(name).strip().lower().replace("_", " ").split())
    return s.removeprefix("nvidia-")


def resolve_gpu(name: str) -> str:
    """The gpus.yaml entry a name or alias stands for; an unknown name is a UserError with a did-you-mean over the
    entries and their aliases."""
    gpus, aliases = load_gpus().gpus, gpu_aliases()
    if name in gpus:
        return name
    key = _normal(name)
    if key in gpus:
        return key
    if key in aliases:
        return aliases[key]
    hint = did_you_mean(key, [*gpus, *aliases]) or did_you_mean(name, [*gpus, *aliases])
    raise UserError(f"unknown GPU '{name}'{hint}; expected one of: {', '.join(gpus)} (or an alias from `cimdse gpus`)",
                    key="gpu")


def get_gpu(name: str, tech=None) -> GPU:
    """A GPU by name or alias (`a100`, `h100`, ...); an unknown name is a UserError with a did-you-mean."""
    return load_gpus(tech).gpus[resolve_gpu(name)]


def gpu_rows() -> list[dict]:
    """One row per GPU parameter with value, unit and source (for `cimdse gpus --sources`)."""
    raw = load_gpus().raw["gpus"]
    return [{"gpu": g, "parameter": k, "value": raw[g][k]["value"], "unit": raw[g][k]["unit"],
             "source": raw[g][k]["source"]} for g in raw for k in GPU_KEYS]


# ------------------------------------------------------------------------------------------------ pieces

def tensor_peak_tflops(gpu: GPU, sc: Scenario) -> tuple[float, str]:
    """Dense matmul peak for the scenario's precision: 8-bit (FP8, else INT8) when weights AND activations are
    <= 8 bits and the GPU has such a unit; FP32 on the CUDA cores (vector_tflops) when either is wider than 16 bits
    (PyTorch's default FP32 matmul does not use TF32 tensor cores); else FP16/BF16 (weight-only quantization still
    computes in 16 bits)."""
    if max(sc.weight_bits, sc.act_bits) > 16:
        return gpu.vector_tflops, "fp32"
    if max(sc.weight_bits, sc.act_bits) <= 8:
        if gpu.fp8_tflops > 0:
            return gpu.fp8_tflops, "fp8"
        if gpu.int8_tops > 0:
            return gpu.int8_tops, "int8"
    return gpu.fp16_tflops, "fp16"


def memory_need_bytes(model: ModelConfig, sc: Scenario) -> tuple[float, float]:
    """(weight bytes, KV-cache bytes at the longest context) that must sit in GPU memory."""
    weights = model.param_counts()["total"] * sc.weight_bits / 8
    kv = sc.batch * model.cached_tokens(sc.prompt_tokens + sc.generate_tokens) * model.kv_bytes_per_token(sc.kv)
    return weights, kv


def kv_split(model: ModelConfig, n: int) -> int:
    """Ways the KV cache is split over n GPUs: by KV head, so at most kv_heads (GQA heads are replicated beyond)."""
    return min(n, model.kv_heads)


def min_gpus(gpu: GPU, model: ModelConfig, sc: Scenario, tech=None) -> int:
    """Fewest GPUs whose usable memory holds weights/N + KV/min(N, kv_heads); MAX_GPUS + 1 if none does."""
    weights, kv = memory_need_bytes(model, sc)
    usable = gpu.hbm_gb * 1e9 * load_gpus(tech).calibration["usable_memory_fraction"]
    n = max(1, math.ceil(weights / max(usable - kv / model.kv_heads, 1e-9))) if usable > kv / model.kv_heads else 0
    if n == 0:
        return MAX_GPUS + 1
    while n <= MAX_GPUS and weights / n + kv / kv_split(model, n) > usable:
        n += 1
    return n


def allreduce_latency_s(n: int, tech=None) -> float:
    """Latency term of one all-reduce over n GPUs (measured table, linear interpolation/extrapolation)."""
    d = load_gpus(tech)
    if n <= 1:
        return 0.0
    x, y = d.allreduce_n, d.allreduce_us
    if n <= x[-1]:
        us = float(np.interp(n, x, y))
    else:
        us = float(y[-1] + (n - x[-1]) * (y[-1] - y[-2]) / (x[-1] - x[-2]))
    return us * 1e-6


def _kernels(model: ModelConfig, sc: Scenario, phase: str, skip: frozenset = frozenset()) -> dict:
    """The operator table of one pass regrouped into GPU kernels: arrays of tensor FLOPs, vector FLOPs,
    split-N-ways bytes and KV bytes, one entry per kernel. Attention (QK^T, softmax, S.V and the KV read) is one fused
    kernel (FlashAttention / paged attention): scores never go to DRAM. Operators named in `skip` run elsewhere (a
    PIM side, cost/host.py) and are left out; the attention kernel is left out when `qk_scores` is skipped."""
    t = operator_table(model, sc, phase)
    c = t.cols
    kind = c["kind"]
    names, tensor, vector, bytes_split, bytes_kv, launches = [], [], [], [], [], []
    for i in range(len(t)):
        k = kind[i]
        if k in ("dynamic_matmul", "softmax", "kv_read") or str(c["name"][i]) in skip:
            continue  # folded into the attention kernel below, or run on the PIM side
        launches.append(c["count"][i])  # one kernel per layer (count = layers) or per pass
        if k == "static_matmul":
            copies, active, m = c["copies"][i], c["active"][i], c["m"][i]
            # MoE: expected share of experts that m tokens touch under uniform routing
            touched = 1.0 - (1.0 - active / copies) ** m if copies > 1 else 1.0
            names.append(str(c["name"][i]))
            tensor.append(2 * c["macs"][i])
            vector.append(c["elem_ops"][i])  # bias adds, fused into the matmul's epilogue
            bytes_split.append(c["weight_bytes"][i] * touched + c["in_bytes"][i] + c["out_bytes"][i])
            bytes_kv.append(0.0)
        elif k == "kv_write":
            names.append("kv_write")
            tensor.append(0.0)
            vector.append(0.0)
            bytes_split.append(0.0)
            bytes_kv.append(c["out_bytes"][i])
        else:  # embedding gather, norms, activations, residual adds
            names.append(str(c["name"][i]))
            tensor.append(0.0)
            vector.append(c["elem_ops"][i])
            bytes_split.append(c["weight_bytes"][i] + c["in_bytes"][i] + c["out_bytes"][i]
                               if k != "embedding" else c["weight_bytes"][i] + c["out_bytes"][i])
            bytes_kv.append(0.0)
    qk, sv = t.select(name="qk_scores"), t.select(name="score_v")
    if "qk_scores" in skip:
        return {"names": names, "tensor_flops": np.array(tensor), "vector_flops": np.array(vector),
                "bytes_split": np.array(bytes_split), "bytes_kv": np.array(bytes_kv),
                "launches": np.array(launches, dtype=float), "steps": t.steps}
    names.append("attention")
    launches.append(model.layers)
    tensor.append(2 * (t.total("macs", qk) + t.total("macs", sv)))
    vector.append(t.total("elem_ops", t.select(kind="softmax")))
    # Q in and the attention output out (activation bits); K and V in at KV bits
    bytes_split.append((t.total("in_elems", qk) + t.total("out_elems", sv)) * sc.act_bits / 8)
    bytes_kv.append(t.total("in_bytes", t.select(kind="kv_read")))
    return {"names": names, "tensor_flops": np.array(tensor), "vector_flops": np.array(vector),
            "bytes_split": np.array(bytes_split), "bytes_kv": np.array(bytes_kv), "launches": np.array(launches, dtype=float),
            "steps": t.steps}


def price_phase_gpu(gpu: GPU, n: int, model: ModelConfig, sc: Scenario, phase: str, cal: dict | None = None,
                    skip: frozenset = frozenset(), tech=None) -> dict:
    """Time (s) and energy (J, all n GPUs) of one pass of `phase` on n GPUs in tensor parallel, with a breakdown.
    `cal` overrides the shared calibrated constants (used by `fit_calibration`); `skip` names operators that run on
    a PIM side instead (cost/host.py): their kernels, and the all-reduce after o_proj / ffn_down, are left out;
    `tech`: a technology file's."""
    cal = {**load_gpus(tech).calibration, **(cal or {})}
    k = _kernels(model, sc, phase, skip)
    peak, _ = tensor_peak_tflops(gpu, sc)
    f_tensor = peak * 1e12 * cal["compute_efficiency"]
    f_vector = gpu.vector_tflops * 1e12 * cal["compute_efficiency"]
    bw = gpu.hbm_gbps * 1e9 * cal["mem_efficiency"]
    t_c = (k["tensor_flops"] / f_tensor + k["vector_flops"] / f_vector) / n
    t_m = (k["bytes_split"] / n + k["bytes_kv"] / kv_split(model, n)) / bw
    # each kernel launch also costs a fixed time (CUDA-graph replay per node) during which the GPU idles
    t_roof = np.maximum(t_c, t_m)
    t_op = t_roof + k["launches"] * cal["kernel_overhead_us"] * 1e-6
    w_mem = cal["mem_power_activity"]
    with np.errstate(invalid="ignore", divide="ignore"):
        activity = np.where(t_op > 0, np.maximum(t_c, w_mem * t_m) / np.where(t_op > 0, t_op, 1.0), 0.0)
    # tensor parallelism: two all-reduces per layer of the pass's activations (after o_proj and after the FFN)
    m_tokens = sc.batch * (sc.prompt_tokens if phase == "prefill" else 1)
    n_ar = (("o_proj" not in skip) + ("ffn_down" not in skip)) * model.layers if n > 1 else 0
    ar_bytes = m_tokens * model.hidden * sc.act_bits / 8
    link = gpu.link_gbps / 2 * 1e9 * cal["link_efficiency"]  # one direction of the per-GPU link bandwidth
    t_ar = allreduce_latency_s(n, tech) + 2 * (n - 1) / n * ar_bytes / link if n > 1 else 0.0
    t_comm = n_ar * t_ar
    span = gpu.tdp_w - gpu.idle_w
    e_ops = float(np.sum(t_op * (gpu.idle_w + span * activity)))
    e_comm = t_comm * (gpu.idle_w + span * w_mem)
    t = float(t_op.sum()) + t_comm
    compute_bound = t_c >= t_m
    t_launch = float(k["launches"].sum()) * cal["kernel_overhead_us"] * 1e-3
    return {
        "time_s": t,
        "energy_j": n * (e_ops + e_comm),
        "steps": k["steps"],
        "breakdown_ms": {
            "compute_bound": float(t_roof[compute_bound].sum()) * 1e3,
            "memory_bound": float(t_roof[~compute_bound].sum()) * 1e3,
            "allreduce": t_comm * 1e3,
            "launch": t_launch,
        },
        "kernels_ms": {nm: float(v) * 1e3 for nm, v in zip(k["names"], t_op, strict=True)},
        "flops_per_gpu": float((k["tensor_flops"] + k["vector_flops"]).sum()) / n,
        "bytes_per_gpu": float((k["bytes_split"] / n + k["bytes_kv"] / kv_split(model, n)).sum()),
    }


# ------------------------------------------------------------------------------------------------ entry point

def _check_gpus(gpus) -> int:
    if isinstance(gpus, bool) or not isinstance(gpus, (int, np.integer)) or not 1 <= gpus <= MAX_GPUS:
        raise UserError(f"expected an integer in [1, {MAX_GPUS}], got {gpus!r}", key="gpus")
    return int(gpus)


def gpu_metrics(name: str, gpus: int | None, model: ModelConfig, scenario: Scenario,
                breakdown: bool = False, cal: dict | None = None, tech=None) -> dict:
    """The CIM metrics (GPU_METRICS) for `gpus` x GPU `name` (None: the fewest that hold weights and KV cache),
    plus feasible and violation (why not, "" when feasible); with breakdown, per-phase times and kernel times.
    `tech`: a cimdse.tech.Tech whose technology file may override GPU constants (None: the shipped data)."""
    gpu = get_gpu(name, tech)
    sc = fit_scenario(model, scenario)
    needed = min_gpus(gpu, model, sc, tech)
    n = _check_gpus(gpus) if gpus is not None else min(needed, MAX_GPUS)
    ph = {p: price_phase_gpu(gpu, n, model, sc, p, cal, tech=tech) for p in phases(model)}
    pre = ph["prefill"]
    out: dict = {}
    if "decode" in ph:
        dec = ph["decode"]
        G = sc.generate_tokens
        out["tpot_ms"] = dec["time_s"] * 1e3
        out["tokens_per_s"] = sc.batch / dec["time_s"]
        out["energy_per_token_uj"] = dec["energy_j"] / sc.batch * 1e6
        e_dec, t_dec = dec["energy_j"], dec["time_s"]
    else:  # encoders: per-token figures refer to the prompt tokens of the single pass (as in the CIM model)
        G, e_dec, t_dec = 0, 0.0, 0.0
        out["tpot_ms"] = 0.0
        out["tokens_per_s"] = sc.batch * sc.prompt_tokens / pre["time_s"]
        out["energy_per_token_uj"] = pre["energy_j"] / (sc.batch * sc.prompt_tokens) * 1e6
    out["ttft_ms"] = pre["time_s"] * 1e3
    out["prefill_energy_mj"] = pre["energy_j"] * 1e3
    out["avg_power_w"] = (pre["energy_j"] + G * e_dec) / (pre["time_s"] + G * t_dec)
    peak, _ = tensor_peak_tflops(gpu, sc)
    out["area_mm2"] = gpu.die_mm2 * n
    out["die_area_mm2"] = gpu.die_mm2  # one GPU die, as the CIM side's area_mm2 / chips_used
    out["peak_tops"] = peak * n
    out["peak_power_w"] = gpu.tdp_w * n
    out["tops_per_w"] = out["peak_tops"] / out["peak_power_w"]
    out["tops_per_mm2"] = out["peak_tops"] / out["area_mm2"]
    out["chips_needed"] = float(needed)
    out["chips_used"] = float(n)
    out["weights_fit"] = float(n >= needed)
    metrics = {k: float(out[k]) for k in GPU_METRICS}
    feasible = n >= needed
    reason = ""
    if not feasible:
        w, kv = memory_need_bytes(model, sc)
        usable = gpu.hbm_gb * load_gpus(tech).calibration["usable_memory_fraction"]
        need = f"{needed} GPUs" if needed <= MAX_GPUS else f"more than {MAX_GPUS} GPUs"
        reason = (f"weights {w / 1e9:.1f} GB + KV cache {kv / 1e9:.1f} GB need {need} of {gpu.name} "
                  f"({usable:.0f} GB usable each); {n} given")
    res = {"gpu": gpu.name, "gpus": n, "precision": tensor_peak_tflops(gpu, sc)[1], "metrics": metrics,
           "feasible": feasible, "violation": reason, "reason": reason}  # `reason`: former name, kept as an alias
    if breakdown:
        res["breakdown"] = {p: {"time_ms": v["time_s"] * 1e3, "energy_mj": v["energy_j"] * 1e3, **v["breakdown_ms"],
                                "kernels_ms": v["kernels_ms"]} for p, v in ph.items()}
    return res


@lru_cache(maxsize=32)
def _baseline_cached(name: str, gpus: int | None, model: ModelConfig, scenario: Scenario) -> dict:
    return gpu_metrics(name, gpus, model, scenario)


def baseline_metrics(name: str, gpus: int | None, model: ModelConfig, scenario: Scenario, tech=None) -> dict:
    """gpu_metrics for a sweep's baseline, computed once per (GPU, count, workload, technology); a fresh copy each
    call."""
    if tech is not None and "gpus" in tech.overrides:
        key = ("baseline", resolve_gpu(name), gpus, model, scenario)
        r = tech.memo.get(key) or tech.memo.setdefault(key, gpu_metrics(name, gpus, model, scenario, tech=tech))
        return {**r, "metrics": dict(r["metrics"])}
    r = _baseline_cached(resolve_gpu(name), gpus, model, scenario)
    return {**r, "metrics": dict(r["metrics"])}


def baseline_columns(design: dict, base: dict) -> dict:
    """speedup_vs_gpu (GPU tpot_ms / design tpot_ms; ttft_ms for encoder-only workloads) and energy_gain_vs_gpu
    (GPU energy_per_token_uj / design energy_per_token_uj) as arrays over the designs' metric arrays."""
    tpot = np.asarray(design["tpot_ms"], dtype=float)
    if base["tpot_ms"] > 0:
        num, den = base["tpot_ms"], tpot
    else:
        num, den = base["ttft_ms"], np.asarray(design["ttft_ms"], dtype=float)
    e = np.asarray(design["energy_per_token_uj"], dtype=float)
    return {"speedup_vs_gpu": num / np.maximum(den, 1e-30),
            "energy_gain_vs_gpu": base["energy_per_token_uj"] / np.maximum(e, 1e-30)}


# ------------------------------------------------------------------------------------------------ calibration

def measured_metric(metric: str, m: dict, sc: Scenario) -> float:
    """A metric as the published measurements define it (request_tokens_per_s: static-batch throughput)."""
    if metric == "request_tokens_per_s":
        return sc.batch * sc.generate_tokens / ((m["ttft_ms"] + sc.generate_tokens * m["tpot_ms"]) * 1e-3)
    return m[metric]


def _predict(meas: dict, cal: dict | None = None) -> tuple[float, ModelConfig, Scenario]:
    from ..models import load_model

    wl = dict(meas["workload"])
    model = load_model(wl.pop("model"))
    sc = Scenario(**wl)
    r = gpu_metrics(meas["gpu"], meas["gpus"], model, sc, cal=cal)
    return measured_metric(meas["metric"], r["metrics"], sc), model, sc


def fit_calibration() -> dict:
    """Refit each calibrated efficiency: for every measurement with role calibration, the value of its constant
    (`calibrates`) that reproduces it exactly (bisection; the others held), then the geometric mean per constant."""
    implied: dict[str, list[float]] = {}
    for meas in load_gpus().measurements:
        if meas["role"] != "calibration":
            continue
        key, pub = meas["calibrates"], float(meas["value"])
        faster = meas["metric"].endswith("_per_s")  # a larger efficiency gives a larger value
        lo, hi = 0.05, 1.0
        for _ in range(50):
            mid = 0.5 * (lo + hi)
            pred = _predict(meas, {key: mid})[0]
            if (pred < pub) == faster:
                lo = mid
            else:
                hi = mid
        implied.setdefault(key, []).append(0.5 * (lo + hi))
    return {k: {"implied": v, "value": float(np.exp(np.mean(np.log(v))))} for k, v in implied.items()}


def calibration_table() -> list[dict]:
    """Published measurement vs prediction for every entry of gpus.yaml `measurements` (role, error factor)."""
    rows = []
    for meas in load_gpus().measurements:
        pred, model, sc = _predict(meas)
        pub = float(meas["value"])
        rows.append({"id": meas["id"], "role": meas["role"], "gpu": meas["gpu"], "gpus": meas["gpus"],
                     "model": model.name, "batch": sc.batch, "prompt": sc.prompt_tokens, "generate": sc.generate_tokens,
                     "bits": sc.weight_bits, "metric": meas["metric"], "published": pub, "predicted": pred,
                     "error_factor": max(pred / pub, pub / pred), "source": meas["source"]})
    return rows
