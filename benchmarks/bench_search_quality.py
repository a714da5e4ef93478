"""Search quality: the hypervolume that each sampler reaches after 200, 500 and 2 000 trials, as a fraction of the
exact front's hypervolume (from the exhaustive path), averaged over 5 seeds, on the sweeps in sweeps/ that are
small enough to enumerate.

Usage: python benchmarks/bench_search_quality.py [--trials 200,500,2000] [--seeds 5] [--jobs 2]
Samplers run in memory with cimdse's own settings (study.make_sampler) and batches, so this measures the
samplers, not storage. Infeasible trials add nothing to the hypervolume.
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SPACES = ("sweeps/device-comparison.yaml", "sweeps/precision-study.yaml")
SAMPLERS = ("tpe", "nsga2", "random", "qmc")


def _space(values: np.ndarray, logged: np.ndarray) -> np.ndarray:
    """Objectives as the history figure measures them: log10 for the columns `logged`."""
    out = np.array(values, dtype=float, copy=True)
    out[:, logged] = np.log10(out[:, logged])
    return out


def exact(sweep_file: str) -> tuple[np.ndarray, float, int, np.ndarray]:
    """Reference point and exact front hypervolume of the whole space, its size, and which objectives are
    measured in log10 (those spanning more than two decades over the feasible designs, as in history.png)."""
    from cimdse.config import load_sweep
    from cimdse.pareto import default_reference, hypervolume
    from cimdse.plots import use_log
    from cimdse.search.exhaustive import run_exhaustive

    sweep = load_sweep(ROOT / sweep_file)
    s = run_exhaustive(sweep)
    dirs = [d for _, d in sweep.objectives]
    feas = s.objectives[s.feasible]
    logged = np.array([bool(use_log(feas[:, k], None)) for k in range(feas.shape[1])])
    feas = _space(feas, logged)
    ref = default_reference(feas, dirs)
    return ref, hypervolume(feas, dirs, ref), len(s.objectives), logged


def search(sweep_file: str, sampler: str, seed: int, trials: int, ref: np.ndarray,
           logged: np.ndarray) -> tuple[np.ndarray, float]:
    """Hypervolume after each trial of one in-memory search, and its wall time."""
    import warnings

    import optuna

    from cimdse.config import load_sweep
    from cimdse.pareto import hypervolume_history
    from cimdse.search.optuna_api import distributions, make_sampler
    from cimdse.search.scoring import score

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore")
    sweep = load_sweep(ROOT / sweep_file, overrides={"sampler": sampler, "seed": seed, "trials": trials})
    dirs = [d for _, d in sweep.objectives]
    study = optuna.create_study(directions=dirs, sampler=make_sampler(sweep, None))
    dists = distributions(sweep)
    rows, feasible = [], []
    t0 = time.perf_counter()
    done = 0
    while done < trials:
        batch = [study.ask(dists) for _ in range(min(sweep.search.batch_size, trials - done))]
        done += len(batch)
        s = score(sweep, [t.params for t in batch])
        for i, t in enumerate(batch):
            for j, v in enumerate(s.violations[i]):
                t.set_constraint(f"c{j}", float(v))
            study.tell(t, [float(v) for v in s.objectives[i]])
        rows.append(s.objectives)
        feasible.append(s.feasible)
    values, ok = np.concatenate(rows), np.concatenate(feasible)
    values = _space(np.where(ok[:, None], values, 1.0), logged)
    # infeasible trials count as trials but not as points: replace them by the reference (zero volume)
    values = np.where(ok[:, None], values, ref[None, :])
    return hypervolume_history(values, dirs, ref), time.perf_counter() - t0


def _job(args):
    return args, search(*args)


def measure(trials=(200, 500, 2000), seeds: int = 5, jobs: int = 2, spaces=SPACES, samplers=SAMPLERS):
    """Rows (space, sampler, {trials: mean fraction}, mean seconds per run) and the exact-front facts."""
    facts = {sp: exact(sp) for sp in spaces}
    work = [(sp, sm, seed, max(trials), facts[sp][0], facts[sp][3])
            for sp in spaces for sm in samplers for seed in range(seeds)]
    results: dict = {}
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for (sp, sm, *_), (hist, secs) in pool.map(_job, work):
            results.setdefault((sp, sm), []).append((hist, secs))
    rows = []
    for (sp, sm), runs in results.items():
        hv = facts[sp][1]
        frac = {n: float(np.mean([h[n - 1] / hv for h, _ in runs])) for n in trials}
        rows.append((sp, sm, frac, float(np.mean([s for _, s in runs]))))
    return rows, facts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--trials", default="200,500,2000")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--samplers", default=",".join(SAMPLERS))
    args = ap.parse_args()
    trials = tuple(int(t) for t in args.trials.split(","))
    rows, facts = measure(trials, args.seeds, args.jobs, samplers=tuple(args.samplers.split(",")))
    for sp, (_, hv, n, _) in facts.items():
        print(f"{sp}: {n:,} designs, exact front hypervolume {hv:.6g}")
    head = " ".join(f"{'HV@' + str(n):>9}" for n in trials)
    print(f"{'space':<32} {'sampler':<8} {head} {'s/run':>8}")
    for sp, sm, frac, secs in rows:
        print(f"{Path(sp).stem:<32} {sm:<8} " + " ".join(f"{frac[n]:>9.4f}" for n in trials) + f" {secs:>8.1f}")


if __name__ == "__main__":
    main()
