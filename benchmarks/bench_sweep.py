"""Wall time of whole `cimdse` commands: CLI start-up, the 1 M-design exhaustive sweep, and the overhead of a
guided sweep against a bare in-memory Optuna study with the same sampler, space and a trivial objective.

Usage: python benchmarks/bench_sweep.py [--quick] [--exhaustive-10m] [--workers N]
Each figure is the wall time of a fresh process (interpreter start and imports included on both sides).
--exhaustive-10m runs only the 10,080,000-design streamed exhaustive sweep (exhaustive-10m.yaml, about 4.7 GB of
trials.csv in a temporary folder) and prints its wall time and peak memory (issue 21: under 4 GB).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CIMDSE = [sys.executable, "-m", "cimdse"]

# the sampler is built by cimdse's make_sampler: Optuna's own classes with the sweep's settings
BARE = """
import sys, time, warnings
import optuna
from cimdse.config import load_sweep
from cimdse.search.optuna_api import distributions, make_sampler
optuna.logging.set_verbosity(optuna.logging.WARNING)
warnings.filterwarnings("ignore")
sweep = load_sweep(sys.argv[1], overrides={"sampler": sys.argv[2], "trials": int(sys.argv[3])})
dists = distributions(sweep)
study = optuna.create_study(directions=[d for _, d in sweep.objectives], sampler=make_sampler(sweep, None))
for _ in range(sweep.search.trials):
    trial = study.ask(dists)
    study.tell(trial, [float(len(str(trial.params)))] * len(sweep.objectives))   # trivial objective
"""


def peak_memory(cmd: list[str]) -> tuple[float, float, float]:
    """(wall s, peak summed RSS of the process and all its descendants in GB, peak RSS of the largest single process
    in GB) of running cmd; Linux (/proc), polled every 50 ms."""
    import os
    import resource

    def tree_rss(pid: int) -> int:
        total, todo = 0, [pid]
        while todo:
            p = todo.pop()
            try:
                with open(f"/proc/{p}/statm") as f:
                    total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
                for t in os.listdir(f"/proc/{p}/task"):
                    with open(f"/proc/{p}/task/{t}/children") as f:
                        todo += [int(c) for c in f.read().split()]
            except (OSError, ValueError):
                pass
        return total

    t = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss(proc.pid))
        time.sleep(0.05)
    seconds = time.perf_counter() - t
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, cmd, stderr=proc.stderr.read() if proc.stderr else None)
    largest = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024   # kB on Linux
    return seconds, peak / 1e9, largest / 1e9


def exhaustive_10m(workers: int | None = None) -> list[tuple[str, float, str, str]]:
    """The streamed 10,080,000-design exhaustive sweep end to end: wall time and peak memory (all processes)."""
    extra = ["--workers", str(workers)] if workers else []
    with tempfile.TemporaryDirectory() as tmp:
        t, tree, largest = peak_memory([*CIMDSE, "sweep", str(HERE / "exhaustive-10m.yaml"), "--out", f"{tmp}/run",
                                        "--quiet", *extra])
    what = "exhaustive sweep, 10,080,000 designs, streamed"
    return [(f"{what}, end to end", t, "s", ""), (f"{what}, peak RSS of all processes", tree, "GB", "< 4"),
            (f"{what}, peak RSS of the largest process", largest, "GB", "")]


def wall(cmd: list[str], repeat: int = 1) -> float:
    """Best wall time (s) of running cmd `repeat` times; fails loudly if the command fails."""
    return timed(cmd, repeat)[0]


def timed(cmd: list[str], repeat: int = 1) -> tuple[float, float]:
    """(best wall time, best CPU time: user + sys of the command and every process it started) in s of running cmd
    `repeat` times. The CPU time says what a run costs on a busy machine, where the wall time of a run that uses a
    second core (workers, the figure process) depends on what else runs."""
    import resource

    best = cpu = float("inf")
    for _ in range(repeat):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
        best = min(best, time.perf_counter() - t)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = min(cpu, r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
    return best, cpu


def startup() -> list[tuple[str, float, str, str]]:
    """`cimdse --help` and `cimdse models`, best of 5."""
    return [("cimdse --help", wall([*CIMDSE, "--help"], 5), "s", "<= 0.3"),
            ("cimdse models", wall([*CIMDSE, "models"], 5), "s", "<= 0.3")]


def exhaustive() -> list[tuple[str, float, str, str]]:
    """End-to-end exhaustive sweep of benchmarks/exhaustive-1m.yaml (enumerate, evaluate, Pareto, CSVs, plots)."""
    with tempfile.TemporaryDirectory() as tmp:
        t, cpu = timed([*CIMDSE, "sweep", str(HERE / "exhaustive-1m.yaml"), "--out", f"{tmp}/run", "--quiet"])
    return [("exhaustive sweep, 1,000,000 designs, end to end", t, "s", "<= 8"),
            ("exhaustive sweep, 1,000,000 designs, CPU time of all processes", cpu, "s", "")]


def overhead(sampler: str, trials: int, sweep_file: str = "sweeps/quickstart.yaml",
             repeat: int = 3) -> list[tuple[str, float, str, str]]:
    """cimdse sweep as a user runs it (default storage: the run folder's journal; trials.csv, pareto.csv, run.yaml,
    the four figures and report.html; one search process, plus the figure process when there is a second core)
    against bare Optuna in memory: wall times and ratio, and the CPU time of each (all processes).

    Best of `repeat` runs of each, interleaved (ours, bare, ...) so that a busy spell hits both sides alike."""
    ours = bare = ours_cpu = bare_cpu = float("inf")
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:  # a fresh run folder each time (else it would resume)
            w, c = timed([*CIMDSE, "sweep", sweep_file, "--sampler", sampler, "--trials", str(trials),
                          "--out", f"{tmp}/run", "--quiet"])
            ours, ours_cpu = min(ours, w), min(ours_cpu, c)
        w, c = timed([sys.executable, "-c", BARE, sweep_file, sampler, str(trials)])
        bare, bare_cpu = min(bare, w), min(bare_cpu, c)
    what = f"{sampler} {trials} trials on {Path(sweep_file).stem}"
    rows = [(f"cimdse sweep, {what}", ours, "s", ""),
            (f"bare Optuna in memory, {what}", bare, "s", ""),
            (f"overhead ratio, {what}", ours / bare, "x", "<= 2.5"),
            (f"CPU time ratio (all processes), {what}", ours_cpu / bare_cpu, "x", "")]
    return rows


def measure(quick: bool = False) -> list[tuple[str, float, str, str]]:
    """Every figure of this script as (what, value, unit, target)."""
    rows = startup()
    rows += overhead("nsga2", 500 if quick else 2000, repeat=3 if quick else 5)
    rows += overhead("tpe", 200 if quick else 500, repeat=1 if quick else 2)
    if not quick:
        rows += exhaustive()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="smaller budgets, no 1 M-design sweep")
    ap.add_argument("--exhaustive-10m", action="store_true", help="only the 10 M-design streamed exhaustive sweep")
    ap.add_argument("--workers", type=int, default=None, help="--workers of the 10 M-design sweep [every core]")
    args = ap.parse_args()
    rows = exhaustive_10m(args.workers) if args.exhaustive_10m else measure(args.quick)
    for what, value, unit, target in rows:
        print(f"{what:<60} {value:>10.3f} {unit:<3} {target}")


if __name__ == "__main__":
    main()
