"""The `search:` section of a sweep file: which sampler, how many trials, where the study is stored."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import UserError, check_keys, shown, unknown

MAX_GRID = 1_000_000             # Optuna's GridSampler holds every grid point in memory
MAX_EXHAUSTIVE = 100_000_000     # about a minute of vectorized evaluation per ten million designs
SEARCH_KEYS = ("sampler", "trials", "timeout", "seed", "batch_size", "storage", "study_name", "screen",
               "screen_keep", "budget_s", "designs_per_s")
SAMPLERS = ("auto", "tpe", "nsga2", "nsga3", "random", "qmc", "grid", "exhaustive")
OPTUNA_SAMPLERS = ("tpe", "nsga2", "nsga3", "random", "qmc", "grid")
MAX_SCREEN = 100_000_000         # quasi-random designs scored before the sampler starts (streamed in chunks)


@dataclass(frozen=True)
class Search:
    """The search settings. `sampler` "auto" is resolved at the start of a run (cimdse/search/auto.py), which
    records its choice and reason in `auto`; `screen` quasi-random designs are scored before an Optuna sampler
    starts and the best `screen_keep` (default: the non-dominated ones) join the study (cimdse/search/screen.py)."""

    sampler: str = "auto"
    trials: int = 200
    timeout: float | None = None
    seed: int = 0
    batch_size: int = 32
    storage: str | None = None
    study_name: str | None = None
    screen: int = 0
    screen_keep: int | None = None
    budget_s: float = 60.0               # auto: exhaustive when its estimated wall time fits in this
    designs_per_s: float | None = None   # auto: scoring rate per core to assume (default: measured at start)
    auto: dict | None = field(default=None, compare=False)  # auto's choice and reason, once resolved


def _check_storage(url: str, where: str) -> None:
    """A journal file path or sqlite URL must name a file in an existing folder (other URLs are checked by Optuna)."""
    if "://" in url and not url.startswith("sqlite:///"):
        if not re.fullmatch(r"[a-z][a-z0-9+.-]*://\S*", url):
            raise UserError(f"expected an Optuna storage URL like sqlite:///study.db, got {shown(url)}",
                            file=where, key="search.storage")
        return
    p = Path(url[len("sqlite:///"):] if url.startswith("sqlite:///") else url)
    if not url.strip() or p.is_dir():
        raise UserError(f"'{url}' is a folder; expected a storage file", file=where, key="search.storage")
    if not p.parent.is_dir():
        raise UserError(f"folder '{p.parent}' does not exist; expected a storage file in an existing folder",
                        file=where, key="search.storage")


def load_search(search_raw, overrides: dict | None, space: tuple, where: str) -> Search:
    """Validate the `search` mapping of a sweep (command-line `overrides` replace its keys) against `space`."""
    search_raw = search_raw or {}
    if not isinstance(search_raw, dict):
        raise UserError(f"expected a mapping of search settings, got {shown(search_raw)}", file=where, key="search")
    search_raw = dict(search_raw)
    check_keys(search_raw, SEARCH_KEYS, where, "search.")
    for k, v in (overrides or {}).items():
        if v is not None:
            search_raw[k] = v
    sampler = search_raw.get("sampler", "auto")
    if isinstance(sampler, str) and sampler.strip().lower() in SAMPLERS:  # 'TPE', 'NSGA2' are meant the same
        sampler = sampler.strip().lower()
    if sampler not in SAMPLERS:
        raise UserError(unknown("sampler", sampler, SAMPLERS), file=where, key="search.sampler")
    trials = search_raw.get("trials", 200)
    if isinstance(trials, bool) or not isinstance(trials, int) or not 1 <= trials <= 10_000_000:
        raise UserError(f"expected an integer in [1, 10000000], got {shown(trials)}", file=where, key="search.trials")
    seed = search_raw.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise UserError(f"expected an integer in [0, 2^32), got {shown(seed)}", file=where, key="search.seed")
    batch = search_raw.get("batch_size", 32)
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= 1_000_000:
        raise UserError(f"expected an integer in [1, 1000000], got {shown(batch)}", file=where, key="search.batch_size")
    timeout = search_raw.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or not 0 < timeout < 1e9):
        raise UserError(f"expected a positive number of seconds, got {shown(timeout)}", file=where, key="search.timeout")
    storage = search_raw.get("storage")
    if storage is not None and not isinstance(storage, str):
        raise UserError(f"expected an Optuna storage URL or a file path, got {shown(storage)}", file=where,
                        key="search.storage")
    if storage is not None:
        _check_storage(storage, where)
    study_name = search_raw.get("study_name")
    if study_name is not None and not isinstance(study_name, str):
        raise UserError(f"expected a string, got {shown(study_name)}", file=where, key="search.study_name")
    screen, screen_keep, budget_s, rate = _screen_and_budget(search_raw, sampler, where)
    if sampler in ("exhaustive", "grid"):
        for d in space:
            if d.n_values is None:
                raise UserError(f"the {sampler} sampler needs a discrete space: give choices or an integer/step range",
                                file=where, key=f"space.{d.name}")
        size = math.prod(d.n_values for d in space)
        limit = MAX_EXHAUSTIVE if sampler == "exhaustive" else MAX_GRID
        if size > limit:
            raise UserError(f"the {sampler} sampler would enumerate {size:.3g} designs, more than {limit:,}; "
                            "narrow the space or use tpe, nsga2 or random", file=where, key="space")
    return Search(sampler, trials, timeout, seed, batch, storage, study_name, screen, screen_keep, budget_s, rate)


def _screen_and_budget(raw: dict, sampler: str, where: str) -> tuple[int, int | None, float, float | None]:
    """search.screen, screen_keep (designs), budget_s and designs_per_s, validated."""
    screen = raw.get("screen", 0)
    if isinstance(screen, bool) or not isinstance(screen, int) or not 0 <= screen <= MAX_SCREEN:
        raise UserError(f"expected a number of designs in [0, {MAX_SCREEN}], got {shown(screen)}", file=where,
                        key="search.screen")
    if screen and sampler == "exhaustive":
        raise UserError("screening is for the Optuna samplers; the exhaustive one scores every design already: "
                        "drop search.screen", file=where, key="search.screen")
    keep = raw.get("screen_keep")
    if keep is not None and (isinstance(keep, bool) or not isinstance(keep, int) or not 1 <= keep <= MAX_SCREEN):
        raise UserError(f"expected a number of designs >= 1, got {shown(keep)}", file=where, key="search.screen_keep")
    budget = raw.get("budget_s", 60.0)
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not 0 < budget < 1e9:
        raise UserError(f"expected a positive number of seconds, got {shown(budget)}", file=where,
                        key="search.budget_s")
    rate = raw.get("designs_per_s")
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate < 1e12):
        raise UserError(f"expected a positive scoring rate in designs per second per core, got {shown(rate)}",
                        file=where, key="search.designs_per_s")
    return screen, keep, float(budget), None if rate is None else float(rate)
