"""TPE at 10,000 trials on the search-quality space, with and without screening: one line per finished run in
benchmarks/tpe_long.jsonl, so that the benchmark resumes where it stopped (each run takes 10-50 minutes: the
multi-objective TPE sampler's cost per trial grows with the study).

Usage: python benchmarks/bench_tpe_long.py [--seeds 5] [--screen 0,200000] [--trials 500,2000,10000] [--only S:SEED,...]
run_all.py puts the finished runs' mean (with how many seeds) in the search-quality table of results.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "tpe_long.jsonl"
sys.path.insert(0, str(HERE))

import bench_search_quality as bsq  # noqa: E402


def finished(path: Path = OUT) -> list[dict]:
    """The finished runs: {screen, seed, trials: {str(n): fraction of the exact hypervolume}, secs, kept}."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def summary(path: Path = OUT) -> dict[int, tuple[dict[str, float], int, float, float]]:
    """Per screening setting: (mean fraction per trial count, seeds finished, mean seconds per run, mean kept)."""
    out: dict[int, list[dict]] = {}
    for r in finished(path):
        out.setdefault(int(r["screen"]), []).append(r)
    res = {}
    for sc, runs in out.items():
        keys = runs[0]["frac"].keys()
        res[sc] = ({k: sum(r["frac"][k] for r in runs) / len(runs) for k in keys}, len(runs),
                   sum(r["secs"] for r in runs) / len(runs), sum(r["kept"] for r in runs) / len(runs))
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--screen", default="0,200000")
    ap.add_argument("--trials", default="500,2000,10000")
    ap.add_argument("--only", default="", help="comma-separated screen:seed pairs to run (default: all missing)")
    args = ap.parse_args()
    trials = tuple(int(t) for t in args.trials.split(","))
    ref, hv, _, logged, _ = bsq.exact(bsq.SPACE)
    done = {(int(r["screen"]), int(r["seed"])) for r in finished()}
    todo = [(int(sc), seed) for seed in range(args.seeds) for sc in args.screen.split(",")]
    if args.only:
        todo = [tuple(int(v) for v in pair.split(":")) for pair in args.only.split(",")]
    for sc, seed in todo:
        if (sc, seed) in done:
            continue
        t = time.perf_counter()
        hvs, secs, kept = bsq.search(bsq.SPACE, "tpe", seed, trials, sc, ref, logged)
        line = {"screen": sc, "seed": seed, "hv_exact": hv, "frac": {str(k): v / hv for k, v in hvs.items()},
                "secs": secs, "kept": kept, "wall": time.perf_counter() - t}
        with OUT.open("a") as f:
            f.write(json.dumps(line) + "\n")
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
