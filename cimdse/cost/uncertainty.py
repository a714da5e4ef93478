"""Uncertainty bands of the metrics: the same designs evaluated under Latin-hypercube samples of the technology
constants (cimdse/tech/bands.py), reported as the 10th and 90th percentile of each metric (docs/MODEL.md
"Uncertainty bands")."""

from __future__ import annotations

import numpy as np

from ..metrics import METRICS
from ..tech import Tech, load_tech
from ..tech.bands import sample_techs
from .model import Workload, evaluate_batch

SAMPLES = 64        # Latin-hypercube samples per evaluation (64 strata per constant)
SEED = 0
PERCENTILES = (10.0, 90.0)


def metric_bands(batch: dict, wl: Workload, tech: Tech | None = None, samples: int = SAMPLES,
                 seed: int = SEED) -> dict[str, np.ndarray]:
    """{metric: (N, 2) array of [p10, p90]} for every design of the encoded batch, over `samples` technologies.

    All designs of the batch see the same samples; each sample is one evaluate_batch call on the whole batch.
    Also "feasible_share": (N,) the share of samples under which the design is feasible."""
    runs = metric_samples(batch, wl, tech, samples, seed)
    out = {k: percentiles(runs[k]) for k in METRICS}
    out["feasible_share"] = np.mean(runs["feasible"], axis=0)
    return out


def metric_samples(batch: dict, wl: Workload, tech: Tech | None = None, samples: int = SAMPLES,
                   seed: int = SEED) -> dict[str, np.ndarray]:
    """{metric: (samples, N) array} (and "feasible"): the batch under each Latin-hypercube sample of the constants."""
    techs = sample_techs(tech or load_tech(), samples, seed)
    runs = [evaluate_batch(dict(batch), wl, t) for t in techs]
    return {k: np.stack([np.asarray(r[k], dtype=float if k != "feasible" else bool) for r in runs])
            for k in (*METRICS, "feasible")}


def percentiles(stack: np.ndarray) -> np.ndarray:
    """(N, 2) [p10, p90] over the samples (axis 0) of a (samples, N) array."""
    with np.errstate(invalid="ignore"):
        return np.percentile(stack, PERCENTILES, axis=0).T


def band_lists(bands: dict, i: int = 0) -> dict[str, list[float]]:
    """Design i's bands as {metric: [p10, p90]} of plain floats (for --json and run files)."""
    return {k: [float(v[i, 0]), float(v[i, 1])] for k, v in bands.items() if k in METRICS}
