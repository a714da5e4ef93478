"""The run folder: where a run writes (results/<name> by default), refusing a folder that holds another sweep's
results, and cleaning up the temporary files a killed process left."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..config import Sweep
from ..errors import UserError
from ..results import RUN_FILE, sweep_fingerprint

SHARD_FILE = "shard.json"


@dataclass
class RunResult:
    """What a run wrote: its folder, its tables (pandas DataFrames: trials.csv and pareto.csv at full precision),
    counts, how it ended (status: complete, interrupted, timeout, collected) and how long it took."""

    run_dir: Path
    trials: object
    front: object
    status: str
    seconds: float
    completed: int = 0
    feasible: int = 0
    front_size: int = 0
    search: object = None   # the search settings the run used (sampler: auto resolved, with its reason)

    @property
    def interrupted(self) -> bool:
        """Whether Ctrl-C stopped the run before its budget."""
        return self.status == "interrupted"


def default_run_dir(sweep: Sweep, shard: tuple[int, int] | None = None) -> Path:
    """results/<name>, or results/<name>.shard-I-of-N for one shard of an exhaustive sweep."""
    return Path("results") / (sweep.name if shard is None else f"{sweep.name}.shard-{shard[0]}-of-{shard[1]}")


def remove_stale_temporaries(run_dir: Path) -> None:
    """Delete temporary files (results.atomic_write: .NAME.tmp-PID) left by a process that was killed."""
    if not run_dir.is_dir():
        return
    for p in run_dir.glob(".*.tmp-*"):
        pid = p.name.rsplit("-", 1)[-1]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            p.unlink(missing_ok=True)
        except PermissionError:  # alive, someone else's
            pass


def prepare_run_dir(sweep: Sweep, run_dir: Path, fresh: bool) -> None:
    """Create or reuse the run folder; refuse one that belongs to another sweep unless `fresh`."""
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError("exists and is not a folder; expected a results folder", file=str(run_dir))
    if fresh and run_dir.exists():
        shutil.rmtree(run_dir)
    remove_stale_temporaries(run_dir)
    if run_dir.exists() and any(run_dir.iterdir()):
        rec_path = run_dir / RUN_FILE
        try:
            rec = yaml.safe_load(rec_path.read_text()) if rec_path.exists() else None
        except (OSError, yaml.YAMLError):
            rec = None
        if not isinstance(rec, dict) or rec.get("fingerprint") != sweep_fingerprint(sweep):
            raise UserError("holds results of a different sweep; rerun with --fresh to replace them or --out DIR "
                            "to write elsewhere", file=str(run_dir))
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the run folder ({exc.strerror})", file=str(run_dir)) from None
