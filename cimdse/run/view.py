"""`cimdse pareto`: recompute a run's front for chosen metrics and write its figure and CSV."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..cost.params import PARAMS
from ..errors import UserError, unknown
from ..plots import Reference, baseline_reference, default_axes, default_color, pareto_figure
from ..results import check_metric, front_frame, load_run, metric_direction, require_columns, write_csv
from .outputs import FIGURE_FORMATS, save_figure


@dataclass
class ParetoView:
    """What `cimdse pareto` made: the figure, the front's CSV, the front rows and the metrics used."""

    figure: Path
    csv: Path
    front: object            # pandas DataFrame, sorted best-first by the first metric
    metrics: list            # [(metric, direction), ...]
    rows: int
    feasible: int
    references: list         # [(label, {metric: value})] drawn as markers (the run's GPU baseline first)


def pareto_view(path: str | Path, x: str | None = None, y: str | None = None, z: str | None = None, *,
                color: str | None = None, label: str | None = None, log_x: bool | None = None,
                log_y: bool | None = None, feasible_only: bool = False, out: str | Path | None = None,
                references: Sequence[Reference] | None = None) -> ParetoView:
    """Recompute a run's front for chosen metrics; write the figure and the front's CSV (same name, .csv)."""
    if out is not None and Path(out).suffix.lower() not in FIGURE_FORMATS:
        raise UserError(f"expected a file name ending in {', '.join(FIGURE_FORMATS)}", key="--out")
    if (x is None) != (y is None) or (z is not None and x is None):
        raise UserError("give --x and --y together (and --z only with them), or none to plot the run's objectives",
                        key="--x" if x is None else "--y")
    for m, key in ((x, "--x"), (y, "--y"), (z, "--z")):
        if m is not None:
            check_metric(m, key)
    for p, key in ((color, "--color"), (label, "--label")):
        if p is not None and p not in PARAMS:
            raise UserError(unknown("design parameter", p, PARAMS), key=key)
    run = load_run(path)
    if x is None:
        if not run.objectives:
            raise UserError("has no run.yaml beside it to name the objectives; give --x and --y",
                            file=str(run.source))
        metrics = default_axes(list(run.objectives.items()))
    else:
        names = [m for m in (x, y, z) if m is not None]
        if len(set(names)) < len(names):
            raise UserError("the axes must be different metrics", key="--y" if x == y else "--z")
        metrics = [(m, metric_direction(m, run.objectives)) for m in names]
    df = run.trials
    require_columns(run, [m for m, _ in metrics] + [c for c in (color, label, "trial") if c])
    if color is None:
        color = default_color(df, run.searched)
    if out is None:
        # an expression objective ('tokens_per_s / area_mm2') becomes letters, digits and '_' in the file name
        fig_path = run.folder / ("pareto-" + "-".join(re.sub(r"\W+", "_", m).strip("_") for m, _ in metrics) + ".png")
    else:
        fig_path = Path(out)
        if not fig_path.parent.exists():
            raise UserError("folder does not exist", file=str(fig_path.parent), key="--out")
    csv_path = fig_path.with_suffix(".csv")
    if csv_path.resolve() == run.source.resolve():
        raise UserError("would overwrite the trials table it reads; choose another name", key="--out")
    feas = df[df["feasible"]]
    front = front_frame(df, metrics)
    log = {metrics[0][0]: log_x, metrics[1][0]: log_y}
    gpu = baseline_reference((run.record or {}).get("baseline"))
    refs = ([gpu] if gpu else []) + list(references or [])
    save_figure(pareto_figure(df, metrics, color=color, label=label, title=run.title(),
                              feasible_only=feasible_only, log=log, references=refs), fig_path)
    write_csv(front, csv_path)
    return ParetoView(fig_path, csv_path, front, metrics, len(df), len(feas), refs)
