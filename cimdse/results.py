"""Writing a run's outputs: trials.csv, pareto.csv, run.yaml. Files are written to a temporary name and renamed."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import Sweep
from .cost.params import PARAMS
from .metrics import BASELINE_METRICS, DIRECTIONS, METRICS
from .pareto import pareto_mask, pareto_order
from .search.scoring import sweep_baseline

RUN_FILE = "run.yaml"


def atomic_write(path: Path, text: str) -> None:
    """Write text to path via a temporary file and a rename, so readers never see half a file."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def trials_frame(scored, numbers: np.ndarray | None = None):
    """One row per design: trial number, every parameter, every metric, feasible, violation."""
    import pandas as pd

    return pd.DataFrame(trials_columns(scored, numbers))


def trials_columns(scored, numbers: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The columns of `trials_frame` as numpy arrays, in order (a streamed chunk builds pandas rows only for the
    rows it keeps)."""
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
    for k in getattr(scored, "derived", ()):  # the sweep's expressions, each a column named after its text
        cols[k] = np.asarray(scored.metrics[k], dtype=float)
    cols["feasible"] = scored.feasible
    cols["violation"] = scored.violation_text
    if getattr(scored, "origin", None) is not None:  # a screened run: "screen" or "sampler" per trial
        cols["origin"] = scored.origin
    return cols


FOUND_IN = "found_in_trials"
EQUAL_DESIGNS = "equal_designs"
VARYING = "varying_params"


def front_frame(df, objectives):
    """The Pareto front: the non-dominated feasible rows for the objectives, sorted by the first objective, each
    distinct design once (`distinct_designs`), designs with equal objective values in one row (`group_equal`)."""
    feas = df[df["feasible"]]
    if feas.empty:
        return feas
    values = feas[[k for k, _ in objectives]].to_numpy(dtype=float)
    order = pareto_order(values, [d for _, d in objectives])
    return group_equal(distinct_designs(feas.iloc[order]), objectives)


def group_equal(front, objectives):
    """One row per set of designs whose objective values are all equal as pareto.csv writes them (10 significant
    digits): the first such row in the front's order, with column `equal_designs` (how many distinct designs share
    these values), `varying_params` (the parameters whose values differ among them, space-separated; empty for
    one design) and `found_in_trials` (every trial of all of them, ascending). On a discrete space many designs
    differ only in parameters that change no objective; listing each would fill the front with copies."""
    keys = [c for c in PARAMS if c in front.columns]
    if not len(front) or FOUND_IN not in front.columns:
        return front
    values = np.column_stack([round_significant(front[k].to_numpy(dtype=float)) for k, _ in objectives])
    _, group = np.unique(values, axis=0, return_inverse=True)
    group = np.asarray(group).reshape(-1)
    first = np.unique(group, return_index=True)[1]            # each group's first row in the front's order
    lead = np.sort(first)
    out = front.iloc[lead].copy()
    by = np.argsort(group, kind="stable")                    # rows by group, in the front's order within one
    split = np.split(by, np.flatnonzero(np.diff(group[by])) + 1)
    members = [split[group[i]] for i in lead]
    found = front[FOUND_IN].to_numpy()
    out[EQUAL_DESIGNS] = [len(m) for m in members]
    out[VARYING] = [" ".join(k for k in keys if front[k].iloc[m].nunique(dropna=False) > 1) if len(m) > 1 else ""
                    for m in members]
    out[FOUND_IN] = [found[m[0]] if len(m) == 1 else
                     " ".join(map(str, sorted(int(t) for i in m for t in str(found[i]).split()))) for m in members]
    return out


def distinct_designs(front):
    """Each distinct design of a front once: the row of the first trial that found it, in the front's order, with
    column `found_in_trials` listing every trial that found it (ascending, space-separated). A sampler may ask
    the same design again (a discrete space, a converged search); the copies have the same metrics, so all
    are non-dominated, and a front of 882 rows held 6 designs. A design is its values of every parameter column;
    a table without parameter or trial columns is returned as it is."""
    keys = [c for c in PARAMS if c in front.columns]
    if not len(front) or not keys or "trial" not in front.columns:
        return front
    group = front.groupby(keys, sort=False, dropna=False).ngroup().to_numpy()
    trial = front["trial"].to_numpy()
    by = np.lexsort((trial, group))                     # rows by design, then trial
    starts = np.r_[True, group[by][1:] != group[by][:-1]]
    first = by[starts]                                  # each design's row of its lowest trial
    found = np.split(trial[by], np.flatnonzero(starts)[1:])
    seen = np.full(group.max() + 1, len(front))
    np.minimum.at(seen, group, np.arange(len(front)))  # where each design first appears in the front's order
    keep = np.argsort(seen[group[first]], kind="stable")
    out = front.iloc[first[keep]].copy()
    out[FOUND_IN] = [" ".join(str(int(t)) for t in found[i]) for i in keep]
    return out


def pareto_front(df, objectives):
    """The Pareto front of a results table, for notebooks: `objectives` is {metric: "minimize"|"maximize"} or a
    list of (metric, direction) pairs; rows with feasible == False are left out when the column exists."""
    import pandas as pd

    from .errors import UserError

    pairs = list(objectives.items()) if isinstance(objectives, dict) else [tuple(o) for o in objectives]
    for metric, direction in pairs:
        if metric not in df.columns:
            raise UserError(f"no column {metric!r} in the table", key=metric)
        if direction not in ("minimize", "maximize"):
            raise UserError(f"expected 'minimize' or 'maximize', got {direction!r}", key=metric)
    table = df if "feasible" in df.columns else df.assign(feasible=True)
    front = front_frame(table, pairs)
    return front if "feasible" in df.columns else pd.DataFrame(front.drop(columns="feasible"))


def front_mask(df, objectives) -> np.ndarray:
    """Boolean mask over df of the feasible non-dominated rows."""
    mask = np.zeros(len(df), dtype=bool)
    feas = df["feasible"].to_numpy(dtype=bool)
    if feas.any():
        values = df.loc[feas, [k for k, _ in objectives]].to_numpy(dtype=float)
        mask[np.flatnonzero(feas)] = pareto_mask(values, [d for _, d in objectives])
    return mask


CSV_SIGNIFICANT_DIGITS = 10
_POW10 = np.array([float(10**i) for i in range(301)])  # 10^0 .. 10^300, each the float nearest the exact power


def round_significant(x: np.ndarray, digits: int = CSV_SIGNIFICANT_DIGITS) -> np.ndarray:
    """x rounded to `digits` significant decimal digits (vectorized); zeros and non-finite values unchanged."""
    x = np.asarray(x, dtype=float)
    ax = np.abs(x)
    ok = np.isfinite(x) & (ax > 0)
    k = digits - 1 - np.floor(np.log10(np.where(ok, ax, 1.0)))
    ok &= np.abs(k) <= 300           # subnormal or near-overflow values are left as they are
    k = np.where(ok, k, 0.0).astype(np.int64)
    # scale by a power of ten (exact for 0 <= k <= 22), dividing when k < 0; the powers come from a table of
    # correctly rounded floats, not numpy's power (off by an ulp for some k, e.g. 10.0 ** 299 in numpy 1.24)
    up = np.where(k >= 0, _POW10[np.maximum(k, 0)], 1.0)
    down = np.where(k < 0, _POW10[np.maximum(-k, 0)], 1.0)
    with np.errstate(over="ignore", invalid="ignore"):
        y = np.rint(x * up / down) * down / up
    return np.where(ok & np.isfinite(y), y, x)


def write_csv(df, path: Path) -> None:
    """Write a table as CSV, atomically: floats to 10 significant digits in their shortest form, integer-valued
    float columns as integers, booleans as true/false.

    polars' CSV writer (Rust, shortest round-trip float formatting) writes a million-row trials table in about
    2 s; pandas' to_csv with a float format took 25 s, most of a 1 M-design exhaustive sweep."""
    frame, _ = csv_frame(df)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(frame.clear().write_csv(line_terminator="\n").encode())
        write_csv_rows(frame, f)
    os.replace(tmp, path)


def write_csv_rows(frame, out) -> None:
    """frame's rows (no header) to the open binary file `out`: the bytes of polars' write_csv with its default
    quoting, written faster. A run of two or more columns that hold one value in every row (most of a trials
    table: the parameters a sweep does not search) is written as one literal column holding their text, so the
    writer formats it once instead of once per row (about 0.2 s of 0.4 s per 250,000-row chunk); the text
    columns left are quoted here as the default quoting would (when empty or holding a comma, a quote or a line
    break) and the rows written unquoted."""
    import polars as pl

    names = frame.columns
    if frame.height < 2 or not names:
        frame.write_csv(out, include_header=False, line_terminator="\n")
        return
    same = [_constant(frame.get_column(c)) for c in names]
    cols, i = [], 0
    while i < len(names):
        j = i + 1
        while same[i] and j < len(names) and same[j]:
            j += 1
        if j - i >= 2:   # columns i..j-1: their first row as the default quoting writes it, repeated
            text = frame.select(names[i:j]).head(1).write_csv(include_header=False, line_terminator="\n")
            cols.append(pl.repeat(text[:-1], frame.height, eager=True).alias(f"__same_{i}"))
        else:
            c = frame.get_column(names[i])
            cols.append(_quoted(c) if c.dtype == pl.String else c)
        i = j
    pl.DataFrame(cols).write_csv(out, include_header=False, line_terminator="\n", quote_style="never")


def _constant(s) -> bool:
    """Whether a polars Series holds one value in every row (floats compared bit for bit: -0.0 is not 0.0)."""
    import polars as pl

    if s.null_count():
        return False
    if s.dtype == pl.String:
        return bool((s == s[0]).all())
    return _one_value(s.to_numpy())


def _one_value(v: np.ndarray) -> bool:
    """Whether a non-empty numpy array holds one value in every row (floats bit for bit: -0.0 is not 0.0)."""
    if v.dtype.kind == "f":
        v = v.view(np.int64 if v.itemsize == 8 else np.int32)
    return bool((v == v[0]).all())


def _quoted(s):
    """A String Series with each value as polars' default CSV quoting writes it (quoted when empty or holding a
    comma, a double quote or a line break; quotes doubled)."""
    import polars as pl

    name = s.name
    e = pl.col(name)
    need = (e == "") | e.str.contains('[,"\r\n]')
    return pl.DataFrame([s]).select(
        pl.when(need).then(pl.lit('"') + e.str.replace_all('"', '""', literal=True) + pl.lit('"')).otherwise(e)
        .alias(name)).get_column(name)


def csv_frame(df, as_float: frozenset = frozenset(), codes: dict | None = None):
    """(polars DataFrame of `df` (a pandas DataFrame or a dict of numpy columns) as write_csv writes it, names of
    the float columns it writes as integers).

    A float column is written as integers when every value is finite, whole and below 2^53, unless named in
    `as_float` (a streamed table whose column is whole in this chunk but not in another). `codes`: {column: (codes,
    choices)} for text columns whose values are choices[codes] (a scored batch's categorical parameters): their
    text is gathered from the codes instead of hashing every row's string (same strings, same bytes)."""
    import polars as pl

    cols, whole = [], set()
    for name in (df if isinstance(df, dict) else df.columns):
        if codes and name in codes:
            at, choices = codes[name]
            cols.append(pl.Series(str(name), [str(c) for c in choices], dtype=pl.String).gather(np.asarray(at)))
            continue
        v = np.asarray(df[name]) if isinstance(df, dict) else df[name].to_numpy()
        if v.dtype.kind == "f":
            if len(v) > 1 and v.itemsize == 8 and _one_value(v):
                v = np.full(len(v), round_significant(v[:1])[0])   # one value in every row: rounded once
            else:
                v = round_significant(v)
            if name not in as_float and len(v) and np.all(np.isfinite(v)) and np.all(np.abs(v) < 2.0**53) \
                    and np.all(v == np.rint(v)):
                v = v.astype(np.int64)
                whole.add(str(name))
        elif v.dtype.kind == "O":
            cols.append(_text_series(str(name), v))
            continue
        cols.append(pl.Series(str(name), v))
    return pl.DataFrame(cols), frozenset(whole)


def _text_series(name: str, v: np.ndarray):
    """An object column as a polars String series holding str() of each value.

    Text columns (categorical parameters, infeasibility reasons, violated constraints) hold a few distinct
    strings: each distinct string is converted once and gathered by code, instead of converting every row
    (str() of each of 250,000 objects and polars' parsing of the numpy array took about 1 s per chunk of an
    exhaustive run). Same strings, same CSV bytes; a column with anything but strings takes the plain path."""
    import pandas as pd
    import polars as pl

    codes, uniques = pd.factorize(v)
    if len(codes) and codes.min() >= 0 and all(isinstance(u, str) for u in uniques):
        return pl.Series(name, np.asarray(uniques, dtype=object).astype(str)).gather(codes)
    return pl.Series(name, v.astype(str))


def sweep_fingerprint(sweep: Sweep) -> str:
    """A hash of what defines a run's study: the sweep file without its budget (trials, timeout, batch size),
    plus the sampler, seed, storage and study name in force (command-line overrides included)."""
    raw = {k: v for k, v in sweep.raw.items() if k not in ("search", "tech", "uncertainty")}
    if getattr(sweep, "tech", None) is not None:   # the technology file's content, wherever it came from
        raw["tech"] = sweep.tech.digest
    s = sweep.search
    raw["search"] = {"sampler": s.sampler, "seed": s.seed, "storage": s.storage, "study_name": s.study_name}
    if s.screen:  # screened designs are part of the study (absent otherwise: older fingerprints stay valid)
        raw["search"].update(screen=s.screen, screen_keep=s.screen_keep)
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
        "search": _search_record(sweep.search),
        **_tech_entries(sweep),
        "versions": versions,
        "command": " ".join(sys.argv),
        **(extra or {}),
    }


def _search_record(s) -> dict:
    """run.yaml's `search`: the settings in force, screening when used, and auto's choice and reason."""
    out = {k: getattr(s, k) for k in ("sampler", "trials", "timeout", "seed", "batch_size", "storage", "study_name")}
    if s.screen:
        out.update(screen=s.screen, screen_keep=s.screen_keep)
    if s.auto:
        out["auto"] = dict(s.auto)
    return out


def _tech_entries(sweep: Sweep) -> dict:
    """run.yaml's `tech` (the technology file: path, hash, overrides) and `uncertainty`, when the sweep has them."""
    from .tech.override import tech_record

    out = {}
    if getattr(sweep, "tech", None) is not None:
        out["tech"] = tech_record(sweep.tech)
    if getattr(sweep, "uncertainty", False):
        from .cost.uncertainty import PERCENTILES, SAMPLES, SEED

        out["uncertainty"] = {"samples": SAMPLES, "seed": SEED, "percentiles": list(PERCENTILES),
                              "columns": "pareto.csv <metric>_p10, <metric>_p90, feasible_share"}
    return out


def _baseline_record(sweep: Sweep) -> dict | None:
    """The sweep's GPU baseline and its metrics, for run.yaml (None without a baseline)."""
    base = sweep_baseline(sweep)
    if base is None:
        return None
    return {"gpu": base["gpu"], "gpus": base["gpus"], "precision": base["precision"], "metrics": base["metrics"]}


def write_run(run_dir: Path, record: dict) -> None:
    import yaml

    atomic_write(run_dir / RUN_FILE, yaml.safe_dump(record, sort_keys=False))


# ------------------------------------------------------------------------------------------------ reading a run

# Which way is better for each metric (cimdse/metrics.py), for axes that are not objectives of the run.
METRIC_DIRECTIONS: dict[str, str] = DIRECTIONS

TRIALS_FILE = "trials.csv"


def metric_direction(metric: str, objectives: dict | None = None) -> str:
    """The run's direction when `metric` is one of its objectives, else the metric's default direction."""
    if objectives and metric in objectives:
        return str(objectives[metric])
    return METRIC_DIRECTIONS.get(metric, "minimize")


def check_metric(metric: str, key: str) -> str:
    """`metric` if it is a known metric (a GPU-baseline ratio included), else a UserError with a did-you-mean."""
    from .errors import UserError, unknown

    known = (*METRICS, *BASELINE_METRICS)
    if metric not in known:
        raise UserError(unknown("metric", metric, known), key=key)
    return metric


@dataclass
class RunData:
    """A trials table read back from disk, with the run record (run.yaml) when the folder has one."""

    trials: object              # pandas DataFrame
    source: Path                # the trials.csv read
    folder: Path                # where it lives (outputs go here by default)
    record: dict | None         # run.yaml, or None for a bare trials.csv

    @property
    def objectives(self) -> dict:
        return dict((self.record or {}).get("objectives") or {})

    @property
    def searched(self) -> list[str]:
        """Parameters the run searched (run.yaml space), else every parameter column that varies."""
        space = (self.record or {}).get("space")
        if isinstance(space, dict) and space:
            return [k for k in space if k in PARAMS]
        df = self.trials
        return [k for k in PARAMS if k in df and df[k].nunique() > 1]

    def title(self) -> str:
        """'name: model, batch B, prompt P, generate G' from run.yaml, else the file's path."""
        rec = self.record or {}
        sc = rec.get("scenario") or {}
        if rec.get("model") and sc:
            return run_title(str(rec.get("name", self.folder.name)), str(rec["model"]), sc)
        return str(self.source)


def run_title(name: str, model: str, scenario: dict) -> str:
    """Figure title naming the run, model and scenario."""
    return (f"{name}: {model}, batch {scenario.get('batch')}, prompt {scenario.get('prompt_tokens')}, "
            f"generate {scenario.get('generate_tokens')}")


def load_run(path: str | Path) -> RunData:
    """Read RUN_DIR/trials.csv (or a trials.csv path) and the run.yaml beside it; UserError when unusable."""
    import pandas as pd
    import yaml

    from .errors import UserError

    p = Path(path)
    if not p.exists():
        raise UserError("no such file or folder; expected a run folder or a trials.csv", file=str(p))
    source = p / TRIALS_FILE if p.is_dir() else p
    if p.is_dir() and not source.exists():
        raise UserError(f"no {TRIALS_FILE} in this folder; expected a run folder written by cimdse sweep",
                        file=str(p))
    if source.suffix.lower() != ".csv":
        raise UserError("expected a run folder or a .csv file", file=str(p))
    try:
        df = pd.read_csv(source)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as err:
        raise UserError(f"cannot read as CSV ({str(err).splitlines()[0] if str(err) else type(err).__name__})",
                        file=str(source)) from None
    if df.empty:
        raise UserError("has no rows", file=str(source))
    record = None
    rec_path = source.parent / RUN_FILE
    if rec_path.exists():
        try:
            loaded = yaml.safe_load(rec_path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            loaded = None
        record = loaded if isinstance(loaded, dict) else None
    if "feasible" in df:
        feas = df["feasible"]
        if feas.dtype != bool:
            text = feas.astype(str).str.strip().str.lower()
            if not text.isin(["true", "false", "1", "0", "1.0", "0.0"]).all():
                raise UserError("column 'feasible' must hold True/False", file=str(source))
            df["feasible"] = text.isin(["true", "1", "1.0"])
    else:
        df["feasible"] = True  # a table without the column (e.g. an exported front) counts every row as feasible
    return RunData(df, source, source.parent, record)


def require_columns(run: RunData, columns: list[str]) -> None:
    """UserError naming the columns the table lacks, and the non-numeric metric columns among `columns`."""
    import pandas as pd

    from .errors import UserError

    df = run.trials
    missing = [c for c in dict.fromkeys(columns) if c not in df]
    if missing:
        raise UserError(f"lacks column{'s' if len(missing) > 1 else ''} {', '.join(missing)}; "
                        f"it has: {', '.join(map(str, df.columns[:12]))}{', ...' if len(df.columns) > 12 else ''}",
                        file=str(run.source))
    for c in dict.fromkeys(columns):
        if c in METRIC_DIRECTIONS:
            vals = pd.to_numeric(df[c], errors="coerce")
            if vals.isna().any():
                raise UserError(f"column {c} has {int(vals.isna().sum())} empty or non-numeric value(s)",
                                file=str(run.source))
            df[c] = vals.astype(float)
