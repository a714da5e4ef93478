"""Former home of the sweep engine, kept so that code written against it keeps working: the names now live in
`cimdse.search` (Optuna adapter, loop, workers, exhaustive path, scoring) and `cimdse.run` (the run folder).
New code imports from there."""

from __future__ import annotations

from .run.folder import RunResult, default_run_dir, prepare_run_dir
from .run.merge import merge_shards
from .run.sweep import check_run_options, collect_sweep, finish_run, run_sweep
from .search.exhaustive import enumerate_space, parse_shard, run_exhaustive, shard_bounds, space_size
from .search.loop import batch_seed, run_optuna
from .search.optuna_api import STUDY_FILE, SURPLUS_ATTR, make_sampler, open_storage, open_study
from .search.progress import Progress, StopFlag, Tally, graceful_sigint
from .search.scoring import Scored, base_design, concat_scored, score, sweep_baseline
from .search.workers import run_workers

__all__ = ["STUDY_FILE", "SURPLUS_ATTR", "Progress", "RunResult", "Scored", "StopFlag", "Tally", "base_design",
           "batch_seed", "check_run_options", "collect_sweep", "concat_scored", "default_run_dir", "enumerate_space",
           "finish_run", "graceful_sigint", "make_sampler", "merge_shards", "open_storage", "open_study",
           "parse_shard", "prepare_run_dir", "run_exhaustive", "run_optuna", "run_sweep", "run_workers", "score",
           "shard_bounds", "space_size", "sweep_baseline"]
