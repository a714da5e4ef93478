"""Figures of a run (matplotlib, Agg backend): the Pareto scatter of the objectives."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .cost.model import metric_units


def _label(metric: str) -> str:
    unit = metric_units().get(metric, "")
    return f"{metric} [{unit}]" if unit else metric


def pareto_scatter(df, x: str, y: str, x_dir: str, y_dir: str, color: str = "device", title: str = "",
                   out: Path | None = None, log_x: bool | None = None, log_y: bool | None = None):
    """All trials faint, infeasible ones as crosses, the front as a step line, colours by a categorical parameter."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .pareto import pareto_mask

    fig, ax = plt.subplots(figsize=(8, 6), dpi=120)
    feas = df["feasible"].to_numpy(dtype=bool)
    groups = sorted(df[color].astype(str).unique()) if color in df else ["all"]
    cmap = plt.get_cmap("tab10")
    for i, g in enumerate(groups):
        sel = (df[color].astype(str) == g).to_numpy() if color in df else np.ones(len(df), bool)
        ax.scatter(df.loc[sel & feas, x], df.loc[sel & feas, y], s=12, alpha=0.35, color=cmap(i % 10),
                   label=f"{color}={g}" if color in df else "feasible")
    if (~feas).any():
        ax.scatter(df.loc[~feas, x], df.loc[~feas, y], s=10, marker="x", color="0.6", alpha=0.4,
                   label="infeasible")
    if feas.any():
        sub = df[feas]
        mask = pareto_mask(sub[[x, y]].to_numpy(dtype=float), [x_dir, y_dir])
        front = sub[mask].sort_values(x)
        ax.step(front[x], front[y], where="post" if y_dir == "minimize" else "pre", color="black", lw=1.5)
        ax.scatter(front[x], front[y], s=40, facecolors="none", edgecolors="black", lw=1.5,
                   label=f"Pareto front ({len(front)})")
    for axis, metric, log in (("x", x, log_x), ("y", y, log_y)):
        vals = df[metric].to_numpy(dtype=float)
        pos = vals[vals > 0]
        use_log = log if log is not None else (len(pos) == len(vals) and pos.max() / max(pos.min(), 1e-300) > 100)
        if use_log:
            (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    ax.set_xlabel(_label(x))
    ax.set_ylabel(_label(y))
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="best", fontsize=8, framealpha=0.8)
    fig.tight_layout()
    if out is not None:
        tmp = Path(out).with_name(f".tmp-{Path(out).name}")
        fig.savefig(tmp, format=Path(out).suffix.lstrip(".") or "png")
        tmp.replace(out)
    plt.close(fig)
    return out


def write_run_plots(run_dir: Path, df, sweep) -> list[Path]:
    """The figures written at the end of every sweep."""
    objs = list(sweep.objectives)
    if len(objs) < 2:
        (x, xd), (y, yd) = objs[0], ("area_mm2", "minimize")
    else:
        (x, xd), (y, yd) = objs[0], objs[1]
    sc = sweep.scenario
    title = (f"{sweep.name}: {sweep.model.name}, batch {sc.batch}, prompt {sc.prompt_tokens}, "
             f"generate {sc.generate_tokens}")
    out = Path(run_dir) / "pareto.png"
    pareto_scatter(df, x, y, xd, yd, title=title, out=out)
    return [out]
