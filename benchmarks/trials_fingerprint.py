"""Run one small sweep per sampler and print each trials.csv's SHA-256, to check that a change of the sweep engine
leaves the trials byte-identical: run it with the old code and the new (PYTHONPATH=...) and compare the lines.

Usage: python benchmarks/trials_fingerprint.py OUT_DIR [--storage]   (--storage: the run folder's journal is
replaced by a journal file path given with --storage, to cover that path too)
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

SWEEP = """
name: fp-{sampler}
workload: {{model: gpt2, batch: 1, prompt_tokens: 32, generate_tokens: 8}}
space:
  device: [sram, rram, fefet]
  rows: [64, 128, 256]
  adc_bits: {{low: 4, high: 9}}
  tiles: [512, 1024, 4096]
fixed: {{bits_per_cell: 1, chips: 1}}
objectives: {{energy_per_token_uj: minimize, sqnr_db: maximize}}
constraints: ["weights_fit == 1"]
search: {{sampler: {sampler}, trials: {trials}, seed: 3, batch_size: 16}}
"""

SAMPLERS = {"tpe": 120, "nsga2": 200, "nsga3": 200, "random": 100, "qmc": 64, "grid": 100, "exhaustive": 0}


def main(out: Path) -> None:
    from cimdse import run_sweep
    from cimdse.config import load_sweep

    out.mkdir(parents=True, exist_ok=True)
    for sampler, trials in SAMPLERS.items():
        f = out / f"{sampler}.yaml"
        f.write_text(SWEEP.format(sampler=sampler, trials=max(trials, 1)))
        res = run_sweep(load_sweep(str(f)), out=out / sampler, fresh=True, plots=False)
        for name in ("trials.csv", "pareto.csv"):
            data = (res.run_dir / name).read_bytes()
            print(f"{sampler:10s} {name:10s} {hashlib.sha256(data).hexdigest()[:16]} {len(data)}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
