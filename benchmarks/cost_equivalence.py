"""Equivalence check of the cost model across code changes that must not move any value (speed work).

`dump OUT.npz` evaluates fixed random batches (every parameter drawn over its whole range, every device, several
models incl. MoE, sliding-window and encoder ones, two scenarios, with the breakdown) and stores every metric,
breakdown array and reason text. `compare REF.npz` evaluates the same batches with the code on PYTHONPATH and
reports, per array, whether it is bit-identical, else the largest relative difference. Exit status 1 if any array
differs by more than --rtol (default 0: bit-identical) or any text differs.

Usage (the reference from another checkout):
  PYTHONPATH=/path/to/main python benchmarks/cost_equivalence.py dump /tmp/ref.npz
  PYTHONPATH=$PWD python benchmarks/cost_equivalence.py compare /tmp/ref.npz
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from bench_cost_model import draw_geometry

from cimdse.cost import evaluate_arrays
from cimdse.cost.params import PARAMS, defaults, to_batch
from cimdse.workload import Scenario

MODELS = ("llama-2-7b", "llama-2-70b", "bert-large", "mixtral-8x7b", "qwen1.5-moe-a2.7b", "gemma-2-2b", "gpt2")
SCENARIOS = (Scenario(batch=1, prompt_tokens=512, generate_tokens=128),
             Scenario(batch=4, prompt_tokens=384, generate_tokens=256, kv_bits=4))


def _log_uniform(rng, lo, hi, n):
    return np.exp(rng.uniform(np.log(lo), np.log(hi), n))


def _sometimes(rng, n, frac, values, other):
    """values where a draw < frac, else other."""
    return np.where(rng.random(n) < frac, values, other)


def every_param_batch(n: int, seed: int) -> dict:
    """n designs with every parameter drawn over (most of) its range; zeros (auto values) included."""
    rng = np.random.default_rng(seed)
    b = {k: np.repeat(v, n) for k, v in to_batch([defaults()]).items()}
    for name, p in PARAMS.items():
        if p.kind == "cat":
            b[name] = rng.integers(0, len(p.choices), n)
    pow2 = lambda lo, hi: 2.0 ** rng.integers(lo, hi + 1, n)  # noqa: E731
    ints = lambda lo, hi: rng.integers(lo, hi + 1, n).astype(float)  # noqa: E731
    b["node_nm"] = _sometimes(rng, n, 0.7, rng.choice([3.0, 5.0, 7.0, 14.0, 22.0, 28.0, 45.0, 65.0, 90.0, 130.0,
                                                       180.0], n), np.round(_log_uniform(rng, 3, 180, n), 1))
    b["rows"] = _sometimes(rng, n, 0.85, pow2(2, 12), ints(4, 3000))
    b["cols"] = _sometimes(rng, n, 0.85, pow2(2, 12), ints(4, 3000))
    b["bits_per_cell"] = ints(0, 8)
    b["weight_bits"] = ints(1, 16)
    b["input_bits"] = ints(1, 16)
    b["dac_bits"] = ints(1, 8)
    b["adc_bits"] = ints(1, 16)
    b["rows_active"] = _sometimes(rng, n, 0.5, 0.0, np.floor(rng.uniform(1, b["rows"] + 1)))
    b["cols_per_adc"] = _sometimes(rng, n, 0.9, pow2(0, 8), ints(1, 300))
    b["arrays_per_tile"] = pow2(0, 12)
    b["tiles"] = np.round(_log_uniform(rng, 1, 1e6, n))
    b["chips"] = _sometimes(rng, n, 0.6, 1.0, np.round(_log_uniform(rng, 1, 1000, n)))
    b["pipeline_depth"] = np.round(_log_uniform(rng, 1, 4096, n))
    b["clock_ghz"] = _log_uniform(rng, 0.01, 10, n)
    b["adc_ns"] = _sometimes(rng, n, 0.6, 0.0, _log_uniform(rng, 0.05, 1e4, n))
    b["offchip_devices"] = ints(1, 64)
    b["chips_per_package"] = np.round(_log_uniform(rng, 1, 1000, n))
    b["vdd"] = _sometimes(rng, n, 0.5, 0.0, rng.uniform(0.05, 2.0, n))
    b["simd_lanes"] = pow2(0, 14)
    b["tile_buffer_kb"] = pow2(0, 12)
    b["global_buffer_mb"] = _sometimes(rng, n, 0.1, 0.0, _log_uniform(rng, 0.1, 65536, n))
    # (only the error model reads adc_range_sigma, and its clipped-ADC path is slow: a few designs exercise it)
    b["adc_range_sigma"] = _sometimes(rng, n, 0.99, 0.0, rng.uniform(0.5, 10, n))
    b["kv_keep"] = _sometimes(rng, n, 0.5, 1.0, rng.uniform(0.001, 1.0, n))
    b["max_die_mm2"] = _log_uniform(rng, 10, 1e5, n)
    b["max_power_density_w_mm2"] = _log_uniform(rng, 0.001, 100, n)
    b["temperature_c"] = rng.uniform(27, 127, n)
    b["max_ir_drop"] = _log_uniform(rng, 1e-4, 100, n)
    return b


def sweep_batch(n: int, seed: int, devices=None) -> dict:
    """n designs as a sweep usually varies them (benchmarks/bench_cost_model.py), optionally of some devices only."""
    rng = np.random.default_rng(seed)
    b = {k: np.repeat(v, n) for k, v in to_batch([defaults()]).items()}
    for name, p in PARAMS.items():
        if p.kind == "cat":
            b[name] = rng.integers(0, len(p.choices), n)
    if devices is not None:
        b["device"] = rng.choice(np.asarray(devices), n)
        b["compute"] = np.zeros(n, dtype=b["compute"].dtype)
        b["column_combine"] = np.zeros(n, dtype=b["column_combine"].dtype)
        b["power_gating"] = np.zeros(n, dtype=b["power_gating"].dtype)
        b["attention"] = np.zeros(n, dtype=b["attention"].dtype)
    draw_geometry(b, rng, n)   # the same draws as bench_cost_model's sweep-shaped batch
    return b


def cases(n: int):
    """(name, batch, model, scenario) of every checked case."""
    seed = 0
    for mi, model in enumerate(MODELS):
        for si, sc in enumerate(SCENARIOS):
            seed += 1
            yield f"{model}/s{si}/all", every_param_batch(n, seed), model, sc
            if si == 0 and mi < 3:
                yield f"{model}/s{si}/sweep", sweep_batch(n, seed + 1000), model, sc
    yield "llama-2-7b/s0/rram-only", sweep_batch(n // 4, 77, devices=[1]), "llama-2-7b", SCENARIOS[0]
    yield "llama-2-7b/s0/chunked", every_param_batch(40_000, 78), "llama-2-7b", SCENARIOS[0]
    for i in range(5):   # single designs (the CLI eval and per-trial paths)
        yield f"llama-2-7b/s0/one{i}", every_param_batch(1, 100 + i), "llama-2-7b", SCENARIOS[0]
    yield "qwen-moe/s1/one", every_param_batch(1, 200), "qwen1.5-moe-a2.7b", SCENARIOS[1]


def flatten(res: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in res.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = np.asarray(v)
    return out


def run(n: int) -> dict:
    arrays = {}
    with np.errstate(all="ignore"):
        for name, batch, model, sc in cases(n):
            res = evaluate_arrays(batch, model, sc, breakdown=True)
            for k, v in flatten(res).items():
                arrays[f"{name}|{k}"] = v.astype(str) if v.dtype == object else v
    return arrays


def compare(ref: dict, new: dict, rtol: float) -> int:
    bad, inexact, worst = 0, 0, 0.0
    for k in sorted(set(ref) | set(new)):
        if k not in ref or k not in new:
            print(f"MISSING {k}: {'reference' if k not in ref else 'new'} lacks it")
            bad += 1
            continue
        a, b = ref[k], new[k]
        if a.shape != b.shape or a.dtype.kind != b.dtype.kind:
            print(f"SHAPE/DTYPE {k}: {a.shape} {a.dtype} vs {b.shape} {b.dtype}")
            bad += 1
            continue
        if a.dtype.kind in "USO" or a.dtype.kind == "b":
            if not np.array_equal(a, b):
                i = np.flatnonzero(a != b)[0]
                print(f"DIFF {k}: row {i}: {a[i]!r} vs {b[i]!r}")
                bad += 1
            continue
        a, b = a.astype(float), b.astype(float)
        if np.array_equal(a, b, equal_nan=True):
            continue
        inexact += 1
        same_nan = np.isnan(a) == np.isnan(b)
        with np.errstate(all="ignore"):
            rel = np.where(a == b, 0.0, np.abs(a - b) / np.maximum(np.abs(a), np.abs(b)))
        r = float(np.nanmax(rel)) if same_nan.all() else np.inf
        worst = max(worst, r)
        if r > rtol:
            i = int(np.nanargmax(rel)) if np.isfinite(r) else int(np.flatnonzero(~same_nan)[0])
            print(f"DIFF {k}: max rel {r:.3g} at row {i}: {a[i]!r} vs {b[i]!r}")
            bad += 1
    print(f"{len(ref)} arrays: {len(ref) - inexact - bad} bit-identical, {inexact} within rtol={rtol:g} or worse "
          f"(largest relative difference {worst:.3g}), {bad} failing")
    return 1 if bad else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=("dump", "compare"))
    ap.add_argument("path")
    ap.add_argument("--n", type=int, default=10_000, help="designs per case")
    ap.add_argument("--rtol", type=float, default=0.0)
    args = ap.parse_args()
    new = run(args.n)
    if args.mode == "dump":
        np.savez_compressed(args.path, **new)
        print(f"wrote {len(new)} arrays to {args.path}")
        return
    with np.load(args.path) as f:
        ref = {k: f[k] for k in f.files}
    sys.exit(compare(ref, new, args.rtol))


if __name__ == "__main__":
    main()
