"""Why a run found no feasible design: the share of trials that broke each constraint and each physical limit
or parameter conflict, and the trial closest to feasibility (docs/SWEEP.md, 'When no design is feasible').

Read from the trials table alone (its `violation` column and the constraint columns), so a run, a collected study
and merged shards explain themselves the same way.

"Closest to feasibility": the trial that breaks the fewest rules (each violated constraint counts one, a cost-model
infeasibility counts one: the cost model reports only the first physical limit or conflict a design breaks), ties
broken by the smallest summed relative excess (each broken constraint's |value - bound| / |bound|, and a broken
physical limit's (value - limit) / limit when its reason names both numbers), then by the lowest trial number.
"""

from __future__ import annotations

import re

import numpy as np

from ..config import Sweep
from ..search.scoring import constraint_excess

_NUMBER = r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?"
_NUM_IN_TEXT = re.compile(rf"(?<![\w.]){_NUMBER}(?![\w.])")
# a physical-limit reason, as cimdse/cost/limits.py words it: '<what> <value> <unit> > <limit name> <limit> <unit>'
_LIMIT = re.compile(rf"^(?P<what>.*?) (?P<v>{_NUMBER}) (?P<u>.+?) > (?P<name>.+) (?P<lim>{_NUMBER}) (?P=u)$")
NOT_DRAWN = "not drawn: no design is feasible, and the breakdown figure shows the Pareto front's designs"


def reason_kind(text: str) -> str:
    """A physical-limit or conflict reason without its numbers, so that designs breaking one limit count together
    ('die area 1230 mm2 > max_die_mm2 858 mm2' -> 'die area > max_die_mm2')."""
    m = _LIMIT.match(text)
    if m:
        return f"{m['what']} > {m['name']}"
    return _NUM_IN_TEXT.sub("N", text)


def _limit_excess(text: str) -> float:
    """(value - limit) / limit of a physical-limit reason that names both numbers, else 0."""
    m = _LIMIT.match(text)
    if not m:
        return 0.0
    v, lim = float(m["v"]), float(m["lim"])
    return (v - lim) / abs(lim) if lim else 0.0


def explain_empty(df, sweep: Sweep) -> dict | None:
    """For a trials table with rows and no feasible design: {trials, violated: [{rule, kind, trials, share}],
    closest: {trial, violations, summed_relative_excess}, rule}. None when some design is feasible or none ran."""
    n = len(df)
    if not n or bool(df["feasible"].any()):
        return None
    texts = {c.text for c in sweep.constraints}
    reasons = [[p for p in str(v).split("; ") if p and p not in texts] if isinstance(v, str) else []
               for v in df["violation"].to_numpy()]
    count = np.zeros(n, dtype=np.int64)
    excess = np.zeros(n)
    rows, broken = [], []
    for c in sweep.constraints:
        v = df[c.metric].to_numpy(dtype=float)
        x = constraint_excess(c, v)
        bad = x > 0
        broken.append((c, v, bad))
        count += bad
        excess += np.where(bad, x, 0.0)
        rows.append({"rule": c.text, "kind": "constraint", "trials": int(bad.sum()), "share": round(float(bad.mean()), 4)})
    kinds: dict[str, int] = {}
    for i, rs in enumerate(reasons):
        for r in rs:
            kinds[reason_kind(r)] = kinds.get(reason_kind(r), 0) + 1
            count[i] += 1
            excess[i] += _limit_excess(r)
    rows += [{"rule": k, "kind": "physical limit or conflict", "trials": v, "share": round(v / n, 4)}
             for k, v in kinds.items()]
    rows.sort(key=lambda r: -r["trials"])
    trial = df["trial"].to_numpy()
    best = int(np.lexsort((trial, excess, count))[0])
    said = [f"{c.text} (value {v[best]:.4g})" for c, v, bad in broken if bad[best]] + reasons[best]
    return {"trials": n, "violated": rows,
            "closest": {"trial": int(trial[best]), "violations": "; ".join(said),
                        "violated_rules": int(count[best]), "summed_relative_excess": float(f"{excess[best]:.4g}")},
            "closest_means": "fewest violated rules, then smallest summed relative excess, then lowest trial"}


def summary_lines(info: dict) -> list[str]:
    """The explanation as printed under the sweep's summary line."""
    out = [f"no feasible design in {info['trials']:,} trials; violated by share of trials:"]
    out += [f"  {r['share']:7.1%}  {r['rule']}" for r in info["violated"]]
    c = info["closest"]
    out.append(f"closest to feasible: trial {c['trial']} ({c['violated_rules']} violated, summed relative excess "
               f"{c['summed_relative_excess']:.3g}): {c['violations']}")
    return out
