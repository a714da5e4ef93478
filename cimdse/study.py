"""Search over CIM designs: Optuna ask/tell in batches (the only Optuna user), and the exhaustive fast path.

Each batch of asked trials is scored with one vectorized cost-model call. The study lives in a persistent Optuna
storage (a journal file in the run folder by default), so an interrupted sweep resumes where it stopped.
"""

from __future__ import annotations

import functools
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
        return ga_sampler_class(optuna.samplers.NSGAIISampler)(seed=seed, constraints_func=constraints_func)
    if s == "nsga3":
        return ga_sampler_class(optuna.samplers.NSGAIIISampler)(seed=seed, constraints_func=constraints_func)
    if s == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if s == "qmc":
        return optuna.samplers.QMCSampler(seed=seed, scramble=True, warn_independent_sampling=False,
                                          warn_asynchronous_seeding=False)
    if s == "grid":
        grid = {d.name: list(d.discrete_values) for d in sweep.space}
        return optuna.samplers.GridSampler(grid, seed=seed)
    raise ValueError(f"no Optuna sampler for {s!r}")


@functools.cache
def ga_sampler_class(base: type) -> type:
    """Optuna's genetic sampler `base` (NSGA-II or NSGA-III) with the generation of each new trial counted
    incrementally: same generations, so the same trials, as `base`.

    Optuna recounts every complete trial of the study to number each new one (BaseGASampler.get_trial_generation),
    and rescans every trial for the stored parents of the generation (get_parent_population): O(trials) per trial
    each, together a third of a 2,000-trial NSGA-II sweep. The count it needs (the highest generation among
    complete trials and how many trials hold it) does not depend on their order, so only trials completed since
    the last call are added; when the complete trials are not the last list plus new ones at its end (another
    worker's trial completed out of order), it recounts all, as Optuna does. If Optuna stops providing the hooks
    used here, `base` is returned unchanged."""
    from optuna.trial import TrialState

    hooks = ("get_trial_generation", "_get_generation_key", "_get_parent_cache_key_prefix", "population_size")
    if not all(hasattr(base, a) for a in hooks):
        return base

    class Cached(base):
        _cimdse_count: tuple | None = None  # (study id, complete trials counted, last one's id, top gen, its count)
        _cimdse_parents: tuple | None = None  # ((study id, generation), parents as read back from the storage)

        def get_parent_population(self, study, generation: int) -> list:
            # Optuna rescans every trial for the cached parent ids on each new trial; once the ids are stored
            # (the first call selects and stores them) the list it reads back is the same until the generation
            # changes, so it is kept. The first call's list (in selection order) is never kept: Optuna returns
            # that order only once, then trial order.
            key = (study._study_id, generation)
            memo = self._cimdse_parents
            if memo is not None and memo[0] == key:
                return list(memo[1])
            attrs = study._storage.get_study_system_attrs(study._study_id)
            stored = generation > 0 and self._get_parent_cache_key_prefix() + str(generation) in attrs
            parents = super().get_parent_population(study, generation)
            if stored:
                self._cimdse_parents = (key, list(parents))
            return parents

        def get_trial_generation(self, study, trial) -> int:
            key = self._get_generation_key()
            generation = trial.system_attrs.get(key, None)
            if generation is not None:
                return generation
            trials = study._get_trials(deepcopy=False, states=[TrialState.COMPLETE], use_cache=True)
            c = self._cimdse_count
            if c is not None and c[0] == study._study_id and len(trials) >= c[1] and \
                    (c[1] == 0 or trials[c[1] - 1]._trial_id == c[2]):
                start, top, count = c[1], c[3], c[4]
            else:
                start, top, count = 0, 0, 0
            for t in trials[start:]:
                g = t.system_attrs.get(key, -1)
                if g > top:
                    top, count = g, 1
                elif g == top:
                    count += 1
            self._cimdse_count = (study._study_id, len(trials), trials[-1]._trial_id if trials else None, top, count)
            generation = top if count < self.population_size else top + 1
            study._storage.set_trial_system_attr(trial._trial_id, key, generation)
            return generation

    # the keys of the generation and parent cache in the storage stay Optuna's (a journal written by either
    # class resumes with the other); Optuna derives them from the class name when the subclass is made
    Cached._GENERATION_KEY = base._get_generation_key()
    Cached._PARENT_CACHE_KEY_PREFIX = base._get_parent_cache_key_prefix()
    Cached.__name__ = Cached.__qualname__ = base.__name__
    return Cached


class FlockLock:
    """Lock for Optuna's journal file held with flock(): the kernel releases it when the process dies.

    Optuna's default symlink lock survives a killed process, and the next run then waits out its 30 s grace
    period; with flock a sweep killed mid-write resumes at once. Same acquire/release interface. With several
    workers it also hands the lock straight to the next waiter, where the symlink lock polls with a back-off
    doubling to 1 s (two NSGA-II workers ran 6x slower than one with it, 2x with flock; docs/SWEEP.md).
    Each acquire opens its own file description, so forked workers never share one.
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


JOURNAL_FSYNC_S = 0.1  # the journal is fsync-ed at most this often (see _journal_backend)


def _journal_backend(path: str, lock: FlockLock):
    """Optuna's journal file backend, fsync-ed at most every JOURNAL_FSYNC_S instead of on every append.

    Optuna fsyncs after each of the ~10 log lines a trial writes (create, each parameter, constraints, values,
    state): 2-3 ms each here, which made storage 10x the cost of the sampler itself (benchmarks/results.md).
    Every line still reaches the kernel with one write() before append_logs returns, so a killed process loses
    nothing; only a power cut or kernel crash can lose the last JOURNAL_FSYNC_S of lines, and a line cut short
    is trimmed on reopen (_journal). Lines are written in Optuna's own format, so Optuna reads them as usual.
    """
    import json

    from optuna.storages.journal import JournalFileBackend

    class _Backend(JournalFileBackend):
        cimdse_batched = True  # store_trials may append finished trials to it directly

        def __init__(self) -> None:
            super().__init__(path, lock_obj=lock)  # type: ignore[arg-type]  # duck-typed lock
            self._cimdse_synced = time.monotonic()

        def append_logs(self, logs: list[dict]) -> None:
            data = ("\n".join(json.dumps(log, separators=(",", ":")) for log in logs) + "\n").encode("utf-8")
            lock.acquire()
            try:
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    os.write(fd, data)
                    if time.monotonic() - self._cimdse_synced >= JOURNAL_FSYNC_S:
                        os.fsync(fd)
                        self._cimdse_synced = time.monotonic()
                finally:
                    os.close(fd)
            finally:
                lock.release()

    return _Backend()


def _create_trial_log(trial, study_id: int, worker_id: str, dist_json: dict) -> dict:
    """The journal line Optuna's JournalStorage.create_new_trial writes for a finished template trial (Optuna 4-5
    format; tests/test_sweep.py checks it line for line against Optuna's own). `dist_json` caches
    distribution_to_json per parameter name: every trial of a sweep has the same distributions."""
    from datetime import timezone

    from optuna.distributions import distribution_to_json
    from optuna.storages.journal._storage import JournalOperation

    log: dict = {"op_code": JournalOperation.CREATE_TRIAL, "worker_id": worker_id, "study_id": study_id,
                 "state": trial.state}
    if trial.values is not None and len(trial.values) > 1:
        log["value"], log["values"] = None, trial.values
    else:
        log["value"], log["values"] = trial.value, None
    log["datetime_start"] = (trial.datetime_start.astimezone(timezone.utc).isoformat(timespec="microseconds")
                             if trial.datetime_start else None)
    if trial.datetime_complete:
        log["datetime_complete"] = trial.datetime_complete.astimezone(timezone.utc).isoformat(timespec="microseconds")
    dists = trial.distributions
    for k, d in dists.items():
        if dist_json.get(k, (None,))[0] is not d:
            dist_json[k] = (d, distribution_to_json(d))
    log["distributions"] = {k: dist_json[k][1] for k in dists}
    log["params"] = {k: dists[k].to_internal_repr(v) for k, v in trial.params.items()}
    log["user_attrs"] = trial.user_attrs
    log["system_attrs"] = trial.system_attrs
    log["intermediate_values"] = trial.intermediate_values
    return log


def store_trials(study, trials, cache: dict | None = None) -> None:
    """Add finished trials to the study's storage: on cimdse's journal file as one write of one line per trial
    (Study.add_trial would write, replay and re-read each line: 0.12 ms per trial, 5% of a 2,000-trial NSGA-II
    sweep); on any other storage through Study.add_trial. This process does not replay the lines now; the
    storage reads them when next asked (a resumed run reads them all)."""
    storage = study._storage
    backend = getattr(storage, "_backend", None)
    replay = getattr(storage, "_replay_result", None)
    if not getattr(backend, "cimdse_batched", False) or replay is None:
        for t in trials:
            study.add_trial(t)
        return
    cache = {} if cache is None else cache
    for t in trials:  # Study.add_trial's checks: a finished trial with a value per objective
        t._validate()
        if t.values is not None and len(study.directions) != len(t.values):
            raise ValueError(f"trial {t.number} has {len(t.values)} values for {len(study.directions)} objectives")
    backend.append_logs([_create_trial_log(t, study._study_id, replay.worker_id, cache) for t in trials])


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
    return _journal_backend(path, lock)


def open_storage(url: str | None, run_dir: Path):
    """An Optuna storage: the default journal file in the run folder, a journal file path, a Redis journal
    (redis://, rediss://; needs the redis package) or any RDB URL (sqlite://, postgresql://, mysql://)."""
    import optuna
    from optuna.storages import JournalStorage

    if url is not None and url.startswith(("redis://", "rediss://")):
        from optuna.storages.journal import JournalRedisBackend

        with warnings.catch_warnings():  # experimental in Optuna since 3.1; said once in docs/SWEEP.md instead
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return JournalStorage(JournalRedisBackend(url))
    if url is not None and "://" in url:
        return optuna.storages.get_storage(url)
    return JournalStorage(_journal(str(run_dir / STUDY_FILE) if url is None else url))



def open_study(sweep: Sweep, run_dir: Path, storage_url: str | None, sampler=None, create: bool = True):
    """Create or join the sweep's study by name (load_if_exists), or with create=False load an existing one.

    Several processes may open a fresh RDB storage at the same moment and race to create its tables or the
    study; the loser of such a race retries after a short random pause. Storage errors become UserErrors.
    """
    import random

    import optuna

    from .errors import UserError

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    name = sweep.search.study_name or sweep.name
    where = storage_url or str(run_dir / STUDY_FILE)
    for attempt in range(5):
        try:
            storage = open_storage(storage_url, run_dir)
            if not create:
                return optuna.load_study(study_name=name, storage=storage, sampler=sampler)
            return optuna.create_study(storage=storage, sampler=sampler, study_name=name,
                                       directions=[d for _, d in sweep.objectives], load_if_exists=True)
        except KeyError:
            raise UserError(f"holds no study named {name!r}; run the sweep first (without --collect)",
                            file=where, key="--storage") from None
        except ValueError as err:  # e.g. a study of this name with other objectives
            raise UserError(str(err), file=where, key="--storage") from None
        except Exception as err:  # noqa: BLE001 -- sqlalchemy/driver errors: retry a race, then report one line
            if attempt == 4 or not _is_transient(err):
                raise UserError(f"cannot open the storage: {type(err).__name__}: {str(err).splitlines()[0]}",
                                file=where, key="--storage") from None
            time.sleep(0.2 + random.random())
    raise AssertionError("unreachable")


def _is_transient(err: Exception) -> bool:
    """Errors from two processes creating the same RDB tables or study at once (worth one more try)."""
    text = f"{type(err).__name__} {err}".lower()
    return any(w in text for w in ("integrity", "duplicate", "already exists", "unique", "locked", "deadlock",
                                   "storageinternalerror"))


# A RUNNING trial older than this is taken to belong to a worker that died (killed, machine lost) and is closed
# as FAIL by the workers still running, so that its budget slot is freed. Live batches finish in seconds.
STALE_RUNNING_S = 120.0
POLL_S = 0.2
SURPLUS_ATTR = "cimdse_surplus"


def fail_stale_trials(study, older_than_s: float) -> int:
    """Close the RUNNING trials started more than `older_than_s` seconds ago as FAIL; returns how many."""
    from datetime import datetime

    import optuna
    from optuna.trial import TrialState

    now = datetime.now()
    closed = 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if t.datetime_start is None or (now - t.datetime_start).total_seconds() >= older_than_s:
            try:
                study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
                closed += 1
            except optuna.exceptions.UpdateFinishedTrialError:  # its worker finished it meanwhile
                pass
    return closed


def _live_trials(study) -> list:
    """COMPLETE and RUNNING trials: the ones that hold a slot of the trial budget."""
    from optuna.trial import TrialState

    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING))


def _drop_surplus(study, asked: list, target: int) -> list:
    """Keep the asked trials that rank among the first `target` live trials by number; close the others as FAIL.

    Trial numbers are handed out atomically by the storage and a trial only ever leaves the live set, so a
    trial's rank can only fall: a kept trial stays within the budget, and no more than `target` trials can
    ever complete, however many workers ask at once.
    """
    from optuna.trial import TrialState

    allowed = set(sorted(t.number for t in _live_trials(study))[:target])
    keep = [t for t in asked if t.number in allowed]
    for t in asked:
        if t.number not in allowed:
            t.set_user_attr(SURPLUS_ATTR, True)
            study.tell(t, state=TrialState.FAIL)
    return keep


def completed_trials(study, target: int) -> tuple[list[dict], list[int]]:
    """Params and numbers of the first `target` COMPLETE trials of a study, by trial number."""
    from optuna.trial import TrialState

    complete = sorted(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)), key=lambda t: t.number)
    complete = complete[:target]
    return [t.params for t in complete], [t.number for t in complete]


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


def _reseeded(old, new):
    """The freshly seeded sampler `new`, keeping `old`'s incremental search-space cache when both have one.

    The cache (IntersectionSearchSpace: the parameters common to all trials, updated from the last trial it saw)
    depends only on the study's trials, not on the random state; a new sampler per batch would otherwise rescan
    every trial of the study, which was half the time of a 2,000-trial NSGA-II sweep. The attribute is Optuna's
    private one: where it is missing the new sampler simply starts with an empty cache (same results, slower).
    """
    cache = getattr(old, "_search_space", None)
    if type(old) is type(new) and cache is not None and hasattr(new, "_search_space"):
        new._search_space = cache
    if type(old) is type(new) and getattr(old, "_cimdse_count", None) is not None:  # ga_sampler_class's caches
        new._cimdse_count, new._cimdse_parents = old._cimdse_count, old._cimdse_parents
    return new


def run_optuna(sweep: Sweep, run_dir: Path, storage_url: str | None = None,
               on_batch: Callable[[Progress], None] | None = None,
               stop: StopFlag | None = None, shared: bool = False) -> tuple[list[dict], list[int], bool]:
    """Ask/tell until the study holds `trials` complete trials, or `stop` is set (checked after every batch).

    `shared`: other processes may work on the same study now (workers, other machines); then trials left
    RUNNING are only closed once stale, and every batch is checked against the budget shared by all of them.
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
    study = open_study(sweep, run_dir, storage_url, sampler)
    # trials left RUNNING by an interrupted run of this study are closed as failed; completed ones are kept.
    # On a shared storage only stale ones: the others may be another worker's batch in flight.
    fail_stale_trials(study, STALE_RUNNING_S if shared else 0.0)
    persist = None
    dist_cache: dict = {}
    # (not for qmc: its position in the sequence is a study-level attribute of the storage, which a copy would lose)
    if not shared and sweep.search.sampler != "qmc":
        # One process owns the study: sample on an in-memory copy and store each finished trial with one journal
        # line (Study.add_trial) instead of Optuna's ~13 (create, each parameter, constraints, values, state),
        # and let the sampler read trials from memory. Trial numbers match the storage's: every stored trial is
        # copied, failed ones included. A 2,000-trial NSGA-II sweep's loop went from 4.5 s to ~2 s.
        persist = study
        study = optuna.create_study(sampler=sampler, directions=[d for _, d in sweep.objectives])
        study.add_trials(persist.get_trials(deepcopy=False))
    dists = _distributions(sweep)
    target = sweep.search.trials
    start = time.perf_counter()
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    tally = Tally([d for _, d in sweep.objectives])
    if complete and on_batch:  # a resumed run counts what is already there
        tally.add(score(sweep, [t.params for t in complete]))
    reseed = sweep.search.sampler not in ("qmc", "grid")  # qmc indexes its sequence from the storage; grid is huge
    pending: list = []
    interrupted = False
    added = 0
    try:
        while True:
            if sweep.search.timeout and time.perf_counter() - start > sweep.search.timeout:
                break
            if stop is not None and stop.requested:
                interrupted = True
                break
            # the budget is counted in the storage before every batch: COMPLETE trials, plus RUNNING ones
            # (another worker's batch in flight) that hold a slot until they finish
            live = _live_trials(study)
            done = sum(t.state == TrialState.COMPLETE for t in live)
            if done >= target:
                break
            room = target - len(live)
            if room <= 0:  # every slot left is held by another worker's running trials: wait for them
                fail_stale_trials(study, STALE_RUNNING_S)
                time.sleep(POLL_S)
                continue
            n = min(sweep.search.batch_size, room)
            if reseed:
                study.sampler = _reseeded(study.sampler, make_sampler(
                    sweep, cons_func, batch_seed(sweep.search.seed, len(study.get_trials(deepcopy=False)))))
            pending = [study.ask(dists) for _ in range(n)]
            if shared:
                pending = _drop_surplus(study, pending, target)
                if not pending:
                    continue
            s = score(sweep, [t.params for t in pending])
            for i, t in enumerate(pending):
                cons[t.number] = [float(v) for v in s.violations[i]]
                try:
                    if native:
                        for j, v in enumerate(cons[t.number]):
                            t.set_constraint(f"c{j}", v)
                    study.tell(t, [float(v) for v in s.objectives[i]])
                except optuna.exceptions.UpdateFinishedTrialError:
                    if not shared:  # another worker closed it as stale while it was scored: its slot is free
                        raise
            if persist is not None:
                frozen = study.get_trials(deepcopy=False)
                store_trials(persist, [frozen[t.number] for t in pending], dist_cache)
            told = len(pending)
            pending = []
            added += told
            if on_batch:
                tally.add(s)
                on_batch(Progress(done + told, target, added / max(time.perf_counter() - start, 1e-9),
                                  tally.feasible, len(tally.front)))
            if sweep.search.sampler == "grid" and study.sampler.is_exhausted(study):  # type: ignore[attr-defined]
                break
    except KeyboardInterrupt:
        interrupted = True
        for t in pending:
            study.tell(t, state=TrialState.FAIL, skip_if_finished=True)
    params, numbers = completed_trials(study, target)
    return params, numbers, interrupted


class _WorkerStop:
    """A worker's stop flag (StopFlag's interface): set by the parent through a shared Event, or when the
    parent is gone (killed), so that an orphaned worker ends after its batch instead of running on."""

    def __init__(self, event, parent_pid: int) -> None:
        self.event, self.parent_pid = event, parent_pid

    @property
    def requested(self) -> bool:
        return self.event.is_set() or os.getppid() != self.parent_pid


def _worker_main(sweep: Sweep, run_dir: Path, storage_url: str | None, index: int, event, parent_pid: int) -> None:
    """One of `--workers N` processes: the sweep with seed + index, on the study shared with the others.

    Ctrl-C is left to the parent, which tells the workers to stop after their batch (the event); a hard stop
    from the parent is SIGTERM.
    """
    import dataclasses
    import sys

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    search = dataclasses.replace(sweep.search, seed=(sweep.search.seed + index) % 2**32)
    _, _, interrupted = run_optuna(dataclasses.replace(sweep, search=search), run_dir, storage_url,
                                   stop=_WorkerStop(event, parent_pid), shared=True)  # type: ignore[arg-type]
    sys.exit(130 if interrupted else 0)


def _tally_trials(tally: Tally, trials: list) -> None:
    """Add finished trials to a progress tally from their stored values and constraints (no re-scoring)."""
    from types import SimpleNamespace

    if not trials:
        return

    def feasible(t) -> bool:
        cons = t.system_attrs.get("constraints")
        if cons is None:  # Optuna >= 5: one system attribute per constraint, "constraints:<key>"
            cons = [v for k, v in t.system_attrs.items() if k.startswith("constraints:")]
        return all(float(v) <= 0 for v in cons)

    tally.add(SimpleNamespace(feasible=np.array([feasible(t) for t in trials]),  # type: ignore[arg-type]
                              objectives=np.array([t.values for t in trials], dtype=float)))


def run_workers(sweep: Sweep, run_dir: Path, storage_url: str | None, workers: int,
                on_batch: Callable[[Progress], None] | None = None, stop: StopFlag | None = None) -> bool:
    """Run `workers` processes of ask/tell on one study; returns whether Ctrl-C stopped them.

    The parent creates the study (so the workers only join it), shows progress from the storage, and waits.
    A first Ctrl-C (`stop`) lets every worker finish its batch; a second stops them at once (SIGTERM). A worker
    that dies stops the others the first way, and the run reports it.
    """
    import multiprocessing as mp
    import multiprocessing.connection

    from optuna.trial import TrialState

    from .errors import UserError

    study = open_study(sweep, run_dir, storage_url)
    if storage_url is None:  # the run folder's own journal: nobody else works on it, close what a kill left
        fail_stale_trials(study, 0.0)
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    event = ctx.Event()
    procs = [ctx.Process(target=_worker_main, args=(sweep, run_dir, storage_url, k, event, os.getpid()),
                         name=f"cimdse-worker-{k}") for k in range(workers)]
    target = sweep.search.trials
    start = time.perf_counter()
    seen = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))}
    first = len(seen)
    tally = Tally([d for _, d in sweep.objectives])
    if on_batch:
        _tally_trials(tally, study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    for p in procs:
        p.start()
    interrupted = False
    try:
        while any(p.is_alive() for p in procs):
            mp.connection.wait([p.sentinel for p in procs if p.is_alive()], timeout=0.5)
            if (stop is not None and stop.requested) or any(p.exitcode not in (None, 0, 130) for p in procs):
                event.set()
            if on_batch:
                done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                _tally_trials(tally, [t for t in done if t.number not in seen])
                seen.update(t.number for t in done)
                n = min(len(done), target)
                on_batch(Progress(n, target, (n - first) / max(time.perf_counter() - start, 1e-9), tally.feasible,
                                  len(tally.front)))
    except KeyboardInterrupt:  # the second Ctrl-C: stop now; their open trials are closed on resume
        interrupted = True
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join()
    failed = [(k, p.exitcode) for k, p in enumerate(procs) if p.exitcode not in (0, 130) and not interrupted]
    if failed:
        k, c = failed[0]
        how = f"was killed by signal {-c}" if c is not None and c < 0 else f"stopped with exit status {c}"
        raise UserError(f"worker {k} of {workers} {how}; the others were stopped. Run the same command again "
                        "to resume", file=str(run_dir))
    return interrupted or any(p.exitcode == 130 for p in procs)


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
                   stop: StopFlag | None = None, first: int = 0, end: int | None = None) -> Scored | None:
    """Evaluate designs first..end (default: all) of a discrete space's enumeration in vectorized chunks
    (the first ones only if `stop` is set)."""
    end = space_size(sweep) if end is None else end
    total = end - first
    parts = []
    start = time.perf_counter()
    tally = Tally([d for _, d in sweep.objectives])
    for lo in range(first, end, chunk):
        if stop is not None and stop.requested:
            break
        parts.append(score(sweep, enumerate_space(sweep, lo, min(lo + chunk, end))))
        if on_batch:
            done = min(lo + chunk, end) - first
            tally.add(parts[-1])
            on_batch(Progress(done, total, done / max(time.perf_counter() - start, 1e-9), tally.feasible,
                              len(tally.front)))
    return concat_scored(parts)


def parse_shard(text: str) -> tuple[int, int]:
    """'I/N' (1 <= I <= N) -> (I, N): shard I of N of an exhaustive enumeration."""
    import re

    from .errors import UserError

    m = re.fullmatch(r"\s*(\d{1,9})\s*/\s*(\d{1,9})\s*", str(text))
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise UserError(f"expected I/N with 1 <= I <= N (shard I of N, e.g. 2/8), got {text!r}", key="--shard")
    return int(m.group(1)), int(m.group(2))


def shard_bounds(total: int, index: int, count: int) -> tuple[int, int]:
    """Designs [lo, hi) of shard `index` (1-based) of `count`: contiguous blocks of the enumeration order,
    sizes differing by at most one, so the shards laid end to end are exactly the unsharded enumeration."""
    return (index - 1) * total // count, index * total // count


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


SHARD_FILE = "shard.json"


def default_run_dir(sweep: Sweep, shard: tuple[int, int] | None = None) -> Path:
    """results/<name>, or results/<name>.shard-I-of-N for one shard of an exhaustive sweep."""
    return Path("results") / (sweep.name if shard is None else f"{sweep.name}.shard-{shard[0]}-of-{shard[1]}")


def run_sweep(sweep: Sweep, out: str | Path | None = None, fresh: bool = False,
              on_batch: Callable[[Progress], None] | None = None, plots: bool = True,
              workers: int = 1, shard: tuple[int, int] | None = None) -> RunResult:
    """Run a sweep end to end and write trials.csv, pareto.csv and run.yaml (and the plots) into the run folder.

    A first Ctrl-C stops after the batch in progress and still writes everything done (RunResult.interrupted).
    `workers` > 1 runs that many processes on one shared study; `shard` = (I, N) enumerates only shard I of N of
    an exhaustive sweep (merge the shards with `merge_shards`).
    """
    check_run_options(sweep, workers=workers, shard=shard)
    run_dir = Path(out) if out else default_run_dir(sweep, shard)
    with graceful_sigint() as stop:  # Ctrl-C: finish the batch, then write what is done (below)
        return _run_sweep(sweep, run_dir, fresh, on_batch, plots, stop, workers, shard)


def _run_sweep(sweep: Sweep, run_dir: Path, fresh: bool, on_batch, plots: bool, stop: StopFlag,
               workers: int = 1, shard: tuple[int, int] | None = None) -> RunResult:
    from .results import run_record, write_run

    prepare_run_dir(sweep, run_dir, fresh)
    extra: dict = {"workers": workers} if workers > 1 else {}
    bounds = None
    if sweep.search.sampler == "exhaustive" and shard is not None:
        total = space_size(sweep)
        bounds = shard_bounds(total, *shard)
        extra["shard"] = {"index": shard[0], "count": shard[1], "designs": list(bounds), "total": total}
    record = run_record(sweep, extra)
    write_run(run_dir, {**record, "status": "running"})
    figures = None
    if plots and sweep.search.sampler != "exhaustive":  # an exhaustive sweep's table is too big to hand over
        from .plots import start_figure_worker

        figures = start_figure_worker()
    try:
        return _run_and_finish(sweep, run_dir, record, on_batch, plots, stop, workers, shard, bounds, figures)
    finally:
        if figures is not None:
            from .plots import stop_figure_worker

            stop_figure_worker(figures)


def _run_and_finish(sweep: Sweep, run_dir: Path, record: dict, on_batch, plots: bool, stop: StopFlag, workers: int,
                    shard: tuple[int, int] | None, bounds: tuple[int, int] | None, figures) -> RunResult:
    start = time.perf_counter()
    interrupted = False
    if sweep.search.sampler == "exhaustive":
        lo, hi = bounds or (0, space_size(sweep))
        scored = run_exhaustive(sweep, on_batch=on_batch, stop=stop, first=lo, end=hi) if hi > lo else None
        n = 0 if scored is None else len(scored.objectives)
        numbers = list(range(lo, lo + n))
        interrupted = stop.requested and n < hi - lo
    elif workers > 1:
        interrupted = run_workers(sweep, run_dir, sweep.search.storage, workers, on_batch, stop)
        params, numbers = completed_trials(open_study(sweep, run_dir, sweep.search.storage), sweep.search.trials)
        scored = score(sweep, params) if params else None
    else:
        params, numbers, interrupted = run_optuna(sweep, run_dir, sweep.search.storage, on_batch, stop,
                                                  shared=sweep.search.storage is not None)
        scored = score(sweep, params) if params else None
    res = finish_run(sweep, run_dir, record, scored, numbers, interrupted, time.perf_counter() - start, plots,
                     figures=figures)
    if bounds is not None and not interrupted:
        write_shard_file(run_dir, sweep, shard, bounds, res.front)  # type: ignore[arg-type]
    return res


def finish_run(sweep: Sweep, run_dir: Path, record: dict, scored: Scored | None, numbers, interrupted: bool,
               seconds: float, plots: bool = True, status: str | None = None, figures=None) -> RunResult:
    """Write trials.csv, pareto.csv, run.yaml (with status and counts) and the plots of scored designs
    (through the figure worker `figures` when the sweep started one, see plots.start_figure_worker)."""
    import pandas as pd

    from .results import front_frame, trials_frame, write_csv, write_run

    df = trials_frame(scored, numbers) if scored is not None else pd.DataFrame()
    front = front_frame(df, sweep.objectives) if len(df) else df
    if len(df):
        write_csv(df, run_dir / "trials.csv")
        write_csv(front, run_dir / "pareto.csv")
    status = status or ("interrupted" if interrupted else "complete")
    write_run(run_dir, {**record, "status": status, "completed_trials": int(len(df)),
                        "feasible_trials": int(df["feasible"].sum()) if len(df) else 0,
                        "front_size": int(len(front))})
    if plots and len(df):
        from .plots import draw_run_plots, write_run_plots

        if figures is not None:
            draw_run_plots(figures, run_dir, df, sweep)
        else:
            write_run_plots(run_dir, df, sweep, processes=2)
    return RunResult(run_dir, df, front, interrupted, seconds)


def check_run_options(sweep: Sweep, workers: int = 1, shard: tuple[int, int] | None = None,
                      collect: bool = False) -> None:
    """Refuse option combinations that make no sense, before any folder is written."""
    from .errors import UserError

    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise UserError(f"expected a number of worker processes >= 1, got {workers!r}", key="--workers")
    exhaustive = sweep.search.sampler == "exhaustive"
    if shard is not None and not exhaustive:
        raise UserError("shards split the exhaustive enumeration; for an Optuna sampler use --workers N or a "
                        "shared --storage URL", key="--shard")
    if workers > 1 and exhaustive:
        raise UserError("the exhaustive sampler runs in one process; split it with --shard I/N and "
                        "`cimdse merge`", key="--workers")
    if collect and exhaustive:
        raise UserError("an exhaustive sweep keeps no study to collect; merge its shards with `cimdse merge`",
                        key="--collect")
    if collect and (workers > 1 or shard is not None):
        raise UserError("--collect runs no trials; leave out --workers and --shard", key="--collect")


def collect_sweep(sweep: Sweep, out: str | Path | None = None, plots: bool = True) -> RunResult:
    """Write trials.csv, pareto.csv, run.yaml and plots from the sweep's study as it stands, running no trial.

    Metrics are recomputed by scoring the stored parameters with the cost model (exact: the same vectorized
    function that scored them during the run, and faster than reading per-trial attributes back).
    """
    from .errors import UserError
    from .results import run_record

    check_run_options(sweep, collect=True)
    run_dir = Path(out) if out else default_run_dir(sweep)
    url = sweep.search.storage
    journal = run_dir / STUDY_FILE if url is None else (Path(url) if "://" not in url else None)
    if journal is not None and not journal.is_file():
        raise UserError(f"holds no study to collect (no file {journal}); run the sweep first, or name its "
                        "storage with --storage", file=str(url or run_dir), key="--storage")
    start = time.perf_counter()
    study = open_study(sweep, run_dir, url, create=False)
    params, numbers = completed_trials(study, sweep.search.trials)
    prepare_run_dir(sweep, run_dir, fresh=False)
    record = run_record(sweep, {"collected_from": url or str(run_dir / STUDY_FILE)})
    scored = score(sweep, params) if params else None
    return finish_run(sweep, run_dir, record, scored, numbers, False, time.perf_counter() - start, plots,
                      status="collected")


def write_shard_file(run_dir: Path, sweep: Sweep, shard: tuple[int, int], bounds: tuple[int, int], front) -> None:
    """shard.json: which designs this shard holds, and its front's objective values at full precision, so that
    `merge_shards` finds the exact global front (the CSVs keep 10 significant digits)."""
    import json

    from .results import atomic_write, sweep_fingerprint

    objs = [k for k, _ in sweep.objectives]
    f = front.sort_values("trial", kind="stable") if len(front) else front
    data = {"fingerprint": sweep_fingerprint(sweep), "index": shard[0], "count": shard[1],
            "designs": list(bounds), "total": space_size(sweep), "objectives": objs,
            "front_trials": [int(t) for t in (f["trial"] if len(f) else [])],
            "front_values": f[objs].to_numpy(dtype=float).tolist() if len(f) else []}
    atomic_write(run_dir / SHARD_FILE, json.dumps(data))


def merge_shards(sweep: Sweep, dirs: list[str | Path], out: str | Path | None = None,
                 plots: bool = True) -> RunResult:
    """Join the run folders of shards 1..N of an exhaustive sweep into one trials.csv and the exact front.

    trials.csv is the shards' rows end to end, written like an unsharded run's (so byte-identical to it: the
    table is re-read exactly and re-written whole, since how a column is written depends on all its values);
    the front is taken over the union of the shards' fronts at full precision (a design dominated inside its
    shard is dominated overall), and pareto.csv holds those rows in the unsharded run's order.
    """
    import json

    import pandas as pd

    from .errors import UserError
    from .pareto import pareto_order
    from .results import run_record, sweep_fingerprint, write_csv, write_run

    if sweep.search.sampler != "exhaustive":
        raise UserError("only exhaustive sweeps are sharded; collect an Optuna study with `cimdse sweep FILE "
                        "--storage URL --collect`", file=sweep.path, key="search.sampler")
    if not dirs:
        raise UserError("name the run folders of the shards to merge", key="DIRS")
    fp, total = sweep_fingerprint(sweep), space_size(sweep)
    shards = []
    for d in map(Path, dirs):
        try:
            info = json.loads((d / SHARD_FILE).read_text())
            lo, hi = info["designs"]
            table = None
            if hi > lo:  # exact floats (pandas 3 parses them exactly by default); empty violations stay ""
                exact = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}
                table = pd.read_csv(d / "trials.csv", keep_default_na=False, **exact)
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise UserError(f"is not a finished shard of an exhaustive sweep ({type(err).__name__}: "
                            f"{str(err).splitlines()[0] if str(err) else ''})", file=str(d)) from None
        if info.get("fingerprint") != fp or info.get("total") != total:
            raise UserError(f"holds a shard of a different sweep than {sweep.path}", file=str(d))
        if table is not None and table["trial"].to_list() != list(range(lo, hi)):
            raise UserError(f"trials.csv does not hold designs {lo}..{hi - 1} of this sweep", file=str(d))
        shards.append((info, table, d))
    count = shards[0][0]["count"]
    seen = sorted(info["index"] for info, _, _ in shards)
    if any(info["count"] != count for info, _, _ in shards) or seen != list(range(1, count + 1)):
        missing = sorted(set(range(1, count + 1)) - set(seen))
        dup = sorted({i for i in seen if seen.count(i) > 1})
        raise UserError(f"expected shards 1..{count} once each; "
                        + (f"missing {missing} " if missing else "") + (f"repeated {dup} " if dup else "")
                        + f"(got {seen})", key="DIRS")
    shards.sort(key=lambda x: x[0]["index"])
    tables, trials, values, held = [], [], [], 0
    for info, table, d in shards:
        lo, hi = info["designs"]
        if lo != held:
            raise UserError(f"shard {info['index']} starts at design {lo}, expected {held}", file=str(d))
        held = hi
        if table is not None:
            tables.append(table)
        trials.extend(info["front_trials"])
        values.extend(info["front_values"])
    if held != total:
        raise UserError(f"the shards hold {held} of the {total} designs", key="DIRS")
    run_dir = Path(out) if out else default_run_dir(sweep)
    prepare_run_dir(sweep, run_dir, fresh=False)
    start = time.perf_counter()
    df = pd.concat(tables, ignore_index=True)
    front_rows: list[int] = []
    if trials:
        v = np.asarray(values, dtype=float).reshape(len(trials), len(sweep.objectives))
        front_rows = [trials[i] for i in pareto_order(v, [dr for _, dr in sweep.objectives])]
    front = df.iloc[front_rows]
    write_csv(df, run_dir / "trials.csv")
    write_csv(front, run_dir / "pareto.csv")
    record = run_record(sweep, {"merged_from": [str(d) for _, _, d in shards], "shards": count})
    write_run(run_dir, {**record, "status": "complete", "completed_trials": int(len(df)),
                        "feasible_trials": int(df["feasible"].sum()), "front_size": int(len(front))})
    if plots:
        from .plots import write_run_plots

        write_run_plots(run_dir, df, sweep, processes=2)
    return RunResult(run_dir, df, front, False, time.perf_counter() - start)
