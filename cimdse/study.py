"""Search over CIM designs: Optuna ask/tell in batches (the only Optuna user), and the exhaustive fast path.

Each batch of asked trials is scored with one vectorized cost-model call. The study lives in a persistent Optuna
storage (a journal file in the run folder by default), so an interrupted sweep resumes where it stopped.
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import Sweep
from .cost import evaluate_arrays
from .cost.gpu import BASELINE_METRICS
from .cost.model import METRICS
from .cost.params import PARAMS, defaults, to_batch

STUDY_FILE = "study.journal"


@dataclass
class Scored:
    """A scored batch: parameter columns (names), metric arrays, objective matrix, violations."""

    batch: dict
    metrics: dict
    objectives: np.ndarray      # (N, M) in the metrics' own units
    violations: np.ndarray      # (N, C) > 0 when violated (C >= 1: last column is the design-conflict flag)
    feasible: np.ndarray
    violation_text: np.ndarray


def base_design(sweep: Sweep) -> dict:
    """Defaults, then the workload's precisions, then the sweep's fixed values."""
    d = defaults()
    d["weight_bits"] = float(sweep.scenario.weight_bits)
    d["input_bits"] = float(sweep.scenario.act_bits)
    d.update(sweep.fixed)
    return d


def sweep_baseline(sweep: Sweep) -> dict | None:
    """The GPU baseline's gpu_metrics result (metrics, feasible, gpus, ...) when the sweep names one, else None."""
    if not sweep.baseline:
        return None
    from .cost.gpu import baseline_metrics

    return baseline_metrics(sweep.baseline["gpu"], sweep.baseline["gpus"], sweep.model, sweep.scenario)


def score(sweep: Sweep, rows: list[dict] | dict) -> Scored:
    """Evaluate designs (searched values over the sweep's base design) and check its constraints."""
    base = base_design(sweep)
    if isinstance(rows, dict):
        n = len(next(iter(rows.values())))
        cols = {k: np.repeat(np.asarray([v], dtype=object if isinstance(v, str) else float), n) for k, v in base.items()}
        cols.update(rows)
        batch = to_batch(cols)
    else:
        batch = to_batch([{**base, **r} for r in rows])
    m = evaluate_arrays(batch, sweep.model, sweep.scenario)
    base = sweep_baseline(sweep)
    if base is not None:
        from .cost.gpu import baseline_columns

        m.update(baseline_columns(m, base["metrics"]))
    obj = np.column_stack([np.asarray(m[k], dtype=float) for k, _ in sweep.objectives])
    viol, texts = [], []
    n = len(obj)
    text = np.where(m["feasible"], "", m["reason"]).astype(object)
    for c in sweep.constraints:
        v = np.asarray(m[c.metric], dtype=float)
        scale = max(abs(c.bound), 1e-12)
        if c.op in ("<=", "<"):
            raw = (v - c.bound) / scale
            bad = v > c.bound if c.op == "<=" else v >= c.bound
        elif c.op in (">=", ">"):
            raw = (c.bound - v) / scale
            bad = v < c.bound if c.op == ">=" else v <= c.bound
        else:
            raw = np.abs(v - c.bound) / scale
            bad = v != c.bound
        viol.append(np.where(bad, np.maximum(raw, 1e-9), np.minimum(raw, 0.0)))
        text = np.where(bad, np.where(text == "", c.text, text + "; " + c.text), text)
        texts.append(c.text)
    viol.append(np.where(m["feasible"], 0.0, 1.0))
    violations = np.column_stack(viol) if viol else np.zeros((n, 0))
    feasible = np.all(violations <= 0, axis=1)
    return Scored(batch, m, obj, violations, feasible, text)


# ------------------------------------------------------------------------------------------------ optuna

def _distributions(sweep: Sweep) -> dict:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out = {}
    for d in sweep.space:
        if d.choices:
            out[d.name] = CategoricalDistribution(list(d.choices))
        elif d.is_int:
            out[d.name] = IntDistribution(int(d.low), int(d.high), log=d.log, step=int(d.step or 1))
        else:
            out[d.name] = FloatDistribution(float(d.low), float(d.high), log=d.log, step=d.step)
    return out


def batch_seed(seed: int, trials_so_far: int) -> int:
    """The sampler seed for the batch that starts after `trials_so_far` trials of the study (any state).

    Re-seeding each batch from the study's own history makes the next batch a function of (seed, history) only,
    so a run resumed at a batch boundary asks exactly what the uninterrupted run would have asked, and a run
    resumed after a kill does not replay the random draws of its first batches.
    """
    return int(np.random.SeedSequence([seed, trials_so_far]).generate_state(1)[0])


def make_sampler(sweep: Sweep, constraints_func: Callable | None, seed: int | None = None):
    """The Optuna sampler named in the sweep, seeded (with `seed` when given, else the sweep's seed)."""
    import optuna

    s, seed = sweep.search.sampler, (sweep.search.seed if seed is None else seed)
    if s == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True,
                                          constraints_func=constraints_func)
    if s == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, constraints_func=constraints_func)
    if s == "nsga3":
        return optuna.samplers.NSGAIIISampler(seed=seed, constraints_func=constraints_func)
    if s == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if s == "qmc":
        return optuna.samplers.QMCSampler(seed=seed, scramble=True, warn_independent_sampling=False,
                                          warn_asynchronous_seeding=False)
    if s == "grid":
        grid = {d.name: list(d.discrete_values) for d in sweep.space}
        return optuna.samplers.GridSampler(grid, seed=seed)
    raise ValueError(f"no Optuna sampler for {s!r}")


class FlockLock:
    """Lock for Optuna's journal file held with flock(): the kernel releases it when the process dies.

    Optuna's default symlink lock survives a killed process, and the next run then waits out its 30 s grace
    period; with flock a sweep killed mid-write resumes at once. Same acquire/release interface.
    """

    def __init__(self, journal: str) -> None:
        self.path = journal + ".flock"
        self.fd: int | None = None

    def acquire(self) -> bool:
        import fcntl

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        self.fd = fd
        return True

    def release(self) -> None:
        import fcntl

        fd, self.fd = self.fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def _journal(path: str):
    """A journal-file backend with a crash-safe lock; a line cut short by a kill is dropped first."""
    from optuna.storages.journal import JournalFileBackend

    try:
        import fcntl  # noqa: F401
    except ImportError:  # pragma: no cover - Windows: Optuna's own lock
        return JournalFileBackend(path)
    lock = FlockLock(path)
    lock.acquire()
    try:  # a log line is written whole by one write(); one without its newline was cut by a crash
        with open(path, "ab+") as f:
            size = f.seek(0, os.SEEK_END)
            if size:
                f.seek(max(0, size - 1))
                if f.read(1) != b"\n":
                    f.seek(0)
                    data = f.read()
                    f.truncate(data.rfind(b"\n") + 1)
    finally:
        lock.release()
    return JournalFileBackend(path, lock_obj=lock)  # type: ignore[arg-type]  # duck-typed lock


def open_storage(url: str | None, run_dir: Path):
    """An Optuna storage: the default journal file in the run folder, a journal file path, or any Optuna URL."""
    import optuna
    from optuna.storages import JournalStorage

    if url is None:
        return JournalStorage(_journal(str(run_dir / STUDY_FILE)))
    if "://" in url:
        return optuna.storages.get_storage(url)
    return JournalStorage(_journal(url))


@dataclass
class Progress:
    """What the progress callback is told after every batch."""

    done: int
    total: int
    rate: float            # trials (designs) per second in this run
    feasible: int = 0
    front: int = 0         # size of the current Pareto front of the feasible designs


class Tally:
    """Running feasible count and Pareto front of the designs scored so far (for the progress line)."""

    def __init__(self, directions: list[str]) -> None:
        self.directions = directions
        self.feasible = 0
        self.front = np.zeros((0, len(directions)))

    def add(self, s: Scored) -> None:
        from .pareto import pareto_mask

        self.feasible += int(s.feasible.sum())
        cand = np.vstack([self.front, s.objectives[s.feasible]])
        self.front = cand[pareto_mask(cand, self.directions)] if len(cand) else cand


class StopFlag:
    """Set by the first Ctrl-C: the sweep stops after the batch in progress. A second Ctrl-C stops at once."""

    requested: bool = False


@contextmanager
def graceful_sigint() -> Iterator[StopFlag]:
    """While active, Ctrl-C (SIGINT) sets a flag instead of raising, the second one raises KeyboardInterrupt.

    Only in the main thread, and only where SIGINT has Python's default handler (a process started with SIGINT
    ignored, e.g. under nohup, stays that way).
    """
    flag = StopFlag()
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield flag
        return

    def handler(signum, frame):
        if flag.requested:
            raise KeyboardInterrupt
        flag.requested = True

    old = signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, old)


def run_optuna(sweep: Sweep, run_dir: Path, storage_url: str | None = None,
               on_batch: Callable[[Progress], None] | None = None,
               stop: StopFlag | None = None) -> tuple[list[dict], list[int], bool]:
    """Ask/tell until the study holds `trials` complete trials, or `stop` is set (checked after every batch).

    Returns the params and numbers of the first `trials` complete trials (by number) and whether Ctrl-C stopped it.
    """
    import optuna
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    cons: dict[int, list[float]] = {}
    # Optuna >= 5 records constraints on the trial (set_constraint); older versions read them via constraints_func
    native = hasattr(optuna.trial.Trial, "set_constraint")
    cons_func = None if native else (lambda ft: cons.get(ft.number, [0.0]))
    sampler = make_sampler(sweep, cons_func)
    storage = open_storage(storage_url, run_dir)
    study = optuna.create_study(storage=storage, sampler=sampler, study_name=sweep.search.study_name or sweep.name,
                                directions=[d for _, d in sweep.objectives], load_if_exists=True)
    # trials left RUNNING by an interrupted run of this study are closed as failed; completed ones are kept
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
    dists = _distributions(sweep)
    target = sweep.search.trials
    start = time.perf_counter()
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    done = len(complete)
    tally = Tally([d for _, d in sweep.objectives])
    if complete and on_batch:  # a resumed run counts what is already there
        tally.add(score(sweep, [t.params for t in complete]))
    reseed = sweep.search.sampler not in ("qmc", "grid")  # qmc indexes its sequence from the storage; grid is huge
    pending: list = []
    interrupted = False
    added = 0
    try:
        while done < target:
            if sweep.search.timeout and time.perf_counter() - start > sweep.search.timeout:
                break
            if stop is not None and stop.requested:
                interrupted = True
                break
            n = min(sweep.search.batch_size, target - done)
            if reseed:
                study.sampler = make_sampler(sweep, cons_func, batch_seed(sweep.search.seed,
                                                                          len(study.get_trials(deepcopy=False))))
            pending = [study.ask(dists) for _ in range(n)]
            s = score(sweep, [t.params for t in pending])
            for i, t in enumerate(pending):
                cons[t.number] = [float(v) for v in s.violations[i]]
                if native:
                    for j, v in enumerate(cons[t.number]):
                        t.set_constraint(f"c{j}", v)
                study.tell(t, [float(v) for v in s.objectives[i]])
            pending = []
            done += n
            added += n
            if on_batch:
                tally.add(s)
                on_batch(Progress(done, target, added / max(time.perf_counter() - start, 1e-9), tally.feasible,
                                  len(tally.front)))
            if sweep.search.sampler == "grid" and study.sampler.is_exhausted(study):  # type: ignore[attr-defined]
                break
    except KeyboardInterrupt:
        interrupted = True
        for t in pending:
            study.tell(t, state=TrialState.FAIL, skip_if_finished=True)
    complete = sorted(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)), key=lambda t: t.number)
    complete = complete[:target]
    return [t.params for t in complete], [t.number for t in complete], interrupted


# ------------------------------------------------------------------------------------------------ exhaustive

def space_size(sweep: Sweep) -> int:
    """Number of designs in a discrete space."""
    return math.prod(len(d.discrete_values) for d in sweep.space)


def enumerate_space(sweep: Sweep, start: int = 0, stop: int | None = None) -> dict:
    """Designs start..stop of the Cartesian product of the space, as columns (last dimension varies fastest)."""
    dims = [d.discrete_values for d in sweep.space]
    total = space_size(sweep)
    stop = total if stop is None else min(stop, total)
    idx = np.arange(start, stop, dtype=np.int64)
    cols = {}
    stride = 1
    for d, vals in zip(reversed(sweep.space), reversed(dims), strict=True):
        codes = (idx // stride) % len(vals)
        arr = np.asarray(vals, dtype=object if PARAMS[d.name].kind == "cat" else float)
        cols[d.name] = arr[codes]
        stride *= len(vals)
    return {d.name: cols[d.name] for d in sweep.space}


def run_exhaustive(sweep: Sweep, chunk: int = 250_000,
                   on_batch: Callable[[Progress], None] | None = None,
                   stop: StopFlag | None = None) -> Scored | None:
    """Evaluate every design of a discrete space in vectorized chunks (the first ones only if `stop` is set)."""
    total = space_size(sweep)
    parts = []
    start = time.perf_counter()
    tally = Tally([d for _, d in sweep.objectives])
    for lo in range(0, total, chunk):
        if stop is not None and stop.requested:
            break
        parts.append(score(sweep, enumerate_space(sweep, lo, lo + chunk)))
        if on_batch:
            done = min(lo + chunk, total)
            tally.add(parts[-1])
            on_batch(Progress(done, total, done / max(time.perf_counter() - start, 1e-9), tally.feasible,
                              len(tally.front)))
    return concat_scored(parts)


def concat_scored(parts: list[Scored]) -> Scored | None:
    """Join scored chunks into one (None for no chunks)."""
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return Scored(
        batch={k: np.concatenate([p.batch[k] for p in parts]) for k in parts[0].batch},
        metrics={k: np.concatenate([np.asarray(p.metrics[k]) for p in parts]) for k in [*METRICS, "feasible", "reason"]
                 + [k for k in BASELINE_METRICS if k in parts[0].metrics]},
        objectives=np.concatenate([p.objectives for p in parts]),
        violations=np.concatenate([p.violations for p in parts]),
        feasible=np.concatenate([p.feasible for p in parts]),
        violation_text=np.concatenate([p.violation_text for p in parts]),
    )


# ------------------------------------------------------------------------------------------------ a whole run

@dataclass
class RunResult:
    run_dir: Path
    trials: object          # pandas DataFrame
    front: object           # pandas DataFrame
    interrupted: bool
    seconds: float


def _remove_stale_temporaries(run_dir: Path) -> None:
    """Delete temporary files (results.atomic_write: .NAME.tmp-PID) left by a process that was killed."""
    if not run_dir.is_dir():
        return
    for p in run_dir.glob(".*.tmp-*"):
        pid = p.name.rsplit("-", 1)[-1]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            p.unlink(missing_ok=True)
        except PermissionError:  # alive, someone else's
            pass


def prepare_run_dir(sweep: Sweep, run_dir: Path, fresh: bool) -> None:
    """Create or reuse the run folder; refuse one that belongs to another sweep unless `fresh`."""
    import shutil

    import yaml

    from .errors import UserError
    from .results import RUN_FILE, sweep_fingerprint

    if run_dir.exists() and not run_dir.is_dir():
        raise UserError("exists and is not a folder; expected a results folder", file=str(run_dir))
    if fresh and run_dir.exists():
        shutil.rmtree(run_dir)
    _remove_stale_temporaries(run_dir)
    if run_dir.exists() and any(run_dir.iterdir()):
        rec_path = run_dir / RUN_FILE
        try:
            rec = yaml.safe_load(rec_path.read_text()) if rec_path.exists() else None
        except (OSError, yaml.YAMLError):
            rec = None
        if not isinstance(rec, dict) or rec.get("fingerprint") != sweep_fingerprint(sweep):
            raise UserError("holds results of a different sweep; rerun with --fresh to replace them or --out DIR "
                            "to write elsewhere", file=str(run_dir))
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the run folder ({exc.strerror})", file=str(run_dir)) from None


def run_sweep(sweep: Sweep, out: str | Path | None = None, fresh: bool = False,
              on_batch: Callable[[Progress], None] | None = None, plots: bool = True) -> RunResult:
    """Run a sweep end to end and write trials.csv, pareto.csv and run.yaml (and the plots) into the run folder.

    A first Ctrl-C stops after the batch in progress and still writes everything done (RunResult.interrupted).
    """
    run_dir = Path(out) if out else Path("results") / sweep.name
    with graceful_sigint() as stop:  # Ctrl-C: finish the batch, then write what is done (below)
        return _run_sweep(sweep, run_dir, fresh, on_batch, plots, stop)


def _run_sweep(sweep: Sweep, run_dir: Path, fresh: bool, on_batch, plots: bool, stop: StopFlag) -> RunResult:
    from .results import front_frame, run_record, trials_frame, write_csv, write_run

    prepare_run_dir(sweep, run_dir, fresh)
    record = run_record(sweep)
    write_run(run_dir, {**record, "status": "running"})
    start = time.perf_counter()
    interrupted = False
    if sweep.search.sampler == "exhaustive":
        scored = run_exhaustive(sweep, on_batch=on_batch, stop=stop)
        numbers = None
        interrupted = stop.requested and (scored is None or len(scored.objectives) < space_size(sweep))
    else:
        params, numbers, interrupted = run_optuna(sweep, run_dir, sweep.search.storage, on_batch, stop)
        scored = score(sweep, params) if params else None
    seconds = time.perf_counter() - start
    import pandas as pd

    df = trials_frame(scored, numbers) if scored is not None else pd.DataFrame()
    front = front_frame(df, sweep.objectives) if len(df) else df
    if len(df):
        write_csv(df, run_dir / "trials.csv")
        write_csv(front, run_dir / "pareto.csv")
    status = "interrupted" if interrupted else "complete"
    write_run(run_dir, {**record, "status": status, "completed_trials": int(len(df)),
                        "feasible_trials": int(df["feasible"].sum()) if len(df) else 0,
                        "front_size": int(len(front))})
    if plots and len(df):
        from .plots import write_run_plots

        write_run_plots(run_dir, df, sweep)
    return RunResult(run_dir, df, front, interrupted, seconds)
