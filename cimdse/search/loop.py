"""The budgeted ask/tell loop: ask a batch, score it in one vectorized call, tell the results, until the study
holds `trials` complete trials, the timeout passes, Ctrl-C asks to stop, or a grid is exhausted.

Optuna is reached through `optuna_api` only. The study lives in a persistent storage (a journal file in the run
folder by default), so an interrupted sweep resumes where it stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import Sweep
from . import optuna_api as oa
from .persist import BatchStore, background_possible
from .progress import Progress, StopFlag, Tally
from .scoring import Scored, concat_scored, score, take_scored
from .screen import screen

# A RUNNING trial older than this is taken to belong to a worker that died (killed, machine lost) and is closed
# as FAIL by the workers still running, so that its budget slot is freed. Live batches finish in seconds.
STALE_RUNNING_S = 120.0
POLL_S = 0.2


@dataclass
class LoopResult:
    """The first `trials` complete trials (params, numbers and origins, by number; screened trials come on top of
    the budget) and why the loop ended: "complete" (budget reached or grid exhausted), "interrupted" (Ctrl-C) or
    "timeout" (search.timeout passed first)."""

    params: list[dict]
    numbers: list[int]
    status: str
    origins: list[str] | None = None
    scored: Scored | None = None   # the scores of those trials, in that order, when this run scored every one of them

    @property
    def interrupted(self) -> bool:
        return self.status == "interrupted"


def batch_seed(seed: int, trials_so_far: int) -> int:
    """The sampler seed for the batch that starts after `trials_so_far` trials of the study (any state).

    Re-seeding each batch from the study's own history makes the next batch a function of (seed, history) only,
    so a run resumed at a batch boundary asks exactly what the uninterrupted run would have asked, and a run
    resumed after a kill does not replay the random draws of its first batches.
    """
    return int(np.random.SeedSequence([seed, trials_so_far]).generate_state(1)[0])


def add_screening(sweep: Sweep, study) -> int:
    """Screen `search.screen` designs and add the kept ones to the study as finished trials, once per study (not
    again on resume); returns how many screened trials the study holds. The screened trials come first (numbers
    0..K-1 of a fresh study) and on top of the `trials` budget, which counts the sampler's trials."""
    have = len(oa.screened_trials(study))
    if not sweep.search.screen or have:
        return have
    s = screen(sweep)
    if s.scored is None or not s.params:
        return 0
    return oa.add_screened(study, oa.distributions(sweep), s.params, s.scored.objectives, s.scored.violations,
                           [s.scored.trial_metrics(i) for i in range(len(s.params))])


def run_optuna(sweep: Sweep, run_dir: Path, storage_url: str | None = None,
               on_batch: Callable[[Progress], None] | None = None,
               stop: StopFlag | None = None, shared: bool = False, background: bool = False) -> LoopResult:
    """Ask/tell until the study holds `trials` complete trials, or `stop` is set (checked after every batch).

    `shared`: other processes may work on the same study now (workers, other machines); then trials left
    RUNNING are only closed once stale, and every batch is checked against the budget shared by all of them.
    `background`: a single-owner study's batches may be stored by a forked second process (search/persist.py).
    """
    cons: dict[int, list[float]] = {}
    cons_func = None if oa.NATIVE_CONSTRAINTS else (lambda ft: cons.get(ft.number, [0.0]))
    sampler = oa.make_sampler(sweep, cons_func)
    study = oa.open_study(sweep, run_dir, storage_url, sampler)
    # trials left RUNNING by an interrupted run of this study are closed as failed; completed ones are kept.
    # On a shared storage only stale ones: the others may be another worker's batch in flight.
    oa.fail_running_trials(study, STALE_RUNNING_S if shared else 0.0)
    start = time.perf_counter()
    target = sweep.search.trials + add_screening(sweep, study)
    persist = store = None
    # (not for qmc: its position in the sequence is a study-level attribute of the storage, which a copy would lose)
    if not shared and sweep.search.sampler != "qmc":
        # One process owns the study: sample on an in-memory copy and store each finished batch with
        # Study.add_trials (one journal line per trial instead of ~13), letting the sampler read trials from
        # memory. Trial numbers match the storage's: every stored trial is copied, failed ones included.
        # The batches are stored on a second process where there is one (search/persist.py).
        persist, study = study, oa.memory_copy(study, sampler)
        store = BatchStore(persist, background=background and background_possible())
    dists = oa.distributions(sweep)
    tally = Tally([d for _, d in sweep.objectives])
    complete = oa.complete_trials(study)
    if complete and on_batch:  # a resumed run counts what is already there
        s = score(sweep, [t.params for t in complete])
        tally.add(s.feasible, s.objectives)
    reseed = sweep.search.sampler not in ("qmc", "grid")  # qmc indexes its sequence from the storage; grid is huge
    pending: list = []
    status = "complete"
    added = 0
    kept: list[Scored] = []     # every batch scored here, and its trial numbers (for LoopResult.scored)
    kept_numbers: list[int] = []
    try:
        while True:
            # the budget is counted in the storage before every batch: COMPLETE trials, plus RUNNING ones
            # (another worker's batch in flight) that hold a slot until they finish
            live = oa.live_trials(study)
            done = oa.count_complete(live)
            if done >= target:
                break
            if sweep.search.timeout and time.perf_counter() - start > sweep.search.timeout:
                status = "timeout"
                break
            if stop is not None and stop.requested:
                status = "interrupted"
                break
            room = target - len(live)
            if room <= 0:  # every slot left is held by another worker's running trials: wait for them
                oa.fail_running_trials(study, STALE_RUNNING_S)
                time.sleep(POLL_S)
                continue
            n = min(sweep.search.batch_size, room)
            if reseed:
                study.sampler = oa.make_sampler(sweep, cons_func,
                                                batch_seed(sweep.search.seed, len(study.get_trials(deepcopy=False))))
            pending = [study.ask(dists) for _ in range(n)]
            if shared:
                pending = oa.drop_surplus(study, pending, target)
                if not pending:
                    continue
            s = score(sweep, [t.params for t in pending])
            metrics = [s.trial_metrics(i) for i in range(len(pending))]
            for i, t in enumerate(pending):
                cons[t.number] = [float(v) for v in s.violations[i]]
                oa.tell_scored(study, t, s.objectives[i], cons[t.number], None if persist else metrics[i], shared)
            if store is not None:  # stored with every metric as a user attribute
                store.add(oa.finished_with_attrs(study, [t.number for t in pending], metrics))
            if len(kept_numbers) < KEEP_SCORED:
                kept.append(s)
                kept_numbers += [t.number for t in pending]
            told = len(pending)
            pending = []
            added += told
            if on_batch:
                tally.add(s.feasible, s.objectives)
                on_batch(Progress(done + told, target, added / max(time.perf_counter() - start, 1e-9),
                                  tally.feasible, len(tally.front)))
            if oa.grid_exhausted(study):
                break
    except KeyboardInterrupt:
        status = "interrupted"
        oa.tell_failed(study, pending)
    except BaseException:
        if store is not None:
            store.abandon()
        raise
    if store is not None:
        store.close()   # every batch told is in the storage when the loop returns
    params, numbers, origins = oa.first_complete(study, target)
    return LoopResult(params, numbers, status, origins, _scored_of(kept, kept_numbers, numbers))


KEEP_SCORED = 200_000   # trials whose scores the loop keeps for the outputs (beyond: they are scored again)


def _scored_of(kept: list[Scored], kept_numbers: list[int], numbers: list[int]) -> Scored | None:
    """The loop's own scores of trials `numbers` (in that order), or None when it did not score every one of them
    (a resumed run, screened trials, more than KEEP_SCORED): the outputs then score the trials again. The cost
    model scores each design alone, whatever else is in its batch, so these are the bits a new score would give
    (tests/test_loop_scores.py, tests/test_errmodel_batch.py)."""
    if not numbers:
        return None
    at = {n: i for i, n in enumerate(kept_numbers)}
    if any(n not in at for n in numbers):
        return None
    return take_scored(concat_scored(kept), [at[n] for n in numbers])
