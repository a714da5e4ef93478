"""Uncertainty bands of the technology constants and Latin-hypercube samples of them (docs/MODEL.md
"Uncertainty bands").

A leaf {value, ...} may carry `low` and `high` (same unit, a single number) with `band_source`; otherwise its
class's default spread applies: the band [value / f, value x f] with f from DEFAULT_SPREAD by unit (a few keys
apart, KEY_SPREAD). f = 1 means the constant is not sampled (definitions, reference conditions, datasheet specs,
node tables). A table value (list or mapping of numbers) is scaled as a whole by one factor. A log10 constant (unit
'log10(...)') is sampled only with its own low/high, as an additive offset: its band is the factor band
[10^(low - value), 10^(high - value)] on the quantity it gives, and a sample adds log10(factor). GPU constants are not
sampled (the GPU baseline is a comparison, not the design under study).

Sampling: each sampled constant is log-uniform between low and high (DIST; the bands mostly stand for
disagreeing sources, with no reason to prefer one point inside); "triangular" (triangular in log space with its
mode at the recorded value) is the alternative. The samples are a Latin hypercube (one stratum per sample in every
dimension, strata paired at random), seeded, numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import Tech, build_tech

SAMPLED = ("devices", "periphery", "memory", "leakage", "noise", "cam")
DIST = "loguniform"     # or "triangular" (in log space, mode at the recorded value)

# unit -> (spread factor f, class) of the default band [value / f, value * f]
DEFAULT_SPREAD: dict[str, tuple[float, str]] = {
    "pJ": (2.0, "energy"), "fJ": (2.0, "energy"), "pJ/bit": (2.0, "energy"), "pJ/bit/mm": (2.0, "energy"),
    "pW": (3.0, "leakage"), "pA/um": (3.0, "leakage"),
    "fF": (1.5, "capacitance"), "fF/um": (1.5, "capacitance"), "fF/um^2": (1.5, "capacitance"),
    "F^2": (1.5, "area"), "um^2": (1.5, "area"), "F": (1.5, "area"),
    "ns": (1.5, "latency"), "us": (1.5, "latency"), "Hz": (2.0, "speed corner"),
    "ohm": (2.0, "resistance"), "ohm/um": (1.3, "wire resistance"),
    "V": (1.1, "voltage"),
    "1": (1.25, "dimensionless"), "fraction": (1.25, "dimensionless"),
}
# (section, key...) prefixes whose class differs from their unit's
KEY_SPREAD: dict[tuple, tuple[float, str]] = {
    ("periphery", "adc"): (3.0, "ADC"),                    # ADC energy figures differ about 3x between papers
    ("leakage", "power_gating"): (2.0, "leakage"),
    ("periphery", "vdd_by_node"): (1.0, "definition"),     # the nominal supply of a node is a convention
    ("periphery", "timing", "fo4_delay_poly"): (1.0, "fit"),
    ("periphery", "cmos_energy_scaling"): (1.0, "fit"),
    ("periphery", "digital", "sram_bitcell_um2"): (1.0, "measured"),   # production cells printed in their papers
    ("noise", "evaluation_time_s"): (1.0, "definition"),
    ("noise", "devices", "pcm", "level_rel"): (1.0, "definition"),
}
# keys that are reference conditions of another figure, never sampled
FIXED_KEYS = ("ref_node_nm", "ref_vdd_v", "thermal_ref_vdd_v", "nodes_nm", "fo4_nodes_nm")


@dataclass(frozen=True)
class Band:
    """One sampled constant: where it is, its factors low/value and high/value, its class and whether the
    band is the data file's own (low/high given) or the class default."""

    path: tuple
    lo: float
    hi: float
    kind: str
    explicit: bool
    cap: float      # largest allowed value (1 for a fraction at or below 1, else inf)
    log10: bool = False   # a log10 quantity: the sample adds log10(factor) to it instead of multiplying it


def _is_leaf(node) -> bool:
    return isinstance(node, dict) and "value" in node and "source" in node


def _numeric(v) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, (int, float)):
        return True
    if isinstance(v, list):
        return bool(v) and all(_numeric(x) for x in v)
    if isinstance(v, dict):
        return bool(v) and all(_numeric(x) for x in v.values())
    return False


def leaf_band(path: tuple, leaf: dict) -> Band | None:
    """The band of one data-file leaf, or None when it is not sampled (f = 1 or not a number)."""
    v = leaf["value"]
    if not _numeric(v) or path[-1] in FIXED_KEYS:
        return None
    one = isinstance(v, (int, float))
    if one and str(leaf.get("unit")).startswith("log10(") and ("low" in leaf or "high" in leaf):
        # a log10 intercept is additive: its stated band [low, high] is the factor band [10^(low-v), 10^(high-v)] on
        # the quantity it gives, sampled log-uniform like every other (i.e. uniform in the log10 value)
        lo, hi = 10.0 ** (float(leaf.get("low", v)) - v), 10.0 ** (float(leaf.get("high", v)) - v)
        return Band(path, lo, hi, "stated", True, np.inf, log10=True) if hi > lo else None
    cap = 1.0 / v if one and str(leaf.get("unit")) in ("1", "fraction") and 0 < v <= 1 else np.inf
    if one and ("low" in leaf or "high" in leaf) and v > 0:
        lo, hi = float(leaf.get("low", v)) / v, float(leaf.get("high", v)) / v
        return Band(path, lo, min(hi, cap), "stated", True, cap) if hi > lo else None
    f, kind = DEFAULT_SPREAD.get(str(leaf.get("unit")), (1.0, ""))   # other units (counts, log10, specs): fixed
    for n in range(len(path), 0, -1):
        if path[:n] in KEY_SPREAD and f > 1.0:
            f, kind = KEY_SPREAD[path[:n]]
            break
    if f <= 1.0 or (one and v <= 0):
        return None
    return Band(path, 1.0 / f, min(f, cap), kind, False, cap)


def bands(tech: Tech) -> list[Band]:
    """Every sampled constant of the technology, in a fixed order (once per Tech)."""
    if "bands" not in tech.memo:
        out: list[Band] = []

        def walk(node, path):
            if _is_leaf(node):
                b = leaf_band(path, node)
                if b is not None:
                    out.append(b)
            elif isinstance(node, dict):
                for k, v in node.items():
                    walk(v, (*path, k))

        for section in SAMPLED:
            walk(tech.raw[section], (section,))
        tech.memo["bands"] = out
    return tech.memo["bands"]


def latin_factors(bs: list[Band], n: int, seed: int = 0, dist: str = DIST) -> np.ndarray:
    """(n, len(bs)) multiplicative factors: a seeded Latin hypercube, log-uniform between each band's ends (or
    triangular in log space with mode 1)."""
    rng = np.random.default_rng(seed)
    d = len(bs)
    u = (np.argsort(rng.random((n, d)), axis=0) + rng.random((n, d))) / n   # one point per stratum and column
    a = np.log(np.array([b.lo for b in bs]))
    b = np.log(np.array([b.hi for b in bs]))
    if dist == "loguniform":
        return np.exp(a + u * (b - a))
    width = np.maximum(b - a, 1e-300)
    fc = -a / width                                          # CDF at the mode (log factor 0)
    left = a + np.sqrt(u * width * -a)
    right = b - np.sqrt((1.0 - u) * width * b)
    return np.exp(np.where(u < fc, left, right))


def _scaled(v, f: float):
    if isinstance(v, list):
        return [_scaled(x, f) for x in v]
    if isinstance(v, dict):
        return {k: _scaled(x, f) for k, x in v.items()}
    return v * f


def _apply(tree: dict, changes: dict) -> dict:
    """A copy of `tree` with changed leaves; only the dicts on a changed path are copied."""
    out = dict(tree)
    for k, sub in changes.items():
        if isinstance(sub, tuple):
            f, cap, log10 = sub
            leaf = dict(out[k])
            if log10:
                leaf["value"] = leaf["value"] + float(np.log10(f))
            elif np.isfinite(cap):
                leaf["value"] = min(leaf["value"] * f, leaf["value"] * cap)
            else:
                leaf["value"] = _scaled(leaf["value"], f)
            out[k] = leaf
        else:
            out[k] = _apply(out[k], sub)
    return out


def sample_techs(tech: Tech, n: int = 64, seed: int = 0) -> list[Tech]:
    """n copies of `tech` with every sampled constant scaled by its Latin-hypercube factor (built once per Tech,
    n and seed: the samples are deterministic, and their derived tables are then reused)."""
    key = ("samples", n, seed)
    if key not in tech.memo:
        tech.memo[key] = _sample_techs(tech, n, seed)
    return tech.memo[key]


def _sample_techs(tech: Tech, n: int, seed: int) -> list[Tech]:
    bs = bands(tech)
    factors = latin_factors(bs, n, seed)
    out = []
    for row in factors:
        changes: dict = {}
        for b, f in zip(bs, row, strict=True):
            node = changes
            for k in b.path[:-1]:
                node = node.setdefault(k, {})
            node[b.path[-1]] = (float(f), b.cap, b.log10)
        raw = _apply(tech.raw, changes)
        out.append(build_tech(raw, path=tech.path, overrides=tech.overrides, digest=tech.digest))
    return out
