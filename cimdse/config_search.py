"""The `search:` section of a sweep file: which sampler, how many trials, where the study is stored."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import UserError, check_keys, shown, unknown

MAX_GRID = 1_000_000             # Optuna's GridSampler holds every grid point in memory
MAX_EXHAUSTIVE = 100_000_000     # about a minute of vectorized evaluation per ten million designs
SEARCH_KEYS = ("sampler", "trials", "timeout", "seed", "batch_size", "storage", "study_name")
SAMPLERS = ("tpe", "nsga2", "nsga3", "random", "qmc", "grid", "exhaustive")


@dataclass(frozen=True)
class Search:
    sampler: str = "tpe"
    trials: int = 200
    timeout: float | None = None
    seed: int = 0
    batch_size: int = 32
    storage: str | None = None
    study_name: str | None = None


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
    sampler = search_raw.get("sampler", "tpe")
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
    return Search(sampler, trials, timeout, seed, batch, storage, study_name)
