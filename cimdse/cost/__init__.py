"""The cost model: design parameters, mapping, pricing and the accuracy proxy. `evaluate` is the entry point."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..models import load_model
from ..tech import Tech, load_tech
from ..workload import ModelConfig, Scenario, fit_scenario, preset_names
from .model import METRICS, Workload, evaluate_batch, prepare
from .params import PARAMS, from_batch, to_batch

__all__ = ["evaluate", "evaluate_arrays", "METRICS", "PARAMS"]


def _workload(model: ModelConfig | str, scenario: Scenario | None) -> Workload:
    """The prepared workload of a model (a preset name, a config.json path or a ModelConfig) and scenario."""
    sc = scenario or Scenario()
    if isinstance(model, str) and model in _presets():   # (a config.json is read every call: it may change)
        return _preset_workload(model, sc)
    m = load_model(model) if isinstance(model, str) else model
    return prepare(m, fit_scenario(m, sc))


@functools.cache
def _presets() -> frozenset:
    """The built-in model names: load_model takes a name among them as that preset before any path."""
    return frozenset(preset_names())


@functools.lru_cache(maxsize=64)
def _preset_workload(name: str, scenario: Scenario) -> Workload:
    """_workload of a built-in model, once per (name, scenario): presets are fixed data, so a sweep's calls skip
    building and validating the model config each time."""
    m = load_model(name)
    return prepare(m, fit_scenario(m, scenario))


def _encoded(batch: Mapping) -> bool:
    """True for a batch as `params.to_batch` makes it: every parameter, categories as integer codes, numbers as
    floats, all numpy arrays."""
    for name, p in PARAMS.items():
        v = batch.get(name)
        if not isinstance(v, np.ndarray) or v.dtype.kind != ("i" if p.kind == "cat" else "f"):
            return False
    return True


def _tech(tech: Tech | str | Path | None) -> Tech | None:
    """A Tech as given, or a technology file's path loaded (None: the shipped data)."""
    return load_tech(tech) if isinstance(tech, (str, Path)) else tech


def evaluate_arrays(batch: Mapping[str, np.ndarray], model: ModelConfig | str = "llama-2-7b",
                    scenario: Scenario | None = None, breakdown: bool = False, tech: Tech | str | Path | None = None,
                    uncertainty: bool = False) -> dict:
    """Metrics as numpy arrays, one per design: the fast path. `batch` is a dict of columns, either encoded by
    `params.to_batch` (used as is) or plain (`{"device": ["rram", "sram"], "rows": [256, 512]}`; missing
    parameters take their defaults). Besides the METRICS: `feasible` and `violation` (why a design is infeasible,
    "" when feasible; also under its former name `reason`). `tech`: a cimdse.tech.Tech or a technology file
    (None: the shipped data). `uncertainty`: also "bands", {metric: (N, 2) array of p10, p90} over Latin-hypercube
    samples of the constants (cost/uncertainty.py), and "feasible_share"."""
    tech = _tech(tech)
    if not _encoded(batch):
        batch = to_batch(batch, tech)
    wl = _workload(model, scenario)
    res = evaluate_batch(dict(batch), wl, tech, breakdown=breakdown)
    res["violation"] = res["reason"]
    if uncertainty:
        from .uncertainty import metric_bands

        bands = metric_bands(batch, wl, tech)
        res["feasible_share"] = bands.pop("feasible_share")
        res["bands"] = bands
    return res


def evaluate(designs: Iterable[Mapping] | Mapping, model: ModelConfig | str = "llama-2-7b",
             scenario: Scenario | None = None, tech: Tech | str | Path | None = None, uncertainty: bool = False):
    """Score designs (a list of dicts or a dict of columns; missing parameters take defaults) -> DataFrame with one
    row per design: every parameter (integer ones as integers), every metric, `feasible` and `violation` (the
    same column name as in a run's trials.csv). `tech`: a cimdse.tech.Tech or a technology file (None: the
    shipped data). `uncertainty`: also columns `<metric>_p10` and `<metric>_p90` of every metric (docs/MODEL.md
    "Uncertainty bands")."""
    tech = _tech(tech)
    batch = to_batch(designs, tech)
    res = evaluate_arrays(batch, model, scenario, tech=tech, uncertainty=uncertainty)
    ints = _ints(batch)
    out = {}
    for name, p in PARAMS.items():
        if p.kind == "cat":
            out[name] = _choices(name).take(batch[name])
        elif p.kind == "int":
            out[name] = ints[name]
        else:
            out[name] = batch[name]
    for k in METRICS:
        out[k] = res[k]
    out["feasible"] = res["feasible"]
    out["violation"] = res["violation"]
    for k, v in res.get("bands", {}).items():
        out[f"{k}_p10"], out[f"{k}_p90"] = v[:, 0], v[:, 1]
    return frame(out, len(batch["rows"]))


def _ints(batch: Mapping) -> dict:
    """Every integer parameter's column as int64 (_as_int), checked and converted in one pass over all of them."""
    names = [name for name, p in PARAMS.items() if p.kind == "int"]
    values = np.stack([batch[name] for name in names])
    whole = np.round(values)
    if not np.array_equal(whole, values):   # name the first parameter with a fractional value
        return {name: _as_int(name, batch[name]) for name in names}
    return dict(zip(names, whole.astype(np.int64), strict=True))


def _as_int(name: str, values: np.ndarray) -> np.ndarray:
    """An integer parameter's column as int64; a fractional value is the caller's mistake, not rounded away."""
    whole = np.round(values)
    if not np.array_equal(whole, values):
        bad = values[whole != values][0]
        raise UserError(f"expected an integer, got {bad:g}", key=name)
    return whole.astype(np.int64)


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
