"""Reading and validating user files (YAML designs and sweeps). The only module that knows file formats."""

from __future__ import annotations

from pathlib import Path

import yaml

from .errors import UserError, unknown

WORKLOAD_KEYS = ("model", "batch", "prompt_tokens", "generate_tokens", "weight_bits", "act_bits", "kv_bits")


def load_yaml(path: str | Path) -> dict:
    """Parse a YAML mapping; every failure becomes a one-line UserError naming the file."""
    where = str(path)
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError("file not found", file=where) from None
    except IsADirectoryError:
        raise UserError("is a directory; expected a YAML file", file=where) from None
    except UnicodeDecodeError:
        raise UserError("not UTF-8 text; expected a YAML file", file=where) from None
    except OSError as exc:
        raise UserError(f"cannot read file ({exc.strerror})", file=where) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise UserError(f"YAML syntax error{at}: {problem}", file=where) from None
    if data is None:
        raise UserError("file is empty; expected a YAML mapping", file=where)
    if not isinstance(data, dict):
        raise UserError(f"expected a YAML mapping at the top level, got {type(data).__name__}", file=where)
    bad = [k for k in data if not isinstance(k, str)]
    if bad:
        raise UserError(f"keys must be strings, got {bad[0]!r}", file=where)
    return data


def check_keys(d: dict, allowed, where: str, prefix: str = "") -> None:
    """Reject unknown keys with a did-you-mean suggestion."""
    for k in d:
        if k not in allowed:
            raise UserError(unknown("key", k, allowed), file=where, key=prefix + str(k))


def load_workload(d: dict, where: str, prefix: str = "workload."):
    """A (ModelConfig, Scenario) from a `workload:` mapping."""
    from .workload import Scenario, load_model

    if not isinstance(d, dict):
        raise UserError("expected a mapping", file=where, key=prefix.rstrip("."))
    check_keys(d, WORKLOAD_KEYS, where, prefix)
    spec = d.get("model", "llama-2-7b")
    if not isinstance(spec, str):
        raise UserError(f"expected a preset name or config.json path, got {spec!r}", file=where, key=prefix + "model")
    if spec.endswith(".json") and not Path(spec).is_absolute():
        spec = str(Path(where).parent / spec) if (Path(where).parent / spec).exists() else spec
    try:
        model = load_model(spec)
    except UserError as err:
        raise (err if err.file else err.at(file=where, key=prefix + "model")) from None
    kw = {k: d[k] for k in WORKLOAD_KEYS if k in d and k != "model"}
    try:
        sc = Scenario(**kw)
    except UserError as err:
        raise err.at(file=where, key=prefix + (err.key or "")) from None
    if model.arch == "encoder" and sc.generate_tokens:
        sc = Scenario(**{**sc.to_dict(), "generate_tokens": 0})
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
        return design, data.get("workload")
    return load_design(data, where, prefix=""), None
