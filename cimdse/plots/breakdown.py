"""Energy and latency of a few front designs by component, prefill and decode, as stacked bars."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..cost import evaluate_arrays
from ..cost.model import ENERGY_PARTS, LATENCY_PARTS
from ..cost.params import PARAMS, to_batch
from ..metrics import UNITS
from .style import _num, margins_in, new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

BREAKDOWN_DESIGNS = 5          # front designs shown in breakdown.png

def pick_front_designs(front, n: int = BREAKDOWN_DESIGNS):
    """Up to n rows spread evenly along a front already sorted by its first objective (ends included)."""
    if len(front) <= n:
        return front
    return front.iloc[np.unique(np.linspace(0, len(front) - 1, n).round().astype(int))]


def breakdown_values(designs, model, scenario) -> dict:
    """Re-evaluate designs (rows with every parameter column) with breakdowns, in per-token and per-pass units.

    Returns {phase: {"energy": {part: array}, "latency": {part: array}}}: decode energy in uJ per token and latency
    in ms per step; prefill energy in mJ and latency in ms per request (their sums are energy_per_token_uj,
    tpot_ms, prefill_energy_mj and ttft_ms)."""
    rows = [{k: (r[k] if PARAMS[k].kind == "cat" else float(r[k])) for k in PARAMS} for _, r in designs.iterrows()]
    res = evaluate_arrays(to_batch(rows), model, scenario, breakdown=True)
    bd = res["breakdown"]
    batch = float(scenario.batch)
    out = {}
    for ph in bd["energy_pj"]:
        e_scale = 1e-6 / batch if ph == "decode" else 1e-9       # pJ -> uJ per token, or pJ -> mJ per request
        out[ph] = {"energy": {p: np.asarray(bd["energy_pj"][ph][p], dtype=float) * e_scale for p in ENERGY_PARTS},
                   "latency": {p: np.asarray(bd["latency_ns"][ph][p], dtype=float) * 1e-6 for p in LATENCY_PARTS}}
    return out


def breakdown_figure(front, model, scenario, *, objectives: Sequence[str] = (), title: str = "",
                     n: int = BREAKDOWN_DESIGNS) -> Figure:
    """Stacked bars of energy and latency by component for up to n designs spread along the front.

    Each bar is labelled with its trial number, device and its values of `objectives`. Returns the Figure."""
    import matplotlib

    designs = pick_front_designs(front, n)
    values = breakdown_values(designs, model, scenario)
    phases = [ph for ph in ("decode", "prefill") if ph in values]
    # a fixed layout (the texts are of known size), not constrained layout: it saves a full layout pass (~30%)
    fig, axes = new_figure(2, len(phases), figsize=(5.2 * len(phases) + 2.4, 7.4), squeeze=False, layout=None)
    units_of = UNITS
    ticks = ["\n".join([f"#{int(r['trial'])} {r.get('device', '')}".strip()]
                       + [f"{_num(r[m])} {units_of.get(m, '')}".strip() for m in objectives if m in r])
             for _, r in designs.iterrows()]
    xs = np.arange(len(designs))
    totals = {("decode", "energy"): ("energy per token", "uJ"), ("decode", "latency"): ("latency per token", "ms"),
              ("prefill", "energy"): ("prefill energy", "mJ"), ("prefill", "latency"): ("prefill latency (TTFT)", "ms")}
    for row, (what, parts) in enumerate((("energy", ENERGY_PARTS), ("latency", LATENCY_PARTS))):
        cmap = matplotlib.colormaps.get_cmap("tab20" if len(parts) > 10 else "tab10")
        used = [p for p in parts if any((values[ph][what][p] > 0).any() for ph in phases)]
        for col, ph in enumerate(phases):
            ax = axes[row, col]
            total = sum(values[ph][what][p] for p in parts)
            bottom = np.zeros(len(designs))
            for p in used:  # shares, so that small designs stay legible next to large ones; totals on top
                v = values[ph][what][p] / np.where(total > 0, total, 1.0) * 100
                ax.bar(xs, v, bottom=bottom, width=0.65, color=cmap(parts.index(p) % cmap.N), label=p,
                       edgecolor="white", linewidth=0.4)
                bottom += v
            name, unit = totals[(ph, what)]
            for xi, t in zip(xs, total, strict=True):
                ax.text(xi, 101.5, f"{_num(t)} {unit}", ha="center", va="bottom", fontsize=8)
            ax.set_ylim(0, 112)
            ax.set_yticks(range(0, 101, 20))
            ax.set_xticks(xs, ticks if row == 1 else [t.split("\n")[0] for t in ticks], fontsize=8)
            ax.set_ylabel(f"share of {name} [%]")
            ax.set_title(f"{ph}: {what} by component (total above each bar)", fontsize=10)
            ax.grid(True, axis="y", alpha=0.3)
            if col == len(phases) - 1:
                ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False,
                          borderaxespad=0, reverse=True)
    labels = [p for parts in (ENERGY_PARTS, LATENCY_PARTS) for p in parts
              if any((values[ph][w][p] > 0).any() for ph in phases for w in ("energy", "latency") if p in values[ph][w])]
    lines = 1 + sum(m in designs for m in objectives)       # lines of the lower row's bar labels
    margins_in(fig, left=0.8, right=0.45 + 0.075 * max(map(len, labels), default=6), top=0.85,
               bottom=0.25 + 0.16 * lines, wspace=0.9, hspace=0.75)
    what = ", ".join(["trial", "device", *objectives])
    fig.suptitle(f"{title}\n{len(designs)} Pareto-front designs spread along the front (labels: {what})",
                 fontsize=10)
    return fig
