"""`cimdse eval`: score one CIM design (a design file, a published chip, a trial of a run, --set) or a GPU on a
workload, with its breakdown; a list of scenario values prints one row per value."""

from __future__ import annotations

import json
from pathlib import Path

import click

from . import completion
from .cli_table import table as _table
from .errors import UserError
from .scenarios import scenario_options


@click.command(name="eval")
@click.argument("design_file", required=False, type=click.Path(dir_okay=True), shell_complete=completion.references)
@click.option("--model", "model_spec", default=None, shell_complete=completion.models,
              help="Preset name or config.json path [llama-2-7b].")
@click.option("--set", "assignments", multiple=True, metavar="KEY=VALUE", help="Set a design parameter (repeatable).")
@scenario_options
@click.option("--plot", "plot_path", default=None, help="With a list of values (--batch 1,4,16): draw each main metric "
              "against it into this .png, .svg or .pdf.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: design, workload, metrics, breakdown.")
@click.option("--breakdown", is_flag=True, help="Also print energy, latency and area by component and operator.")
@click.option("--gpu", "gpu_name", default=None, shell_complete=completion.gpus, help="Score a GPU (roofline baseline, see `cimdse gpus`) instead "
              "of a CIM design.")
@click.option("--gpus", "n_gpus", type=int, default=None, help="GPUs in tensor parallel with --gpu [fewest that "
              "hold weights and KV cache].")
@click.option("--trial", "trial", type=int, default=None, metavar="N",
              help="With a run folder as DESIGN_FILE: re-score trial N of that run (its workload from run.yaml).")
@click.option("--export", "export_path", default=None, metavar="FILE.yaml",
              help="Also write the scored design and its workload as a design file.")
@click.option("--tech", "tech_path", default=None, metavar="FILE.yaml", type=click.Path(dir_okay=False),
              help="Technology file merged over the shipped constants (docs/MODEL.md, Technology file).")
@click.option("--uncertainty", is_flag=True, help="Also the p10 and p90 of every metric over samples of the "
              "constants' uncertainty bands (docs/MODEL.md, Uncertainty bands).")
def eval_cmd(design_file, model_spec, assignments, as_json, breakdown, gpu_name, n_gpus, plot_path, trial,
             export_path, tech_path, uncertainty, **kw) -> None:
    """Score one CIM design (DESIGN_FILE and/or --set), or a GPU (--gpu), on a workload, with a full breakdown.

    DESIGN_FILE may be a published chip (a reference name such as isaac, or a reference file: its design and
    workload), or a run folder with --trial N (the trial's design and the run's workload, re-scored).
    A list for --batch, --prompt-tokens or --generate-tokens (1,4,16,64) prints one row per value, the GPU's
    metrics beside the design's when --gpu is given (the GPU alone without DESIGN_FILE or --set)."""
    from .config import load_workload
    from .cost import evaluate_arrays
    from .cost.model import metric_units
    from .cost.params import PARAMS, cross_check, from_batch, scenario_defaults, to_batch
    from .design_input import design_and_workload
    from .scenarios import check_plot_path, varied
    from .tech import load_tech

    tech = load_tech(tech_path) if tech_path is not None else None
    vary, kw = varied(kw)
    if uncertainty and (vary is not None or gpu_name is not None or n_gpus is not None):
        raise UserError("applies to one CIM design (not with --gpu or a list of values)", key="--uncertainty")
    if plot_path is not None:
        check_plot_path(plot_path, vary)
    if vary is not None:
        from .scenarios import eval_list

        eval_list(vary, kw, design_file, assignments, model_spec, gpu_name, n_gpus, as_json, plot_path, _table,
                  trial=trial, tech=tech)
        return
    if gpu_name is not None or n_gpus is not None:
        _eval_gpu(gpu_name, n_gpus, design_file, assignments, model_spec, as_json, breakdown, kw, tech)
        return
    design, wl_dict = design_and_workload(design_file, trial, assignments, model_spec, kw)
    if trial is not None and tech is None:   # a run's trial is re-scored with the run's technology
        from .tech.override import run_tech

        tech = run_tech(design_file)
    if export_path is not None and Path(export_path).suffix.lower() not in (".yaml", ".yml"):
        raise UserError("expected a file name ending in .yaml or .yml", key="--export")
    model, sc = load_workload(wl_dict, design_file or "command line", prefix="" if not design_file else "workload.")
    full = {**scenario_defaults(sc), **design}
    try:
        cross_check(full, tech)
    except UserError as err:
        raise UserError(err.detail, file=design_file or "command line", key=err.key) from None
    batch = to_batch([full], tech)
    res = evaluate_arrays(batch, model, sc, breakdown=True, tech=tech, uncertainty=uncertainty)
    bands = {k: [float(v[0, 0]), float(v[0, 1])] for k, v in res.get("bands", {}).items()}
    units = metric_units()
    metrics = {k: float(res[k][0]) for k in units}
    bd = res["breakdown"]
    one = lambda d: {k: float(v[0]) for k, v in d.items()}  # noqa: E731
    breakdown_out = {
        "area_mm2": one(bd["area_mm2"]),
        "energy_pj": {ph: one(v) for ph, v in bd["energy_pj"].items()},
        "latency_ns": {ph: one(v) for ph, v in bd["latency_ns"].items()},
        "operators_pj": {ph: one(v) for ph, v in bd["operators_pj"].items()},
    }
    if "host" in bd:   # a host GPU beside the CIM/PIM chips: both sides' times and energies (cost/host.py)
        breakdown_out["host"] = {ph: one(v) for ph, v in bd["host"].items()}
    if export_path is not None:
        from .run.trial import export_design

        scen = {k: v for k, v in sc.to_dict().items() if not (k == "kv_bits" and not v)}
        source = f"trial {trial} of {design_file}" if trial is not None else (design_file or "the command line")
        export_design(export_path, from_batch(batch, 0), {"model": wl_dict.get("model", model.name), **scen},
                      f"exported by cimdse eval from {source}")
        if not as_json:
            click.echo(f"wrote {export_path}")
    if as_json:
        out = {"design": from_batch(batch, 0), "workload": {"model": model.name, **sc.to_dict()},
               "metrics": metrics, "feasible": bool(res["feasible"][0]), "violation": str(res["violation"][0]),
               "breakdown": breakdown_out}
        if tech is not None and tech.path is not None:
            out["tech"] = {"path": tech.path, "digest": tech.digest}
        if uncertainty:
            out["bands"] = bands
            out["feasible_share"] = float(res["feasible_share"][0])
        click.echo(json.dumps(out, indent=2))
        return
    d = from_batch(batch, 0)
    click.echo(f"design: {', '.join(f'{k}={v}' for k, v in d.items() if k in design or PARAMS[k].default != v)}"
               or "design: defaults")
    click.echo(f"workload: {model.name}, batch {sc.batch}, prompt {sc.prompt_tokens}, generate {sc.generate_tokens}")
    click.echo(f"built: {metrics['chips_used']:,.0f} chip(s) of {metrics['die_area_mm2']:,.1f} mm2 "
               f"({metrics['area_mm2']:,.0f} mm2 in all; {d['chips']} requested)")
    if not res["feasible"][0]:
        click.echo(f"INFEASIBLE: {res['violation'][0]}")
    if tech is not None and tech.path is not None:
        click.echo(f"technology: shipped data with {tech.path} merged over it")
    if uncertainty:
        from .cost.uncertainty import PERCENTILES, SAMPLES

        click.echo(_table([[k, v, *bands[k], units[k]] for k, v in metrics.items()],
                          ["metric", "value", f"p{PERCENTILES[0]:g}", f"p{PERCENTILES[1]:g}", "unit"]))
        click.echo(f"(p10/p90 over {SAMPLES} Latin-hypercube samples of the constants' bands; feasible in "
                   f"{res['feasible_share'][0]:.0%} of them; docs/MODEL.md, Uncertainty bands)")
    else:
        click.echo(_table([[k, v, units[k]] for k, v in metrics.items()], ["metric", "value", "unit"]))
    if breakdown:
        for title, table in (("energy per pass (pJ)", breakdown_out["energy_pj"]),
                             ("latency per pass (ns)", breakdown_out["latency_ns"]),
                             ("energy by operator per pass (pJ)", breakdown_out["operators_pj"]),
                             *((("host and CIM/PIM sides per pass (ns, pJ)", breakdown_out["host"]),)
                               if "host" in breakdown_out else ())):
            phs = list(table)
            parts = list(table[phs[0]])
            click.echo(f"\n{title}")
            click.echo(_table([[p] + [table[ph][p] for ph in phs] for p in parts], ["component", *phs]))
        click.echo("\narea (mm^2)")
        click.echo(_table([[k, v] for k, v in breakdown_out["area_mm2"].items()], ["component", "area_mm2"]))


def _eval_gpu(gpu_name, n_gpus, design_file, assignments, model_spec, as_json, breakdown, kw, tech=None) -> None:
    """`cimdse eval --gpu NAME [--gpus N]`: the GPU roofline's metrics in the shape of a CIM eval."""
    from .config import load_workload
    from .cost.gpu import get_gpu, gpu_metrics
    from .cost.model import metric_units

    if gpu_name is None:
        raise UserError("needs --gpu NAME (see `cimdse gpus`)", key="--gpus")
    if design_file or assignments:
        raise UserError("--gpu scores a GPU instead of a CIM design; drop DESIGN_FILE and --set", key="--gpu")
    try:
        gpu = get_gpu(gpu_name, tech)
    except UserError as err:
        raise UserError(err.detail, key="--gpu") from None
    if n_gpus is not None and n_gpus < 1:
        raise UserError(f"expected a positive number of GPUs, got {n_gpus}", key="--gpus")
    wl_dict = {"model": model_spec} if model_spec else {}
    wl_dict.update({k: v for k, v in kw.items() if v is not None})
    model, sc = load_workload(wl_dict, "command line", prefix="")
    try:
        res = gpu_metrics(gpu.name, n_gpus, model, sc, breakdown=True, tech=tech)
    except UserError as err:
        raise err.at(key="--" + (err.key or "gpus")) from None
    units = metric_units()
    if as_json:
        out = {"gpu": gpu.to_dict(), "gpus": res["gpus"], "precision": res["precision"],
               "workload": {"model": model.name, **sc.to_dict()}, "metrics": res["metrics"],
               "feasible": res["feasible"], "violation": res["violation"], "breakdown": res["breakdown"]}
        click.echo(json.dumps(out, indent=2))
        return
    click.echo(f"gpu: {res['gpus']} x {gpu.name} ({gpu.description}), {res['precision']} tensor peak, roofline baseline")
    click.echo(f"workload: {model.name}, batch {sc.batch}, prompt {sc.prompt_tokens}, generate {sc.generate_tokens}")
    if not res["feasible"]:
        click.echo(f"INFEASIBLE: {res['violation']}")
    click.echo(_table([[k, v, units[k]] for k, v in res["metrics"].items()], ["metric", "value", "unit"]))
    if breakdown:
        bd = res["breakdown"]
        phs = list(bd)
        parts = ("time_ms", "compute_bound", "memory_bound", "allreduce", "launch", "energy_mj")
        click.echo("\ntime per pass (ms) and energy per pass (mJ), all GPUs")
        click.echo(_table([[p] + [bd[ph][p] for ph in phs] for p in parts], ["component", *phs]))
        kernels = list(bd[phs[0]]["kernels_ms"])
        click.echo("\ntime by kernel per pass (ms)")
        click.echo(_table([[k] + [bd[ph]["kernels_ms"][k] for ph in phs] for k in kernels], ["kernel", *phs]))
