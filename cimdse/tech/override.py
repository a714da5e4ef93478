"""A user's technology file (`--tech FILE`, sweep key `tech:`): any subset of the shipped data files, merged over
them. Checked against the shipped trees: an unknown key, a value of another type or shape, a different unit or a
non-positive value where the shipped one is positive is a one-line UserError naming the file and the key.

Layout (docs/MODEL.md "Technology file"): top-level keys are the data files' names without `.yaml` (SECTIONS;
`devices:` holds devices.yaml's device mappings directly); below them the shipped file's own keys. A constant is
either a plain value or a mapping {value, unit, source, note, low, high, band_source}, the shipped leaf layout.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

from ..errors import UserError, shown, unknown
from . import SECTIONS, Tech, build_tech, shipped_raw

LEAF_KEYS = ("value", "unit", "source", "note", "low", "high", "band_source")
FIXED = {("gpus", "measurements"): "published measurements of the GPU calibration, not constants"}
_CACHE: dict[str, Tech] = {}


def _is_leaf(node) -> bool:
    return isinstance(node, dict) and "value" in node and "source" in node


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def tech_from_file(path: str | Path) -> Tech:
    """The shipped technology with the file's overrides merged in (built once per distinct content)."""
    from ..yamlio import load_yaml

    where = str(path)
    return tech_from_overrides(load_yaml(path), where)


def tech_from_overrides(data, where: str, path: str | None = None) -> Tech:
    """The shipped technology with checked overrides (a technology file's content, or run.yaml's record of it);
    `where` names the file in messages, `path` (default: where) is the technology file recorded."""
    overrides = check_overrides(data, where)
    digest = tech_digest(overrides)
    path = path or where
    key = f"{digest}:{path}"
    if key not in _CACHE:
        if len(_CACHE) > 16:
            _CACHE.clear()
        _CACHE[key] = build_tech(merge(overrides, path), path=path, overrides=overrides, digest=digest)
    return _CACHE[key]


def sweep_tech(spec, cli: str | None, where: str) -> Tech | None:
    """A sweep's technology: --tech FILE (relative to the working folder) over the sweep's `tech: FILE` (relative
    to the sweep file); None for the shipped data."""
    if cli is not None:
        return tech_from_file(cli)
    if spec is None:
        return None
    if not isinstance(spec, str) or not spec.strip():
        raise UserError(f"expected the path of a technology file, got {shown(spec)}", file=where, key="tech")
    p = Path(spec)
    p = p if p.is_absolute() else Path(where).parent / p
    if not p.is_file():
        raise UserError(f"technology file {p} not found (a path relative to the sweep file)", file=where, key="tech")
    return tech_from_file(p)


def tech_record(tech: Tech) -> dict | None:
    """What run.yaml records of a technology file: its path, hash and overrides (None for the shipped data)."""
    if tech is None or tech.path is None:
        return None
    return {"path": tech.path, "digest": tech.digest, "overrides": tech.overrides}


def run_tech(run_dir: str | Path) -> Tech | None:
    """The technology a run was scored with, rebuilt from its run.yaml record (None: the shipped data)."""
    import yaml

    f = Path(run_dir) / "run.yaml"
    rec = yaml.safe_load(f.read_text()) if f.is_file() else None
    tech = rec.get("tech") if isinstance(rec, dict) else None
    if not isinstance(tech, dict) or not tech.get("overrides"):
        return None
    return tech_from_overrides(tech["overrides"], f"{f}: tech", str(tech.get("path") or f))


def tech_digest(overrides: dict) -> str:
    """A hash of the overrides as read (comments and key order do not matter)."""
    text = json.dumps(overrides, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def check_overrides(data, where: str) -> dict:
    """The file's mapping, checked against the shipped data (raises UserError on the first mistake)."""
    if not isinstance(data, dict) or not data:
        raise UserError(f"expected a mapping with one or more of {', '.join(SECTIONS)}", file=where)
    ship = shipped_raw()
    for section, tree in data.items():
        if section not in SECTIONS:
            raise UserError(unknown("technology section", str(section), SECTIONS), file=where, key=str(section))
        _check_node(tree, ship[section], (section,), where)
    return data


def _check_node(user, ship, keys: tuple, where: str) -> None:
    key = ".".join(str(k) for k in keys)
    if keys[:2] in FIXED:
        raise UserError(f"not overridable: {FIXED[keys[:2]]}", file=where, key=key)
    if _is_leaf(ship):
        _check_leaf(user, ship, key, where)
        return
    if isinstance(ship, dict):
        if not isinstance(user, dict) or not user:
            raise UserError(f"expected a mapping of {', '.join(map(str, list(ship)[:8]))}, ...; got {shown(user)}",
                            file=where, key=key)
        names = {str(k): k for k in ship}
        for k, v in user.items():
            if str(k) not in names:
                raise UserError(unknown("key", str(k), names), file=where, key=f"{key}.{k}")
            _check_node(v, ship[names[str(k)]], (*keys, names[str(k)]), where)
        return
    _check_value(user, ship, key, where)   # a plain field such as a device's kind or a GPU's description


def _check_leaf(user, ship: dict, key: str, where: str) -> None:
    """A constant: a plain value, or a mapping of LEAF_KEYS whose value/unit/low/high fit the shipped leaf."""
    if isinstance(user, dict) and user and all(str(k) in LEAF_KEYS for k in user):
        leaf = user
    elif isinstance(user, dict) and any(str(k) in LEAF_KEYS for k in user) and not isinstance(ship["value"], dict):
        bad = next(str(k) for k in user if str(k) not in LEAF_KEYS)
        raise UserError(unknown("key", bad, LEAF_KEYS), file=where, key=f"{key}.{bad}")
    else:
        leaf = {"value": user}
    if "value" in leaf:
        _check_value(leaf["value"], ship["value"], key, where)
    if "unit" in leaf and str(leaf["unit"]) != str(ship.get("unit")):
        raise UserError(f"unit {shown(leaf['unit'])}: expected {ship.get('unit')!r} (values are not converted)",
                        file=where, key=f"{key}.unit")
    for k in ("source", "note", "band_source"):
        if k in leaf and not isinstance(leaf[k], str):
            raise UserError(f"expected text, got {shown(leaf[k])}", file=where, key=f"{key}.{k}")
    if "low" in leaf or "high" in leaf:
        value = leaf.get("value", ship["value"])
        if not _is_number(value):
            raise UserError("low/high apply to a single number only (a table takes its class's default spread)",
                            file=where, key=key)
        lo, hi = leaf.get("low", ship.get("low", value)), leaf.get("high", ship.get("high", value))
        for name, x in (("low", lo), ("high", hi)):
            if not _is_number(x):
                raise UserError(f"expected a number, got {shown(x)}", file=where, key=f"{key}.{name}")
        if not lo <= value <= hi or (value > 0 and lo <= 0):
            raise UserError(f"expected 0 < low <= value <= high, got low {lo:g}, value {value:g}, high {hi:g}",
                            file=where, key=key)


def _check_value(user, ship, key: str, where: str) -> None:
    """The same type and shape as the shipped value; positive where the shipped one is."""
    if _is_number(ship):
        if not _is_number(user):
            raise UserError(f"expected a number ({_unit_hint(ship)}), got {shown(user)}", file=where, key=key)
        if ship > 0 and not user > 0:
            raise UserError(f"expected a positive number, got {user!r}", file=where, key=key)
    elif isinstance(ship, bool) or isinstance(ship, str):
        if type(user) is not type(ship):
            raise UserError(f"expected {type(ship).__name__}, got {shown(user)}", file=where, key=key)
    elif isinstance(ship, list):
        if not isinstance(user, list) or len(user) != len(ship):
            raise UserError(f"expected a list of {len(ship)} entries like the shipped one, got {shown(user)}",
                            file=where, key=key)
        for i, (u, s) in enumerate(zip(user, ship, strict=True)):
            _check_value(u, s, f"{key}[{i}]", where)
    elif isinstance(ship, dict):
        names = {str(k): k for k in ship}
        if not isinstance(user, dict) or {str(k) for k in user} != set(names):
            raise UserError(f"expected a mapping with exactly the keys {', '.join(names)}, got {shown(user)}",
                            file=where, key=key)
        for k, v in user.items():
            _check_value(v, ship[names[str(k)]], f"{key}.{k}", where)


def _unit_hint(ship) -> str:
    return f"the shipped value is {ship!r}"


def merge(overrides: dict, where: str) -> dict:
    """A copy of the shipped trees with the overrides written in; an overridden leaf's source names the file."""
    raw = {k: copy.deepcopy(v) if k in overrides else v for k, v in shipped_raw().items()}
    for section, tree in overrides.items():
        _merge_node(raw, section, tree, where)
    return raw


def _merge_node(parent: dict, key, user, where: str) -> None:
    names = {str(k): k for k in parent}
    k = names.get(str(key), key)
    ship = parent[k]
    if _is_leaf(ship):
        leaf = user if isinstance(user, dict) and all(str(x) in LEAF_KEYS for x in user) else {"value": user}
        new = dict(ship)
        new.update(leaf)
        given = leaf.get("source")
        new["source"] = f"user file {where}" + (f": {given}" if given else "")
        if "value" in leaf and ("low" not in leaf or "high" not in leaf):   # a stale shipped band does not apply
            new.pop("low", None), new.pop("high", None), new.pop("band_source", None)
        parent[k] = new
    elif isinstance(ship, dict) and isinstance(user, dict):
        for kk, vv in user.items():
            _merge_node(ship, kk, vv, where)
    else:
        parent[k] = user


def override_rows(tech: Tech) -> list[dict]:
    """Every constant the technology file set: {key (dotted), value, unit, shipped (value), source}."""
    rows: list[dict] = []
    ship = shipped_raw()

    def walk(user, shipped, merged, keys):
        if _is_leaf(shipped):
            rows.append({"key": ".".join(map(str, keys)), "value": merged["value"], "unit": shipped.get("unit", ""),
                         "shipped": shipped["value"], "source": merged["source"]})
        elif isinstance(shipped, dict) and isinstance(user, dict):
            names = {str(k): k for k in shipped}
            for k, v in user.items():
                kk = names[str(k)]
                walk(v, shipped[kk], merged[kk], (*keys, kk))
        else:
            rows.append({"key": ".".join(map(str, keys)), "value": merged, "unit": "", "shipped": shipped,
                         "source": f"user file {tech.path}"})

    for section, tree in tech.overrides.items():
        walk(tree, ship[section], tech.raw[section], (section,))
    return rows
