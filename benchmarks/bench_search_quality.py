"""Search quality on a space of 1.5 M designs: the hypervolume each sampler reaches, with and without screening, as
a fraction of the exact front's hypervolume (enumerated), in log-objective space; and what `sampler: auto` (the
default) reaches end to end.

Usage: python benchmarks/bench_search_quality.py [--trials 500,2000,10000] [--seeds 5] [--samplers nsga2,tpe,...]
       [--screen 200000] [--jobs 2] [--default] [--space FILE]
Full grid (4 samplers x 2 screening settings x 5 seeds, up to 10,000 trials): NSGA-II, random and QMC take
seconds to a minute per run, multi-objective TPE tens of ms per trial growing with the trials (about 15-30 min per
10,000-trial run), so the full grid takes hours on 2 cores; `--samplers nsga2,random,qmc --seeds 2` or
`--trials 500,2000` gives a reduced grid in minutes. `--default` runs `cimdse sweep` on the space with the default
sampler (auto) and, forced to guide (search.budget_s: 1), the auto choice it makes when enumeration is over
budget, and reports wall time and hypervolume fraction of each.

Samplers run in memory with cimdse's settings (optuna_api.make_sampler) and batches; screening is
cimdse.search.screen (scrambled Sobol, seeded with the run's seed) added through optuna_api.add_screened, as in a run.
A run's hypervolume at n trials counts the screened designs plus the first n sampler trials. Infeasible designs add
nothing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SPACE = "benchmarks/llama2-7b-discrete.yaml"
SAMPLERS = ("nsga2", "tpe", "random", "qmc")
CHUNK = 250_000


def _space(values: np.ndarray, logged: np.ndarray) -> np.ndarray:
    """Objectives as the history figure measures them: log10 for the columns `logged`."""
    out = np.array(values, dtype=float, copy=True)
    out[:, logged] = np.log10(out[:, logged])
    return out


def exact(sweep_file: str) -> tuple[np.ndarray, float, int, np.ndarray, float]:
    """Reference point, exact front hypervolume, space size, which objectives are taken in log10 (those spanning
    more than two decades over the feasible designs, as in history.png) and the enumeration's seconds. The space is
    scored in chunks keeping only the feasible designs' objectives (memory stays bounded)."""
    from cimdse.config import load_sweep
    from cimdse.pareto import default_reference, hypervolume, pareto_mask
    from cimdse.plots.style import use_log
    from cimdse.search.exhaustive import enumerate_space, space_size
    from cimdse.search.scoring import score

    sweep = load_sweep(ROOT / sweep_file)
    total = space_size(sweep)
    t0 = time.perf_counter()
    feas = []
    for lo in range(0, total, CHUNK):
        s = score(sweep, enumerate_space(sweep, lo, min(lo + CHUNK, total)))
        feas.append(s.objectives[s.feasible])
    secs = time.perf_counter() - t0
    dirs = [d for _, d in sweep.objectives]
    feas = np.concatenate(feas)
    logged = np.array([bool(use_log(feas[:, k], None)) for k in range(feas.shape[1])])
    feas = _space(feas, logged)
    ref = default_reference(feas, dirs)
    front = feas[pareto_mask(feas, dirs)]
    return ref, hypervolume(front, dirs, ref), total, logged, secs


def search(sweep_file: str, sampler: str, seed: int, trials: tuple[int, ...], screen_n: int, ref: np.ndarray,
           logged: np.ndarray) -> tuple[dict[int, float], float, int]:
    """One in-memory search: {n: hypervolume after screening + n sampler trials}, seconds, screened designs kept."""
    import warnings

    from cimdse.config import load_sweep
    from cimdse.pareto import hypervolume, pareto_mask
    from cimdse.search import optuna_api as oa
    from cimdse.search.scoring import score
    from cimdse.search.screen import screen

    warnings.filterwarnings("ignore")   # a benchmark process of its own
    oa.quiet_logging()
    sweep = load_sweep(ROOT / sweep_file, overrides={"sampler": sampler, "seed": seed, "trials": max(trials)})
    dirs = [d for _, d in sweep.objectives]
    t0 = time.perf_counter()
    study = oa.memory_study(dirs, oa.make_sampler(sweep, None))
    dists = oa.distributions(sweep)
    rows, feasible = [], []
    kept = 0
    if screen_n:
        s = screen(sweep, n=screen_n, seed=seed)
        if s.params:
            kept = oa.add_screened(study, dists, s.params, s.scored.objectives, s.scored.violations,
                                   [{} for _ in s.params])
            rows.append(s.scored.objectives)
            feasible.append(s.scored.feasible)
    done = 0
    n_max = max(trials)
    while done < n_max:
        batch = [study.ask(dists) for _ in range(min(sweep.search.batch_size, n_max - done))]
        done += len(batch)
        s = score(sweep, [t.params for t in batch])
        for i, t in enumerate(batch):
            oa.tell_scored(study, t, s.objectives[i], s.violations[i], None, False)
        rows.append(s.objectives)
        feasible.append(s.feasible)
    secs = time.perf_counter() - t0
    values, ok = np.concatenate(rows), np.concatenate(feasible)
    out = {}
    for n in trials:
        v, m = values[:kept + n], ok[:kept + n]
        pts = _space(v[m], logged)
        pts = pts[(pts < ref).all(axis=1)] if len(pts) else pts
        out[n] = hypervolume(pts[pareto_mask(pts, dirs)], dirs, ref) if len(pts) else 0.0
    return out, secs, kept


def _job(args):
    return args, search(*args)


def measure(sweep_file: str, trials=(500, 2000, 10000), seeds: int = 5, jobs: int = 2, samplers=SAMPLERS,
            screens=(0, 200_000)):
    """Rows (sampler, screen, {trials: mean fraction}, mean seconds per run, mean kept) and the exact-front facts."""
    facts = exact(sweep_file)
    ref, hv, _, logged, _ = facts
    work = [(sweep_file, sm, seed, tuple(trials), sc, ref, logged)
            for sm in samplers for sc in screens for seed in range(seeds)]
    results: dict = {}
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for (_, sm, _, _, sc, *_), (hvs, secs, kept) in pool.map(_job, work):
            results.setdefault((sm, sc), []).append((hvs, secs, kept))
    rows = []
    for (sm, sc), runs in results.items():
        frac = {n: float(np.mean([h[n] / hv for h, _, _ in runs])) for n in trials}
        rows.append((sm, sc, frac, float(np.mean([s for _, s, _ in runs])), float(np.mean([k for *_, k in runs]))))
    return rows, facts


def default_run(sweep_file: str, ref: np.ndarray, hv: float, logged: np.ndarray, extra: str = "") -> tuple:
    """`cimdse sweep` on the space with the default sampler (auto), `extra` appended to its search mapping:
    (wall seconds of the whole command, hypervolume fraction of its pareto.csv, the summary line)."""
    import pandas as pd
    import yaml

    from cimdse.pareto import hypervolume

    raw = yaml.safe_load((ROOT / sweep_file).read_text())
    if extra:
        raw["search"].update(yaml.safe_load(extra))
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "space.yaml"
        f.write_text(yaml.safe_dump(raw))
        t = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "cimdse", "sweep", str(f), "--out", f"{tmp}/run", "--quiet",
                            "--no-plots"], capture_output=True, text=True, cwd=ROOT, check=True)
        wall = time.perf_counter() - t
        front = pd.read_csv(f"{tmp}/run/pareto.csv")
    objs = list(raw["objectives"])
    pts = _space(front[objs].to_numpy(dtype=float), logged)
    pts = pts[(pts < ref).all(axis=1)]
    return wall, hypervolume(pts, list(raw["objectives"].values()), ref) / hv, r.stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--space", default=SPACE)
    ap.add_argument("--trials", default="500,2000,10000")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--samplers", default=",".join(SAMPLERS), help="comma-separated; empty: none")
    ap.add_argument("--screen", default="0,200000", help="screening settings to compare (designs)")
    ap.add_argument("--default", action="store_true", help="also run `cimdse sweep` with sampler auto")
    args = ap.parse_args()
    trials = tuple(int(t) for t in args.trials.split(","))
    samplers = tuple(s for s in args.samplers.split(",") if s)
    screens = tuple(int(s) for s in args.screen.split(","))
    ref, hv, n, logged, secs = facts = exact(args.space)
    print(f"{args.space}: {n:,} designs, exact front hypervolume {hv:.6g} (log10 objectives {list(logged)}), "
          f"enumerated in {secs:.1f} s")
    if samplers:
        rows, _ = measure(args.space, trials, args.seeds, args.jobs, samplers, screens)
        head = " ".join(f"{'HV@' + str(t):>9}" for t in trials)
        print(f"{'sampler':<8} {'screen':>8} {'kept':>7} {head} {'s/run':>8}   (mean of {args.seeds} seeds)")
        for sm, sc, frac, s, kept in rows:
            print(f"{sm:<8} {sc:>8,} {kept:>7.0f} " + " ".join(f"{frac[t]:>9.4f}" for t in trials) + f" {s:>8.1f}")
    if args.default:
        for label, extra in (("auto (default)", ""), ("auto forced to guide, budget_s 1", "{budget_s: 1}")):
            wall, frac, line = default_run(args.space, facts[0], hv, logged, extra)
            print(f"{label}: {wall:.1f} s wall, {frac:.4f} of the exact hypervolume\n  {line}")


if __name__ == "__main__":
    main()
