"""The interactive report of a run: one self-contained HTML page (plotly, its JavaScript inlined, no network).

`report_data` reads a run folder (trials.csv and run.yaml, as `cimdse sweep` writes them), re-scores designs with
the cost model for their energy, latency and area breakdowns, and computes the hypervolume history and parameter
importances; `write_report` puts that data, plotly.js and the page script (cimdse/data/report.js, page frame
cimdse/data/report.html) into one HTML file. Large runs are sampled so the page opens in about a second; the page
says what was sampled.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path

import numpy as np

from .cost.params import PARAMS
from .errors import UserError
from .metrics import BY_NAME

REPORT_FILE = "report.html"
MAX_POINTS = 20_000        # trials written into the page: every front design plus a fixed random sample of the rest
MAX_PARCOORDS = 2_000      # feasible trials drawn as lines in the parallel coordinates (front designs first)
MAX_BREAKDOWNS = 5_000     # designs re-scored with breakdowns: every trial in the page up to this, else the front
INFEASIBLE_SHARE = 0.25    # at most this share of the sample is infeasible trials (the rest feasible)
DIGITS = 5                 # significant digits of the numbers written into the page
# metrics shown when hovering a point, besides the plotted ones and the objectives
HOVER_METRICS = ("energy_per_token_uj", "tpot_ms", "ttft_ms", "area_mm2", "sqnr_db", "tops_per_w", "chips_used",
                 "speedup_vs_gpu", "energy_gain_vs_gpu")
PHASE_UNITS = {"decode": {"energy": "uJ per token", "latency": "ms per token"},
               "prefill": {"energy": "mJ per request", "latency": "ms per request"}}


# ------------------------------------------------------------------------------------------------ reading a run

def _read_record(folder: Path) -> dict:
    """run.yaml of a run folder; UserError when it is missing or names no objectives."""
    import yaml

    from .results import RUN_FILE

    path = folder / RUN_FILE
    try:
        rec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"has no {RUN_FILE}; the report needs a run folder written by cimdse sweep",
                        file=str(folder)) from None
    except (OSError, yaml.YAMLError) as err:
        raise UserError(f"cannot read ({type(err).__name__})", file=str(path)) from None
    if not isinstance(rec, dict) or not isinstance(rec.get("objectives"), dict) or not rec["objectives"]:
        raise UserError("expected a run record with an `objectives` mapping", file=str(path), key="objectives")
    return rec


def _load(run_dir: Path, trials=None):
    """(trials table, run record, folder): the table read from trials.csv unless given (a sweep passes its own)."""
    from .results import load_run, require_columns, round_significant

    folder = Path(run_dir)
    if trials is None:
        if not folder.is_dir():
            raise UserError("expected a run folder (with trials.csv and run.yaml)", file=str(folder))
        run = load_run(folder)
        rec = _read_record(folder)
        run.record = rec
        metrics = [m for m in rec["objectives"] if m]
        require_columns(run, [*metrics, "trial"])
        return run.trials, rec, folder
    rec = _read_record(folder)
    # the objectives as trials.csv holds them (10 significant digits), so that the front, the history and the
    # importances match a report made from the files; the rows written into the page are rounded in _numbers
    objs = [m for m in rec["objectives"] if m in trials]
    return trials.assign(**{m: round_significant(trials[m].to_numpy(dtype=float)) for m in objs}), rec, folder


def _sweep_objectives(rec: Mapping, df) -> list[tuple[str, str]]:
    objs = [(str(m), str(d)) for m, d in rec["objectives"].items()]
    missing = [m for m, _ in objs if m not in df]
    if missing:
        raise UserError(f"names objectives {', '.join(missing)} that trials.csv lacks", key="objectives")
    return objs


# ------------------------------------------------------------------------------------------------ sampling

def sample_rows(feasible: np.ndarray, front: np.ndarray, limit: int = MAX_POINTS, seed: int = 0) -> np.ndarray:
    """Row indices written into the page, ascending: all rows up to `limit`, else every front row plus a fixed
    random sample of the others, feasible ones preferred (infeasible rows take at most INFEASIBLE_SHARE)."""
    n = len(feasible)
    if n <= limit:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    fr = np.flatnonzero(front)
    if len(fr) >= limit:  # a front larger than the page: evenly spaced front rows
        return np.sort(fr[np.linspace(0, len(fr) - 1, limit).round().astype(int)])
    budget = limit - len(fr)
    feas = np.flatnonzero(feasible & ~front)
    infeas = np.flatnonzero(~feasible)
    n_inf = min(len(infeas), max(int(budget * INFEASIBLE_SHARE), budget - len(feas)))
    n_feas = min(len(feas), budget - n_inf)
    pick = [fr, rng.choice(feas, n_feas, replace=False), rng.choice(infeas, n_inf, replace=False)]
    return np.sort(np.concatenate(pick))


def _numbers(values: np.ndarray) -> list:
    """A column as JSON-ready numbers: DIGITS significant digits (after the 10 that trials.csv keeps, so a table
    read back and the sweep's own give the same page), integers where the value is whole."""
    from .results import round_significant

    v = round_significant(round_significant(np.asarray(values, dtype=float)), DIGITS)
    finite = np.isfinite(v)
    if finite.all():
        if len(v) and np.all(v == np.rint(v)) and np.all(np.abs(v) < 2.0 ** 53):
            return v.astype(np.int64).tolist()
        return v.tolist()
    return [float(x) if ok else None for x, ok in zip(v.tolist(), finite.tolist(), strict=True)]


def _codes(values) -> tuple[list[int], list[str]]:
    """A text column as (codes, distinct values in first-seen order)."""
    labels: dict[str, int] = {}
    codes = [labels.setdefault(str(v), len(labels)) for v in values]
    return codes, list(labels)


# ------------------------------------------------------------------------------------------------ breakdowns

def _workload(rec: Mapping, folder: Path, sweep=None):
    """(model, scenario) of the run: the sweep's own, else the preset or config.json named in run.yaml, else the
    workload of the sweep file run.yaml names; None with the reason when none can be loaded."""
    if sweep is not None:
        return sweep.model, sweep.scenario, ""
    from .models import load_model
    from .workload import Scenario

    try:
        sc = Scenario(**dict(rec.get("scenario") or {}))
    except (UserError, TypeError) as err:
        return None, None, f"run.yaml's scenario is unusable ({err})"
    try:
        return load_model(str(rec.get("model"))), sc, ""
    except UserError:
        pass
    sweep_file = rec.get("sweep_file")
    if sweep_file and Path(sweep_file).is_file():
        from .config import load_sweep

        try:
            sw = load_sweep(sweep_file)
        except UserError as err:
            return None, None, f"cannot load the model {rec.get('model')!r}: {err.render()}"
        if sw.model.name == rec.get("model"):
            return sw.model, sc, ""
    return None, None, f"cannot load the model {rec.get('model')!r} (not a preset; sweep file not found)"


def breakdowns(designs, model, scenario) -> dict:
    """Re-score designs (rows with every parameter column) with breakdowns, in the units the page shows.

    {"energy": {phase: {component: values}}, "latency": {...}, "operators": {...}, "area": {component: values},
    "check": {metric: re-scored values}}: decode energy in uJ per token of one sequence and decode latency in ms per
    step (their sums are energy_per_token_uj and tpot_ms); prefill energy in mJ and latency in ms per request (sums
    prefill_energy_mj and ttft_ms); area in mm^2 (sum area_mm2)."""
    from .cost import evaluate_arrays
    from .cost.params import to_batch

    cols = {k: designs[k].to_numpy() for k in PARAMS if k in designs}
    res = evaluate_arrays(to_batch(cols), model, scenario, breakdown=True)
    bd = res["breakdown"]
    batch = float(scenario.batch)
    out: dict = {"energy": {}, "latency": {}, "operators": {}, "area": {}}
    for ph in bd["energy_pj"]:
        e_scale = 1e-6 / batch if ph == "decode" else 1e-9  # pJ -> uJ per token of a sequence, or mJ per request
        out["energy"][ph] = {k: np.asarray(v, dtype=float) * e_scale for k, v in bd["energy_pj"][ph].items()}
        out["operators"][ph] = {k: np.asarray(v, dtype=float) * e_scale for k, v in bd["operators_pj"][ph].items()}
        # leakage is priced per pass, not per operator: its own bar, so that the operators add up to the total too
        out["operators"][ph]["leakage"] = out["energy"][ph]["leakage"]
        out["latency"][ph] = {k: np.asarray(v, dtype=float) * 1e-6 for k, v in bd["latency_ns"][ph].items()}
    out["area"] = {k: np.asarray(v, dtype=float) for k, v in bd["area_mm2"].items()}
    out["check"] = {k: np.asarray(res[k], dtype=float) for k in ("energy_per_token_uj", "tpot_ms", "area_mm2")}
    return out


def _breakdown_block(df, rows: np.ndarray, model, scenario) -> dict:
    """The page's breakdown data for table rows `rows`, and how many re-scored values differ from the table."""
    bd = breakdowns(df.iloc[rows], model, scenario)
    mismatch = 0
    for k, v in bd.pop("check").items():
        t = df[k].to_numpy(dtype=float)[rows]
        mismatch += int((~np.isclose(v, t, rtol=1e-6, atol=0)).sum())
    block = {what: {ph: {k: _numbers(v) for k, v in parts.items()} for ph, parts in bd[what].items()}
             for what in ("energy", "latency", "operators")}
    block["area"] = {k: _numbers(v) for k, v in bd["area"].items()}
    return {**block, "mismatch": mismatch}


# ------------------------------------------------------------------------------------------------ history, importance

def history(df, objectives: Sequence[tuple[str, str]]) -> dict:
    """Hypervolume of the feasible front against the trial number, in % of the final one (as history.png)."""
    from .pareto import default_reference
    from .plots import history_space, hypervolume_curve

    names, dirs = [m for m, _ in objectives], [d for _, d in objectives]
    df = df.sort_values("trial", kind="stable")
    feas = df["feasible"].to_numpy(dtype=bool)
    if not feas.any():
        return {"note": "no feasible trial: no hypervolume"}
    if len(names) > 6:
        return {"note": "the hypervolume is computed for at most 6 objectives"}
    trial = df["trial"].to_numpy()
    vals, labels = history_space(df.loc[feas, names].to_numpy(dtype=float), names)
    ref = default_reference(vals, dirs)
    seen, hv = hypervolume_curve(vals, dirs, ref)
    final = hv[-1] if hv[-1] > 0 else 1.0
    xs = trial[np.flatnonzero(feas)[seen - 1]]
    pct = hv / final * 100
    keep = np.flatnonzero(np.r_[True, np.diff(pct) != 0])  # a step curve: its corners are enough
    x = np.append(xs[keep], trial[-1])
    y = np.append(pct[keep], pct[-1])
    return {"x": _numbers(x), "y": _numbers(y), "space": labels,
            "reference": [f"{lab} = {r:.4g}" for lab, r in zip(labels, ref, strict=True)]}


def importances(df, objectives: Sequence[tuple[str, str]], space: Mapping,
                computed: Mapping[str, Mapping[str, float]] | None = None) -> dict:
    """{objective: {parameter: importance}} (Optuna PED-ANOVA, as importance.png), or a note why there is none.
    `computed`: the run's importances as the sweep computed them for importance.png (not computed again)."""
    from .plots import IMPORTANCE_MIN_TRIALS
    from .search.importance import IMPORTANCE_MAX_TRIALS, param_importances
    from .search.optuna_api import space_distributions

    dists = space_distributions(space)
    n_feas = int(df["feasible"].sum())
    if len(dists) < 2:
        return {"note": f"parameter importance needs at least 2 searched parameters; this run searched {len(dists)}"}
    if n_feas < IMPORTANCE_MIN_TRIALS:
        return {"note": f"parameter importance needs at least {IMPORTANCE_MIN_TRIALS} feasible trials; "
                        f"this run has {n_feas}"}
    imp = computed if computed is not None else param_importances(df, objectives, dists)
    return {"values": {m: {k: round(v, 4) for k, v in d.items()} for m, d in imp.items()},
            "trials": min(n_feas, IMPORTANCE_MAX_TRIALS)}


# ------------------------------------------------------------------------------------------------ header

def _space_text(spec) -> str:
    if isinstance(spec, list):
        return ", ".join(map(str, spec))
    if isinstance(spec, Mapping):
        step = f", step {spec['step']:g}" if spec.get("step") else ""
        return f"{spec.get('low'):g} .. {spec.get('high'):g}{' (log)' if spec.get('log') else ''}{step}"
    return str(spec)


def header(rec: Mapping, n: int, n_feas: int, n_front: int) -> list[list[str]]:
    """[label, text] rows describing the run, from run.yaml and the table's counts."""
    sc = rec.get("scenario") or {}
    s = rec.get("search") or {}
    rows = [["sweep file", str(rec.get("sweep_file", "?"))],
            ["workload", f"{rec.get('model')}: batch {sc.get('batch')}, prompt {sc.get('prompt_tokens')} tokens, "
                         f"generate {sc.get('generate_tokens')} tokens, weights {sc.get('weight_bits')} bit, "
                         f"activations {sc.get('act_bits')} bit"],
            ["objectives", ", ".join(f"{m} ({'min' if d == 'minimize' else 'max'})"
                                     for m, d in rec["objectives"].items())],
            ["constraints", ", ".join(rec.get("constraints") or []) or "none"]]
    space = rec.get("space") or {}
    rows.append(["space", "; ".join(f"{k}: {_space_text(v)}" for k, v in space.items()) or "none"])
    fixed = rec.get("fixed") or {}
    if fixed:
        rows.append(["fixed", ", ".join(f"{k} = {v:g}" if isinstance(v, float) else f"{k} = {v}"
                                        for k, v in fixed.items())])
    if s.get("sampler") == "exhaustive":
        sampler = "exhaustive (every design of the space)"
    else:
        sampler = f"{s.get('sampler')}, seed {s.get('seed')}"
        sampler += f", {s['trials']:,} trials asked" if s.get("trials") else ""
    sampler += f", storage {s['storage']}" if s.get("storage") else ""
    rows.append(["sampler", sampler])
    pct = f" ({100 * n_feas / n:.0f}%)" if n else ""
    rows.append(["trials", f"{n:,} designs, {n_feas:,} feasible{pct}, Pareto front {n_front:,}"])
    rows.append(["status", str(rec.get("status", "?"))])
    base = rec.get("baseline")
    if isinstance(base, Mapping) and base.get("gpu"):
        rows.append(["GPU baseline", f"{base.get('gpus', 1)} x {base['gpu']} ({base.get('precision', '?')}), "
                                     "roofline model (docs/MODEL.md)"])
    versions = rec.get("versions") or {}
    rows.append(["versions", ", ".join(f"{k} {v}" for k, v in versions.items())])
    if rec.get("command"):
        rows.append(["command", str(rec["command"])])
    return rows


# ------------------------------------------------------------------------------------------------ the page's data

def verify_block(folder: Path, rec: Mapping, objectives: Sequence[tuple[str, str]]) -> dict | None:
    """The front designs measured on a checkpoint (`sweep --verify`: pareto.csv's measured columns), else None."""
    import pandas as pd

    from .run.verify import VERIFY_COLUMNS

    done = rec.get("verify")
    path = folder / "pareto.csv"
    if not isinstance(done, Mapping) or not done.get("designs") or not path.is_file():
        return None
    front = pd.read_csv(path)
    if not set(VERIFY_COLUMNS) <= set(front) or "trial" not in front:
        return None
    shown = [o for o, _ in objectives if o in front]
    shown += [m for m in ("logit_sqnr_db", "equivalent_bits") if m in front and m not in shown]
    cols = ["trial", *shown, *VERIFY_COLUMNS]
    front = front.sort_values([shown[0], "trial"] if shown else ["trial"], kind="stable")
    return {"checkpoint": Path(str(done.get("checkpoint", ""))).name, "tokens": done.get("tokens"),
            "reference_ppl": done.get("reference_ppl"), "columns": cols,
            "units": [BY_NAME[c].unit if c in BY_NAME else ("dB" if c.endswith("_db") else "") for c in cols],
            "rows": [[None if pd.isna(v) else float(v) for v in r] for r in front[cols].itertuples(index=False)]}


def report_data(run_dir: str | Path, trials=None, sweep=None, totals: tuple[int, int] | None = None,
                importance: Mapping[str, Mapping[str, float]] | None = None) -> dict:
    """Everything the page shows, as JSON-ready data; `trials` and `sweep` skip re-reading what a sweep has.
    `totals` = (trials, feasible) of the whole run when `trials` holds only the front and a sample of it (a streamed
    exhaustive run, cimdse/run/stream.py); `importance`: the parameter importances the sweep computed for
    importance.png (`cimdse.run.outputs.run_importances`, over the same rows)."""
    from . import __version__
    from .cost.params import defaults
    from .results import front_mask

    df, rec, folder = _load(Path(run_dir), trials)
    objectives = _sweep_objectives(rec, df)
    df = df.reset_index(drop=True)
    feas = df["feasible"].to_numpy(dtype=bool)
    front = front_mask(df, objectives)
    rows = sample_rows(feas, front)
    part = df.iloc[rows]
    space = rec.get("space") or {}
    searched = [k for k in space if k in PARAMS and k in df]
    varying = searched + [k for k in PARAMS if k in df and k not in searched and df[k].nunique() > 1]
    metrics = [m.name for m in BY_NAME.values() if m.name in df]
    cols: dict = {"trial": _numbers(part["trial"]), "feasible": feas[rows].astype(int).tolist(),
                  "front": front[rows].astype(int).tolist()}
    params = []
    for k in varying:
        p = PARAMS[k]
        if p.kind == "cat":
            order = [c for c in p.choices if c in set(map(str, part[k]))]
            cols[k] = [order.index(str(v)) for v in part[k]]
            params.append({"name": k, "kind": "cat", "choices": order, "unit": p.unit, "doc": p.doc})
        else:
            cols[k] = _numbers(part[k])
            spec = space.get(k)
            params.append({"name": k, "kind": p.kind, "unit": p.unit, "doc": p.doc,
                           "log": bool(isinstance(spec, Mapping) and spec.get("log")),
                           "choices": sorted(float(v) for v in spec) if isinstance(spec, list) else None})
    for m in metrics:
        cols[m] = _numbers(part[m])
    violations: list[str] = []
    if "violation" in part:
        vtext = part["violation"].fillna("").astype(str).to_numpy()
        cols["violation"], violations = _codes(vtext)
    # every parameter that does not vary: for the `cimdse eval` line of a selected design
    base = {k: (str(df[k].iloc[0]) if PARAMS[k].kind == "cat" else float(df[k].iloc[0]))
            for k in PARAMS if k in df and k not in varying}
    const = {k: v for k, v in base.items() if v != defaults()[k]}
    model, scenario, why = _workload(rec, folder, sweep)
    bd_rows = rows if len(rows) <= MAX_BREAKDOWNS else rows[front[rows]][:MAX_BREAKDOWNS]
    page_index = {int(r): i for i, r in enumerate(rows)}
    breakdown = None
    if model is not None and len(bd_rows):
        breakdown = {"rows": [page_index[int(r)] for r in bd_rows],
                     "units": PHASE_UNITS, **_breakdown_block(df, bd_rows, model, scenario)}
    feas_rows = np.flatnonzero(feas[rows])
    pc = feas_rows
    if len(pc) > MAX_PARCOORDS:  # front designs first, then a fixed random sample of the other feasible ones
        on_front = pc[front[rows][pc]][:MAX_PARCOORDS]
        others = pc[~front[rows][pc]]
        take = np.random.default_rng(1).choice(others, MAX_PARCOORDS - len(on_front), replace=False)
        pc = np.sort(np.concatenate([on_front, take]))
    n, n_feas, n_front = len(df), int(feas.sum()), int(front.sum())
    if totals is not None:
        n, n_feas = int(totals[0]), int(totals[1])
    baseline = None
    base_rec = rec.get("baseline")
    if isinstance(base_rec, Mapping) and isinstance(base_rec.get("metrics"), Mapping):
        from .plots import baseline_reference

        label, values = baseline_reference(base_rec)
        baseline = {"label": label, "metrics": {k: float(v) for k, v in values.items() if k in BY_NAME}}
    return {
        "title": str(rec.get("name", folder.name)),
        "generator": f"cimdse {__version__} report",
        "header": header(rec, n, n_feas, n_front),
        "objectives": objectives,
        "constraints": [str(c) for c in rec.get("constraints") or []],
        "metrics": [{"name": m, "unit": BY_NAME[m].unit, "direction": BY_NAME[m].direction, "doc": BY_NAME[m].doc}
                    for m in metrics],
        "hover_metrics": [m for m in HOVER_METRICS if m in metrics],
        "params": params,
        "counts": {"trials": n, "feasible": n_feas, "front": n_front, "shown": len(rows),
                   "shown_feasible": int(feas[rows].sum()), "shown_front": int(front[rows].sum()),
                   "parcoords": len(pc), "sampled": bool(len(rows) < n)},
        "columns": cols,
        "violations": violations,
        "constant": const,
        "workload": {"model": str(rec.get("model")), **{k: v for k, v in (rec.get("scenario") or {}).items()}},
        "parcoords": [int(i) for i in pc],
        "breakdown": breakdown,
        "breakdown_note": why if model is None else (
            "" if len(bd_rows) == len(rows) else f"breakdowns are included for the {len(bd_rows):,} front designs "
                                                 f"only (of {len(rows):,} trials in the page)"),
        "baseline": baseline,
        "history": history(df, objectives),
        "importance": importances(df, objectives, space, importance),
        "sampler": str((rec.get("search") or {}).get("sampler", "")),
        "verify": verify_block(folder, rec, objectives),
    }


# ------------------------------------------------------------------------------------------------ the page

def _json_for_script(data) -> str:
    """JSON that is safe inside a <script> element (no '</' sequence can close it)."""
    return json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")


def render_report(data: Mapping) -> str:
    """The HTML page: the frame (data/report.html) with plotly.js, the data and the page script inlined."""
    import html
    import re
    import warnings

    with warnings.catch_warnings():   # importing plotly.offline adds a process-wide warning filter: undo it
        from plotly.offline import get_plotlyjs

    pkg = resources.files("cimdse") / "data"
    frame = (pkg / "report.html").read_text(encoding="utf-8")
    script = (pkg / "report.js").read_text(encoding="utf-8")
    parts = {"{{TITLE}}": html.escape(f"cimdse report: {data['title']}"), "{{PLOTLY_JS}}": get_plotlyjs(),
             "{{DATA_JSON}}": _json_for_script(data), "{{REPORT_JS}}": script}
    pieces = re.split(r"(\{\{[A-Z_]+\}\})", frame)  # placeholders found in the frame only, never in what fills them
    missing = set(parts) - set(pieces)
    if missing:
        raise RuntimeError(f"report template lacks {', '.join(sorted(missing))}")
    return "".join(parts.get(p, p) for p in pieces)


def write_report(run_dir: str | Path, out: str | Path | None = None, trials=None, sweep=None,
                 totals: tuple[int, int] | None = None,
                 importance: Mapping[str, Mapping[str, float]] | None = None) -> Path:
    """Write the run's report (RUN_DIR/report.html unless `out`) atomically; returns its path. `trials`, `sweep`,
    `totals` and `importance`: what the sweep has at hand (`report_data`)."""
    from .results import atomic_write

    if not Path(run_dir).is_dir():
        raise UserError("no such folder; expected a run folder written by cimdse sweep (trials.csv, run.yaml)",
                        file=str(run_dir))
    path = Path(out) if out is not None else Path(run_dir) / REPORT_FILE
    if not path.parent.is_dir():
        raise UserError("folder does not exist", file=str(path.parent), key="--out")
    text = render_report(report_data(run_dir, trials=trials, sweep=sweep, totals=totals, importance=importance))
    atomic_write(path, text)
    return path
