"""Uncertainty bands of the validation predictions: each reference design evaluated under Latin-hypercube samples
of the technology constants (cimdse/cost/uncertainty.py), the p10-p90 band of every compared figure, and whether
the published value lies inside it (docs/MODEL.md "Uncertainty bands")."""

from __future__ import annotations

import json

import numpy as np

_CACHE: dict[str, dict] = {}


def figure_bands(ref, tech=None) -> dict[str, tuple[float, float]]:
    """{Published.key: (p10, p90)} of every compared figure of a reference (relative figures: the design's samples
    against the fixed GPU roofline; GPU constants are not sampled). Computed once per reference content and
    technology in a process (validate and the docs test ask for the same bands)."""
    key = repr(ref) + (tech.digest if tech is not None else "")
    if key not in _CACHE:
        if len(_CACHE) > 256:
            _CACHE.clear()
        _CACHE[key] = _figure_bands(ref, tech)
    return dict(_CACHE[key])


def _figure_bands(ref, tech) -> dict[str, tuple[float, float]]:
    from ..config import load_workload
    from ..cost import _workload
    from ..cost.gpu import baseline_columns, gpu_metrics
    from ..cost.params import scenario_defaults, to_batch
    from ..cost.uncertainty import metric_samples, percentiles
    from ..metrics import METRICS
    from . import gpu_scenario

    runs: dict = {}
    out = {}
    for p in ref.published:
        if p.role == "not_compared":
            continue
        wl = p.workload or ref.workload
        key = json.dumps(wl, sort_keys=True, default=str)
        if key not in runs:
            model, sc = load_workload(wl, ref.path)
            design = {**scenario_defaults(sc), **ref.design}
            runs[key] = (model, sc, metric_samples(to_batch([design], tech), _workload(model, sc), tech))
        model, sc, s = runs[key]
        if p.baseline:
            gpu = gpu_metrics(p.baseline["gpu"], p.baseline["gpus"], model, gpu_scenario(sc, p.baseline["bits"]),
                              tech=tech)
            vals = np.asarray(baseline_columns({k: s[k][:, 0] for k in METRICS}, gpu["metrics"])[p.metric])
        else:
            vals = s[p.metric][:, 0]
        lo, hi = percentiles(np.asarray(vals, dtype=float)[:, None])[0]
        out[p.key] = (float(lo), float(hi))
    return out


def inside(row) -> bool:
    """True when the published value lies inside the prediction's p10-p90 band (a band of one point, where no
    sampled constant enters the metric, counts with a 1e-6 relative tolerance for rounding)."""
    if row.band is None:
        return False
    lo, hi = row.band
    return lo * (1 - 1e-6) <= row.published <= hi * (1 + 1e-6)


def width(row) -> float:
    """p90 / p10 of the row's band (inf for a band reaching 0 or below)."""
    lo, hi = row.band
    return hi / lo if lo > 0 else float("inf")


def band_cells(row) -> str:
    """The table cells ' p10-p90 | inside? |' of one row ('' when bands were not computed)."""
    if row.band is None:
        return ""
    return f" {row.band[0]:.4g} - {row.band[1]:.4g} | {'yes' if inside(row) else 'no'} |"


def band_summary(rows: list) -> str:
    """'N of M figures inside their p10-p90 band (x %); widest band Wx' for rows with bands, else ''."""
    sel = [r for r in rows if r.band is not None]
    if not sel:
        return ""
    n = sum(inside(r) for r in sel)
    point = [r for r in sel if r.band[1] <= r.band[0] * (1 + 1e-9)]
    spread = [r for r in sel if r not in point]
    text = f"Inside their p10-p90 band: {n} of {len(sel)} figures ({100 * n / len(sel):.0f} %)"
    if point:   # a metric no sampled constant enters (peak_tops of a fixed design): its band is one point
        m = sum(inside(r) for r in spread)
        text += (f"; {len(point)} of them have a band of one point (no sampled constant enters), of the other "
                 f"{len(spread)} {m} are inside ({100 * m / max(len(spread), 1):.0f} %)")
    return text + f"; widest band {max(width(r) for r in sel):.2f}x (p90/p10)."
