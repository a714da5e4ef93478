"""Physical limits: the one place that decides whether a design can be built, and says why not.

The cost model calls `apply_limits` once per chunk with the parameter-conflict codes (checked first) and an
ordered list of `Check`s (or, for a batch of several chunks, `first_broken` per chunk and `reason_texts` once after
them); a design is feasible when it has no conflict and every checked value is within its limit. The reason of an
infeasible design is the first rule it breaks, naming the limit and both numbers, e.g.
`die area 1230 mm2 > max_die_mm2 858 mm2`. A new limit is one more row of the cost model's list (summary.LIMITS;
docs/MODEL.md, section 'Physical limits').

Speed: text is built only for the rows that break a limit, once per distinct value (3 significant digits), and shared
by reference between rows (a batch rarely has more than a few thousand distinct values per limit).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._select import keep, mask_bits

SIGNIFICANT_DIGITS = 3   # numbers in reasons: enough to compare with the limit, few enough to repeat across designs
EXACT_DIGITS = 7         # where a value rounds to its limit, it is shown with this many digits instead
FEW_ROWS = 32            # rows below which a text per row is cheaper than finding the distinct values first


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
        # (np.minimum/np.maximum and np.rint: the values of np.clip and np.round, without their Python wrappers)
        q = 10.0 ** np.minimum(np.maximum(digits - 1 - np.where(np.isfinite(mag), mag, 0), -300), 300)
        return np.where(np.isfinite(x) & (x != 0), np.rint(x * q) / q, x)


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


def _shared(words: np.ndarray) -> np.ndarray:
    """In place: equal texts made one object, shared by reference (as np.unique's path shares them)."""
    first: dict[str, str] = {}
    words[:] = [first.setdefault(w, w) for w in words.tolist()]
    return words


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
    few = len(v) <= FEW_ROWS            # a few rows: texts made per row, no sort for the distinct values
    if np.all(lim == lim[0]):           # the usual case: one limit for the whole chunk -> key on the value only
        limit_text = _words("", lim[:1], "")[0]
        tail = f" {u} > {check.name} {limit_text} {u}"
        if few:
            return _shared(_words(f"{check.text} ", v, tail))
        uniq, inv = np.unique(v, return_inverse=True)
        return _words(f"{check.text} ", uniq, tail)[inv]
    if few:
        return _shared(_words(f"{check.text} ", v, f" {u} > {check.name} ") + _words("", lim, f" {u}"))
    # the distinct (value, limit) pairs: each number's distinct values, then their pairs as one integer key (several
    # times faster than np.unique(axis=0) on the pairs; equal numbers give equal texts, whichever row they come from)
    uv, iv = np.unique(v, return_inverse=True)
    ul, il = np.unique(lim, return_inverse=True)
    keys, inv = np.unique(iv * len(ul) + il, return_inverse=True)
    values = _words(f"{check.text} ", uv[keys // len(ul)], f" {u} > {check.name} ")
    words = values + _words("", ul[keys % len(ul)], f" {u}")
    return words[inv.reshape(-1)]


def apply_limits(code: np.ndarray, code_texts: Sequence[str],
                 checks: Sequence[Check]) -> tuple[np.ndarray, np.ndarray]:
    """Feasibility and reason per design.

    code: per design, an index into `code_texts` (0 = no conflict; else the parameter conflict or capacity rule
    it breaks, which comes first); checks: the physical limits in order (the first broken one is the reason).
    Returns (feasible bool array, reason object array; '' where feasible).
    """
    ok, broken, value, limit = first_broken(code, checks)
    return ok, reason_texts(code, code_texts, broken, value, limit, checks)


def first_broken(code: np.ndarray, checks: Sequence[Check]) -> tuple[np.ndarray, ...]:
    """The decision of apply_limits without its texts: (feasible, broken: 1 + the index of the first check a design
    without a conflict breaks, else 0; value and limit: that check's two numbers, else 0). `reason_texts` makes the
    texts later, e.g. once for all the chunks of a batch."""
    ok = code == 0
    broken = np.zeros(len(ok), dtype=np.int8)
    # the numbers' 64-bit patterns: each design takes those of one check at most (the masks `bad` are disjoint), so
    # np.where(bad, new, old) is old | (new & bad) (_select.keep: no branches, no index arrays); 0 is +0.0
    value, limit = np.zeros(len(ok), dtype=np.int64), np.zeros(len(ok), dtype=np.int64)
    for k, ch in enumerate(checks, 1):
        bad = ok & ~(np.asarray(ch.value) <= ch.limit)
        if bad.any():
            broken ^= (broken ^ np.int8(k)) & np.negative(bad.view(np.int8))
            bits = mask_bits(bad)
            value |= keep(ch.value, bits).view(np.int64)
            limit |= keep(ch.limit, bits).view(np.int64)
            ok &= ~bad
    return ok, broken, value.view(np.float64), limit.view(np.float64)


def reason_texts(code: np.ndarray, code_texts: Sequence[str], broken: np.ndarray, value: np.ndarray,
                 limit: np.ndarray, checks: Sequence[Check]) -> np.ndarray:
    """Reason per design (object array; '' where feasible) from the arrays of `first_broken`; of `checks` only the
    name, unit and text are read. A text depends on the design's own numbers only (not on the designs beside it)."""
    reason = np.asarray(code_texts, dtype=object)[code]
    for k, ch in enumerate(checks, 1):
        idx = np.flatnonzero(broken == k)
        if len(idx):
            reason[idx] = _texts(Check(ch.name, value, limit, ch.unit, ch.text), idx)
    return reason
