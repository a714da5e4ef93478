"""The one module that imports Optuna, through its public API only: distributions, samplers, storages (the
journal file with a crash-safe lock), studies, trial bookkeeping for the budgeted loop, and importances.

Everything else in cimdse calls these functions and holds Optuna objects without importing Optuna, so an
Optuna release that changes something changes this file only (tests/test_optuna_api.py covers it).
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import random
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState, create_trial

from ..config import Sweep
from ..errors import UserError

STUDY_FILE = "study.journal"
SURPLUS_ATTR = "cimdse_surplus"
ORIGIN_ATTR = "cimdse_origin"    # user attribute of a trial added by screening (value SCREEN); sampler trials lack it
SCREEN = "screen"
# Optuna >= 5 records constraints on the trial (Trial.set_constraint); older versions ask a constraints_func
NATIVE_CONSTRAINTS = hasattr(optuna.trial.Trial, "set_constraint")
CREATE_WITH_CONSTRAINTS = "constraints" in inspect.signature(create_trial).parameters


# ------------------------------------------------------------------------------------------------ samplers

def distributions(sweep: Sweep) -> dict:
    """Optuna distributions of the sweep's searched parameters, in the space's order."""
    out = {}
    for d in sweep.space:
        if d.choices:
            out[d.name] = CategoricalDistribution(list(d.choices))
        elif d.is_int:
            out[d.name] = IntDistribution(int(d.low), int(d.high), log=d.log, step=int(d.step or 1))
        else:
            out[d.name] = FloatDistribution(float(d.low), float(d.high), log=d.log, step=d.step)
    return out


def space_distributions(space: Mapping) -> dict:
    """Optuna distributions of the searched parameters from a run.yaml `space` mapping (as the sweep built them;
    used by the report, which reads a run folder rather than a Sweep)."""
    from ..cost.params import PARAMS

    out = {}
    for name, spec in space.items():
        if name not in PARAMS:
            continue
        if isinstance(spec, list):
            out[name] = CategoricalDistribution(spec)
        elif PARAMS[name].kind == "int":
            out[name] = IntDistribution(int(spec["low"]), int(spec["high"]), log=bool(spec.get("log")),
                                        step=int(spec.get("step") or 1))
        else:
            out[name] = FloatDistribution(float(spec["low"]), float(spec["high"]), log=bool(spec.get("log")),
                                          step=spec.get("step"))
    return out


def make_sampler(sweep: Sweep, constraints_func: Callable | None, seed: int | None = None):
    """The Optuna sampler named in the sweep, seeded (with `seed` when given, else the sweep's seed)."""
    with warnings.catch_warnings():  # some options are experimental in some Optuna versions: a local filter
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return _sampler(sweep, constraints_func, sweep.search.seed if seed is None else seed)


def _sampler(sweep: Sweep, constraints_func: Callable | None, seed: int):
    s, samplers = sweep.search.sampler, optuna.samplers
    space = distributions(sweep)
    if s == "tpe":
        return sweep_space(samplers.TPESampler)(space, seed=seed, multivariate=True, constant_liar=True,
                                                constraints_func=constraints_func)
    if s == "nsga2":
        return sweep_space(samplers.NSGAIISampler)(space, seed=seed, constraints_func=constraints_func)
    if s == "nsga3":
        return sweep_space(samplers.NSGAIIISampler)(space, seed=seed, constraints_func=constraints_func)
    if s == "random":
        return samplers.RandomSampler(seed=seed)
    if s == "qmc":
        return samplers.QMCSampler(seed=seed, scramble=True, warn_independent_sampling=False,
                                   warn_asynchronous_seeding=False)
    if s == "grid":
        return samplers.GridSampler({d.name: list(d.discrete_values) for d in sweep.space}, seed=seed)
    raise ValueError(f"no Optuna sampler for {s!r}")


@functools.cache
def sweep_space(base: type) -> type:
    """Optuna's sampler class `base` told the sweep's search space instead of recomputing it.

    Optuna's samplers infer the relative search space as the intersection of the distributions of every
    completed trial (sorted by name; empty before the first), cached per sampler instance. cimdse makes a new,
    re-seeded sampler for every batch (so that a resumed run asks what an uninterrupted one would), and each
    new one recomputed that intersection over the whole study: a scan of every trial per batch, half the time
    of a 2,000-trial NSGA-II sweep. Every trial of a cimdse study is asked with the sweep's distributions, so
    the intersection is known: this class overrides the public `infer_relative_search_space` to return it
    (without single-valued ones, as Optuna's samplers do). Same trials, byte for byte (benchmarks/
    trials_fingerprint.py, tests/test_sweep.py)."""

    class SweepSpace(base):
        def __init__(self, space: Mapping, **kw) -> None:
            super().__init__(**kw)
            self.sweep_space = {k: space[k] for k in sorted(space) if not space[k].single()}
            self.started = False  # a completed trial exists (once true, it stays true)

        def infer_relative_search_space(self, study, trial) -> dict:
            if not self.started:
                self.started = bool(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
            return dict(self.sweep_space) if self.started else {}

        if hasattr(base, "get_population"):  # Optuna's genetic samplers (BaseGASampler, Optuna >= 4.2)
            def get_population(self, study, generation: int) -> list:
                """Generation 0 of a genetic sampler plus the screened trials (added finished, so the sampler
                gave them no generation): the elite selection of the first parents then sees the screened front
                besides the sampler's random first generation."""
                pop = super().get_population(study, generation)
                return pop + screened_trials(study) if generation == 0 else pop

    SweepSpace.__name__ = SweepSpace.__qualname__ = base.__name__
    return SweepSpace


def grid_exhausted(study) -> bool:
    """Whether a grid sampler has handed out every point of its grid (False for other samplers)."""
    sampler = study.sampler
    return isinstance(sampler, optuna.samplers.GridSampler) and sampler.is_exhausted(study)


# ------------------------------------------------------------------------------------------------ storages

class FlockLock:
    """Lock for Optuna's journal file held with flock(): the kernel releases it when the process dies.

    Optuna's default symlink lock survives a killed process, and the next run then waits out its 30 s grace
    period; with flock a sweep killed mid-write resumes at once, and a waiting worker gets the lock as soon as it
    is free (the symlink lock polls with a back-off up to 1 s). Same acquire/release interface as Optuna's locks;
    each acquire opens its own file description, so forked workers never share one.
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


JOURNAL_FSYNC_S = 0.1  # the journal is fsync-ed at most this often (BatchedSyncJournal)


class BatchedSyncJournal(JournalFileBackend):
    """Optuna's journal file backend, fsync-ed at most every JOURNAL_FSYNC_S instead of on every append.

    Optuna fsyncs after each batch of log lines its JournalStorage hands to `append_logs` (2-3 ms each here,
    several per trial). This overrides that one public method: the lines are the ones Optuna's JournalStorage
    made, serialized as Optuna serializes them, written with one write() under the same lock before the call
    returns, so a killed process loses nothing; only a power cut or kernel crash can lose the last
    JOURNAL_FSYNC_S of lines, and a line cut short is trimmed on reopen (`journal_backend`). Reading is Optuna's.
    """

    def __init__(self, path: str, lock: FlockLock) -> None:
        super().__init__(path, lock_obj=lock)  # type: ignore[arg-type]  # duck-typed lock (acquire/release)
        self.path, self.lock = path, lock
        self.synced = time.monotonic()

    def append_logs(self, logs: list[dict]) -> None:
        data = ("\n".join(json.dumps(log, separators=(",", ":")) for log in logs) + "\n").encode("utf-8")
        self.lock.acquire()
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, data)
                if time.monotonic() - self.synced >= JOURNAL_FSYNC_S:
                    os.fsync(fd)
                    self.synced = time.monotonic()
            finally:
                os.close(fd)
        finally:
            self.lock.release()


def journal_backend(path: str):
    """A journal-file backend with a crash-safe lock; a line cut short by a kill is dropped first."""
    try:
        import fcntl  # noqa: F401
    except ImportError:  # pragma: no cover - Windows: Optuna's own lock and fsync
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
    return BatchedSyncJournal(path, lock)


def open_storage(url: str | None, run_dir: Path):
    """An Optuna storage: the default journal file in the run folder, a journal file path, a Redis journal
    (redis://, rediss://; needs the redis package) or any RDB URL (sqlite://, postgresql://, mysql://)."""
    if url is not None and url.startswith(("redis://", "rediss://")):
        from optuna.storages.journal import JournalRedisBackend

        with warnings.catch_warnings():  # experimental in Optuna; said once in docs/SWEEP.md instead
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return JournalStorage(JournalRedisBackend(url))
    if url is not None and "://" in url:
        return optuna.storages.get_storage(url)
    return JournalStorage(journal_backend(str(run_dir / STUDY_FILE) if url is None else url))


def open_study(sweep: Sweep, run_dir: Path, storage_url: str | None, sampler=None, create: bool = True):
    """Create or join the sweep's study by name (load_if_exists), or with create=False load an existing one.

    Several processes may open a fresh RDB storage at the same moment and race to create its tables or the
    study; the loser of such a race retries after a short random pause. Storage errors become UserErrors.
    """
    name = sweep.search.study_name or sweep.name
    where = storage_url or str(run_dir / STUDY_FILE)
    for attempt in range(5):
        try:
            storage = open_storage(storage_url, run_dir)
            if not create:
                return optuna.load_study(study_name=name, storage=storage, sampler=sampler)
            study = optuna.create_study(storage=storage, sampler=sampler, study_name=name,
                                        directions=[d for _, d in sweep.objectives], load_if_exists=True)
            name_metrics(study, [m for m, _ in sweep.objectives])
            return study
        except KeyError:
            raise UserError(f"holds no study named {name!r}; run the sweep first (without --collect)",
                            file=where, key="--storage") from None
        except ValueError as err:  # e.g. a study of this name with other objectives
            raise UserError(str(err), file=where, key="--storage") from None
        except optuna.exceptions.StorageInternalError as err:  # a race on a fresh RDB storage: retry
            last: Exception = err
        except Exception as err:  # noqa: BLE001 -- sqlalchemy/driver errors: retry a race, then report one line
            last = err
        if attempt == 4 or not _is_transient(last):
            raise UserError(f"cannot open the storage: {type(last).__name__}: {str(last).splitlines()[0]}",
                            file=where, key="--storage") from None
        time.sleep(0.2 + random.random())
    raise AssertionError("unreachable")


def _is_transient(err: Exception) -> bool:
    """Errors from two processes creating the same RDB tables or study at once (worth one more try).

    SQLAlchemy reports them as IntegrityError, OperationalError (a lock) or ProgrammingError (PostgreSQL's
    DuplicateTable / DuplicateObject when two processes create the schema's tables and enum types at once); Optuna
    as StorageInternalError. A genuine ProgrammingError fails again on every try and is reported after the last."""
    if isinstance(err, optuna.exceptions.StorageInternalError):
        return True
    try:
        from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
    except ImportError:  # pragma: no cover - no RDB storage without sqlalchemy
        return False
    return isinstance(err, (IntegrityError, OperationalError, ProgrammingError))


def name_metrics(study, names: Sequence[str]) -> None:
    """Store the objectives' names on the study (Study.set_metric_names), so that optuna-dashboard and
    Study.trials_dataframe() show them instead of values_0, values_1; only when not stored already."""
    if list(study.metric_names or []) == list(names):
        return
    with warnings.catch_warnings():  # experimental in Optuna; a local filter, the host's are left alone
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(list(names))


def _memory_study(directions: Sequence, sampler=None):
    """A study in a fresh InMemoryStorage, made through the storage and the Study constructor (not
    create_study). Optuna 5's storage itself logs "A new study created" at INFO: shown or not by the host's log
    level, which cimdse leaves untouched (the CLI sets WARNING)."""
    storage = optuna.storages.InMemoryStorage()
    directions = [optuna.study.StudyDirection.MINIMIZE if d in ("minimize", optuna.study.StudyDirection.MINIMIZE)
                  else optuna.study.StudyDirection.MAXIMIZE for d in directions]
    study_id = storage.create_new_study(directions, "cimdse-memory")
    return optuna.Study(study_name=storage.get_study_name_from_id(study_id), storage=storage, sampler=sampler)


def memory_study(directions: Sequence, sampler=None):
    """A fresh in-memory study with these directions (for benchmarks and notebooks; see _memory_study on logging)."""
    return _memory_study(directions, sampler)


def memory_copy(study, sampler):
    """An in-memory study with the same directions and metric names holding every trial of `study` (so trial
    numbers match), sampled by `sampler`: a single owner of a study samples from memory and stores each
    finished batch with Study.add_trials."""
    copy = _memory_study(study.directions, sampler)
    if study.metric_names:
        name_metrics(copy, study.metric_names)
    copy.add_trials(study.get_trials(deepcopy=False))
    return copy


def quiet_logging() -> None:
    """Optuna logs warnings only (its per-trial INFO lines would drown the progress line). For the CLI: the
    library never changes a host's logging."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)


# ------------------------------------------------------------------------------------------------ trials

def complete_trials(study) -> list:
    """The study's COMPLETE trials (in storage order)."""
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def live_trials(study) -> list:
    """COMPLETE and RUNNING trials: the ones that hold a slot of the trial budget."""
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING))


def count_complete(trials: Sequence) -> int:
    """How many of the trials are COMPLETE."""
    complete = TrialState.COMPLETE
    return sum(1 for t in trials if t.state == complete)


def fail_running_trials(study, older_than_s: float) -> int:
    """Close the RUNNING trials started more than `older_than_s` seconds ago as FAIL (a worker that died left
    them); returns how many. (Not Optuna's `fail_stale_trials`, which needs heartbeats on an RDB storage.)"""
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


def drop_surplus(study, asked: list, target: int) -> list:
    """Keep the asked trials that rank among the first `target` live trials by number; close the others as FAIL.

    Trial numbers are handed out atomically by the storage and a trial only ever leaves the live set, so a
    trial's rank can only fall: a kept trial stays within the budget, and no more than `target` trials can
    ever complete, however many workers ask at once.
    """
    allowed = set(sorted(t.number for t in live_trials(study))[:target])
    keep = [t for t in asked if t.number in allowed]
    for t in asked:
        if t.number not in allowed:
            t.set_user_attr(SURPLUS_ATTR, True)
            study.tell(t, state=TrialState.FAIL)
    return keep


def tell_scored(study, trial, values: Sequence[float], constraints: Sequence[float],
                metrics: Mapping[str, float] | None, shared: bool) -> None:
    """Finish an asked trial: its metrics (when given) as user attributes (optuna-dashboard lists them), its
    constraint violations (> 0: violated) and its objective values. On a shared study a trial another worker
    closed as stale while it was scored is left closed; in a study this process owns that cannot happen."""
    try:
        for k, v in (metrics or {}).items():
            trial.set_user_attr(k, v)
        if NATIVE_CONSTRAINTS:
            for j, v in enumerate(constraints):
                trial.set_constraint(f"c{j}", float(v))
        study.tell(trial, [float(v) for v in values])
    except optuna.exceptions.UpdateFinishedTrialError:
        if not shared:
            raise


def tell_failed(study, trials: Sequence) -> None:
    """Close asked trials as FAIL (a batch cut short by Ctrl-C)."""
    for t in trials:
        study.tell(t, state=TrialState.FAIL, skip_if_finished=True)


def finished_with_attrs(study, numbers: Sequence[int], attrs: Sequence[Mapping]) -> list:
    """Copies of the finished trials of the given numbers (of a study whose trials are numbered 0..n-1 in
    order) with `attrs` added to their user attributes, for Study.add_trials: the in-memory copy the sampler
    reads stays lean (setting 20 attributes per trial there cost more than the sampler), the stored trial has
    them all."""
    import copy

    frozen = study.get_trials(deepcopy=False)
    out = []
    for n, a in zip(numbers, attrs, strict=True):
        t = copy.copy(frozen[n])
        t.user_attrs = {**frozen[n].user_attrs, **a}
        out.append(t)
    return out


def first_complete(study, target: int) -> tuple[list[dict], list[int], list[str]]:
    """Params, numbers and origins ("screen" or "sampler") of the first `target` COMPLETE trials of a study, by
    trial number."""
    complete = sorted(complete_trials(study), key=lambda t: t.number)[:target]
    return ([t.params for t in complete], [t.number for t in complete],
            [SCREEN if t.user_attrs.get(ORIGIN_ATTR) == SCREEN else "sampler" for t in complete])


def screened_trials(study) -> list:
    """The COMPLETE trials that screening added (user attribute ORIGIN_ATTR)."""
    return [t for t in complete_trials(study) if t.user_attrs.get(ORIGIN_ATTR) == SCREEN]


def add_screened(study, dists: Mapping, params: Sequence[Mapping], values, violations,
                 metrics: Sequence[Mapping]) -> int:
    """Add screened designs to the study as finished trials (optuna.trial.create_trial + Study.add_trials), each
    with its metrics and ORIGIN_ATTR = "screen" as user attributes and its constraint violations (where Optuna
    takes them with the trial: create_trial's `constraints`, Optuna >= 5; screening keeps feasible designs when
    there are any, so older versions see no violated ones then). Returns how many were added."""
    trials = []
    for p, v, c, m in zip(params, values, violations, metrics, strict=True):
        kw = {"constraints": {f"c{j}": float(x) for j, x in enumerate(c)}} if CREATE_WITH_CONSTRAINTS else {}
        trials.append(create_trial(params=dict(p), distributions=dict(dists), values=[float(x) for x in v],
                                   user_attrs={**m, ORIGIN_ATTR: SCREEN}, **kw))
    study.add_trials(trials)
    return len(trials)


def trial_feasible(trial) -> bool:
    """Whether a finished trial's stored constraint violations are all <= 0."""
    cons = trial.system_attrs.get("constraints")
    if cons is None:  # Optuna >= 5: one system attribute per constraint, "constraints:<key>"
        cons = [v for k, v in trial.system_attrs.items() if k.startswith("constraints:")]
    return all(float(v) <= 0 for v in cons)


# ------------------------------------------------------------------------------------------------ importance

def param_importances(params: list[dict], values: np.ndarray, objectives: Sequence[tuple[str, str]],
                      dists: Mapping) -> dict[str, dict[str, float]]:
    """{objective: {parameter: importance}} by Optuna's PED-ANOVA evaluator over the given trials.

    The trials are copied once into an in-memory study holding every objective, so the Optuna path and the
    exhaustive path (which has no study) are treated alike; each objective is then evaluated as a target (negated
    when maximized: PED-ANOVA ranks low targets best, as it ranks a single-objective study that maximizes)."""
    names = list(dists)

    def native(name, v):
        d = dists[name]
        if isinstance(d, CategoricalDistribution):
            return next(c for c in d.choices if c == v or str(c) == str(v))
        return int(v) if isinstance(d, IntDistribution) else float(v)

    study = _memory_study(["minimize"] * max(len(objectives), 1))
    study.add_trials([create_trial(params={k: native(k, p[k]) for k in names}, distributions=dict(dists),
                                   values=[float(x) for x in v] or [0.0])
                      for p, v in zip(params, values, strict=True)])
    out = {}
    with warnings.catch_warnings():  # "computes the importances of params to achieve low target values": intended
        warnings.simplefilter("ignore")
        for i, (metric, direction) in enumerate(objectives):
            sign = -1.0 if direction == "maximize" else 1.0
            imp = optuna.importance.get_param_importances(
                study, evaluator=optuna.importance.PedAnovaImportanceEvaluator(), params=names,
                target=lambda t, i=i, sign=sign: sign * t.values[i])
            out[metric] = {k: float(imp.get(k, 0.0)) for k in names}
    return out

