"""Which Optuna storage should `cimdse sweep --workers N` share on one machine: a journal file (with its
file lock) or SQLite? Runs the same random-sampler sweep (storage-bound: the sampler and the cost model are
cheap) through the real `run_sweep(..., workers=N)` on each storage with 1 and 2 workers, and prints wall time,
trials per second, storage errors, and whether exactly the requested number of trials completed.

Run: PYTHONPATH=. python benchmarks/bench_storage.py [--trials 600] [--batch 8]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

SWEEP = """
name: bench-storage
workload: {model: gpt2, batch: 1, prompt_tokens: 128, generate_tokens: 32}
space:
  device: [sram, rram, pcm, mram, fefet]
  rows: [64, 128, 256, 512]
  cols: [64, 128, 256, 512]
  adc_bits: {low: 3, high: 10}
  tiles: {low: 256, high: 16384, log: true}
fixed: {bits_per_cell: 1, chips: 1}
objectives: {energy_per_token_uj: minimize, sqnr_db: maximize}
constraints: ["weights_fit == 1"]
search: {sampler: random, trials: 600, seed: 1, batch_size: 8}
"""


def one(kind: str, workers: int, trials: int, batch: int, root: Path) -> tuple[float, int, str]:
    """Run the sweep on a fresh storage of `kind`; returns (seconds, completed trials, error or '')."""
    import optuna

    from cimdse.config import load_sweep
    from cimdse.errors import UserError
    from cimdse.run import run_sweep
    from cimdse.search.optuna_api import open_storage

    run = root / f"{kind}-{workers}"
    run.mkdir()
    f = run / "sweep.yaml"
    f.write_text(SWEEP)
    storage = f"sqlite:///{run / 'study.db'}" if kind == "sqlite" else str(run / "study.journal")
    sw = load_sweep(f, {"storage": storage, "trials": trials})
    sw = dataclasses.replace(sw, search=dataclasses.replace(sw.search, batch_size=batch))
    start = time.perf_counter()
    err = ""
    try:
        run_sweep(sw, out=run / "out", workers=workers, plots=False)
    except UserError as e:
        err = str(e)[-80:]
    seconds = time.perf_counter() - start
    study = optuna.load_study(study_name=sw.name, storage=open_storage(storage, run))
    done = len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))
    return seconds, done, err


def main() -> None:
    """Print one line per (storage, workers)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=600)
    ap.add_argument("--batch", type=int, default=8)
    a = ap.parse_args()
    print(f"{'storage':<8} {'workers':>7} {'wall_s':>8} {'trials/s':>9} {'ms/trial':>9} {'complete':>9}  error")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("journal", "sqlite"):
            for workers in (1, 2):
                s, done, err = one(kind, workers, a.trials, a.batch, Path(tmp))
                print(f"{kind:<8} {workers:>7} {s:8.2f} {done / s:9.1f} {1000 * s / max(done, 1):9.2f} "
                      f"{done:>5}/{a.trials:<4} {err}", flush=True)


if __name__ == "__main__":
    main()
