"""`sampler: auto` (the default): exhaustive when the space is discrete and its whole enumeration fits in
`search.budget_s` on the cores at hand, else screening plus a guided sampler. The choice, its reason and the
figures it rests on are recorded in run.yaml (`search.auto`) and reused when the run is resumed, so a resumed run
never switches sampler because the machine got busier.

Estimated exhaustive wall time = designs / (scoring rate per core x cores) + designs / OUTPUT_ROWS_PER_S (every
design is a row of trials.csv). The scoring rate is `search.designs_per_s` when given (deterministic), else
measured at start by scoring RATE_SAMPLE designs of the space twice and taking the faster.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import numpy as np
import yaml

from ..config import Sweep
from ..config_search import MAX_EXHAUSTIVE
from .scoring import score
from .screen import unit_to_values

RATE_SAMPLE = 20_000          # designs scored to measure the rate (about 20-40 ms at 0.5-1 M designs/s)
# designs per second for everything an exhaustive run does besides scoring (joining chunks, the trials table and
# trials.csv, the front): issue 21 measured 22 s wall for 1,512,000 designs of which 7 s scoring, 10 us per design
OUTPUT_ROWS_PER_S = 100_000
SCREEN_SHARE = 0.25           # of the budget spent screening when auto picks a guided sampler
SCREEN_MIN, SCREEN_MAX = 10_000, 1_000_000


def measure_rate(sweep: Sweep, n: int = RATE_SAMPLE) -> float:
    """Designs scored per second on one core: the faster of two timed batches of `n` designs drawn from the
    space (the first one also warms caches)."""
    cols = unit_to_values(sweep, np.random.default_rng(0).random((n, len(sweep.space))))
    best = math.inf
    for _ in range(2):
        t = time.perf_counter()
        score(sweep, cols)
        best = min(best, time.perf_counter() - t)
    return n / max(best, 1e-9)


def choose(sweep: Sweep, cores: int, rate: float | None = None) -> dict:
    """What auto runs on this sweep: {sampler, screen, reason, designs, designs_per_s, cores, estimate_s,
    budget_s}. `rate` (designs/s per core) defaults to search.designs_per_s, else is measured."""
    s = sweep.search
    sizes = [d.n_values for d in sweep.space]
    discrete = all(n is not None for n in sizes)
    designs = math.prod(sizes) if discrete else None  # type: ignore[arg-type]
    rate = rate or s.designs_per_s or measure_rate(sweep)
    out = {"designs": designs, "designs_per_s": float(f"{rate:.3g}"), "cores": cores, "budget_s": s.budget_s}
    if discrete:
        est = designs / (rate * cores) + designs / OUTPUT_ROWS_PER_S
        out["estimate_s"] = float(f"{est:.3g}")
        if est <= s.budget_s and designs <= MAX_EXHAUSTIVE:
            return {"sampler": "exhaustive", "screen": 0, **out,
                    "reason": f"{designs:,} designs, about {_secs(est)} to enumerate on {cores} cores at "
                              f"{rate:,.3g} designs/s per core, within the {s.budget_s:g} s budget"}
        why = f"{designs:,} designs would take about {_secs(est)} to enumerate, more than the {s.budget_s:g} s budget"
    else:
        why = "the space has continuous ranges, which no enumeration covers"
    # screening: a quarter of the budget on one core, at least SCREEN_MIN designs, at most SCREEN_MAX
    screen = s.screen or int(min(max(rate * s.budget_s * SCREEN_SHARE, SCREEN_MIN), SCREEN_MAX))
    if designs is not None:
        screen = min(screen, designs)
    sampler = "nsga2" if len(sweep.objectives) > 1 else "tpe"
    guide = ("NSGA-II (its cost per trial stays flat as trials grow, and it keeps a spread front)"
             if sampler == "nsga2" else "TPE (one objective)")
    return {"sampler": sampler, "screen": screen, **out,
            "reason": f"{why}: {screen:,} designs screened, then {guide}"}


def _secs(x: float) -> str:
    return "under 0.1 s" if x < 0.1 else f"{x:,.3g} s"


def recorded(run_dir: Path) -> dict | None:
    """The auto choice recorded in a run folder's run.yaml, if any (a resumed run keeps it)."""
    try:
        rec = yaml.safe_load((Path(run_dir) / "run.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return None
    auto = ((rec or {}).get("search") or {}).get("auto") if isinstance(rec, dict) else None
    return auto if isinstance(auto, dict) and auto.get("sampler") else None


def resolve(sweep: Sweep, cores: int, run_dir: Path | None = None, fresh: bool = False) -> Sweep:
    """The sweep with `sampler: auto` replaced by its choice (unchanged for any other sampler). A run folder
    whose run.yaml records an auto choice for this sweep keeps that choice (unless `fresh`)."""
    if sweep.search.sampler != "auto":
        return sweep
    choice = None if fresh or run_dir is None else recorded(run_dir)
    if choice is None:
        choice = choose(sweep, cores)
    search = dataclasses.replace(sweep.search, sampler=choice["sampler"], screen=int(choice.get("screen") or 0),
                                 auto=choice)
    return dataclasses.replace(sweep, search=search)
