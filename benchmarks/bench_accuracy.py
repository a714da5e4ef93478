"""Agreement of the analytic error model with measurement (issue 16, item 4).

Writes a small llama-style checkpoint with the tests' generator (cimdse/accuracy/tiny.py), scores the first
--tokens tokens of its bundled text exactly, then for every design of a grid: the analytic prediction of the logit
SQNR (cimdse/cost/errmodel.py), the SQNR measured with the predicted noise injected per matmul, and the SQNR
measured with every matmul emulated bit by bit (--exact path). Prints a markdown table (docs/ACCURACY.md,
"Agreement") and a summary. Run: python benchmarks/bench_accuracy.py [--tokens 128] [--layers 4]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np

from cimdse.accuracy.checkpoint import load_checkpoint
from cimdse.accuracy.measure import measure, reference
from cimdse.accuracy.tiny import TEXT, write_tiny_checkpoint

AGREE_DB = 3.0   # the target: measured within 3 dB of predicted


def grid() -> list[dict]:
    """Designs a user sweeps: three devices (no, low and high cell noise) at falling ADC resolution, then one
    factor at a time around a fefet design (weight, input and cell precision, rows, DAC, ADC range, encoding,
    column combination, attention in CIM, digital CIM). 128-row arrays: the tiny model's K = 128 fills them."""
    out = []
    for dev in ("sram", "fefet", "rram"):
        for adc in (8, 7, 6, 5, 4):
            out.append({"device": dev, "rows": 128, "rows_active": 64, "bits_per_cell": 1, "adc_bits": adc})
    base = {"device": "fefet", "rows": 128, "rows_active": 64, "bits_per_cell": 1, "adc_bits": 6}
    for change in ({"weight_bits": 6}, {"weight_bits": 4}, {"weight_bits": 3}, {"input_bits": 6},
                   {"bits_per_cell": 2, "adc_bits": 8}, {"rows_active": 16, "adc_bits": 5}, {"rows_active": 0},
                   {"dac_bits": 2, "adc_bits": 7}, {"adc_range_sigma": 3.0}, {"adc_range_sigma": 2.0, "adc_bits": 4},
                   {"weight_encoding": "offset"}, {"column_combine": "analog", "adc_bits": 8},
                   {"attention": "cim"}, {"compute": "digital", "device": "sram"}):
        out.append({**base, **change})
    return out


def label(d: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in d.items())


def fmt(x) -> str:
    return "exact" if x is None else f"{x:.1f}"


def run(tokens: int, layers: int, hidden: int, seed: int) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_tiny_checkpoint(Path(tmp) / "tiny-llama", "llama", seed=seed, layers=layers, hidden=hidden,
                                       heads=4, kv_heads=2, ffn_dim=2 * hidden)
        ck = load_checkpoint(folder)
        ids = np.asarray(ck.tokenizer.encode(TEXT).ids[:tokens], dtype=np.int64)
        ref = reference(ck, ids)
        for d in grid():
            t = time.perf_counter()
            inj = measure(ref, d, "inject", seed)
            ex = measure(ref, d, "exact", seed)
            rows.append({"design": label(d), "reference_ppl": ref.ppl, "inject_ppl": inj["design_ppl"],
                         "exact_ppl": ex["design_ppl"], "predicted_db": inj["predicted_logit_sqnr_db"],
                         "inject_db": inj["logit_sqnr_db"], "exact_db": ex["logit_sqnr_db"],
                         "seconds": time.perf_counter() - t, "exact_matmuls": ex["per_layer"],
                         "inject_matmuls": inj["per_layer"]})
    return rows


def diff(a, b) -> float:
    return math.nan if a is None or b is None else a - b


def table(rows: list[dict]) -> str:
    lines = ["| design | ppl exact run | ppl inject | ppl emulated | predicted dB | inject dB | emulated dB | "
             "emulated - predicted | inject - predicted | emulated - inject |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['design']} | {r['reference_ppl']:.3f} | {r['inject_ppl']:.3g} | {r['exact_ppl']:.3g} | "
                     f"{fmt(r['predicted_db'])} | {fmt(r['inject_db'])} | {fmt(r['exact_db'])} | "
                     f"{diff(r['exact_db'], r['predicted_db']):+.1f} | {diff(r['inject_db'], r['predicted_db']):+.1f} | "
                     f"{diff(r['exact_db'], r['inject_db']):+.1f} |")
    return "\n".join(lines)


def matmul_table(rows: list[dict]) -> str:
    """Per matmul kind (layer 0 and lm_head): emulated SQNR minus the predicted one, to locate disagreements."""
    ops = [*rows[0]["exact_matmuls"][0]["matmuls"], "lm_head"]
    lines = ["| design | " + " | ".join(ops) + " |", "|---|" + "---:|" * len(ops)]
    for r in rows:
        per = {**r["exact_matmuls"][0]["matmuls"], **r["exact_matmuls"][-1]["matmuls"]}
        lines.append(f"| {r['design']} | " + " | ".join(
            f"{diff(per[op]['measured_sqnr_db'], per[op]['predicted_sqnr_db']):+.1f}" for op in ops) + " |")
    return "\n".join(lines)


def summary(rows: list[dict]) -> str:
    out = []
    for key, name in (("exact_db", "emulated"), ("inject_db", "noise injection")):
        d = np.array([diff(r[key], r["predicted_db"]) for r in rows])
        d = d[np.isfinite(d)]
        within = int(np.sum(np.abs(d) <= AGREE_DB))
        out.append(f"{name} vs predicted: {within}/{len(d)} designs within {AGREE_DB:g} dB; mean difference "
                   f"{d.mean():+.1f} dB, largest |difference| {np.abs(d).max():.1f} dB")
    d = np.array([diff(r["exact_db"], r["inject_db"]) for r in rows])
    out.append(f"emulated vs noise injection: {int(np.sum(np.abs(d) <= 2.0))}/{len(d)} designs within 2 dB")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t = time.perf_counter()
    rows = run(args.tokens, args.layers, args.hidden, args.seed)
    print(f"tiny llama checkpoint: {args.layers} layers, hidden {args.hidden}, {args.tokens} tokens; "
          f"{len(rows)} designs in {time.perf_counter() - t:.0f} s\n")
    print("Logit SQNR: analytic prediction, measured with injected noise, measured with exact emulation\n")
    print(table(rows))
    print("\nPer matmul (layer 0, and lm_head): emulated minus predicted SQNR (dB)\n")
    print(matmul_table(rows))
    print()
    print(summary(rows))


if __name__ == "__main__":
    main()
