"""Figures of a run (matplotlib, Agg backend): Pareto scatter or pairwise matrix, breakdown, history, importance.

Every figure function takes a trials table (the columns of trials.csv), writes one file atomically and returns its
path. `write_run_plots` makes the four figures at the end of a sweep; `pareto_view` is `cimdse pareto`.
Reference points (a GPU baseline, published designs) are passed as `[(label, {metric: value, ...}), ...]` and
drawn as labelled markers wherever both axes' metrics are known.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .cost.model import ENERGY_PARTS, LATENCY_PARTS, metric_units
from .cost.params import PARAMS

Reference = tuple[str, Mapping[str, float]]
FIGURE_FORMATS = (".png", ".svg", ".pdf")
DPI = 110
BREAKDOWN_DESIGNS = 5          # front designs shown in breakdown.png
IMPORTANCE_MAX_TRIALS = 1000   # feasible trials sampled into the in-memory study for importance.png (0.1 ms each)
IMPORTANCE_MIN_TRIALS = 10
HISTORY_EXACT_ROWS = 20_000     # above this, history.png evaluates the hypervolume at checkpoints
MAX_BACKGROUND_POINTS = 100_000  # trials off the front drawn in pareto.png; beyond this a fixed random sample
# reference markers: distinct shapes in black and yellow, colours no category colour (tab10/tab20) uses
_REF_STYLE = (("*", "#ffd700"), ("D", "black"), ("P", "#ffd700"), ("X", "black"), ("^", "#ffd700"), ("v", "black"))


# ------------------------------------------------------------------------------------------------ helpers

def metric_label(metric: str) -> str:
    """Axis label with the metric's unit, e.g. 'energy_per_token_uj [uJ]'."""
    from .cost.gpu import BASELINE_UNITS

    unit = {**metric_units(), **BASELINE_UNITS}.get(metric, "")
    return f"{metric} [{unit}]" if unit else metric


def baseline_reference(baseline: Mapping | None) -> Reference | None:
    """The GPU baseline of a run (run.yaml `baseline`) as a reference marker; it sits at 1x on the *_vs_gpu axes."""
    if not baseline or not isinstance(baseline.get("metrics"), Mapping):
        return None
    values = {k: float(v) for k, v in baseline["metrics"].items()}
    values.update(speedup_vs_gpu=1.0, energy_gain_vs_gpu=1.0)
    precision = f" {baseline['precision']}" if baseline.get("precision") else ""
    return (f"GPU: {baseline.get('gpus', 1)} x {baseline.get('gpu', '?')}{precision}", values)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, out: Path) -> Path:
    """Write the figure via a temporary file and a rename; the format follows the suffix."""
    out = Path(out)
    tmp = out.with_name(f".tmp-{out.name}")
    try:
        import matplotlib

        with matplotlib.rc_context({"svg.hashsalt": "cimdse"}):  # fixed SVG element ids: same run, same bytes
            fig.savefig(tmp, format=out.suffix.lstrip(".").lower() or "png", dpi=DPI, metadata=_metadata(out))
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
        _pyplot().close(fig)
    return out


def _metadata(out: Path) -> dict:
    """No creation date in the file, so the same run gives the same bytes (PNG/SVG/PDF)."""
    suffix = out.suffix.lower()
    if suffix == ".svg":
        return {"Date": None}
    if suffix == ".pdf":
        return {"CreationDate": None}
    return {}


def use_log(values: np.ndarray, forced: bool | None) -> bool:
    """Log scale when asked, or (auto) when every value is positive and they span more than two decades."""
    if forced is not None:
        return forced
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return bool(len(v) and (v > 0).all() and v.max() / v.min() > 100)


def _tick(v: float, _pos=None) -> str:
    """Readable log-axis tick: plain numbers from 0.001 to 9999, powers of ten beyond."""
    if v <= 0:
        return ""
    if 1e-3 <= v < 1e4:
        return f"{v:g}"
    exp = int(np.floor(np.log10(v)))
    mant = v / 10 ** exp
    return f"$10^{{{exp}}}$" if abs(mant - 1) < 1e-9 else f"${mant:g}\\times10^{{{exp}}}$"


def _set_scale(ax, axis: str, log: bool) -> None:
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    if not log:
        return
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    a = ax.xaxis if axis == "x" else ax.yaxis
    a.set_major_locator(LogLocator(base=10, numticks=8))
    a.set_major_formatter(FuncFormatter(_tick))
    lo, hi = (ax.get_xlim() if axis == "x" else ax.get_ylim())
    if hi / max(lo, 1e-300) < 1000:  # under three decades: label 2x and 5x too (plain numbers only)
        a.set_minor_locator(LogLocator(base=10, subs=(2.0, 5.0), numticks=12))
        a.set_minor_formatter(FuncFormatter(lambda v, _p: _tick(v) if 1e-3 <= v < 1e4 else ""))
    else:
        a.set_minor_formatter(NullFormatter())


def default_color(df, searched: Sequence[str]) -> str | None:
    """Colour parameter: device when it varies, else the first searched categorical, else a searched parameter with
    at most 10 values, else None."""
    varies = [p for p in searched if p in df and df[p].nunique() > 1]
    if "device" in varies:
        return "device"
    for p in varies:
        if PARAMS[p].kind == "cat":
            return p
    for p in varies:
        if df[p].nunique() <= 10:
            return p
    return varies[0] if varies else None


@dataclass
class _Colors:
    """How points are coloured: groups (value -> colour) for a categorical, or a colormap for a numeric column."""

    column: str | None
    groups: dict
    cmap: object = None
    norm: object = None

    def of(self, df):
        """Per-row colours for the rows of df."""
        if self.column is None:
            return np.full(len(df), "#1f77b4", dtype=object)
        if self.groups:
            return df[self.column].map(self.groups).to_numpy()
        return self.cmap(self.norm(df[self.column].to_numpy(dtype=float)))


def _colors(df, column: str | None) -> _Colors:
    plt = _pyplot()
    import matplotlib.colors as mcolors

    if column is None:
        return _Colors(None, {})
    vals = df[column]
    uniq = list(vals.unique())
    if PARAMS.get(column) is not None and PARAMS[column].kind == "cat":
        order = [c for c in PARAMS[column].choices if c in uniq]
    elif vals.dtype.kind in "biuf":
        order = sorted(uniq)
    else:
        order = sorted(map(str, uniq))
    if len(order) <= 20 or vals.dtype.kind not in "biuf":
        cmap = plt.get_cmap("tab10" if len(order) <= 10 else "tab20")
        return _Colors(column, {v: cmap(i % cmap.N) for i, v in enumerate(order)})
    v = vals.to_numpy(dtype=float)
    norm = (mcolors.LogNorm(v.min(), v.max()) if (v > 0).all() and v.max() / v.min() > 100
            else mcolors.Normalize(v.min(), v.max()))
    return _Colors(column, {}, plt.get_cmap("viridis"), norm)


def _num(v: float) -> str:
    """Three significant digits without an exponent between 0.001 and 10^6 (e.g. 1170, 0.0427), else 1.2e+07."""
    v = float(v)
    if v == 0 or 1e-3 <= abs(v) < 1e6:
        return np.format_float_positional(v, precision=3, unique=False, fractional=False, trim="-")
    return f"{v:.3g}"


def _fmt_value(v) -> str:
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return f"{v:.4g}" if isinstance(v, (float, np.floating)) else str(v)


# ------------------------------------------------------------------------------------------------ Pareto scatter

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


def pareto_figure(df, metrics: Sequence[tuple[str, str]], out: Path, **kw) -> Path:
    """Write the Pareto scatter (2 metrics) or the pairwise matrix (3+) to `out`; see `build_pareto_figure`."""
    return save_figure(build_pareto_figure(df, metrics, **kw), out)


def step_where(x_dir: str) -> str:
    """matplotlib step mode of the front's staircase: with x minimized a point's y holds until the next point to
    its right ('post'); with x maximized it holds from the previous point ('pre')."""
    return "post" if x_dir == "minimize" else "pre"


def build_pareto_figure(df, metrics: Sequence[tuple[str, str]], *, color: str | None = None,
                        label: str | None = None, title: str = "", feasible_only: bool = False,
                        log: Mapping[str, bool | None] | None = None, references: Sequence[Reference] | None = None):
    """The Pareto scatter (2 metrics) or the pairwise matrix of 2-D projections (3+), front highlighted.

    Feasible trials are faint dots coloured by `color`, infeasible ones grey crosses, the feasible front drawn on
    top (with its staircase for 2 metrics); `label` writes a parameter's value beside front points; `log` maps a
    metric to True/False/None (auto); `references` are drawn as labelled markers. Returns the Figure."""
    plt = _pyplot()
    log = dict(log or {})
    refs = list(references or [])
    names = [m for m, _ in metrics]
    dirs = dict(metrics)
    from .results import front_mask

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
        fig, ax = plt.subplots(figsize=(9.5, 6), layout="constrained")
        axes = {(0, 0): ax}
        pairs = [((0, 0), names[0], names[1])]
    else:
        n = k - 1
        fig, grid = plt.subplots(n, n, figsize=(3.6 * n + 2.6, 3.3 * n + 0.6), layout="constrained", squeeze=False)
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
    handles = _legend_handles(shown, colors, int(front_shown.sum()), feasible_only, refs, placed)
    if k == 2:
        axes[(0, 0)].legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8,
                            frameon=False, borderaxespad=0)
    else:
        grid[0, k - 2].legend(handles=handles, loc="upper right", fontsize=9, frameon=False,  # the empty corner
                              title=f"{k}-objective front highlighted", title_fontsize=9)
    if colors.column and not colors.groups:
        sm = plt.cm.ScalarMappable(norm=colors.norm, cmap=colors.cmap)
        fig.colorbar(sm, ax=list(axes.values()), label=colors.column, shrink=0.8)
    fig.suptitle(title + thinned, fontsize=11)
    return fig


# ------------------------------------------------------------------------------------------------ breakdown

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
    from .cost import evaluate_arrays
    from .cost.params import to_batch

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


def breakdown_figure(front, model, scenario, out: Path, *, objectives: Sequence[str] = (), title: str = "",
                     n: int = BREAKDOWN_DESIGNS) -> Path:
    """Stacked bars of energy and latency by component for up to n designs spread along the front.

    Each bar is labelled with its trial number, device and its values of `objectives`."""
    plt = _pyplot()
    designs = pick_front_designs(front, n)
    values = breakdown_values(designs, model, scenario)
    phases = [ph for ph in ("decode", "prefill") if ph in values]
    fig, axes = plt.subplots(2, len(phases), figsize=(5.2 * len(phases) + 2.4, 7.4), layout="constrained",
                             squeeze=False)
    units_of = metric_units()
    ticks = ["\n".join([f"#{int(r['trial'])} {r.get('device', '')}".strip()]
                       + [f"{_num(r[m])} {units_of.get(m, '')}".strip() for m in objectives if m in r])
             for _, r in designs.iterrows()]
    xs = np.arange(len(designs))
    totals = {("decode", "energy"): ("energy per token", "uJ"), ("decode", "latency"): ("latency per token", "ms"),
              ("prefill", "energy"): ("prefill energy", "mJ"), ("prefill", "latency"): ("prefill latency (TTFT)", "ms")}
    for row, (what, parts) in enumerate((("energy", ENERGY_PARTS), ("latency", LATENCY_PARTS))):
        cmap = plt.get_cmap("tab20" if len(parts) > 10 else "tab10")
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
    what = ", ".join(["trial", "device", *objectives])
    fig.suptitle(f"{title}\n{len(designs)} Pareto-front designs spread along the front (labels: {what})",
                 fontsize=10)
    return save_figure(fig, out)


# ------------------------------------------------------------------------------------------------ history

def hypervolume_curve(values: np.ndarray, directions: Sequence[str], reference: np.ndarray,
                      exact_rows: int = HISTORY_EXACT_ROWS, checkpoints: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """(rows seen, hypervolume of the first rows): every row up to `exact_rows` rows, else at most `checkpoints`
    evenly spaced prefixes (the front is carried from one to the next, so the cost stays near one front pass)."""
    from .pareto import hypervolume, hypervolume_history, pareto_mask

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


def history_figure(df, objectives: Sequence[tuple[str, str]], out: Path, *, title: str = "",
                   order_note: str = "") -> Path:
    """Hypervolume of the feasible front against trials, as a percentage of the final hypervolume."""
    from .pareto import default_reference

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.8), layout="constrained")
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
        ax.set_title(f"hypervolume over {', '.join(labels)}; reference point {ref_txt}\n"
                     "(the worst feasible value of each, pushed out by 10% of its range)", fontsize=8)
    else:
        why = "no feasible trial" if not feas.any() else "hypervolume needs at most 6 objectives"
        ax.text(0.5, 0.5, why, transform=ax.transAxes, ha="center", va="center")
    ax.set_xlabel("trial number" + (f" ({order_note})" if order_note else ""))
    ax.set_ylabel("hypervolume of the feasible front [% of final]")
    ax.grid(True, alpha=0.3)
    objs = ", ".join(f"{m} ({'min' if d == 'minimize' else 'max'})" for m, d in objectives)
    fig.suptitle(f"{title}\nsearch history: {objs}", fontsize=10)
    return save_figure(fig, out)


# ------------------------------------------------------------------------------------------------ importance

def param_importances(df, objectives: Sequence[tuple[str, str]], distributions: Mapping, seed: int = 0,
                      max_trials: int = IMPORTANCE_MAX_TRIALS) -> dict[str, dict[str, float]]:
    """{objective: {parameter: importance}} by Optuna's PED-ANOVA evaluator over the feasible trials.

    The trials (at most `max_trials`, sampled with `seed`) are copied once into an in-memory study holding every
    objective, so the Optuna path and the exhaustive path (which has no study) are treated alike; each objective is
    then evaluated as a target (negated when maximized: PED-ANOVA ranks low targets best, exactly as it ranks a
    single-objective study that maximizes)."""
    import optuna
    from optuna.distributions import CategoricalDistribution
    from optuna.trial import create_trial

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    feas = df[df["feasible"]]
    if len(feas) > max_trials:
        feas = feas.sample(max_trials, random_state=seed).sort_values("trial")
    names = list(distributions)

    def native(name, v):
        d = distributions[name]
        if isinstance(d, CategoricalDistribution):
            return next(c for c in d.choices if c == v or str(c) == str(v))
        return int(v) if type(d).__name__ == "IntDistribution" else float(v)

    params = [{k: native(k, r[k]) for k in names} for r in feas[names].to_dict("records")]
    metrics = [m for m, _ in objectives]
    values = feas[metrics].to_numpy(dtype=float) if metrics else np.zeros((len(feas), 0))
    study = optuna.create_study(directions=["minimize"] * max(len(metrics), 1))
    dists = dict(distributions)
    study.add_trials([create_trial(params=p, distributions=dists, values=[float(x) for x in v] or [0.0])
                      for p, v in zip(params, values, strict=True)])
    out = {}
    with warnings.catch_warnings():  # "computes the importances of params to achieve low target values": intended
        warnings.simplefilter("ignore")
        for i, (metric, direction) in enumerate(objectives):
            sign = -1.0 if direction == "maximize" else 1.0
            imp = optuna.importance.get_param_importances(
                study, evaluator=optuna.importance.PedAnovaImportanceEvaluator(), params=names,
                target=lambda t, i=i, sign=sign: sign * t.values[i])
            out[metric] = {k: float(imp.get(k, 0.0)) for k in names}
    return out


def importance_figure(df, objectives: Sequence[tuple[str, str]], distributions: Mapping, out: Path, *,
                      title: str = "") -> Path:
    """Horizontal bars of parameter importance per objective; a note instead when they cannot be computed."""
    plt = _pyplot()
    names = list(distributions)
    n_feas = int(df["feasible"].sum())
    note = ""
    if len(names) < 2:
        note = (f"parameter importance needs at least 2 searched parameters; this sweep searches "
                f"{len(names)}{': ' + names[0] if names else ''}")
    elif n_feas < IMPORTANCE_MIN_TRIALS:
        note = f"parameter importance needs at least {IMPORTANCE_MIN_TRIALS} feasible trials; this run has {n_feas}"
    if note:
        fig, ax = plt.subplots(figsize=(8, 3), layout="constrained")
        ax.set_axis_off()
        ax.text(0.5, 0.5, note, ha="center", va="center", wrap=True, fontsize=10)
        fig.suptitle(title, fontsize=10)
        return save_figure(fig, out)
    imp = param_importances(df, objectives, distributions)
    order = sorted(names, key=lambda p: np.mean([imp[m][p] for m, _ in objectives]))
    fig, axes = plt.subplots(1, len(objectives), figsize=(3.4 * len(objectives) + 1.8, 0.32 * len(names) + 1.9),
                             layout="constrained", sharey=True, squeeze=False)
    for ax, (metric, direction) in zip(axes[0], objectives, strict=True):
        v = [imp[metric][p] for p in order]
        ax.barh(order, v, color="#1f77b4")
        for y, val in enumerate(v):
            ax.text(val + 0.01, y, f"{val:.2f}", va="center", fontsize=7)
        ax.set_xlim(0, max(max(v) * 1.25, 0.1))
        ax.set_title(f"{metric}\n({'min' if direction == 'minimize' else 'max'})", fontsize=9)
        ax.set_xlabel("importance (sums to 1)")
        ax.grid(True, axis="x", alpha=0.3)
    sample = min(n_feas, IMPORTANCE_MAX_TRIALS)
    fig.suptitle(f"{title}\nparameter importance (Optuna PED-ANOVA: what it takes to reach the best 10%), "
                 f"{sample} feasible trials", fontsize=10)
    return save_figure(fig, out)


# ------------------------------------------------------------------------------------------------ a run

def default_axes(objectives: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The run's objectives; a single objective is paired with area (or energy per token when it is area)."""
    from .results import METRIC_DIRECTIONS

    objs = list(objectives)
    if len(objs) >= 2:
        return objs
    other = "area_mm2" if objs[0][0] != "area_mm2" else "energy_per_token_uj"
    return [objs[0], (other, METRIC_DIRECTIONS[other])]


def run_figure_jobs(run_dir: Path, df, sweep, references: Sequence[Reference] | None = None) -> list[tuple]:
    """The figures of a run as (file name, relative cost, function drawing it), in the order they are listed."""
    from .results import front_frame, run_title
    from .study import _distributions, sweep_baseline

    run_dir = Path(run_dir)
    sc = sweep.scenario
    gpu = baseline_reference(sweep_baseline(sweep))
    refs = ([gpu] if gpu else []) + list(references or [])
    title = run_title(sweep.name, sweep.model.name, sc.to_dict())
    objs = list(sweep.objectives)
    searched = [d.name for d in sweep.space]
    order = "enumeration order" if sweep.search.sampler == "exhaustive" else ""
    front = front_frame(df, objs)
    # costs: seconds measured for a 2,000-trial quickstart run (pareto 0.15, breakdown 0.43, history 0.13,
    # importance 0.4); they only decide which figures a second process draws
    jobs = [("pareto.png", 0.15, lambda: pareto_figure(df, default_axes(objs), run_dir / "pareto.png",
                                                       color=default_color(df, searched), title=title,
                                                       references=refs))]
    if len(front):
        jobs.append(("breakdown.png", 0.43, lambda: breakdown_figure(
            front, sweep.model, sc, run_dir / "breakdown.png", objectives=[m for m, _ in objs], title=title)))
    jobs.append(("history.png", 0.13, lambda: history_figure(df, objs, run_dir / "history.png", title=title,
                                                              order_note=order)))
    jobs.append(("importance.png", 0.4, lambda: importance_figure(df, objs, _distributions(sweep),
                                                                  run_dir / "importance.png", title=title)))
    from .report import report_job  # report.html (cimdse/report.py) beside the figures, in a run folder
    jobs += report_job(run_dir, df, sweep)
    return jobs


def write_run_plots(run_dir: Path, df, sweep, references: Sequence[Reference] | None = None,
                    processes: int = 1) -> list[Path]:
    """The figures written at the end of every sweep: pareto.png, breakdown.png, history.png, importance.png.

    processes=2 draws the costliest figure in a forked child while this process draws the rest (same files, same
    bytes; about half the wall time on two cores). Where fork is unavailable it draws them all here."""
    jobs = run_figure_jobs(run_dir, df, sweep, references)
    if processes < 2 or len(jobs) < 2 or not _can_fork():
        return [job() for _, _, job in jobs]
    heavy = max(range(len(jobs)), key=lambda i: jobs[i][1])
    child = _fork_call(jobs[heavy][2])
    paths = {i: job() for i, (_, _, job) in enumerate(jobs) if i != heavy}
    paths[heavy] = _fork_result(child)
    if paths[heavy] is None:  # it failed there: draw it here, so that its error is raised as usual
        paths[heavy] = jobs[heavy][2]()
    return [paths[i] for i in range(len(jobs))]


def _can_fork() -> bool:
    """Whether helper processes may be forked: on Linux (macOS lists fork but its system frameworks, e.g. the
    Accelerate BLAS, are not fork-safe), not switched off, and this process runs one Python thread (a child forked
    while another thread holds a lock, e.g. the import lock in a notebook kernel, could wait on it forever)."""
    import multiprocessing as mp
    import os
    import sys
    import threading

    return (sys.platform.startswith("linux") and "fork" in mp.get_all_start_methods()
            and not os.environ.get("CIMDSE_NO_FIGURE_PROCESS") and threading.active_count() == 1)


def die_with_parent(parent_pid: int) -> None:
    """In a forked helper process: be killed when the process that forked it dies (Linux PR_SET_PDEATHSIG), so a
    killed sweep leaves no helper writing into its run folder while a rerun starts; exit now if it is gone."""
    import os
    import signal

    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError, TypeError):  # pragma: no cover - not Linux: the pipe's EOF ends it instead
        pass
    if os.getppid() != parent_pid:
        os._exit(0)


def _fork_call(fn):
    """Start fn() in a forked child; returns (process, connection) for _fork_result."""
    import multiprocessing as mp
    import os

    ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    parent = os.getpid()

    def target():
        import signal

        die_with_parent(parent)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C belongs to the parent, which waits for the figures
        try:
            send.send(fn())
        except BaseException:  # noqa: BLE001 - the parent redraws it to raise the error itself
            send.send(None)

    proc = ctx.Process(target=target, daemon=True, name="cimdse-figure")
    proc.start()
    send.close()
    return proc, recv


def _fork_result(child):
    """fn()'s value from _fork_call, or None when it failed or the child died."""
    proc, recv = child
    try:
        return recv.recv()
    except EOFError:
        return None
    finally:
        recv.close()
        proc.join()


@dataclass
class FigureWorker:
    """A process forked when a sweep starts: it imports pandas, polars and matplotlib while the sweep runs (0.5 s,
    on another core) and later writes the run's tables and figures, so the sweep's serial path pays for neither."""

    process: object
    conn: object
    tables: bool = True   # may write the CSVs too: polars was not running in the process it was forked from


def start_figure_worker() -> FigureWorker | None:
    """Fork the figure worker; None where fork is unavailable (then the figures are drawn in this process)."""
    if not _can_fork():
        return None
    import multiprocessing as mp
    import os
    import sys

    # polars' thread pool does not survive fork: a child of a process that has used polars deadlocks in its first
    # polars call (a notebook or test session that wrote a CSV before). Then the worker draws figures only.
    tables = "polars" not in sys.modules

    ctx = mp.get_context("fork")
    ours, theirs = ctx.Pipe()
    # not a daemon: it forks a child of its own for the costliest figure (daemons may not); it still ends with the
    # sweep, which stops it (stop_figure_worker) or, when killed, closes the pipe it waits on
    proc = ctx.Process(target=_figure_worker_main, args=(theirs, ours, tables, os.getpid()), name="cimdse-figures")
    proc.start()
    theirs.close()
    return FigureWorker(proc, ours, tables)


def _figure_worker_main(conn, parent_end, tables: bool = True, parent_pid: int | None = None) -> None:
    import signal

    if parent_pid is not None:
        die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C belongs to the sweep; it still asks for its outputs
    parent_end.close()
    import pandas  # noqa: F401 - what the run's tables and figures need, imported while the sweep runs

    if tables:
        import polars  # noqa: F401

    _pyplot()
    import optuna.importance  # noqa: F401

    try:
        job = conn.recv()
    except (EOFError, OSError):  # the sweep ended (or was killed) without asking
        return
    if job is None:
        return
    fn, args = job
    try:
        conn.send(("ok", fn(*args)))
    except BaseException as err:  # noqa: BLE001 - the sweep redoes the job in its own process to raise it properly
        conn.send(("error", repr(err)))


def draw_run_plots(worker: FigureWorker | None, run_dir: Path, df, sweep,
                   references: Sequence[Reference] | None = None) -> list[Path]:
    """write_run_plots through the figure worker when there is one; on any failure there, redraw in this process
    (so an error surfaces exactly as it would without the worker)."""
    paths = None
    if worker is not None:
        paths = ask_figure_worker(worker, write_run_plots, Path(run_dir), df, sweep, list(references or []), 2)
    return paths if paths is not None else write_run_plots(run_dir, df, sweep, references)


def ask_figure_worker(worker: FigureWorker, fn, *args):
    """fn(*args) run by the worker (fn a module-level function, args picklable): its value, or None when the
    worker could not run it. The worker is stopped either way (it serves one job)."""
    try:
        worker.conn.send((fn, args))
        status, value = worker.conn.recv()
        return value if status == "ok" else None
    except Exception:  # noqa: BLE001 - the pipe is gone, or the job would not pickle
        return None
    finally:
        stop_figure_worker(worker)


def stop_figure_worker(worker: FigureWorker | None) -> None:
    """Tell the worker it is not needed (if it is still waiting) and reap it."""
    if worker is None:
        return
    try:
        worker.conn.send(None)
    except (OSError, ValueError):
        pass
    worker.conn.close()
    worker.process.join(timeout=10)
    if worker.process.is_alive():
        worker.process.terminate()
        worker.process.join()


# ------------------------------------------------------------------------------------------------ cimdse pareto

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
    from .errors import UserError, unknown
    from .pareto import pareto_order
    from .results import check_metric, load_run, metric_direction, require_columns, write_csv

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
        fig_path = run.folder / ("pareto-" + "-".join(m for m, _ in metrics) + ".png")
    else:
        fig_path = Path(out)
        if not fig_path.parent.exists():
            raise UserError("folder does not exist", file=str(fig_path.parent), key="--out")
    csv_path = fig_path.with_suffix(".csv")
    if csv_path.resolve() == run.source.resolve():
        raise UserError("would overwrite the trials table it reads; choose another name", key="--out")
    feas = df[df["feasible"]]
    if len(feas):
        order = pareto_order(feas[[m for m, _ in metrics]].to_numpy(dtype=float), [d for _, d in metrics])
        front = feas.iloc[order]
    else:
        front = feas
    log = {metrics[0][0]: log_x, metrics[1][0]: log_y}
    gpu = baseline_reference((run.record or {}).get("baseline"))
    refs = ([gpu] if gpu else []) + list(references or [])
    pareto_figure(df, metrics, fig_path, color=color, label=label, title=run.title(), feasible_only=feasible_only,
                  log=log, references=refs)
    write_csv(front, csv_path)
    return ParetoView(fig_path, csv_path, front, metrics, len(df), len(feas), refs)
