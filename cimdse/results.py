"""Writing a run's outputs: trials.csv, pareto.csv, run.yaml. Files are written to a temporary name and renamed."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np

from .config import Sweep
from .cost.gpu import BASELINE_METRICS
from .cost.model import METRICS
from .cost.params import PARAMS
from .pareto import pareto_mask, pareto_order

RUN_FILE = "run.yaml"


def atomic_write(path: Path, text: str) -> None:
    """Write text to path via a temporary file and a rename, so readers never see half a file."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def trials_frame(scored, numbers: np.ndarray | None = None):
    """One row per design: trial number, every parameter, every metric, feasible, violation."""
    import pandas as pd

    n = len(scored.objectives)
    cols: dict = {"trial": np.arange(n) if numbers is None else np.asarray(numbers)}
    for name, p in PARAMS.items():
        v = scored.batch[name]
        if p.kind == "cat":
            cols[name] = np.asarray(p.choices, dtype=object)[v]
        elif p.kind == "int":
            cols[name] = v.astype(np.int64)
        else:
            cols[name] = v
    for k in METRICS:
        cols[k] = np.asarray(scored.metrics[k], dtype=float)
    for k in BASELINE_METRICS:  # only when the sweep has a GPU baseline
        if k in scored.metrics:
            cols[k] = np.asarray(scored.metrics[k], dtype=float)
    cols["feasible"] = scored.feasible
    cols["violation"] = scored.violation_text
    return pd.DataFrame(cols)


def front_frame(df, objectives):
    """The non-dominated feasible rows for the objectives, sorted by the first objective."""
    feas = df[df["feasible"]]
    if feas.empty:
        return feas
    values = feas[[k for k, _ in objectives]].to_numpy(dtype=float)
    order = pareto_order(values, [d for _, d in objectives])
    return feas.iloc[order]


def front_mask(df, objectives) -> np.ndarray:
    """Boolean mask over df of the feasible non-dominated rows."""
    mask = np.zeros(len(df), dtype=bool)
    feas = df["feasible"].to_numpy(dtype=bool)
    if feas.any():
        values = df.loc[feas, [k for k, _ in objectives]].to_numpy(dtype=float)
        mask[np.flatnonzero(feas)] = pareto_mask(values, [d for _, d in objectives])
    return mask


CSV_SIGNIFICANT_DIGITS = 10


def round_significant(x: np.ndarray, digits: int = CSV_SIGNIFICANT_DIGITS) -> np.ndarray:
    """x rounded to `digits` significant decimal digits (vectorized); zeros and non-finite values unchanged."""
    x = np.asarray(x, dtype=float)
    ax = np.abs(x)
    ok = np.isfinite(x) & (ax > 0)
    k = digits - 1 - np.floor(np.log10(np.where(ok, ax, 1.0)))
    ok &= np.abs(k) <= 300           # subnormal or near-overflow values are left as they are
    k = np.where(ok, k, 0.0)
    # scale by an exact power of ten (10^k is exact for 0 <= k <= 22), dividing when k < 0
    up = np.where(k >= 0, 10.0 ** np.maximum(k, 0), 1.0)
    down = np.where(k < 0, 10.0 ** np.maximum(-k, 0), 1.0)
    with np.errstate(over="ignore", invalid="ignore"):
        y = np.rint(x * up / down) * down / up
    return np.where(ok & np.isfinite(y), y, x)


def write_csv(df, path: Path) -> None:
    """Write a table as CSV, atomically: floats to 10 significant digits in their shortest form, integer-valued
    float columns as integers, booleans as true/false.

    polars' CSV writer (Rust, shortest round-trip float formatting) writes a million-row trials table in about
    2 s; pandas' to_csv with a float format took 25 s, most of a 1 M-design exhaustive sweep."""
    import polars as pl

    cols = []
    for name in df.columns:
        v = df[name].to_numpy()
        if v.dtype.kind == "f":
            v = round_significant(v)
            if len(v) and np.all(np.isfinite(v)) and np.all(np.abs(v) < 2.0**53) and np.all(v == np.rint(v)):
                v = v.astype(np.int64)
        elif v.dtype.kind == "O":
            v = v.astype(str)
        cols.append(pl.Series(str(name), v))
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    pl.DataFrame(cols).write_csv(tmp, line_terminator="\n")
    os.replace(tmp, path)


def sweep_fingerprint(sweep: Sweep) -> str:
    """A hash of what defines a run's study: the sweep file without its budget (trials, timeout, batch size),
    plus the sampler, seed, storage and study name in force (command-line overrides included)."""
    raw = {k: v for k, v in sweep.raw.items() if k != "search"}
    s = sweep.search
    raw["search"] = {"sampler": s.sampler, "seed": s.seed, "storage": s.storage, "study_name": s.study_name}
    text = json.dumps(raw, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def run_record(sweep: Sweep, extra: dict | None = None) -> dict:
    """The resolved sweep with versions and seed, as written to run.yaml."""
    from importlib import metadata

    from . import __version__

    versions = {"cimdse": __version__, "python": platform.python_version()}
    for pkg in ("numpy", "pandas", "optuna", "matplotlib", "pyyaml", "click"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:  # pragma: no cover
            versions[pkg] = "missing"
    return {
        "name": sweep.name,
        "sweep_file": sweep.path,
        "fingerprint": sweep_fingerprint(sweep),
        "model": sweep.model.name,
        "scenario": sweep.scenario.to_dict(),
        "space": {d.name: (list(d.choices) if d.choices else
                           {"low": d.low, "high": d.high, "step": d.step, "log": d.log}) for d in sweep.space},
        "fixed": sweep.fixed,
        "objectives": dict(sweep.objectives),
        "constraints": [c.text for c in sweep.constraints],
        "baseline": _baseline_record(sweep),
        "search": {k: getattr(sweep.search, k) for k in ("sampler", "trials", "timeout", "seed", "batch_size",
                                                          "storage", "study_name")},
        "versions": versions,
        "command": " ".join(sys.argv),
        **(extra or {}),
    }


def _baseline_record(sweep: Sweep) -> dict | None:
    """The sweep's GPU baseline and its metrics, for run.yaml (None without a baseline)."""
    from .study import sweep_baseline

    base = sweep_baseline(sweep)
    if base is None:
        return None
    return {"gpu": base["gpu"], "gpus": base["gpus"], "precision": base["precision"], "metrics": base["metrics"]}


def write_run(run_dir: Path, record: dict) -> None:
    import yaml

    atomic_write(run_dir / RUN_FILE, yaml.safe_dump(record, sort_keys=False))
