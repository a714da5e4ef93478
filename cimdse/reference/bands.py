"""Uncertainty bands of the validation predictions: each reference design evaluated under Latin-hypercube samples
of the technology constants (cimdse/cost/uncertainty.py), the p10-p90 band of every compared figure, and whether
the published value lies inside it (docs/MODEL.md "Uncertainty bands")."""

from __future__ import annotations

import json

import numpy as np

_CACHE: dict[str, dict] = {}
# Latin-hypercube samples per reference: the validation counts figures inside their bands, and at the 64 samples of
# `eval --uncertainty` that count moves by about two figures between seeds (docs/MODEL.md "Sampling noise")
VALIDATION_SAMPLES = 256


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
            runs[key] = (model, sc, metric_samples(to_batch([design], tech), _workload(model, sc), tech,
                                                   VALIDATION_SAMPLES))
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


POINT_RTOL = 1e-3   # a band narrower than 0.1 % (p90/p10 - 1) is one point: the constants hardly enter the metric


def point(row) -> bool:
    """True when the prediction's band is one point: no sampled constant enters the metric, or moves it by less than
    POINT_RTOL (peak_tops of a fixed design follows from its clock, ADC timing and organisation, which are design
    values, not constants; a speed-up whose both sides are set by such timing moves by 1e-5)."""
    return row.band is not None and row.band[1] <= row.band[0] * (1 + POINT_RTOL)


def inside(row) -> bool:
    """True when the published value lies inside the prediction's p10-p90 band; False for a band of one point
    (`point`), which is reported as design-only and not counted (docs/MODEL.md, Uncertainty bands)."""
    if row.band is None or point(row):
        return False
    lo, hi = row.band
    return lo <= row.published <= hi


def width(row) -> float:
    """p90 / p10 of the row's band (inf for a band reaching 0 or below)."""
    lo, hi = row.band
    return hi / lo if lo > 0 else float("inf")


def band_cells(row) -> str:
    """The table cells ' p10-p90 | inside? |' of one row ('' when bands were not computed; 'design only | - |'
    for a band of one point, which has no spread to be inside of)."""
    if row.band is None:
        return ""
    if point(row):
        return f" {row.band[0]:.4g} (design only) | - |"
    return f" {row.band[0]:.4g} - {row.band[1]:.4g} | {'yes' if inside(row) else 'no'} |"


def band_summary(rows: list) -> str:
    """'Inside their p10-p90 band: N of M figures with a band (x %)', the design-only figures named apart (not
    counted), and the widest band; '' for rows without bands."""
    sel = [r for r in rows if r.band is not None]
    if not sel:
        return ""
    spread = [r for r in sel if not point(r)]
    n = sum(inside(r) for r in spread)
    text = (f"Inside their p10-p90 band: {n} of {len(spread)} figures with a band "
            f"({100 * n / max(len(spread), 1):.1f} %)")  # one decimal: 16 of 23 is 69.6 %, not 70
    if len(spread) < len(sel):
        text += (f"; {len(sel) - len(spread)} more follow from the design alone (the sampled constants move them "
                 f"by under 0.1 %, so they have no band and are not counted; over all {len(sel)} figures "
                 f"{n} are inside, {100 * n / len(sel):.1f} %)")
    return text + (f"; widest band {max(width(r) for r in spread):.2f}x (p90/p10)." if spread else ".")
