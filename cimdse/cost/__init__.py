"""The cost model: design parameters, mapping, pricing and the accuracy proxy. `evaluate` is the entry point."""

from __future__ import annotations

import functools
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
    batch = to_batch(designs)
    res = evaluate_arrays(batch, model, scenario)
    out = {}
    for name, p in PARAMS.items():
        out[name] = _choices(name).take(batch[name]) if p.kind == "cat" else batch[name]
    for k in METRICS:
        out[k] = res[k]
    out["feasible"] = res["feasible"]
    out["reason"] = res["reason"]
    return frame(out, len(batch["rows"]))


def frame(columns: dict, n: int):
    """pd.DataFrame(columns) for fresh 1-D arrays of length n, through pandas' public constructor without copies.

    Text columns are given the dtype pandas itself infers for text (str in pandas 3, object before)."""
    import pandas as pd

    text = _text_dtype()
    data = {k: pd.array(v, dtype=text) if text is not None and getattr(v, "dtype", None) == np.dtype(object) else v
            for k, v in columns.items()}
    return pd.DataFrame(data, index=pd.RangeIndex(n), copy=False)


@functools.cache
def _choices(name: str):
    """The choices of categorical parameter `name` as an array of pandas' text dtype (object where it has none)."""
    import pandas as pd

    text = _text_dtype()
    values = np.asarray(PARAMS[name].choices, dtype=object)
    return values if text is None else pd.array(values, dtype=text)


@functools.cache
def _text_dtype():
    """The dtype pandas gives a column of Python strings (None where it keeps them as objects)."""
    import pandas as pd

    dtype = pd.DataFrame({"x": np.array(["a"], dtype=object)})["x"].dtype
    return None if dtype == np.dtype(object) else dtype


def design_dict(batch: Mapping[str, np.ndarray], i: int = 0) -> dict:
    """Design i of an encoded batch as a plain dict."""
    return from_batch(batch, i)
