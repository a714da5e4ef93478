"""The cost model: design parameters, mapping, pricing and the accuracy proxy. `evaluate` is the entry point."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from ..workload import ModelConfig, Scenario, load_model
from .model import METRICS, evaluate_batch, prepare
from .params import PARAMS, from_batch, to_batch

__all__ = ["evaluate", "evaluate_arrays", "METRICS", "PARAMS"]


def _workload(model: ModelConfig | str, scenario: Scenario | None):
    m = load_model(model) if isinstance(model, str) else model
    sc = scenario or Scenario()
    if m.arch == "encoder" and sc.generate_tokens:
        sc = Scenario(**{**sc.to_dict(), "generate_tokens": 0})
    return prepare(m, sc)


def evaluate_arrays(batch: Mapping[str, np.ndarray], model: ModelConfig | str = "llama-2-7b",
                    scenario: Scenario | None = None, breakdown: bool = False) -> dict:
    """Metrics as numpy arrays for a batch already encoded by `params.to_batch` (the fast path)."""
    return evaluate_batch(dict(batch), _workload(model, scenario), breakdown=breakdown)


def evaluate(designs: Iterable[Mapping] | Mapping, model: ModelConfig | str = "llama-2-7b",
             scenario: Scenario | None = None):
    """Score designs (list of dicts or dict of columns; missing parameters take defaults) -> DataFrame."""
    import pandas as pd

    batch = to_batch(designs)
    res = evaluate_arrays(batch, model, scenario)
    out = {}
    for name, p in PARAMS.items():
        out[name] = np.asarray(p.choices, dtype=object)[batch[name]] if p.kind == "cat" else batch[name]
    for k in METRICS:
        out[k] = res[k]
    out["feasible"] = res["feasible"]
    out["reason"] = res["reason"]
    return pd.DataFrame(out, copy=False)  # the arrays are fresh: no need to copy them again


def design_dict(batch: Mapping[str, np.ndarray], i: int = 0) -> dict:
    """Design i of an encoded batch as a plain dict."""
    return from_batch(batch, i)
