"""One trial of a finished run as a design: its parameters from trials.csv and the run's workload from run.yaml,
for `cimdse eval RUN_DIR --trial N` (re-score it with a breakdown) and `--export design.yaml` (a design file)."""

from __future__ import annotations

from pathlib import Path

from ..config import WORKLOAD_KEYS, load_design
from ..cost.params import PARAMS
from ..errors import UserError


def trial_design(run_dir: str | Path, trial: int) -> tuple[dict, dict]:
    """(design parameters, workload mapping) of trial `trial` of the run in `run_dir`; UserError when the folder is
    not a run folder, has no run.yaml or no such trial."""
    from ..results import RUN_FILE, load_run

    run = load_run(run_dir)
    where = str(run.source)
    if run.record is None:
        raise UserError(f"no readable {RUN_FILE} beside the trials; expected a run folder written by cimdse sweep",
                        file=str(run.folder))
    df = run.trials
    if "trial" not in df:
        raise UserError("lacks column trial; expected a trials.csv written by cimdse sweep", file=where)
    rows = df[df["trial"] == trial]
    if rows.empty:
        lo, hi = int(df["trial"].min()), int(df["trial"].max())
        raise UserError(f"no trial {trial} in this run; its trials are numbered {lo} to {hi}", file=where,
                        key="--trial")
    row = rows.iloc[0]
    params = {}
    for name, p in PARAMS.items():
        if name not in row.index:
            continue
        v = row[name]
        params[name] = str(v) if p.kind == "cat" else (int(v) if p.kind == "int" else float(v))
    design = load_design(params, where, prefix="")
    rec = run.record
    workload = {"model": rec.get("model")} if rec.get("model") else {}
    for k, v in (rec.get("scenario") or {}).items():
        if k in WORKLOAD_KEYS and not (k == "kv_bits" and not v):   # kv_bits 0: the design's input_bits
            workload[k] = v
    return design, workload


def export_design(path: str | Path, design: dict, workload: dict, note: str) -> None:
    """Write `design` and `workload` as a design file ({design, workload, notes}) that `cimdse eval FILE` reads."""
    import yaml

    from ..results import atomic_write

    out = Path(path)
    if out.suffix.lower() not in (".yaml", ".yml"):
        raise UserError("expected a file name ending in .yaml or .yml", key="--export")
    if not out.parent.is_dir():
        raise UserError("folder does not exist", file=str(out.parent), key="--export")
    atomic_write(out, yaml.safe_dump({"notes": note, "workload": workload, "design": design}, sort_keys=False))
