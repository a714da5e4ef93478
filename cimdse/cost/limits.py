"""Physical limits: the one place that decides whether a design can be built, and says why not.

The cost model calls `apply_limits` once per chunk with the parameter-conflict codes (checked first) and an
ordered list of `Check`s; a design is feasible when it has no conflict and every checked value is within its
limit. The reason of an infeasible design is the first rule it breaks, naming the limit and both numbers, e.g.
`die area 1230 mm2 > max_die_mm2 858 mm2`. A new limit is one more `Check` in the cost model's list
(docs/MODEL.md, section 'Physical limits').

Speed: text is built only for the rows that break a limit, once per distinct value (3 significant digits), and shared
by reference between rows (a chunk of 16,384 designs rarely has more than a few thousand distinct values).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SIGNIFICANT_DIGITS = 3   # numbers in reasons: enough to compare with the limit, few enough to repeat across designs
EXACT_DIGITS = 7         # where a value rounds to its limit, it is shown with this many digits instead


@dataclass(frozen=True)
class Check:
    """One physical limit: `value <= limit` must hold for a design to be feasible.

    name: the design parameter or data key that sets the limit (e.g. 'max_die_mm2'); value, limit: per design
    (limit may be a scalar); unit: of both numbers, as printed (e.g. 'mm2'); text: what the value is (e.g. 'die
    area'). A NaN value breaks the limit (it is never silently feasible).
    """

    name: str
    value: np.ndarray
    limit: np.ndarray | float
    unit: str
    text: str


def _rounded(x: np.ndarray, digits: int = SIGNIFICANT_DIGITS) -> np.ndarray:
    """x rounded to `digits` significant digits (the number shown; equal shown numbers share a text)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = np.floor(np.log10(np.abs(x)))
        # exponent clipped: a subnormal value (1e-310) would make 10^(digits - 1 - mag) overflow
        q = 10.0 ** np.clip(digits - 1 - np.where(np.isfinite(mag), mag, 0), -300, 300)
        return np.where(np.isfinite(x) & (x != 0), np.round(x * q) / q, x)


def _words(head: str, x: np.ndarray, tail: str) -> np.ndarray:
    """head + x + tail for each (already rounded) value x, as an object array: the rounded number in full (1230,
    0.0123, 1.23e+20). Whole numbers print as Python ints, about 2.5x faster than formatting a float."""
    out = np.empty(len(x), dtype=object)
    whole = (x == np.floor(x)) & (np.abs(x) < 1e15)
    if whole.any():
        out[whole] = [f"{head}{a}{tail}" for a in x[whole].astype(np.int64).tolist()]
    if not whole.all():
        out[~whole] = [f"{head}{a:.{EXACT_DIGITS}g}{tail}" for a in x[~whole].tolist()]
    return out


def _texts(check: Check, idx: np.ndarray) -> np.ndarray:
    """Reason strings (object array) for the rows `idx` that break `check`."""
    value = np.asarray(check.value, dtype=float)[idx]
    raw = np.asarray(check.limit, dtype=float)
    raw = raw[idx] if raw.ndim else raw
    if raw.ndim and raw[0] == raw[-1] and np.all(raw == raw[0]):
        raw = raw[0]                    # one limit for all (a sweep rarely varies it): rounded once
    lim = np.broadcast_to(_rounded(raw), value.shape)
    v = _rounded(value)
    near = v <= lim                     # just above the limit: rounding would print 'x > x'
    if near.any():
        v[near] = _rounded(value[near], EXACT_DIGITS)
    u = check.unit
    if np.all(lim == lim[0]):           # the usual case: one limit for the whole chunk -> key on the value only
        uniq, inv = np.unique(v, return_inverse=True)
        limit_text = _words("", lim[:1], "")[0]
        return _words(f"{check.text} ", uniq, f" {u} > {check.name} {limit_text} {u}")[inv]
    pairs, inv = np.unique(np.stack([v, lim], axis=1), axis=0, return_inverse=True)
    values = _words(f"{check.text} ", pairs[:, 0], f" {u} > {check.name} ")
    words = values + _words("", pairs[:, 1], f" {u}")
    return words[inv.reshape(-1)]


def apply_limits(code: np.ndarray, code_texts: Sequence[str],
                 checks: Sequence[Check]) -> tuple[np.ndarray, np.ndarray]:
    """Feasibility and reason per design.

    code: per design, an index into `code_texts` (0 = no conflict; else the parameter conflict or capacity rule
    it breaks, which comes first); checks: the physical limits in order (the first broken one is the reason).
    Returns (feasible bool array, reason object array; '' where feasible).
    """
    reason = np.asarray(code_texts, dtype=object)[code]
    ok = code == 0
    for ch in checks:
        bad = ok & ~(np.asarray(ch.value) <= ch.limit)
        if bad.any():
            idx = np.flatnonzero(bad)
            reason[idx] = _texts(ch, idx)
            ok[idx] = False
    return ok, reason
