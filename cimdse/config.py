"""Reading and validating user files (YAML designs and sweeps). The only module that knows file formats."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from .config_search import MAX_EXHAUSTIVE, MAX_GRID, SAMPLERS, SEARCH_KEYS, Search, load_search  # noqa: F401 (re-exported)
from .errors import UserError, check_keys, number_hint, shown, unknown  # noqa: F401 (check_keys re-exported)
from .yamlio import load_yaml  # noqa: F401 (re-exported: every reader of user files calls it)

WORKLOAD_KEYS = ("model", "batch", "prompt_tokens", "generate_tokens", "weight_bits", "act_bits", "kv_bits")


def load_workload(d: dict, where: str, prefix: str = "workload."):
    """A (ModelConfig, Scenario) from a `workload:` mapping."""
    from .models import load_model
    from .workload import Scenario, check_context, fit_scenario

    if not isinstance(d, dict):
        raise UserError("expected a mapping", file=where, key=prefix.rstrip("."))
    check_keys(d, WORKLOAD_KEYS, where, prefix)
    spec = d.get("model", "llama-2-7b")
    if not isinstance(spec, str):
        raise UserError(f"expected a preset name or config.json path, got {shown(spec)}", file=where, key=prefix + "model")
    if spec.endswith(".json") and not Path(spec).is_absolute():
        spec = str(Path(where).parent / spec) if (Path(where).parent / spec).exists() else spec
    try:
        model = load_model(spec)
    except UserError as err:  # a config.json's own error is quoted after the key that names it
        if err.file:
            raise UserError(err.render(), file=where, key=prefix + "model") from None
        raise UserError(err.detail, file=where, key=prefix + "model") from None
    kw = {k: d[k] for k in WORKLOAD_KEYS if k in d and k != "model"}
    try:
        sc = Scenario(**kw)
    except UserError as err:
        raise UserError(err.detail, file=where, key=prefix + (err.key or "")) from None
    sc = fit_scenario(model, sc)
    try:
        check_context(model, sc)
    except UserError as err:
        raise UserError(err.detail, file=where, key=prefix + (err.key or "")) from None
    return model, sc


def load_design(d: dict, where: str, prefix: str = "design.") -> dict:
    """Validated design parameters from a mapping (unknown keys and bad values are errors)."""
    from .cost.params import check_value

    if not isinstance(d, dict):
        raise UserError("expected a mapping of design parameters", file=where, key=prefix.rstrip("."))
    out = {}
    for k, v in d.items():
        try:
            out[k] = check_value(k, v)
        except UserError as err:
            raise UserError(err.detail, file=where, key=prefix + str(k)) from None
    return out


def load_design_file(path: str | Path) -> tuple[dict, dict | None]:
    """A design file: either {design: {...}, workload: {...}} or a flat mapping of design parameters."""
    where = str(path)
    data = load_yaml(path)
    if "design" in data or "workload" in data:
        check_keys(data, ("design", "workload", "name", "notes"), where)
        design = load_design(data.get("design") or {}, where)
        wl = data.get("workload")
        if wl is not None and not isinstance(wl, dict):
            raise UserError(f"expected a mapping of workload keys ({', '.join(WORKLOAD_KEYS)}), got {shown(wl)}",
                            file=where, key="workload")
        return design, wl
    return load_design(data, where, prefix=""), None


# ------------------------------------------------------------------------------------------------ sweeps

SWEEP_KEYS = ("name", "base", "workload", "space", "fixed", "objectives", "constraints", "search", "notes", "baseline",
              "tech", "uncertainty")
CONSTRAINT_OPS = ("<=", ">=", "==", "<", ">")


@dataclass(frozen=True)
class Dimension:
    """One searched parameter: a list of choices, or a numeric range {low, high, step?, log?}."""

    name: str
    choices: tuple = ()
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    is_int: bool = False

    @property
    def n_values(self) -> int | None:
        """How many values a discrete dimension has (without listing them), else None."""
        if self.choices:
            return len(self.choices)
        if self.is_int and self.step is None:
            return int(self.high) - int(self.low) + 1
        if self.step is None or self.log:
            return None
        return int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1

    @property
    def discrete_values(self) -> tuple | None:
        """All values when the dimension is discrete (choices, or an int/stepped range), else None."""
        if self.choices:
            return self.choices
        if self.is_int and self.step is None:
            return tuple(range(int(self.low), int(self.high) + 1))
        if self.step is None or self.log:
            return None
        n = self.n_values  # floor: the last value never passes high
        return tuple((int(v) if self.is_int else v) for v in (self.low + i * self.step for i in range(n)))


@dataclass(frozen=True)
class Constraint:
    """`metric op bound`; violation > 0 when broken (relative to the bound's scale)."""

    metric: str                # a metric, or an expression's normalized text (its column in trials.csv)
    op: str
    bound: float
    text: str
    expr: object = None        # cimdse.expr.Expr when the left side is arithmetic, else None


@dataclass(frozen=True)
class Sweep:
    """A validated sweep file."""

    name: str
    path: str
    model: object
    scenario: object
    workload: dict
    space: tuple
    fixed: dict
    objectives: tuple          # ((metric, "minimize"|"maximize"), ...)
    constraints: tuple
    search: Search
    raw: dict = field(default_factory=dict, compare=False)
    baseline: dict | None = None  # {"gpu": name, "gpus": n} when the sweep compares against a GPU
    expressions: tuple = ()       # cimdse.expr.Expr of the objectives and constraints that are arithmetic
    tech: object = field(default=None, compare=False)   # cimdse.tech.Tech of the `tech:` file or --tech (None: the shipped data)
    uncertainty: bool = False     # p10/p90 columns in pareto.csv (cost/uncertainty.py)


def _baseline(spec, where: str, model, sc) -> dict:
    """The `baseline: {gpu: NAME, gpus: N}` mapping, checked: a known GPU, and enough of them to hold the model."""
    from .cost.gpu import MAX_GPUS, get_gpu, min_gpus

    if not isinstance(spec, dict):
        raise UserError("expected a mapping like {gpu: h100-sxm, gpus: 1}", file=where, key="baseline")
    check_keys(spec, ("gpu", "gpus"), where, "baseline.")
    if "gpu" not in spec:
        raise UserError("missing; name a GPU from `cimdse gpus`", file=where, key="baseline.gpu")
    name = spec["gpu"]
    if not isinstance(name, str):
        raise UserError(f"expected a GPU name, got {name!r}", file=where, key="baseline.gpu")
    try:
        gpu = get_gpu(name)
    except UserError as err:
        raise UserError(err.detail, file=where, key="baseline.gpu") from None
    name = gpu.name  # an alias (`h100`) is recorded as the entry it stands for (`h100-sxm`)
    needed = min_gpus(gpu, model, sc)
    n = spec.get("gpus")
    if n is None:
        if needed > MAX_GPUS:
            raise UserError(f"{model.name} does not fit on {MAX_GPUS} x {name}", file=where, key="baseline.gpu")
        return {"gpu": name, "gpus": needed}
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_GPUS:
        raise UserError(f"expected an integer in [1, {MAX_GPUS}], got {n!r}", file=where, key="baseline.gpus")
    if n < needed:
        raise UserError(f"{model.name} with this workload needs at least {needed} x {name} to hold weights and KV "
                        f"cache; got {n} (omit gpus to use the fewest that fit)", file=where, key="baseline.gpus")
    return {"gpu": name, "gpus": n}


def _number(v, where, key, integer=False):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise UserError(f"expected a number, got {shown(v)}{number_hint(v)}", file=where, key=key)
    try:
        f = float(v)
    except OverflowError:
        raise UserError(f"expected a finite number, got {shown(v)}", file=where, key=key) from None
    if not math.isfinite(f):
        raise UserError(f"expected a finite number, got {shown(v)}", file=where, key=key)
    if integer and not f.is_integer():
        raise UserError(f"expected an integer, got {shown(v)}", file=where, key=key)
    return v


def _dimension(name: str, spec, where: str) -> Dimension:
    from .cost.params import FLOORS, NOT_SEARCHABLE, PARAMS, check_value

    key = f"space.{name}"
    if name not in PARAMS:
        raise UserError(unknown("design parameter", name, PARAMS), file=where, key=key)
    if name in NOT_SEARCHABLE:
        raise UserError(f"{name} is {NOT_SEARCHABLE[name]}, not a design choice; set it under fixed: (one sweep per "
                        "value to compare several)", file=where, key=key)
    p = PARAMS[name]
    if isinstance(spec, list):
        if not spec:
            raise UserError("empty list of choices; expected at least one value", file=where, key=key)
        vals = []
        for v in spec:
            try:
                cv = check_value(name, v)
            except UserError as err:
                raise UserError(err.detail, file=where, key=key) from None
            vals.append(cv if p.kind == "cat" else (int(cv) if p.kind == "int" else float(cv)))
        if len(set(vals)) != len(vals):
            raise UserError("duplicate choices", file=where, key=key)
        return Dimension(name, choices=tuple(vals))
    if isinstance(spec, dict):
        if p.kind == "cat":
            raise UserError(f"a categorical parameter needs a list of choices from {', '.join(p.choices)}",
                            file=where, key=key)
        check_keys(spec, ("low", "high", "step", "log"), where, key + ".")
        for k in ("low", "high"):
            if k not in spec:
                raise UserError("missing; a range needs low and high", file=where, key=f"{key}.{k}")
        lo = _number(spec["low"], where, f"{key}.low", p.kind == "int")
        hi = _number(spec["high"], where, f"{key}.high", p.kind == "int")
        for k, v in (("low", lo), ("high", hi)):
            try:
                check_value(name, v)
            except UserError as err:
                raise UserError(err.detail, file=where, key=f"{key}.{k}") from None
        if lo > hi:
            raise UserError(f"low ({lo}) is greater than high ({hi})", file=where, key=key)
        if name in FLOORS and lo < FLOORS[name].value:  # 0 (the default) is valid, (0, floor) is not
            f = FLOORS[name]
            raise UserError(f"a {name} range must start at {f.value:g} {f.unit} or above; give 0 (the default) "
                            "as a choice instead", file=where, key=f"{key}.low")
        step = spec.get("step")
        if step is not None:
            step = _number(step, where, f"{key}.step", p.kind == "int")
            if step <= 0:
                raise UserError("step must be positive", file=where, key=f"{key}.step")
        log = spec.get("log", False)
        if not isinstance(log, bool):
            raise UserError(f"expected true or false, got {shown(log)}", file=where, key=f"{key}.log")
        if log and lo <= 0:
            raise UserError("a log range needs low > 0", file=where, key=f"{key}.low")
        if log and step is not None:
            raise UserError("step and log cannot be combined", file=where, key=key)
        return Dimension(name, low=lo, high=hi, step=step, log=log, is_int=p.kind == "int")
    raise UserError(f"expected a list of choices or a range {{low, high}}, got {shown(spec)}", file=where, key=key)


def expression_names(metrics: tuple) -> tuple:
    """Names an expression may read: the metrics, then the numeric design parameters."""
    from .cost.params import PARAMS

    return (*metrics, *(k for k, p in PARAMS.items() if p.kind != "cat"))


def _expression(text: str, metrics: tuple, where: str, key: str):
    """A constraint's or objective's left side: a metric name, or arithmetic over metric and parameter names."""
    from .expr import ExprError, parse_expr

    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text.strip()) and text.strip() not in expression_names(metrics):
        raise UserError(unknown("metric", text.strip(), metrics), file=where, key=key)
    try:
        return parse_expr(text, expression_names(metrics))
    except ExprError as err:
        raise UserError(str(err), file=where, key=key) from None


def _constraint(text, where: str, i: int, metrics: tuple | None = None) -> Constraint:
    from .metrics import METRICS

    allowed = metrics or METRICS  # a sweep with a baseline adds its comparison columns
    key = f"constraints[{i}]"
    if not isinstance(text, str):
        raise UserError(f"expected a string like 'area_mm2 <= 800', got {shown(text)}", file=where, key=key)
    m = re.fullmatch(r"\s*(.+?)\s*(<=|>=|==|<|>)\s*([-+0-9.eE]+)\s*", text)
    unit = re.fullmatch(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|==|<|>)\s*([-+0-9.eE]+)\s*([A-Za-z/^%][\w/^%]*)\s*",
                        text)
    if not m and unit:  # 'sqnr_db >= 20 dB': the unit is already in the metric's name
        metric, op, num, u = unit.groups()
        raise UserError(f"cannot parse '{text}': drop the unit '{u}' (the metric's name carries it); write "
                        f"'{metric} {op} {num}'", file=where, key=key)
    if not m:
        raise UserError(f"cannot parse '{text}'; expected 'metric <= number' or 'expression <= number' "
                        "(ops: <=, >=, ==, <, >; e.g. 'area_mm2 / chips_used <= 800')", file=where, key=key)
    lhs, op, num = m.groups()
    expr = _expression(lhs, allowed, where, key)
    try:
        bound = float(num)
    except ValueError:
        raise UserError(f"'{num}' is not a number", file=where, key=key) from None
    if not math.isfinite(bound):
        raise UserError(f"bound must be finite, got {num}", file=where, key=key)
    return Constraint(expr.text, op, bound, text.strip(), None if expr.is_name else expr)


def _contradictory(constraints: tuple) -> str | None:
    """A message when two constraints on one metric cannot both hold."""
    lo: dict[str, tuple[float, bool, str]] = {}
    hi: dict[str, tuple[float, bool, str]] = {}
    for c in constraints:
        if c.op in (">=", ">", "=="):
            cur = lo.get(c.metric)
            if cur is None or c.bound > cur[0]:
                lo[c.metric] = (c.bound, c.op == ">", c.text)
        if c.op in ("<=", "<", "=="):
            cur = hi.get(c.metric)
            if cur is None or c.bound < cur[0]:
                hi[c.metric] = (c.bound, c.op == "<", c.text)
    for metric in set(lo) & set(hi):
        (a, sa, ta), (b, sb, tb) = lo[metric], hi[metric]
        if a > b or (a == b and (sa or sb)):
            return f"constraints '{ta}' and '{tb}' contradict each other"
    return None


def _always_conflicting(space: tuple, fixed: dict, scenario, where: str, tech=None) -> None:
    """Raise when a rule between two parameters (params.conflict_masks) breaks for every design of the space.

    Only the parameters a rule involves vary: their choices, or the ends of their ranges (every rule is a
    comparison, so the ends decide), with the rest at the fixed values and defaults.
    """
    import itertools

    from .cost.params import (
        CONFLICT_KEYS,
        CONFLICT_TEXTS,
        PARAMS,
        conflict_masks,
        scenario_defaults,
        to_batch,
    )

    base = {**scenario_defaults(scenario), **fixed}
    dims = {d.name: d for d in space}
    for i, (reason, keys) in enumerate(zip(CONFLICT_TEXTS[1:], CONFLICT_KEYS[1:], strict=True)):
        options = [list(dims[k].choices) if k in dims and dims[k].choices else
                   [dims[k].low, dims[k].high] if k in dims else [base[k]] for k in keys]
        designs = [{**base, **dict(zip(keys, combo, strict=True))} for combo in itertools.product(*options)]
        mask = conflict_masks(to_batch(designs, tech), tech)[i]
        if mask.all():
            key = next((f"fixed.{k}" for k in keys if k in fixed), None) or next(
                (f"space.{k}" for k in keys if k in dims), keys[0])
            held = ", ".join((f"{k}={base[k]:g}" if PARAMS[k].kind != "cat" else f"{k}={base[k]}")
                             + ("" if k in fixed else " by default") for k in keys if k not in dims)
            raise UserError(f"every design would be infeasible: {reason}" + (f" ({held})" if held else ""),
                            file=where, key=key)


def reference_path(spec: str | Path) -> Path | None:
    """The reference file a name (`isaac`) or a path (YAML with `system` and `published`) stands for, else None; a
    bare name that is neither a file nor a reference is a UserError naming the closest references."""
    from importlib import resources

    p = Path(spec)
    if not p.exists() and p.suffix == "" and "/" not in str(spec):
        folder = Path(str(resources.files("cimdse.reference")))
        if (folder / f"{spec}.yaml").is_file():
            return folder / f"{spec}.yaml"
        names = sorted(q.stem for q in folder.glob("*.yaml") if not q.name.startswith("_"))
        raise UserError("not found; " + unknown("reference", str(spec), names) + ", or a design file", file=str(spec))
    if p.is_file() and p.suffix.lower() in (".yaml", ".yml"):
        data = load_yaml(p)
        if "system" in data and "published" in data:
            return p
    return None


def _base(spec, where: str) -> tuple[dict, dict]:
    """(design, workload) of a sweep's `base:`, a reference name or file path (relative to the sweep file)."""
    if not isinstance(spec, str) or not spec.strip():
        raise UserError(f"expected a reference name (cimdse validate lists them) or a reference file, got "
                        f"{shown(spec)}", file=where, key="base")
    p = Path(spec)
    if not p.is_absolute() and ("/" in spec or p.suffix) and not p.exists():
        p = Path(where).parent / p          # a path relative to the sweep file
    try:
        path = reference_path(p if p.exists() else spec)
    except UserError as err:
        raise UserError(err.detail, file=where, key="base") from None
    if path is None:
        raise UserError(f"'{spec}' is not a reference (a file with system: and published:)", file=where, key="base")
    data = load_yaml(path)
    if not isinstance(data.get("workload"), dict):
        raise UserError("expected a mapping of workload keys", file=str(path), key="workload")
    return load_design(data.get("design") or {}, str(path)), dict(data["workload"])


def load_sweep(path: str | Path, overrides: dict | None = None) -> Sweep:
    """Read and validate a sweep file; `overrides` (from the command line) replace `search` keys, `tech` (a
    technology file) the sweep's `tech:`, and `batch` the workload's batch (the run is then named NAME-bBATCH)."""
    from .metrics import METRICS
    from .tech.override import sweep_tech

    where = str(path)
    data = load_yaml(path)
    check_keys(data, SWEEP_KEYS, where)
    overrides = dict(overrides or {})
    tech = sweep_tech(data.get("tech"), overrides.pop("tech", None), where)
    if not isinstance(data.get("uncertainty", False), bool):
        raise UserError(f"expected true or false, got {shown(data['uncertainty'])}", file=where, key="uncertainty")
    name = data.get("name", Path(where).stem)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", name):
        raise UserError(f"expected a name of letters, digits, '.', '_' or '-' (at most 100), got {shown(name)}",
                        file=where, key="name")
    batch = overrides.pop("batch", None)
    if batch is not None:   # one sweep file, one run per batch (`cimdse sweep FILE --batch N`)
        data = {**data, "name": f"{name}-b{batch}", "workload": {**(data.get("workload") or {}), "batch": batch}}
        name = data["name"]
    base = _base(data["base"], where) if data.get("base") is not None else None
    if "workload" not in data and base is not None:   # the published chip's workload unless the sweep names one
        data = {**data, "workload": base[1]}
    model, sc = load_workload(data.get("workload") or {}, where)
    space_raw = data.get("space")
    if not isinstance(space_raw, dict) or not space_raw:
        raise UserError("expected a non-empty mapping of parameters to search", file=where, key="space")
    space = tuple(_dimension(str(k), v, where) for k, v in space_raw.items())
    fixed_raw = data.get("fixed") or {}
    fixed = load_design(fixed_raw, where, prefix="fixed.")
    both = set(fixed) & set(space_raw)
    if both:
        k = sorted(both)[0]
        raise UserError("appears in both space and fixed", file=where, key=f"fixed.{k}")
    if base is not None:   # the base design, overridden by `fixed` and by the searched parameters
        fixed = {**{k: v for k, v in base[0].items() if k not in space_raw}, **fixed}
    _always_conflicting(space, fixed, sc, where, tech)
    baseline = _baseline(data["baseline"], where, model, sc) if data.get("baseline") is not None else None
    from .metrics import BASELINE_METRICS

    allowed = (*METRICS, *BASELINE_METRICS) if baseline else METRICS
    obj_raw = data.get("objectives")
    if not isinstance(obj_raw, dict) or not obj_raw:
        raise UserError("expected a mapping of metric: minimize|maximize", file=where, key="objectives")
    objectives = []
    exprs: dict = {}
    for k, v in obj_raw.items():
        e = _expression(str(k), allowed, where, f"objectives.{k}")
        if v not in ("minimize", "maximize"):
            raise UserError(f"expected minimize or maximize, got {shown(v)}", file=where, key=f"objectives.{k}")
        if any(e.text == o for o, _ in objectives):
            raise UserError(f"the same objective as '{e.text}' above", file=where, key=f"objectives.{k}")
        if not e.is_name:
            exprs[e.text] = e
        objectives.append((e.text, v))
    cons_raw = data.get("constraints") or []
    if not isinstance(cons_raw, list):
        raise UserError("expected a list of strings like 'area_mm2 <= 800'", file=where, key="constraints")
    constraints = tuple(_constraint(c, where, i, allowed) for i, c in enumerate(cons_raw))
    exprs.update({c.metric: c.expr for c in constraints if c.expr is not None})
    clash = _contradictory(constraints)
    if clash:
        raise UserError(clash, file=where, key="constraints")
    search = load_search(data.get("search"), overrides, space, where)
    return Sweep(name=name, path=where, model=model, scenario=sc, workload=dict(data.get("workload") or {}),
                 space=space, fixed=fixed, objectives=tuple(objectives), constraints=constraints,
                 search=search, raw=data,
                 baseline=baseline, expressions=tuple(exprs.values()), tech=tech,
                 uncertainty=bool(data.get("uncertainty", False)))
