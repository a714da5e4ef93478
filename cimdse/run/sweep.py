"""A whole run: check the options, prepare the folder, search (Optuna loop, workers or exhaustive), then write
every output through `outputs.write_outputs`. Also `collect_sweep`: the outputs of a study as it stands."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import numpy as np

from ..config import Sweep
from ..errors import UserError
from ..results import front_frame, run_record, write_run
from ..search import optuna_api as oa
from ..search.auto import recorded as recorded_choice
from ..search.auto import resolve as resolve_auto
from ..search.exhaustive import shard_bounds, space_size, usable_cores
from ..search.loop import run_optuna
from ..search.progress import Progress, StopFlag, graceful_sigint
from ..search.scoring import Scored, score
from ..search.workers import run_workers
from .folder import RunResult, default_run_dir, prepare_run_dir
from .helper import FigureProcess, helper_wanted
from .outputs import start_figures, write_frames, write_outputs, write_shard_file
from .stream import stream_exhaustive


def run_sweep(sweep: Sweep, out: str | Path | None = None, fresh: bool = False,
              on_batch: Callable[[Progress], None] | None = None, plots: bool = True,
              workers: int | None = None, shard: tuple[int, int] | None = None, verify=None,
              parquet: bool = False, fork: bool = False) -> RunResult:
    """Run a sweep end to end and write trials.csv, pareto.csv and run.yaml (and the plots) into the run folder.

    A first Ctrl-C stops after the batch in progress and still writes everything done (RunResult.interrupted).
    `workers` > 1 runs that many processes: on one shared study, or on chunks of an exhaustive enumeration
    (default: 1 for an Optuna sampler, every usable core for the exhaustive one; same results either way);
    `shard` = (I, N) enumerates only shard I of N of an exhaustive sweep (merge the shards with `merge_shards`).
    `parquet`: also write trials.parquet (every column at full precision).
    `fork`: the run's helper processes (the figure drawer, the journal writer, the exhaustive chunk workers) may be
    forked copies of this process, which start at once; the CLI sets it. Left False in a caller's process (a
    notebook may hold threads that a fork would copy in an unusable state): exhaustive workers are then spawned, and
    the figures and the journal are written by this process.
    An exhaustive run streams (cimdse/run/stream.py): RunResult.trials then holds every row only for a space of at
    most stream.KEEP_ROWS designs, else the front plus a fixed sample (trials.csv holds every row).
    """
    check_run_options(sweep, workers=workers, shard=shard, verify=verify is not None)
    run_dir = Path(out) if out else default_run_dir(sweep, shard)
    sweep = resolve_auto(sweep, workers or usable_cores(), run_dir, fresh)  # sampler: auto -> its choice
    if workers is None:
        workers = usable_cores() if sweep.search.sampler == "exhaustive" else 1
    helper = fork and helper_wanted(plots, usable_cores())   # figures on a second process when there is a core
    if fork and sweep.search.sampler == "exhaustive":
        # the chunk workers and the figure process are forked from this process and all build pandas tables, as
        # this process does: imported once here, not once in each of them (about 0.12 s of CPU each)
        import pandas  # noqa: F401
    with graceful_sigint() as stop:  # Ctrl-C: finish the batch, then write what is done (below)
        prepare_run_dir(sweep, run_dir, fresh)
        # the figure process starts with the run: it loads matplotlib while the search runs (run/helper.py)
        with start_figures(run_dir, sweep) if helper else nullcontext() as figures:
            return _run(sweep, run_dir, on_batch, plots, stop, workers, shard, verify, parquet, figures, fork)


def _run(sweep: Sweep, run_dir: Path, on_batch, plots: bool, stop: StopFlag, workers: int,
         shard: tuple[int, int] | None, verify=None, parquet: bool = False, figures: FigureProcess | None = None,
         fork: bool = False) -> RunResult:
    extra: dict = {"workers": workers} if workers > 1 else {}
    if sweep.search.sampler == "exhaustive" and shard is not None:
        total = space_size(sweep)
        extra["shard"] = {"index": shard[0], "count": shard[1], "designs": list(shard_bounds(total, *shard)),
                          "total": total}
    record = run_record(sweep, extra)
    write_run(run_dir, {**record, "status": "running"})
    start = time.perf_counter()
    if sweep.search.sampler == "exhaustive":
        return exhaustive_run(sweep, run_dir, record, workers, stop, on_batch, plots, verify, parquet, shard, figures,
                              fork)
    if workers > 1:
        status = "interrupted" if run_workers(sweep, run_dir, sweep.search.storage, workers, on_batch, stop) \
            else "complete"
        study = oa.open_study(sweep, run_dir, sweep.search.storage)
        budget = sweep.search.trials + len(oa.screened_trials(study))
        params, numbers, origins = oa.first_complete(study, budget)
        if status == "complete" and sweep.search.timeout and len(numbers) < budget:
            status = "timeout"  # the workers stopped at search.timeout before the budget
        scored = scored_with_origin(sweep, params, origins)
    else:
        res = run_optuna(sweep, run_dir, sweep.search.storage, on_batch, stop, shared=sweep.search.storage is not None,
                         background=fork)
        params, numbers, status = res.params, res.numbers, res.status
        scored = scored_with_origin(sweep, params, res.origins, res.scored)
    return finish_run(sweep, run_dir, record, scored, numbers, status, time.perf_counter() - start, plots, verify,
                      parquet, figures)


def exhaustive_run(sweep: Sweep, run_dir: Path, record: dict, workers: int = 1, stop: StopFlag | None = None,
                   on_batch: Callable[[Progress], None] | None = None, plots: bool = True, verify=None,
                   parquet: bool = False, shard: tuple[int, int] | None = None, figures: FigureProcess | None = None,
                   fork: bool = False) -> RunResult:
    """The exhaustive search of a run whose folder is prepared (run.yaml says `running`): stream every design of the
    discrete space (or of `shard`) into the folder, then write the front, run.yaml and the figures (`figures`: on
    the run's figure process, run/helper.py; `fork`: chunk workers may be forked, else spawned)."""
    start = time.perf_counter()
    stop = stop or StopFlag()
    total = space_size(sweep)
    bounds = shard_bounds(total, *shard) if shard is not None else None
    lo, hi = bounds or (0, total)
    st = stream_exhaustive(sweep, run_dir, lo, hi, workers, stop, on_batch, parquet, fork=fork)
    status = "interrupted" if stop.requested and st.done < hi - lo else "complete"
    front = front_frame(st.front, sweep.objectives) if len(st.front) else st.front
    df, front = write_frames(sweep, run_dir, record, st.kept, front, status, plots, verify, totals=(st.done, st.feasible),
                             figures=figures)
    result = RunResult(run_dir, df, front, status, time.perf_counter() - start, st.done, st.feasible, len(front),
                       search=sweep.search)
    if bounds is not None and shard is not None and status == "complete":
        write_shard_file(run_dir, sweep, shard, bounds, total, st.front)
    return result


def resolve_for_cli(sweep: Sweep, out, fresh: bool, workers: int | None, shard) -> Sweep:
    """`sampler: auto` resolved for the run folder the command will use (the CLI shows progress in the chosen
    sampler's unit); run_sweep then leaves the resolved sweep as it is."""
    run_dir = Path(out) if out else default_run_dir(sweep, shard)
    return resolve_auto(sweep, workers or usable_cores(), run_dir, fresh)


def scored_with_origin(sweep: Sweep, params: list[dict], origins: list[str] | None,
                       scored: Scored | None = None) -> Scored | None:
    """The trials scored (`scored`: the search's own scores of them, when it has them), with their origin column when
    the study holds screened trials."""
    if not params:
        return None
    scored = score(sweep, params) if scored is None else scored
    if origins is not None and oa.SCREEN in origins:
        scored.origin = np.asarray(origins, dtype=object)
    return scored


def finish_run(sweep: Sweep, run_dir: Path, record: dict, scored: Scored | None, numbers, status: str,
               seconds: float, plots: bool = True, verify=None, parquet: bool = False,
               figures: FigureProcess | None = None) -> RunResult:
    """Write the run's outputs (tables, run.yaml with status and counts, figures) and return what was written."""
    df, front = write_outputs(sweep, run_dir, record, scored, numbers, status, plots, verify, parquet, figures)
    feas = int(df["feasible"].sum()) if len(df) else 0
    return RunResult(run_dir, df, front, status, seconds, len(df), feas, len(front), search=sweep.search)


def check_run_options(sweep: Sweep, workers: int | None = None, shard: tuple[int, int] | None = None,
                      collect: bool = False, verify: bool = False) -> None:
    """Refuse option combinations that make no sense, before any folder is written (workers None: the default)."""
    if verify and shard is not None:
        raise UserError("a shard's front is not the sweep's front; run --verify on an unsharded sweep", key="--verify")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise UserError(f"expected a number of worker processes >= 1, got {workers!r}", key="--workers")
    exhaustive = sweep.search.sampler == "exhaustive"
    if shard is not None and not exhaustive:
        raise UserError("shards split the exhaustive enumeration; for an Optuna sampler use --workers N or a "
                        "shared --storage URL", key="--shard")
    if collect and exhaustive:
        raise UserError("an exhaustive sweep keeps no study to collect; merge its shards with `cimdse merge`",
                        key="--collect")
    if collect and ((workers or 1) > 1 or shard is not None):
        raise UserError("--collect runs no trials; leave out --workers and --shard", key="--collect")


def collect_sweep(sweep: Sweep, out: str | Path | None = None, plots: bool = True, verify=None,
                  parquet: bool = False) -> RunResult:
    """Write trials.csv, pareto.csv, run.yaml and plots from the sweep's study as it stands, running no trial.

    Metrics are recomputed by scoring the stored parameters with the cost model (exact: the same vectorized
    function that scored them during the run, and faster than reading per-trial attributes back).
    """
    check_run_options(sweep, collect=True)
    run_dir = Path(out) if out else default_run_dir(sweep)
    url = sweep.search.storage
    journal = run_dir / oa.STUDY_FILE if url is None else (Path(url) if "://" not in url else None)
    if journal is not None and not journal.is_file():
        raise UserError(f"holds no study to collect (no file {journal}); run the sweep first, or name its "
                        "storage with --storage", file=str(url or run_dir), key="--storage")
    start = time.perf_counter()
    if sweep.search.sampler == "auto" and recorded_choice(run_dir):  # the choice the run recorded, if any
        sweep = resolve_auto(sweep, usable_cores(), run_dir)
        check_run_options(sweep, collect=True)
    study = oa.open_study(sweep, run_dir, url, create=False)
    params, numbers, origins = oa.first_complete(study, sweep.search.trials + len(oa.screened_trials(study)))
    prepare_run_dir(sweep, run_dir, fresh=False)
    record = run_record(sweep, {"collected_from": url or str(run_dir / oa.STUDY_FILE)})
    scored = scored_with_origin(sweep, params, origins)
    return finish_run(sweep, run_dir, record, scored, numbers, "collected", time.perf_counter() - start, plots,
                      verify, parquet)
