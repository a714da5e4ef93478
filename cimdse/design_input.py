"""Where the design of `cimdse eval` comes from: a design file, a published chip (reference name or file), or a
trial of a finished run (RUN_DIR --trial N); then --set, --model and the scenario options on top. One function that
the single-design and the value-list paths of eval both call."""

from __future__ import annotations

from pathlib import Path

from .errors import UserError


def design_and_workload(design_file: str | None, trial: int | None, assignments, model_spec: str | None,
                        scenario_kw: dict) -> tuple[dict, dict]:
    """(design parameters, workload mapping) of an eval command line, before defaults are filled in."""
    from .config import load_design_file
    from .cost.params import parse_assignment
    from .reference import find_reference

    run_folder = bool(design_file) and any((Path(design_file) / f).is_file() for f in ("trials.csv", "run.yaml"))
    if trial is not None or run_folder:
        if not design_file:
            raise UserError("--trial needs a run folder as DESIGN_FILE (cimdse eval RUN_DIR --trial N)", key="--trial")
        if trial is None:
            raise UserError("a run folder needs --trial N: which of its trials to re-score", file=design_file,
                            key="--trial")
        from .run.trial import trial_design

        design, wl_dict = trial_design(design_file, trial)
    elif design_file and (ref := find_reference(design_file)) is not None:   # a published chip as the start
        design, wl_dict = dict(ref.design), dict(ref.workload)
    else:
        design, wl_dict = (load_design_file(design_file) if design_file else ({}, None))
    for a in assignments:
        k, v = parse_assignment(a)
        design[k] = v
    wl_dict = dict(wl_dict or {})
    if model_spec:
        wl_dict["model"] = model_spec
    wl_dict.update({k: v for k, v in scenario_kw.items() if v is not None})
    return design, wl_dict
