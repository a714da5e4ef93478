"""The Pareto scatter (2 metrics) or the pairwise matrix of 2-D projections (3+ metrics), front highlighted."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..results import distinct_designs, front_mask
from .style import (
    _REF_STYLE,
    Reference,
    _Colors,
    _colors,
    _fmt_value,
    _set_scale,
    metric_label,
    new_figure,
    step_where,
    use_log,
)

MAX_BACKGROUND_POINTS = 100_000  # trials off the front drawn in pareto.png; beyond this a fixed random sample

def _alpha(n: int) -> float:
    """Opacity of the background points: faint for thousands of points, still visible for a handful."""
    return float(np.clip(0.8 - 0.15 * np.log10(max(n, 1)), 0.25, 0.8))


def _panel(ax, df, x: str, y: str, x_dir: str, front: np.ndarray, colors: _Colors, *, step: bool,
           feasible_only: bool, label: str | None, references: Sequence[Reference]) -> None:
    """One 2-D panel: feasible trials faint, infeasible grey crosses, the front on top, reference markers."""
    feas = df["feasible"].to_numpy(dtype=bool)
    if not feasible_only and (~feas).any():
        ax.scatter(df.loc[~feas, x], df.loc[~feas, y], s=10, marker="x", color="0.6", alpha=_alpha(len(df)),
                   linewidths=0.7, rasterized=True, label="_infeasible")
    # feasible non-front trials in a fixed shuffled order, so that no colour group hides another by table order
    rest = df.iloc[np.random.default_rng(0).permutation(np.flatnonzero(feas & ~front))]
    ax.scatter(rest[x], rest[y], s=12, alpha=_alpha(len(df)), c=list(colors.of(rest)), linewidths=0,
               rasterized=True, label="_feasible")
    if not feas.any():
        ax.text(0.5, 0.5, "no feasible design", transform=ax.transAxes, ha="center", va="center", color="0.3")
    fr = df[front].sort_values(x)
    if step and len(fr) > 1:
        ax.step(fr[x], fr[y], where=step_where(x_dir), color="black", lw=1.2, zorder=3, label="_front")
    ax.scatter(fr[x], fr[y], s=34, c=list(colors.of(fr)), edgecolors="black", linewidths=1.0, zorder=4,
               label="_front_points")
    if label:
        shown = fr if len(fr) <= 40 else fr.iloc[np.linspace(0, len(fr) - 1, 40).round().astype(int)]
        for _, r in shown.iterrows():
            ax.annotate(_fmt_value(r[label]), (r[x], r[y]), xytext=(4, 4), textcoords="offset points", fontsize=7,
                        zorder=5).set_in_layout(False)
    for i, (name, vals) in enumerate(references):
        if x in vals and y in vals:
            marker, color = _REF_STYLE[i % len(_REF_STYLE)]
            ax.scatter([vals[x]], [vals[y]], s=170, marker=marker, color=color, edgecolors="black", linewidths=1.0,
                       zorder=6, label=f"_ref:{name}")
            right = len(df) and (df[x].to_numpy(dtype=float) < vals[x]).mean() > 0.6  # text toward the data
            ann = ax.annotate(name, (vals[x], vals[y]), xytext=(-8 if right else 8, -12), textcoords="offset points",
                              ha="right" if right else "left", fontsize=8, fontweight="bold", zorder=6,
                              bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "alpha": 0.75,
                                    "linewidth": 0})
            ann.set_in_layout(False)
    ax.grid(True, which="major", alpha=0.3)


def _legend_handles(df, colors: _Colors, n_front: int, feasible_only: bool, references: Sequence[Reference],
                    placed: Sequence[Reference]):
    from matplotlib.lines import Line2D

    handles = []
    if colors.groups:
        counts = df.loc[df["feasible"].to_numpy(dtype=bool), colors.column].value_counts()
        for v, c in colors.groups.items():
            handles.append(Line2D([], [], ls="", marker="o", color=c, markersize=6,
                                  label=f"{colors.column}={_fmt_value(v)} ({int(counts.get(v, 0)):,} feasible)"))
    elif colors.column is None:
        handles.append(Line2D([], [], ls="", marker="o", color="#1f77b4", alpha=0.5, markersize=6,
                              label=f"feasible ({int(df['feasible'].sum()):,})"))
    n_inf = int((~df["feasible"].to_numpy(dtype=bool)).sum())
    if n_inf and not feasible_only:
        handles.append(Line2D([], [], ls="", marker="x", color="0.55", markersize=6, label=f"infeasible ({n_inf:,})"))
    handles.append(Line2D([], [], ls="-", marker="o", color="black", markerfacecolor="white", markersize=6,
                          label=f"Pareto front ({n_front:,})"))
    for i, (name, vals) in enumerate(references):
        if not any(name == p[0] and vals is p[1] for p in placed):
            continue
        marker, color = _REF_STYLE[i % len(_REF_STYLE)]
        handles.append(Line2D([], [], ls="", marker=marker, color=color, markeredgecolor="black", markersize=10,
                              label=name))
    return handles


def pareto_figure(df, metrics: Sequence[tuple[str, str]], *, color: str | None = None,
                  label: str | None = None, title: str = "", feasible_only: bool = False,
                  log: Mapping[str, bool | None] | None = None, references: Sequence[Reference] | None = None):
    """The Pareto scatter (2 metrics) or the pairwise matrix of 2-D projections (3+), front highlighted.

    Feasible trials are faint dots coloured by `color`, infeasible ones grey crosses, the feasible front drawn on
    top (with its staircase for 2 metrics); `label` writes a parameter's value beside front points; `log` maps a
    metric to True/False/None (auto); `references` are drawn as labelled markers. Returns the Figure."""
    log = dict(log or {})
    refs = list(references or [])
    names = [m for m, _ in metrics]
    dirs = dict(metrics)
    front = front_mask(df, metrics)
    shown = df[df["feasible"]] if feasible_only else df
    front_shown = front[df["feasible"].to_numpy(dtype=bool)] if feasible_only else front
    drawn, drawn_front, thinned = shown, front_shown, ""
    background = np.flatnonzero(~front_shown)
    if len(background) > MAX_BACKGROUND_POINTS:  # draw every front point but a fixed random sample of the rest
        keep = front_shown.copy()
        keep[np.random.default_rng(0).choice(background, MAX_BACKGROUND_POINTS, replace=False)] = True
        drawn, drawn_front = shown[keep], front_shown[keep]
        thinned = f"\n(a random {MAX_BACKGROUND_POINTS:,} of the {len(background):,} trials off the front are drawn)"
    colors = _colors(df, color)
    k = len(names)
    islog = {m: use_log(np.concatenate([df[m].to_numpy(dtype=float),
                                        [r[m] for _, r in refs if m in r]]), log.get(m)) for m in names}
    if k == 2:
        fig, ax = new_figure(figsize=(9.5, 6))
        axes = {(0, 0): ax}
        pairs = [((0, 0), names[0], names[1])]
    else:
        n = k - 1
        # sizes rounded to whole 1/100 inch: 3.3 * 2 + 0.6 is 7.199999..., which matplotlib < 3.8 truncated to 791 px
        fig, grid = new_figure(n, n, figsize=(round(3.6 * n + 2.6, 2), round(3.3 * n + 0.6, 2)), squeeze=False)
        axes, pairs = {}, []
        for i in range(n):
            for j in range(n):
                if j > i:
                    grid[i, j].set_axis_off()
                    continue
                axes[(i, j)] = grid[i, j]
                pairs.append(((i, j), names[j], names[i + 1]))
    for (i, j), x, y in pairs:
        ax = axes[(i, j)]
        _panel(ax, drawn, x, y, dirs[x], drawn_front, colors, step=(k == 2), feasible_only=feasible_only,
               label=label, references=refs)
        _set_scale(ax, "x", islog[x])
        _set_scale(ax, "y", islog[y])
        if k == 2 or i == k - 2:
            ax.set_xlabel(metric_label(x) + f" ({'lower' if dirs[x] == 'minimize' else 'higher'} is better)")
        if k == 2 or j == 0:
            ax.set_ylabel(metric_label(y) + f" ({'lower' if dirs[y] == 'minimize' else 'higher'} is better)")
    # a reference goes in the legend only where some panel can place it (a GPU has no sqnr_db, for example)
    placed = [r for r in refs if any(x in r[1] and y in r[1] for _, x, y in pairs)]
    handles = _legend_handles(shown, colors, len(distinct_designs(shown[front_shown])), feasible_only, refs, placed)
    if k == 2:
        axes[(0, 0)].legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8,
                            frameon=False, borderaxespad=0)
    else:
        grid[0, k - 2].legend(handles=handles, loc="upper right", fontsize=9, frameon=False,  # the empty corner
                              title=f"{k}-objective front highlighted", title_fontsize=9)
    if colors.column and not colors.groups:
        from matplotlib.cm import ScalarMappable

        sm = ScalarMappable(norm=colors.norm, cmap=colors.cmap)
        fig.colorbar(sm, ax=list(axes.values()), label=colors.column, shrink=0.8)
    fig.suptitle(title + thinned, fontsize=11)
    return fig
