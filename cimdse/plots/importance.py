"""Parameter importance per objective as horizontal bars (the importances are computed by the search package)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .style import margins_in, new_figure

IMPORTANCE_MIN_TRIALS = 10


def importance_note(names: Sequence[str], n_feasible: int) -> str:
    """Why importances cannot be computed for these searched parameters and feasible trials ("" when they can)."""
    if len(names) < 2:
        return (f"parameter importance needs at least 2 searched parameters; this sweep searches "
                f"{len(names)}{': ' + names[0] if names else ''}")
    if n_feasible < IMPORTANCE_MIN_TRIALS:
        return (f"parameter importance needs at least {IMPORTANCE_MIN_TRIALS} feasible trials; this run has "
                f"{n_feasible}")
    return ""


def importance_figure(importances: Mapping[str, Mapping[str, float]] | None, objectives: Sequence[tuple[str, str]],
                      names: Sequence[str], *, n_feasible: int, sample: int, title: str = ""):
    """Horizontal bars of parameter importance per objective ({objective: {parameter: importance}} over `sample`
    feasible trials); a note instead when `importance_note` says they cannot be computed. Returns the Figure."""
    note = importance_note(names, n_feasible)
    if note or importances is None:
        fig, ax = new_figure(figsize=(8, 3))
        ax.set_axis_off()
        ax.text(0.5, 0.5, note or "no parameter importances", ha="center", va="center", wrap=True, fontsize=10)
        fig.suptitle(title, fontsize=10)
        return fig
    imp = importances
    order = sorted(names, key=lambda p: np.mean([imp[m][p] for m, _ in objectives]))
    # fixed margins (the widest parameter name sets the left one): no layout pass
    fig, axes = new_figure(1, len(objectives), figsize=(3.4 * len(objectives) + 1.8, 0.32 * len(names) + 1.9),
                           sharey=True, squeeze=False, layout=None)
    margins_in(fig, left=0.3 + 0.085 * max(map(len, names)), right=0.3, top=1.0, bottom=0.55, wspace=0.25)
    for ax, (metric, direction) in zip(axes[0], objectives, strict=True):
        v = [imp[metric][p] for p in order]
        ax.barh(order, v, color="#1f77b4")
        for y, val in enumerate(v):
            ax.text(val + 0.01, y, f"{val:.2f}", va="center", fontsize=7)
        ax.set_xlim(0, max(max(v) * 1.25, 0.1))
        ax.set_title(f"{metric}\n({'min' if direction == 'minimize' else 'max'})", fontsize=9)
        ax.set_xlabel("importance (sums to 1)")
        ax.grid(True, axis="x", alpha=0.3)
    fig.suptitle(f"{title}\nparameter importance (Optuna PED-ANOVA: what it takes to reach the best 10%), "
                 f"{sample} feasible trials", fontsize=10)
    return fig
