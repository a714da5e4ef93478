"""Shared pieces of the figures: labels with units, log scales and ticks, colours, reference markers, and a
new matplotlib Figure that belongs to no pyplot state (no backend is chosen or switched)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..cost.params import PARAMS
from ..metrics import DIRECTIONS, UNITS

Reference = tuple[str, Mapping[str, float]]
# reference markers: distinct shapes in black and yellow, colours no category colour (tab10/tab20) uses
_REF_STYLE = (("*", "#ffd700"), ("D", "black"), ("P", "#ffd700"), ("X", "black"), ("^", "#ffd700"), ("v", "black"))


def new_figure(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float], squeeze: bool = True,
               layout: str | None = "constrained", **kw):
    """(Figure, axes) like pyplot.subplots, but a plain matplotlib.figure.Figure: pyplot's figure list and its
    backend are never touched, and the figure is freed with its last reference. Saving it picks Agg (or the
    vector backend) from the file's format. `layout` None: the caller places the axes (`margins_in`), which saves
    the layout pass (a full draw without rendering) of constrained layout."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout=layout)
    return fig, fig.subplots(nrows, ncols, squeeze=squeeze, **kw)


def margins_in(fig, *, left: float, right: float, top: float, bottom: float, wspace: float = 0.0,
               hspace: float = 0.0) -> None:
    """Place a figure's grid of axes by margins and gaps in inches (subplots_adjust takes fractions of the figure
    and of the mean axes size)."""
    w, h = fig.get_size_inches()
    gs = fig.axes[0].get_subplotspec().get_gridspec()
    nrows, ncols = gs.get_geometry()
    aw = (w - left - right - wspace * (ncols - 1)) / ncols
    ah = (h - top - bottom - hspace * (nrows - 1)) / nrows
    fig.subplots_adjust(left=left / w, right=1 - right / w, top=1 - top / h, bottom=bottom / h,
                        wspace=wspace / aw if ncols > 1 else None, hspace=hspace / ah if nrows > 1 else None)


def metric_label(metric: str) -> str:
    """Axis label with the metric's unit, e.g. 'energy_per_token_uj [uJ]'."""
    unit = UNITS.get(metric, "")
    return f"{metric} [{unit}]" if unit else metric


def baseline_reference(baseline: Mapping | None) -> Reference | None:
    """The GPU baseline of a run (run.yaml `baseline`) as a reference marker; it sits at 1x on the *_vs_gpu axes."""
    if not baseline or not isinstance(baseline.get("metrics"), Mapping):
        return None
    values = {k: float(v) for k, v in baseline["metrics"].items()}
    values.update(speedup_vs_gpu=1.0, energy_gain_vs_gpu=1.0)
    precision = f" {baseline['precision']}" if baseline.get("precision") else ""
    return (f"GPU: {baseline.get('gpus', 1)} x {baseline.get('gpu', '?')}{precision}", values)


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
    """A log scale on `axis` when `log`: labelled decades, and labelled 2x and 5x ticks under three decades. Wider
    axes get no minor ticks: unlabelled, they carried no reading, and creating them (8 per decade, each a tick
    object with its line and text) was about half the drawing time of a 3-objective pareto.png."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, NullLocator

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
        a.set_minor_locator(NullLocator())
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
    import matplotlib
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
        cmap = matplotlib.colormaps.get_cmap("tab10" if len(order) <= 10 else "tab20")
        return _Colors(column, {v: cmap(i % cmap.N) for i, v in enumerate(order)})
    v = vals.to_numpy(dtype=float)
    norm = (mcolors.LogNorm(v.min(), v.max()) if (v > 0).all() and v.max() / v.min() > 100
            else mcolors.Normalize(v.min(), v.max()))
    return _Colors(column, {}, matplotlib.colormaps.get_cmap("viridis"), norm)


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


def step_where(x_dir: str) -> str:
    """matplotlib step mode of the front's staircase: with x minimized a point's y holds until the next point to
    its right ('post'); with x maximized it holds from the previous point ('pre')."""
    return "post" if x_dir == "minimize" else "pre"


def default_axes(objectives: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The run's objectives; a single objective is paired with area (or energy per token when it is area)."""
    objs = list(objectives)
    if len(objs) >= 2:
        return objs
    other = "area_mm2" if objs[0][0] != "area_mm2" else "energy_per_token_uj"
    return [objs[0], (other, DIRECTIONS[other])]
