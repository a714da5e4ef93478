"""A run and its folder: `run_sweep` (search, then write every output), `collect_sweep` (the outputs of a study
as it stands), `merge_shards` (join the shards of an exhaustive sweep), `pareto_view` (`cimdse pareto`).
`outputs.write_outputs` is the one place where a run's files are written."""

from __future__ import annotations

from .folder import RunResult, default_run_dir, prepare_run_dir
from .merge import merge_shards
from .sweep import check_run_options, collect_sweep, run_sweep
from .view import ParetoView, pareto_view

__all__ = ["ParetoView", "RunResult", "check_run_options", "collect_sweep", "default_run_dir", "merge_shards",
           "pareto_view", "prepare_run_dir", "run_sweep"]
