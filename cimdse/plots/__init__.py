"""Figures of a run as pure functions from data (a trials table, a front) to a matplotlib Figure: the Pareto
scatter or pairwise matrix, the energy and latency breakdown, the search history and parameter importance.

No function here writes a file, chooses a backend or touches pyplot's state: a Figure is a plain
`matplotlib.figure.Figure`; `cimdse.run.outputs.save_figure` writes one. Reference points (a GPU baseline,
published designs) are passed as `[(label, {metric: value, ...}), ...]` and drawn as labelled markers wherever
both axes' metrics are known.
"""

from __future__ import annotations

from .breakdown import BREAKDOWN_DESIGNS, breakdown_figure, breakdown_values, pick_front_designs
from .history import HISTORY_EXACT_ROWS, history_figure, history_space, hypervolume_curve
from .importance import IMPORTANCE_MIN_TRIALS, importance_figure, importance_note
from .scatter import MAX_BACKGROUND_POINTS, pareto_figure
from .style import (
    Reference,
    _tick,
    baseline_reference,
    default_axes,
    default_color,
    metric_label,
    new_figure,
    step_where,
    use_log,
)

__all__ = [
    "BREAKDOWN_DESIGNS", "HISTORY_EXACT_ROWS", "IMPORTANCE_MIN_TRIALS", "MAX_BACKGROUND_POINTS", "Reference",
    "_tick", "baseline_reference", "breakdown_figure", "breakdown_values", "default_axes", "default_color",
    "history_figure", "history_space", "hypervolume_curve", "importance_figure", "importance_note",
    "metric_label", "new_figure", "pareto_figure", "pick_front_designs", "step_where", "use_log",
]
