"""Designs evaluated per second by the cost model (prints figures; no assertions).

Usage: python benchmarks/bench_cost_model.py [--sizes 1,1000,100000,1000000] [--models llama-2-7b,...]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from cimdse.cost import evaluate_arrays
from cimdse.cost.params import PARAMS, defaults, to_batch
from cimdse.workload import Scenario

# A host GPU beside the chips makes a design another system (a GPU roofline plus the CIM side on its share, priced
# by cost/host.py per distinct host choice): kept at `none` in the sweep-shaped batch, drawn with vary_all.
SYSTEM_CHOICES = ("host", "offload", "host_link", "host_overlap")


def draw_geometry(b: dict, rng: np.random.Generator, n: int) -> None:
    """In place: the array geometry, bits per cell, ADC, multiplexing and tiles a sweep usually searches."""
    b["rows"] = 2.0 ** rng.integers(6, 11, n)
    b["cols"] = 2.0 ** rng.integers(6, 11, n)
    b["bits_per_cell"] = rng.integers(1, 4, n).astype(float)
    b["adc_bits"] = rng.integers(3, 11, n).astype(float)
    b["cols_per_adc"] = 2.0 ** rng.integers(0, 6, n)
    b["tiles"] = 2.0 ** rng.integers(6, 16, n)


def random_batch(n: int, seed: int = 0, vary_all: bool = False) -> dict:
    """n random designs: the architecture parameters a sweep usually searches (every categorical one but the host
    system's, array geometry, bits per cell, ADC, multiplexing, tiles); with vary_all, every other parameter too."""
    rng = np.random.default_rng(seed)
    b = to_batch([defaults()])
    b = {k: np.repeat(v, n) for k, v in b.items()}
    for name, p in PARAMS.items():
        if p.kind == "cat" and (vary_all or name not in SYSTEM_CHOICES):
            b[name] = rng.integers(0, len(p.choices), n)
    draw_geometry(b, rng, n)
    if vary_all:
        b["node_nm"] = rng.choice([7.0, 14.0, 22.0, 28.0, 45.0, 65.0], n)
        b["weight_bits"] = rng.integers(2, 9, n).astype(float)
        b["input_bits"] = rng.integers(2, 9, n).astype(float)
        b["dac_bits"] = rng.integers(1, 5, n).astype(float)
        b["rows_active"] = b["rows"] / 2.0 ** rng.integers(0, 4, n)
        b["arrays_per_tile"] = 2.0 ** rng.integers(2, 7, n)
        b["chips"] = rng.integers(1, 9, n).astype(float)
        b["pipeline_depth"] = rng.integers(1, 33, n).astype(float)
        b["clock_ghz"] = rng.uniform(0.5, 2.0, n)
        b["offchip_devices"] = rng.integers(1, 9, n).astype(float)
        b["vdd"] = rng.choice([0.0, 0.7, 0.9], n)
        b["simd_lanes"] = 2.0 ** rng.integers(4, 9, n)
        b["tile_buffer_kb"] = 2.0 ** rng.integers(2, 7, n)
        b["global_buffer_mb"] = 2.0 ** rng.integers(0, 7, n)
    return b


def measure(sizes=(1, 1000, 100_000, 1_000_000), models=("llama-2-7b", "llama-2-70b", "bert-large"),
            repeat: int = 3, mallopt: bool = True) -> list[tuple[str, float, str, str]]:
    """(what, value, unit, target) rows: designs/s per model and batch size, and single-design call times.

    mallopt: raise glibc's allocator thresholds first, as the `cimdse` command does before it runs the cost model
    (cli.py, cost/_alloc.py; it stays for the rest of the process): without it every 1 M call page-faults ~20 k
    pages of fresh result arrays in (kernel time, 5-40 % of a 1 M call depending on the machine's load)."""
    if mallopt:
        from cimdse.cost._alloc import tune_allocator

        tune_allocator()
    sc = Scenario(batch=1, prompt_tokens=512, generate_tokens=128)
    rows = []
    for model in models:
        evaluate_arrays(random_batch(2), model, sc)  # warm the workload cache
        for n in sizes:
            b = random_batch(n)
            best = _best(lambda b=b, model=model: evaluate_arrays(b, model, sc), repeat)
            rows.append((f"cost model, {model}, batch of {n:,} designs", n / best, "designs/s",
                         ">= 1,000,000" if n >= 100_000 else ""))
    for n in sizes[-2:]:
        b = random_batch(n, vary_all=True)
        best = _best(lambda b=b: evaluate_arrays(b, "llama-2-7b", sc), repeat)
        rows.append((f"cost model, llama-2-7b, {n:,} designs, every parameter random", n / best, "designs/s",
                     ">= 1,000,000" if n >= 100_000 else ""))
    from cimdse.cost import evaluate

    t = _best(lambda: evaluate([defaults()], "llama-2-7b", sc), 20)
    rows.append(("single-design evaluate() -> DataFrame", t * 1e3, "ms", "< 1"))
    t = _best(lambda: evaluate_arrays(to_batch([defaults()]), "llama-2-7b", sc), 20)
    rows.append(("single-design evaluate_arrays()", t * 1e3, "ms", "< 1"))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="1,1000,100000,1000000")
    ap.add_argument("--models", default="llama-2-7b,llama-2-70b,bert-large")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-mallopt", action="store_true", help="keep glibc's default allocator thresholds")
    args = ap.parse_args()
    print(f"cost model (best of {args.repeat}, llama-2-7b scenario prompt 512 + generate 128); "
          f"cores visible: {os.cpu_count()}")
    rows = measure(tuple(int(s) for s in args.sizes.split(",")), tuple(args.models.split(",")), args.repeat,
                   mallopt=not args.no_mallopt)
    for what, value, unit, target in rows:
        print(f"{what:<64} {value:>14,.2f} {unit:<10} {target}")


def _time(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _best(fn, repeat: int, min_seconds: float = 1.0, max_repeat: int = 200) -> float:
    """Best wall time (s) of fn over at least `repeat` calls, and more until `min_seconds` have been spent (at most
    `max_repeat` calls), as timeit's autorange does: on a shared machine a burst of other work can cover all of a few
    short calls, so short calls are repeated more to sample a quiet moment."""
    times, spent = [], 0.0
    while len(times) < repeat or (spent < min_seconds and len(times) < max_repeat):
        times.append(_time(fn))
        spent += times[-1]
    return min(times)


if __name__ == "__main__":
    main()
