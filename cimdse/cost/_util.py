"""Small array helpers the cost model's steps share."""

from __future__ import annotations

import numpy as np


def dot_shapes(x: np.ndarray, v: np.ndarray) -> np.ndarray:
    """x (N, J) . v (J,) summed in a fixed order, so a design's result never depends on the batch around it."""
    out = x[:, 0] * v[0]
    for j in range(1, x.shape[1]):
        out = out + x[:, j] * v[j]
    return out


def ceil(x):
    """Ceiling that ignores float round-off just above an integer (3.0000000001 -> 3)."""
    return np.ceil(x - 1e-9)
