"""The search history: hypervolume of the feasible front against trials."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..pareto import default_reference, hypervolume, hypervolume_history, pareto_mask
from .style import _num, margins_in, new_figure, use_log

if TYPE_CHECKING:
    from matplotlib.figure import Figure

HISTORY_EXACT_ROWS = 20_000     # above this, history.png evaluates the hypervolume at checkpoints

def hypervolume_curve(values: np.ndarray, directions: Sequence[str], reference: np.ndarray,
                      exact_rows: int = HISTORY_EXACT_ROWS, checkpoints: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """(rows seen, hypervolume of the first rows): every row up to `exact_rows` rows, else at most `checkpoints`
    evenly spaced prefixes (the front is carried from one to the next, so the cost stays near one front pass)."""
    n = len(values)
    if n <= exact_rows:
        return np.arange(1, n + 1), hypervolume_history(values, directions, reference)
    ends = np.unique(np.linspace(1, n, checkpoints).round().astype(int))
    front = values[:0]
    out = np.zeros(len(ends))
    start = 0
    for i, end in enumerate(ends):
        cand = np.concatenate([front, values[start:end]])
        front = cand[pareto_mask(cand, directions)]
        out[i] = hypervolume(front, directions, reference)
        start = end
    return ends, out


def history_space(values: np.ndarray, names: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Objective values in the space the history measures: log10 for a column that spans more than two decades
    (all positive), as on the plots' axes, so that gains at the small end count; dominance is unchanged."""
    out = np.array(values, dtype=float, copy=True)
    labels = []
    for k, m in enumerate(names):
        if use_log(out[:, k], None):
            out[:, k] = np.log10(out[:, k])
            labels.append(f"log10 {m}")
        else:
            labels.append(str(m))
    return out, labels


def history_figure(df, objectives: Sequence[tuple[str, str]], *, title: str = "",
                   order_note: str = "") -> Figure:
    """Hypervolume of the feasible front against trials, as a percentage of the final hypervolume (a Figure)."""
    fig, ax = new_figure(figsize=(8, 4.8), layout=None)   # fixed margins: texts of known size, no layout pass
    margins_in(fig, left=0.75, right=0.25, top=1.1, bottom=0.6)
    df = df.sort_values("trial", kind="stable")
    feas = df["feasible"].to_numpy(dtype=bool)
    names, dirs = [m for m, _ in objectives], [d for _, d in objectives]
    trial = df["trial"].to_numpy()
    if feas.any() and len(names) <= 6:
        vals, labels = history_space(df.loc[feas, names].to_numpy(dtype=float), names)
        ref = default_reference(vals, dirs)
        seen, hv = hypervolume_curve(vals, dirs, ref)
        final = hv[-1] if hv[-1] > 0 else 1.0
        xs = trial[np.flatnonzero(feas)[seen - 1]]
        ax.step(np.append(xs, trial[-1]), np.append(hv, hv[-1]) / final * 100, where="post", color="#1f77b4", lw=1.6)
        ax.set_ylim(0, 105)
        ref_txt = ", ".join(f"{lab} = {_num(r)}" for lab, r in zip(labels, ref, strict=True))
        ax.set_title(f"hypervolume over {', '.join(labels)}\nreference point {ref_txt}\n"
                     "(the worst feasible value of each, pushed out by 10% of its range)", fontsize=8)
    else:
        why = "no feasible trial" if not feas.any() else "hypervolume needs at most 6 objectives"
        ax.text(0.5, 0.5, why, transform=ax.transAxes, ha="center", va="center")
    ax.set_xlabel("trial number" + (f" ({order_note})" if order_note else ""))
    ax.set_ylabel("hypervolume of the feasible front [% of final]")
    ax.grid(True, alpha=0.3)
    objs = ", ".join(f"{m} ({'min' if d == 'minimize' else 'max'})" for m, d in objectives)
    fig.suptitle(f"{title}\nsearch history: {objs}", fontsize=10)
    return fig
