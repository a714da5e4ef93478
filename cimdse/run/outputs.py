"""Everything a run writes into its folder, in one place (`write_outputs`): trials.csv, pareto.csv, run.yaml and
the figures. A new output of a run (e.g. a report page) is added here, once.

Figures come from `cimdse.plots` as matplotlib Figures (pure functions of the data); this module saves them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from ..config import Sweep
from ..plots import (
    Reference,
    baseline_reference,
    breakdown_figure,
    default_axes,
    default_color,
    history_figure,
    importance_figure,
    importance_note,
    pareto_figure,
)
from ..report import write_report
from ..results import (
    atomic_write,
    front_frame,
    run_title,
    sweep_fingerprint,
    trials_frame,
    write_csv,
    write_run,
)
from ..search.scoring import Scored, score, sweep_baseline
from .diagnose import NOT_DRAWN, explain_empty
from .folder import SHARD_FILE
from .helper import FigureProcess

RUN_FIGURES = ("pareto.png", "breakdown.png", "history.png", "importance.png")
FIGURE_FORMATS = (".png", ".svg", ".pdf")
DPI = 110


def save_figure(fig, out: Path) -> Path:
    """Write a matplotlib Figure via a temporary file and a rename; the format follows the suffix. The bytes
    depend only on the figure: no creation date, fixed SVG element ids."""
    import matplotlib

    out = Path(out)
    tmp = out.with_name(f".tmp-{out.name}")
    suffix = out.suffix.lower()
    metadata = {".svg": {"Date": None}, ".pdf": {"CreationDate": None}}.get(suffix, {})
    try:
        with matplotlib.rc_context({"svg.hashsalt": "cimdse"}):
            fig.savefig(tmp, format=suffix.lstrip(".") or "png", dpi=DPI, metadata=metadata)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def run_frames(sweep: Sweep, scored: Scored | None, numbers):
    """(trials table, front table) of scored designs, as written to trials.csv and pareto.csv."""
    import pandas as pd

    df = trials_frame(scored, numbers) if scored is not None else pd.DataFrame()
    return df, (front_frame(df, sweep.objectives) if len(df) else df)


def write_outputs(sweep: Sweep, run_dir: Path, record: dict, scored: Scored | None, numbers, status: str,
                  plots: bool = True, verify=None, parquet: bool = False, figures: FigureProcess | None = None):
    """Write the run's tables, run.yaml (with status and counts) and, with `plots`, its figures; returns
    (trials table, front table). The one place where a run's outputs are written. `verify` (run.verify.Verify):
    measure the front designs on a checkpoint first (pareto.csv gains the measured columns; not when interrupted).
    `parquet`: also write trials.parquet. `figures`: the run's figure process (run/helper.py; see `helper_wanted`),
    which draws the figures while this process writes the tables and the report."""
    sent = figures is not None and plots and scored is not None
    if sent:   # the figure process builds the same tables from the scores and draws while this process does too
        figures.submit(draw_scored, scored, numbers)
    df, front = run_frames(sweep, scored, numbers)
    return write_frames(sweep, run_dir, record, df, front, status, plots, verify, parquet=parquet, figures=figures,
                        sent=sent)


def write_frames(sweep: Sweep, run_dir: Path, record: dict, df, front, status: str, plots: bool = True,
                 verify=None, totals: tuple[int, int] | None = None, parquet: bool = False,
                 figures: FigureProcess | None = None, sent: bool = False):
    """`write_outputs` from the tables. `totals` = (trials, feasible) of a streamed run (run/stream.py) whose
    trials.csv is already written: then `df` holds only the rows kept for the figures and the report.
    `figures`: the run's figure process (`start_figures`): it draws every figure while this process writes the
    tables and the report (this process then never loads matplotlib); `sent`: it was sent the scores already
    (`draw_scored`) and draws every figure but importance.png from them."""
    if verify is not None:
        from .verify import verify_front

        if status == "interrupted" or not len(front):
            record = {**record, "verify": {"checkpoint": str(verify.checkpoint), "designs": 0,
                                           "skipped": "run interrupted" if len(front) else "empty front"}}
        else:
            front, done = verify_front(front, verify)
            record = {**record, "verify": done}
    if not (plots and len(df)):
        write_tables(sweep, run_dir, record, df, front, status, plots, totals=totals, parquet=parquet)
        return df, front
    # the figures' front is the front of the rows (without the measured columns of --verify): the one already made
    table, fig_front, color = figure_data(df, sweep, front if verify is None and totals is None else None)
    if figures is not None:
        if not sent:
            figures.submit(draw_figures, table, fig_front, color, FIRST_FIGURES)
        imp = run_importances(table, sweep)   # once, for importance.png and report.html
        figures.submit(draw_importance, int(table["feasible"].sum()), imp)
        write_tables(sweep, run_dir, record, df, front, status, plots, totals=totals, parquet=parquet)
        _write_rest(sweep, run_dir, record, df, front, totals, imp)
        figures.wait()
    else:
        write_tables(sweep, run_dir, record, df, front, status, plots, totals=totals, parquet=parquet)
        imp = run_importances(table, sweep)
        draw_figures(run_dir, sweep, table, fig_front, color, RUN_FIGURE_NAMES, importances=imp)
        _write_rest(sweep, run_dir, record, df, front, totals, imp)
    return df, front


def start_figures(run_dir: Path, sweep: Sweep) -> FigureProcess:
    """The figure process of a run (run/helper.py), started when the run starts: it prepares matplotlib while the
    search runs, then draws the figures `write_frames` sends it. This process scores `warm_designs` first: the cost
    model's first call (importing scipy.special, building its tables: about 0.2 s), which the search pays anyway, is
    then paid once, not again by the copy while it shares the cores with the search."""
    if sweep.space:
        try:
            score(sweep, warm_designs(sweep))
        except Exception:  # noqa: BLE001 -- a warm-up only: the search reports a real failure on its first batch
            pass
    return FigureProcess(figure_job, Path(run_dir), sweep, warm=partial(warm_figures, sweep))


def draw_scored(run_dir: Path, sweep: Sweep, scored: Scored, numbers) -> list[Path]:
    """FIRST_FIGURES from the scored trials: the tables `write_outputs` builds, built again on the figure process (it
    starts drawing without waiting for them; pandas is loaded there already)."""
    df, front = run_frames(sweep, scored, numbers)
    table, front, color = figure_data(df, sweep, front)
    return draw_figures(run_dir, sweep, table, front, color, FIRST_FIGURES)


def figure_job(run_dir: Path, sweep: Sweep, fn, *args) -> None:
    """What a run's figure process (run/helper.py) runs for each job: fn(run_dir, sweep, *args)."""
    fn(run_dir, sweep, *args)


def warm_figures(sweep: Sweep | None = None) -> None:
    """Prepare this process to draw the run's figures: load matplotlib, the Agg canvas, PNG writing and the fonts by
    drawing a small figure into memory, with a log axis whose tick labels are mathtext (powers of ten: building
    matplotlib's mathtext parser and loading its fonts took about 0.2 s of the first figure that had one), and (with
    `sweep`) re-score `warm_designs` with the breakdown as breakdown.png does, which builds the cost model's tables
    that the front's designs use (its error-model tables took about 0.15 s of breakdown.png). The figure process
    does this while the search runs."""
    import io

    from ..plots.breakdown import breakdown_values
    from ..plots.style import _set_scale, new_figure

    fig, ax = new_figure(figsize=(2, 1.5))
    ax.scatter([1.0, 300.0], [2.0, 3.0e5], marker="x", label="warm-up")
    ax.bar([0, 1], [1.0, 2.0], label="bars")
    _set_scale(ax, "x", True)
    _set_scale(ax, "y", True)   # five decades: tick labels 10^4 and 10^5 in mathtext
    ax.set_xlabel("x [uJ]")
    ax.legend(fontsize=7)
    fig.suptitle("warm-up", fontsize=10)
    fig.savefig(io.BytesIO(), format="png", dpi=DPI)
    if sweep is not None and sweep.space:
        designs = warm_designs(sweep)
        rows, _ = run_frames(sweep, score(sweep, designs), list(range(len(designs))))
        breakdown_values(rows, sweep.model, sweep.scenario)


def warm_designs(sweep: Sweep) -> list[dict]:
    """A few designs spread over the sweep's space: design i takes choice i (cyclically) of every categorical
    parameter and alternately the low and high end of every numeric one, so that together they meet every choice
    (and both ends) the way the front's designs will."""
    n = max([len(d.choices) for d in sweep.space if d.choices] + [2])
    return [{d.name: d.choices[i % len(d.choices)] if d.choices else (d.low if i % 2 == 0 else d.high)
             for d in sweep.space} for i in range(n)]


def _write_rest(sweep: Sweep, run_dir: Path, record: dict, df, front, totals: tuple[int, int] | None,
                importances=None) -> None:
    """verify.png (after sweep --verify) and report.html."""
    if "measured_ppl" in front:   # sweep --verify: verify.png (cimdse/plots/verify.py)
        from ..plots.verify import verify_figure

        save_figure(verify_figure(front, sweep.objectives[0][0], record["verify"]["reference_ppl"],
                                  run_title(sweep.name, sweep.model.name, sweep.scenario.to_dict()),
                                  Path(record["verify"]["checkpoint"]).name), Path(run_dir) / "verify.png")
    # report.html beside the figures (cimdse/report.py)
    write_report(run_dir, trials=df, sweep=sweep, totals=totals if totals and totals[0] > len(df) else None,
                 importance=importances)


def run_importances(df, sweep: Sweep) -> dict | None:
    """The run's parameter importances (search.importance.param_importances), or None when `importance_note` says
    there can be none. Computed from the objectives as trials.csv holds them (10 significant digits), so that
    importance.png, report.html and a report made later from the files show the same values."""
    from ..results import round_significant
    from ..search.importance import param_importances
    from ..search.optuna_api import distributions

    dists = distributions(sweep)
    if importance_note(list(dists), int(df["feasible"].sum())):
        return None
    objs = list(sweep.objectives)
    rounded = df.assign(**{m: round_significant(df[m].to_numpy(dtype=float)) for m, _ in objs})
    return param_importances(rounded, objs, dists)


def write_tables(sweep: Sweep, run_dir: Path, record: dict, df, front, status: str, plots: bool = True,
                 totals: tuple[int, int] | None = None, parquet: bool = False) -> None:
    """trials.csv and pareto.csv (when there are rows) and run.yaml with the run's status and counts; with no
    feasible design, run.yaml says which rules broke and why breakdown.png is missing (`plots`: figures drawn).
    `totals` (trials, feasible): trials.csv was streamed already and `df` is what the run kept of it.
    `parquet`: trials.parquet too (full precision)."""
    why = explain_empty(df, sweep)
    n, feasible = totals if totals is not None else (len(df), int(df["feasible"].sum()) if len(df) else 0)
    if why is not None:
        if n > len(df):
            why = {**why, "sample": f"{len(df):,} of {n:,} trials (the rows a streamed run keeps in memory)"}
        record = {**record, "no_feasible_design": {**why, **({"breakdown.png": NOT_DRAWN} if plots else {})}}
    if len(df):
        if totals is None:
            write_csv(df, run_dir / "trials.csv")
            if parquet:
                from .stream import TRIALS_PARQUET, parquet_frame

                tmp = run_dir / f".{TRIALS_PARQUET}.tmp-{os.getpid()}"
                parquet_frame(df).write_parquet(tmp)
                os.replace(tmp, run_dir / TRIALS_PARQUET)
        if sweep.uncertainty and len(front):   # p10/p90 columns for the front designs only (not every trial)
            from ..search.scoring import front_bands

            front = front_bands(sweep, front)
        write_csv(front, run_dir / "pareto.csv")
    write_run(run_dir, {**record, "status": status, "completed_trials": int(n), "feasible_trials": int(feasible),
                        "front_size": int(len(front))})


RUN_FIGURE_NAMES = ("pareto", "breakdown", "history", "importance")
FIRST_FIGURES = ("pareto", "breakdown", "history")   # what the figure process draws before the importances exist


def write_run_figures(run_dir: Path, df, sweep: Sweep, references: Sequence[Reference] | None = None,
                      importances: dict | None = None) -> list[Path]:
    """The figures written at the end of every sweep: pareto.png, breakdown.png (when the front is not empty),
    history.png, importance.png (`importances`: the run's, from `run_importances`; computed here when None)."""
    table, front, color = figure_data(df, sweep)
    return draw_figures(run_dir, sweep, table, front, color, RUN_FIGURE_NAMES, references, importances)


def figure_data(df, sweep: Sweep, front=None):
    """(table, front, colour column) that the run's figures are drawn from: the columns of the trials table they
    read (trial, searched parameters, plotted metrics, feasible), its front with every column (breakdown.png
    re-scores those designs; `front`: front_frame(df, sweep.objectives) when the caller made it already), and the
    parameter pareto.png colours by. The narrow table is cheap to hand to the figure process; the searched
    parameters are the only ones that vary, so designs are told apart as before."""
    objs = list(sweep.objectives)
    searched = [d.name for d in sweep.space]
    color = default_color(df, searched)
    cols = ["trial", *searched, *(m for m, _ in objs), *(m for m, _ in default_axes(objs)), color, "feasible"]
    cols = list(dict.fromkeys(c for c in cols if c is not None and c in df.columns))
    return df[cols], front_frame(df, objs) if front is None else front, color


def draw_figures(run_dir: Path, sweep: Sweep, table, front, color: str | None, names: Sequence[str],
                 references: Sequence[Reference] | None = None, importances: dict | None = None) -> list[Path]:
    """Draw and save the named run figures (of RUN_FIGURE_NAMES, in that order; breakdown only for a non-empty
    front) from `figure_data`'s outputs."""
    return [p for name in RUN_FIGURE_NAMES if name in names
            for p in _draw(name, Path(run_dir), sweep, table, front, color, references, importances)]


def _draw(name: str, run_dir: Path, sweep: Sweep, table, front, color, references, importances) -> list[Path]:
    sc = sweep.scenario
    title = run_title(sweep.name, sweep.model.name, sc.to_dict())
    objs = list(sweep.objectives)
    if name == "pareto":
        gpu = baseline_reference(sweep_baseline(sweep))
        refs = ([gpu] if gpu else []) + list(references or [])
        fig = pareto_figure(table, default_axes(objs), color=color, title=title, references=refs)
    elif name == "breakdown":
        if not len(front):
            return []
        fig = breakdown_figure(front, sweep.model, sc, objectives=[m for m, _ in objs], title=title)
    elif name == "history":
        order = "enumeration order" if sweep.search.sampler == "exhaustive" else ""
        fig = history_figure(table, objs, title=title, order_note=order)
    else:
        n_feas = int(table["feasible"].sum())
        imp = importances if importances is not None else run_importances(table, sweep)
        return draw_importance(run_dir, sweep, n_feas, imp)
    return [save_figure(fig, run_dir / f"{name}.png")]


def draw_importance(run_dir: Path, sweep: Sweep, n_feasible: int, importances: dict | None) -> list[Path]:
    """importance.png from the run's importances (`run_importances`) and its number of feasible trials."""
    from ..search.importance import IMPORTANCE_MAX_TRIALS
    from ..search.optuna_api import distributions

    fig = importance_figure(importances, list(sweep.objectives), list(distributions(sweep)), n_feasible=n_feasible,
                            sample=min(n_feasible, IMPORTANCE_MAX_TRIALS),
                            title=run_title(sweep.name, sweep.model.name, sweep.scenario.to_dict()))
    return [save_figure(fig, Path(run_dir) / "importance.png")]


def write_shard_file(run_dir: Path, sweep: Sweep, shard: tuple[int, int], bounds: tuple[int, int], total: int,
                     front) -> None:
    """shard.json: which designs this shard holds, and its front's objective values at full precision, so that
    `merge_shards` finds the exact global front (the CSVs keep 10 significant digits)."""
    objs = [k for k, _ in sweep.objectives]
    f = front.sort_values("trial", kind="stable") if len(front) else front
    data = {"fingerprint": sweep_fingerprint(sweep), "index": shard[0], "count": shard[1],
            "designs": list(bounds), "total": total, "objectives": objs,
            "front_trials": [int(t) for t in (f["trial"] if len(f) else [])],
            "front_values": f[objs].to_numpy(dtype=float).tolist() if len(f) else []}
    atomic_write(run_dir / SHARD_FILE, json.dumps(data))
