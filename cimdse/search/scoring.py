"""Scoring a batch of designs: the one place that fills in the sweep's base design, runs the cost model, adds the
GPU-baseline ratios and checks the sweep's constraints. The Optuna loop, the workers, the exhaustive path and a
collected or merged run all call `score`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import Sweep
from ..cost import evaluate_arrays
from ..cost.gpu import baseline_columns, baseline_metrics
from ..cost.params import PARAMS, scenario_defaults, to_batch
from ..metrics import BASELINE_METRICS, METRICS


@dataclass
class Scored:
    """A scored batch: parameter columns (names), metric arrays, objective matrix, violations."""

    batch: dict
    metrics: dict
    objectives: np.ndarray      # (N, M) in the metrics' own units
    violations: np.ndarray      # (N, C) > 0 when violated (C >= 1: last column is the design-conflict flag)
    feasible: np.ndarray
    violation_text: np.ndarray
    derived: tuple = ()         # columns of the sweep's expressions (their text), also in `metrics`
    origin: np.ndarray | None = None  # per design "screen" or "sampler" when the run screened (trials.csv column)

    def trial_metrics(self, i: int) -> dict:
        """Design i's metrics as plain floats (and whether it is feasible): a trial's user attributes."""
        out = {k: float(self.metrics[k][i]) for k in (*METRICS, *BASELINE_METRICS, *self.derived)
               if k in self.metrics}
        out["feasible"] = bool(self.feasible[i])
        return out


def base_design(sweep: Sweep) -> dict:
    """Defaults, then the workload's precisions, then the sweep's fixed values."""
    return {**scenario_defaults(sweep.scenario), **sweep.fixed}


def sweep_baseline(sweep: Sweep) -> dict | None:
    """The GPU baseline's gpu_metrics result (metrics, feasible, gpus, ...) when the sweep names one, else None."""
    if not sweep.baseline:
        return None
    return baseline_metrics(sweep.baseline["gpu"], sweep.baseline["gpus"], sweep.model, sweep.scenario, sweep.tech)


def score(sweep: Sweep, rows: list[dict] | dict) -> Scored:
    """Evaluate designs (searched values over the sweep's base design) and check its constraints.

    `rows` is a list of {parameter: value} or a dict of equal-length columns."""
    base = base_design(sweep)
    if isinstance(rows, dict):
        n = len(next(iter(rows.values())))
        cols = {k: _column(k, v, n) for k, v in base.items()}
        cols.update(rows)
        batch = to_batch(cols, sweep.tech)
    else:
        batch = to_batch([{**base, **r} for r in rows], sweep.tech)
    m = evaluate_arrays(batch, sweep.model, sweep.scenario, tech=sweep.tech)
    gpu = sweep_baseline(sweep)
    if gpu is not None:
        m.update(baseline_columns(m, gpu["metrics"]))
    for e in sweep.expressions:  # arithmetic objectives and constraints (cimdse/expr.py), over metrics and parameters
        m[e.text] = e.evaluate({**batch, **m})
    obj = np.column_stack([np.asarray(m[k], dtype=float) for k, _ in sweep.objectives])
    viol = []
    n = len(obj)
    text = np.where(m["feasible"], "", m["reason"]).astype(object)
    for c in sweep.constraints:
        x = constraint_excess(c, np.asarray(m[c.metric], dtype=float))
        viol.append(x)
        bad = x > 0
        text = np.where(bad, np.where(text == "", c.text, text + "; " + c.text), text)
    viol.append(np.where(m["feasible"], 0.0, 1.0))
    violations = np.column_stack(viol) if viol else np.zeros((n, 0))
    feasible = np.all(violations <= 0, axis=1)
    return Scored(batch, m, obj, violations, feasible, text, tuple(e.text for e in sweep.expressions))


def _column(name: str, value, n: int) -> np.ndarray:
    """A base-design value repeated for n designs; a categorical one as its code (to_batch takes codes as they
    are instead of looking up each of n strings: about 0.3 s of a 250,000-design chunk)."""
    p = PARAMS.get(name)
    if p is not None and p.kind == "cat" and isinstance(value, str) and value in p.choices:
        return np.full(n, p.choices.index(value), dtype=np.int64)
    return np.repeat(np.asarray([value], dtype=object if isinstance(value, str) else float), n)


def front_bands(sweep: Sweep, front):
    """The front table with `<metric>_p10` and `<metric>_p90` of every CIM metric and `feasible_share` appended:
    the front designs re-scored under Latin-hypercube samples of the constants (cost/uncertainty.py)."""
    from ..cost import _workload
    from ..cost.params import PARAMS
    from ..cost.uncertainty import metric_bands

    base = base_design(sweep)
    rows = [{**base, **{k: r[k] for k in PARAMS if k in r}} for r in front.to_dict(orient="records")]
    bands = metric_bands(to_batch(rows, sweep.tech), _workload(sweep.model, sweep.scenario), sweep.tech)
    out = front.copy()
    for k in METRICS:
        out[f"{k}_p10"], out[f"{k}_p90"] = bands[k][:, 0], bands[k][:, 1]
    out["feasible_share"] = bands["feasible_share"]
    return out


def constraint_excess(c, v: np.ndarray) -> np.ndarray:
    """Per design, how far `v` breaks constraint `c`, relative to the bound's scale: > 0 (at least 1e-9) where
    broken, <= 0 where it holds."""
    scale = max(abs(c.bound), 1e-12)
    if c.op in ("<=", "<"):
        raw = (v - c.bound) / scale
        bad = v > c.bound if c.op == "<=" else v >= c.bound
    elif c.op in (">=", ">"):
        raw = (c.bound - v) / scale
        bad = v < c.bound if c.op == ">=" else v <= c.bound
    else:
        raw = np.abs(v - c.bound) / scale
        bad = v != c.bound
    bad = bad | np.isnan(v)     # a NaN value never satisfies a constraint
    with np.errstate(invalid="ignore"):
        return np.where(bad, np.maximum(np.nan_to_num(raw, nan=1.0), 1e-9), np.minimum(raw, 0.0))


def take_scored(s: Scored, rows) -> Scored:
    """The scored designs at positions `rows` of `s` (in that order): the columns concat_scored keeps."""
    rows = np.asarray(rows, dtype=np.int64)
    keys = [*METRICS, "feasible", "reason", *s.derived] + [k for k in BASELINE_METRICS if k in s.metrics]
    return Scored(batch={k: np.asarray(v)[rows] for k, v in s.batch.items()},
                  metrics={k: np.asarray(s.metrics[k])[rows] for k in keys},
                  objectives=s.objectives[rows], violations=s.violations[rows], feasible=s.feasible[rows],
                  violation_text=s.violation_text[rows], derived=s.derived,
                  origin=None if s.origin is None else s.origin[rows])


def concat_scored(parts: list[Scored]) -> Scored | None:
    """Join scored chunks into one (None for no chunks)."""
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    keys = [*METRICS, "feasible", "reason", *parts[0].derived] + [k for k in BASELINE_METRICS if k in parts[0].metrics]
    return Scored(
        batch={k: np.concatenate([p.batch[k] for p in parts]) for k in parts[0].batch},
        metrics={k: np.concatenate([np.asarray(p.metrics[k]) for p in parts]) for k in keys},
        objectives=np.concatenate([p.objectives for p in parts]),
        violations=np.concatenate([p.violations for p in parts]),
        feasible=np.concatenate([p.feasible for p in parts]),
        violation_text=np.concatenate([p.violation_text for p in parts]),
        derived=parts[0].derived,
    )
