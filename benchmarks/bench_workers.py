"""Speed-up of `cimdse sweep --workers 2` over one worker: the quickstart sweep (GPT-2 decode, 7 parameters)
with a few hundred TPE and NSGA-II trials, each run as the real command in a fresh run folder, wall time of the
whole command (imports, study, trials, CSV, plots). Prints one line per sampler.

Run: PYTHONPATH=. python benchmarks/bench_workers.py [--trials 400] [--repeat 1] [--samplers tpe,nsga2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed_sweep(sampler: str, trials: int, workers: int, out: Path) -> float:
    """Wall seconds of one `cimdse sweep sweeps/quickstart.yaml` run; checks it completed exactly `trials`."""
    cmd = [sys.executable, "-m", "cimdse", "sweep", str(ROOT / "sweeps" / "quickstart.yaml"), "--sampler", sampler,
           "--trials", str(trials), "--workers", str(workers), "--out", str(out), "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    seconds = time.perf_counter() - start
    rows = sum(1 for _ in (out / "trials.csv").open()) - 1
    assert rows == trials, f"{rows} trials in {out}, expected {trials}"
    return seconds


def main() -> None:
    """Print wall time of 1 and 2 workers and the speed-up, per sampler."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=400)
    ap.add_argument("--repeat", type=int, default=1, help="Runs per setting; the best is reported.")
    ap.add_argument("--samplers", default="tpe,nsga2", help="Comma-separated samplers to time.")
    a = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores; quickstart sweep, {a.trials} trials, batch 25, best of {a.repeat}")
    print(f"{'sampler':<8} {'1 worker s':>11} {'2 workers s':>12} {'speed-up':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for sampler in a.samplers.split(","):
            best = {}
            for workers in (1, 2):
                best[workers] = min(timed_sweep(sampler, a.trials, workers, Path(tmp) / f"{sampler}-{workers}-{r}")
                                    for r in range(a.repeat))
            print(f"{sampler:<8} {best[1]:11.2f} {best[2]:12.2f} {best[1] / best[2]:8.2f}x", flush=True)


if __name__ == "__main__":
    main()
