"""Command-line interface: parse, call the library, print. Heavy imports stay inside commands."""

from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path

import click

from . import __version__, completion
from .cli_table import table as _table
from .cli_verify import verify_options, verify_request, verify_resume
from .errors import UserError


class CimdseGroup(click.Group):
    """Turns a UserError anywhere below into one line on stderr and exit status 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except UserError as err:
            click.echo(f"error: {err.render()}", err=True)
            ctx.exit(2)


@click.group(cls=CimdseGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cimdse")
def main() -> None:
    """Design-space exploration of compute-in-memory accelerators for LLM inference."""


def _process_setup() -> None:
    """What a cimdse process (never the library) sets for itself before a sweep: glibc's allocator thresholds
    (cost/_alloc.py: about 2x on large batches of the cost model); the cyclic garbage collector's settings (below);
    and at exit gc.freeze, so that the collection Python runs while it shuts down skips the objects the run leaves
    (about 0.1 s after a 2,000-trial sweep).

    The collector: gc.freeze now, so that no collection walks again the objects of the imports done so far
    (modules, functions, the cost model's tables), and a first-generation threshold of GC_THRESHOLD allocations
    instead of 700, so that the younger generations are collected (and the older ones considered) about 30 times
    less often: a 2,000-trial NSGA-II sweep allocates a few hundred thousand containers (Optuna's trial copies,
    the imports of the outputs' libraries), almost none of them cyclic garbage, and spent about 0.2-0.3 s of its
    process's CPU in about 400 collections. Forked helper processes (figures, journal) inherit both."""
    import atexit
    import gc

    from .cost._alloc import tune_allocator

    tune_allocator()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])
    atexit.register(gc.freeze)


GC_THRESHOLD = 20_000   # allocations between first-generation collections in a sweep process (Python's default: 700)


@main.command()
def models() -> None:
    """List the built-in model presets."""
    from .workload import preset, preset_names

    rows = []
    for name in preset_names():
        m = preset(name)
        p = m.param_counts()
        ffn = f"{m.ffn}/{m.activation} {m.ffn_dim}" + (f" x{m.experts}e top{m.experts_per_token}" if m.experts > 1 else "")
        ffn += f" +shared {m.shared_ffn_dim}" if m.shared_ffn_dim else ""
        window = (f"{m.sliding_window}" + (f" ({m.windowed_layers}/{m.layers} layers)" if m.global_layers else "")
                  if m.sliding_window else "-")
        rows.append([name, f"{p['total'] / 1e9:.3f}B", m.arch, m.layers, m.hidden, f"{m.heads}/{m.kv_heads}", ffn,
                     m.max_context, window])
    click.echo(_table(rows, ["model", "params", "arch", "layers", "hidden", "heads/kv", "ffn", "context", "window"]))


def workload_options(f):
    """Options shared by every command that builds a Scenario."""
    opts = [
        click.option("--batch", type=int, default=None, help="Sequences processed together [1]."),
        click.option("--prompt-tokens", type=int, default=None, help="Prompt length in tokens [512]."),
        click.option("--generate-tokens", type=int, default=None, help="Generated tokens (decode steps) [128]."),
        click.option("--weight-bits", type=int, default=None, help="Weight precision in bits [8]."),
        click.option("--act-bits", type=int, default=None, help="Activation and KV precision in bits [8]."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def scenario_from_options(**kw):
    """Build a Scenario from CLI options that were given (others keep the defaults)."""
    from .workload import Scenario

    given = {k: v for k, v in kw.items() if v is not None}
    try:
        return Scenario(**given)
    except UserError as err:
        raise err.at(key="--" + (err.key or "").replace("_", "-")) from None


@main.command()
@click.argument("model", shell_complete=completion.models)
@workload_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def workload(model: str, as_json: bool, **kw) -> None:
    """Show the operators of MODEL (a preset name or a config.json path) per phase."""
    from .models import load_model
    from .workload import fit_scenario, operator_table, phases, workload_summary

    m = load_model(model)
    sc = scenario_from_options(**kw)
    sc = fit_scenario(m, sc)
    summary = workload_summary(m, sc)
    tables = {ph: operator_table(m, sc, ph) for ph in phases(m)}
    if as_json:
        out = {"model": m.to_dict(), "scenario": sc.to_dict(), "params": m.param_counts(), "summary": summary,
               "operators": {ph: t.to_frame().to_dict(orient="records") for ph, t in tables.items()}}
        click.echo(json.dumps(out, indent=2, default=float))
        return
    p = m.param_counts()
    click.echo(f"{m.name}: {p['total']:,} parameters ({p['active']:,} active per token); "
               f"KV cache {summary['kv_bytes_per_token']:,.0f} B per token at {sc.kv} bits"
               + (f", sliding window {m.sliding_window} in {m.windowed_layers} of {m.layers} layers"
                  if m.sliding_window else ""))
    click.echo(f"scenario: batch {sc.batch}, prompt {sc.prompt_tokens}, generate {sc.generate_tokens}, "
               f"weights {sc.weight_bits} b, activations {sc.act_bits} b")
    for ph, t in tables.items():
        tot = summary["phases"][ph]
        click.echo(f"\n{ph}: {tot['steps']} pass(es); per pass {tot['per_pass']['macs']:.4g} MACs "
                   f"({tot['per_pass']['static_macs']:.4g} static, {tot['per_pass']['dynamic_macs']:.4g} dynamic), "
                   f"KV read {tot['per_pass']['kv_read_bytes']:.4g} B, KV write {tot['per_pass']['kv_write_bytes']:.4g} B")
        df = t.to_frame()
        rows = [[r["name"], r["kind"], r["count"], r["macs"], r["weight_bytes"], r["in_bytes"], r["out_bytes"],
                 r["elem_ops"]] for r in df.to_dict(orient="records")]
        click.echo(_table(rows, ["operator", "kind", "count", "macs", "weight_B", "in_B", "out_B", "elem_ops"]))


@main.command()
@click.option("--sources", is_flag=True, help="Print the citation of every value.")
@click.option("--tech", "tech_path", default=None, metavar="FILE.yaml", type=click.Path(dir_okay=False),
              help="Technology file merged over the shipped constants: its values are marked * (source: user file).")
def devices(sources: bool, tech_path) -> None:
    """List the memory technologies with their parameters and sources."""
    from .tech import DEVICE_KEYS, DEVICES, device_rows, load_tech, overridden

    tech = load_tech(tech_path)
    if sources:
        for r in device_rows(tech):
            click.echo(f"{r['device']}.{r['parameter']} = {r['value']} {r['unit']}: {r['source']}")
        return
    keys = [k for k in DEVICE_KEYS if k not in ("ref_node_nm",)]
    mark = lambda k, d: "*" if overridden(tech, "devices", d, k) else ""   # noqa: E731
    rows = [[k] + [f"{float(tech.device[k][i]):g}{mark(k, d)}" if tech_path else float(tech.device[k][i])
                   for i, d in enumerate(DEVICES)] for k in keys]
    click.echo(_table(rows, ["parameter", *DEVICES]))
    if tech_path:
        from .tech.override import override_rows

        click.echo(f"\n* source: user file {tech_path}. Every value the file sets:")
        click.echo(_table([[r["key"], str(r["value"]), str(r["shipped"]), r["unit"]] for r in override_rows(tech)],
                          ["constant", "value (user file)", "shipped", "unit"]))
    click.echo("\n(cimdse devices --sources prints the citation of every value; data in cimdse/tech/data/)")
    click.echo("(SRAM cells, of sram arrays and of every buffer, leak by node, sram_vt, supply and temperature_c: "
               "leakage.yaml, docs/MODEL.md section 10; leakage_pw_per_cell covers the other cells)")


@main.command()
@click.option("--sources", is_flag=True, help="Print the citation of every value.")
@click.option("--calibration", is_flag=True, help="Print the shared calibrated constants and the published "
              "measurements against the model's predictions.")
def gpus(sources: bool, calibration: bool) -> None:
    """List the GPUs of the roofline baseline with their parameters and sources."""
    from .cost.gpu import (
        CAL_KEYS,
        GPU_KEYS,
        GPU_UNITS,
        calibration_table,
        fit_calibration,
        gpu_aliases,
        gpu_rows,
        load_gpus,
    )

    data = load_gpus()
    if sources:
        for r in gpu_rows():
            click.echo(f"{r['gpu']}.{r['parameter']} = {r['value']} {r['unit']}: {r['source']}")
        for k in (*CAL_KEYS, "allreduce_latency_us"):
            leaf = data.raw["calibration"][k]
            click.echo(f"calibration.{k} = {leaf['value']} {leaf['unit']}: {leaf['source']}")
        return
    if calibration:
        fit = fit_calibration()
        rows = [[k, data.calibration[k], ", ".join(f"{v:.3f}" for v in fit[k]["implied"]) if k in fit else "-",
                 fit[k]["value"] if k in fit else "-"] for k in CAL_KEYS]
        click.echo(_table(rows, ["constant", "value", "implied by calibration points", "refit (geo. mean)"]))
        click.echo("")
        rows = [[r["id"], r["role"], f"{r['gpus']}x {r['gpu']}", r["model"], r["batch"], f"{r['prompt']}/{r['generate']}",
                 r["bits"], r["metric"], r["published"], round(r["predicted"], 4), round(r["error_factor"], 3)]
                for r in calibration_table()]
        click.echo(_table(rows, ["id", "role", "gpus", "model", "batch", "in/out", "bits", "metric", "published",
                                 "predicted", "error"]))
        click.echo("\n(sources: cimdse/tech/data/gpus.yaml `measurements`; equations: docs/MODEL.md, GPU baseline)")
        return
    names = list(data.gpus)
    rows = [[f"{k} ({GPU_UNITS[k]})"] + [getattr(data.gpus[g], k) for g in names] for k in GPU_KEYS]
    click.echo(_table(rows, ["parameter", *names]))
    by_gpu = {g: [a for a, t in gpu_aliases().items() if t == g] for g in names}
    click.echo("\naliases: " + "; ".join(f"{g} = {', '.join(a)}" for g, a in by_gpu.items() if a))
    click.echo("\n(cimdse gpus --sources prints the citation of every value, --calibration the fit and hold-out "
               "errors; data in cimdse/tech/data/gpus.yaml)")


@main.command()
@click.argument("sweep_file", type=click.Path(dir_okay=True))
@click.option("--trials", type=int, default=None, help="Completed trials to reach (overrides search.trials).")
@click.option("--sampler", default=None, help="tpe, nsga2, nsga3, random, qmc, grid or exhaustive.")
@click.option("--seed", type=int, default=None, help="Sampler seed (overrides search.seed).")
@click.option("--storage", default=None, help="Optuna storage URL or journal file [run folder/study.journal].")
@click.option("--out", default=None, type=click.Path(file_okay=False), help="Run folder [results/<name>].")
@click.option("--fresh", is_flag=True, help="Delete the run folder (and its study) first.")
@click.option("--quiet", is_flag=True, help="No progress and no front table; only the summary line.")
@click.option("--workers", type=int, default=None,
              help="Processes: for an Optuna sampler, workers sharing one study and one trial budget (seeds "
                   "seed..seed+N-1) [1]; for the exhaustive one, scoring chunks of the enumeration [every core].")
@click.option("--shard", default=None, metavar="I/N", help="Exhaustive sampler: enumerate only shard I of N.")
@click.option("--collect", is_flag=True, help="Run no trials: write the outputs from the study in the storage.")
@click.option("--no-plots", is_flag=True, help="Write the CSVs and run.yaml only (re-plot later: cimdse pareto).")
@click.option("--parquet", is_flag=True, help="Also write trials.parquet (full precision; streamed when exhaustive).")
@click.option("--tech", "tech_path", default=None, metavar="FILE.yaml", type=click.Path(dir_okay=False),
              help="Technology file merged over the shipped constants (replaces the sweep file's `tech:`).")
@click.option("--batch", type=click.IntRange(1, 1_000_000), default=None,
              help="The workload's batch instead of the sweep file's; the run is named NAME-bBATCH.")
@verify_options
def sweep(sweep_file, trials, sampler, seed, storage, out, fresh, quiet, workers, shard, collect, no_plots, parquet,
          tech_path, batch,
          **vk) -> None:
    """Search the design space of SWEEP_FILE and write trials.csv, pareto.csv, run.yaml and plots."""
    from .config import load_sweep
    from .run import check_run_options, collect_sweep, run_sweep
    from .search.exhaustive import parse_shard
    from .search.optuna_api import quiet_logging

    _process_setup()
    quiet_logging()

    resume = resume_command(sweep_file, trials, sampler, seed, storage, out, quiet)
    resume += (f" --workers {workers}" if workers is not None else "") + (f" --shard {shlex.quote(shard)}" if shard else "")
    resume += (" --no-plots" if no_plots else "") + (" --parquet" if parquet else "")
    resume += (f" --tech {shlex.quote(tech_path)}" if tech_path else "") + (f" --batch {batch}" if batch else "")
    resume += verify_resume(**vk)
    bar = ProgressLine(enabled=not quiet and sys.stderr.isatty())
    try:
        sw = load_sweep(sweep_file, {"trials": trials, "sampler": sampler, "seed": seed, "storage": storage,
                                     "tech": tech_path, "batch": batch})
        shard_ix = parse_shard(shard) if shard is not None else None
        check_run_options(sw, workers=workers, shard=shard_ix, collect=collect, verify=vk["verify_ck"] is not None)
        if collect and fresh:
            raise UserError("--collect keeps the study; leave out --fresh", key="--collect")
        ver = verify_request(**vk)   # checkpoint and text loaded before the search: bad input costs nothing
        if not collect:  # sampler: auto -> its choice, before the progress line picks its unit
            from .run.sweep import resolve_for_cli

            sw = resolve_for_cli(sw, out, fresh, workers, shard_ix)
        bar.unit = "designs" if sw.search.sampler == "exhaustive" else "trials"
        if collect:
            res = collect_sweep(sw, out=out, plots=not no_plots, verify=ver, parquet=parquet)
        else:
            # no progress callback when no line is drawn (--quiet, or stderr not a terminal): the loop then keeps
            # no running front, and a resumed run does not re-score its stored trials to count them
            res = run_sweep(sw, out=out, fresh=fresh, on_batch=bar.update if bar.enabled else None, workers=workers,
                            shard=shard_ix,
                            plots=not no_plots, verify=ver, parquet=parquet, fork=True)   # the CLI owns its process
        bar.close()
    except KeyboardInterrupt:  # a second Ctrl-C, or one before the sweep started: storage is consistent anyway
        bar.close()
        click.echo(f"interrupted; resume with: {resume}", err=True)
        sys.exit(130)
    click.echo(f"{sw.name}: {res.completed:,} designs ({res.feasible:,} feasible), Pareto front {res.front_size} "
               f"[{sampler_note(res.search or sw.search)}, {res.seconds:.1f} s] -> {res.run_dir}")
    if res.completed and not res.feasible:  # an empty front explains itself (cimdse/run/diagnose.py)
        from .run.diagnose import NOT_DRAWN, explain_empty, summary_lines

        click.echo("\n".join(summary_lines(explain_empty(res.trials, sw)) + ([f"breakdown.png {NOT_DRAWN}"]
                                                                             if not no_plots else [])))
    if not quiet and res.front_size:
        front = res.front
        objs = [k for k, _ in sw.objectives]
        shown = [c for c in ("device", "rows", "cols", "bits_per_cell", "adc_bits", "tiles", "chips_used", "die_area_mm2",
                             "measured_ppl", "measured_logit_sqnr_db") if c in front and c not in objs]
        rows = [[str(r["trial"])] + [r[c] for c in objs] + [r[c] if isinstance(r[c], str) else float(r[c])
                                                             for c in shown]
                for _, r in front.head(15).iterrows()]
        click.echo(_table(rows, ["trial", *objs, *shown]))
        if len(front) > 15:
            click.echo(f"... {len(front) - 15} more rows in {res.run_dir / 'pareto.csv'}")
    if res.interrupted:
        if sw.search.sampler == "exhaustive":
            click.echo(f"interrupted after {res.completed:,} designs; results so far are in {res.run_dir}; run again to "
                       f"finish (exhaustive runs start over): {resume}", err=True)
        else:
            click.echo(f"interrupted after {res.completed:,} of {sw.search.trials:,} trials; results so far are in "
                       f"{res.run_dir}; resume with: {resume}", err=True)
        sys.exit(130)


def sampler_note(search) -> str:
    """The sampler for the summary line; for `sampler: auto`, what it chose and why."""
    if not search.auto:
        return search.sampler + (f", {search.screen:,} designs screened" if search.screen else "")
    return f"auto: {search.sampler} ({search.auto['reason']})"


def resume_command(sweep_file: str, trials, sampler, seed, storage, out, quiet: bool) -> str:
    """The command that resumes this sweep: the same file and options, never --fresh (it would delete the run)."""
    parts = ["cimdse", "sweep", str(sweep_file)]
    for flag, value in (("--trials", trials), ("--sampler", sampler), ("--seed", seed), ("--storage", storage),
                        ("--out", out)):
        if value is not None:
            parts += [flag, str(value)]
    return shlex.join(parts + (["--quiet"] if quiet else []))


def format_progress(pr, unit: str = "trials", width: int = 20) -> str:
    """One progress line: bar, done/total, rate, feasible count, current Pareto-front size, time left."""
    frac = min(pr.done / pr.total, 1.0) if pr.total else 1.0
    filled = int(round(frac * width))
    rate = f"{pr.rate:,.1f}" if pr.rate < 10 else f"{pr.rate:,.0f}"
    left = (pr.total - pr.done) / pr.rate if pr.rate > 0 else 0.0
    eta = f"{left:.0f}s" if left < 120 else f"{left / 60:.0f}min"
    return (f"[{'#' * filled}{'.' * (width - filled)}] {pr.done:,}/{pr.total:,} {unit} {100 * frac:3.0f}%  "
            f"{rate} {unit}/s  feasible {pr.feasible:,}  front {pr.front:,}  left {eta}")


class ProgressLine:
    """A carriage-return progress line on stderr, redrawn at most 10 times a second; silent when disabled."""

    def __init__(self, enabled: bool, unit: str = "trials", stream=None) -> None:
        self.enabled, self.unit = enabled, unit
        self.stream = stream or sys.stderr
        self.last, self.width, self.pending = 0.0, 0, None

    def update(self, pr) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        self.pending = pr
        if now - self.last >= 0.1 or pr.done >= pr.total:
            self.draw()
            self.last = now

    def draw(self) -> None:
        if self.pending is None:
            return
        text = format_progress(self.pending, self.unit)
        self.stream.write("\r" + text.ljust(self.width))
        self.stream.flush()
        self.width, self.pending = len(text), None

    def close(self) -> None:
        """Draw the last state and end the line, so the summary starts on a fresh one."""
        if self.enabled and (self.width or self.pending is not None):
            self.draw()
            self.stream.write("\n")
            self.stream.flush()


@main.command()
@click.argument("sweep_file", type=click.Path(dir_okay=True))
@click.argument("shard_dirs", nargs=-1, required=True, type=click.Path())
@click.option("--out", default=None, type=click.Path(file_okay=False), help="Run folder [results/<name>].")
def merge(sweep_file, shard_dirs, out) -> None:
    """Merge the run folders of shards 1..N of SWEEP_FILE (exhaustive, `sweep --shard I/N`) into one run."""
    from .config import load_sweep
    from .run import merge_shards

    _process_setup()

    sw = load_sweep(sweep_file, {"sampler": "exhaustive"})  # shards are exhaustive whatever the file says
    res = merge_shards(sw, list(shard_dirs), out=out)
    click.echo(f"{sw.name}: {res.completed:,} designs ({res.feasible:,} feasible) from {len(shard_dirs)} shards, "
               f"Pareto front {res.front_size} -> {res.run_dir}")
    if res.completed and not res.feasible:  # an empty front explains itself (cimdse/run/diagnose.py)
        from .run.diagnose import NOT_DRAWN, explain_empty, summary_lines

        click.echo("\n".join([*summary_lines(explain_empty(res.trials, sw)), f"breakdown.png {NOT_DRAWN}"]))


@main.command()
@click.argument("run", metavar="RUN_DIR|trials.csv", type=click.Path())
@click.option("--x", "x", default=None, metavar="METRIC", help="Metric on the x axis [the run's first objective].")
@click.option("--y", "y", default=None, metavar="METRIC", help="Metric on the y axis [the run's second objective].")
@click.option("--z", "z", default=None, metavar="METRIC",
              help="Third metric: a 3-objective front drawn as a matrix of 2-D projections.")
@click.option("--color", default=None, metavar="PARAM", help="Colour points by this design parameter [device].")
@click.option("--label", default=None, metavar="PARAM", help="Write this parameter's value beside each front point.")
@click.option("--log-x/--linear-x", "log_x", default=None, help="x axis scale [log when the data span > 100x].")
@click.option("--log-y/--linear-y", "log_y", default=None, help="y axis scale [log when the data span > 100x].")
@click.option("--feasible-only", is_flag=True, help="Leave infeasible trials out of the figure.")
@click.option("--out", default=None, metavar="FILE.png|.svg|.pdf",
              help="Figure file [RUN_DIR/pareto-<metrics>.png]; the front's CSV goes beside it (same name, .csv).")
def pareto(run, x, y, z, color, label, log_x, log_y, feasible_only, out) -> None:
    """Recompute the Pareto front of a run for chosen metrics; write its figure and CSV, print the front."""
    from .run import pareto_view

    v = pareto_view(run, x, y, z, color=color, label=label, log_x=log_x, log_y=log_y, feasible_only=feasible_only,
                    out=out)
    objs = ", ".join(f"{m} ({d})" for m, d in v.metrics)
    click.echo(f"{v.rows:,} designs ({v.feasible:,} feasible); Pareto front {len(v.front)} over {objs}")
    click.echo(f"wrote {v.figure} and {v.csv}")
    if len(v.front):
        names = [m for m, _ in v.metrics]
        shown = [c for c in ("device", "rows", "cols", "bits_per_cell", "adc_bits", "tiles", "chips_used", "die_area_mm2")
                 if c in v.front and c not in names]
        rows = [[str(r["trial"]) if "trial" in r else str(i)] + [float(r[c]) for c in names]
                + [r[c] if isinstance(r[c], str) else float(r[c]) for c in shown]
                for i, (_, r) in enumerate(v.front.head(15).iterrows())]
        click.echo(_table(rows, ["trial", *names, *shown]))
        if len(v.front) > 15:
            click.echo(f"... {len(v.front) - 15} more rows in {v.csv}")


@main.command()
@click.option("--update", is_flag=True, help="Rewrite the recorded values (on purpose only; review the diff).")
@click.option("--rtol", type=float, default=1e-6, show_default=True, help="Relative tolerance per metric.")
def check(update: bool, rtol: float) -> None:
    """Re-evaluate every reference design point and compare with its recorded metrics (exit 1 on drift)."""
    from .reference import check as run_check
    from .reference import folder, render_recorded
    from .results import atomic_write

    if not rtol >= 0:
        raise UserError(f"expected a non-negative tolerance, got {rtol}", key="--rtol")
    current, drifts = run_check(rtol)
    if update:
        atomic_write(folder() / "_recorded.yaml", render_recorded(current))
        click.echo(f"recorded {len(current)} reference points ({len(drifts)} values changed) in "
                   f"{folder() / '_recorded.yaml'}")
        return
    bad = {d.reference for d in drifts}
    rows = [[name, len(vals), sum(d.reference == name for d in drifts), "DRIFT" if name in bad else "ok"]
            for name, vals in current.items()]
    rows += [[d.reference, 0, 1, "DRIFT"] for d in drifts if d.reference not in current]
    click.echo(_table(rows, ["reference", "metrics", "drifted", "status"]))
    if drifts:
        click.echo("")
        click.echo(_table([[d.reference, d.metric, "missing" if d.recorded is None else d.recorded,
                            "missing" if d.current is None else d.current, f"{d.rel:.3g}"]
                           for d in drifts], ["reference", "metric", "recorded", "current", "rel_diff"]))
        click.echo(f"\n{len(drifts)} value(s) drifted beyond rtol {rtol:g}; if the change is intended, run "
                   "`cimdse check --update` and commit the diff of cimdse/reference/_recorded.yaml", err=True)
        sys.exit(1)
    click.echo(f"all {len(current)} reference points match their recorded metrics (rtol {rtol:g})")


@main.command()
@click.option("--write", "write_path", default=None, type=click.Path(dir_okay=False),
              help="Write the table to this file (e.g. docs/VALIDATION.md) instead of printing it.")
@click.option("--reference", "ref_path", default=None, shell_complete=completion.references,
              help="Compare only this reference (a packaged name such as isaac, or a file you are writing) instead "
              "of all packaged ones.")
@click.option("--tech", "tech_path", default=None, metavar="FILE.yaml", type=click.Path(dir_okay=False),
              help="Technology file merged over the shipped constants (docs/MODEL.md, Technology file).")
def validate(write_path, ref_path, tech_path) -> None:
    """Published figures of the reference systems against cimdse's predictions (with each prediction's p10-p90
    uncertainty band), with error factors."""

    from .reference import folder, load_reference, render_reference, render_validation
    from .tech import load_tech

    tech = load_tech(tech_path) if tech_path else None

    if ref_path and not Path(ref_path).exists() and ref_path in completion.reference_names():
        ref_path = str(folder() / f"{ref_path}.yaml")   # a packaged reference by name
    from .results import atomic_write

    text = render_reference(load_reference(ref_path), tech) if ref_path else render_validation(tech=tech)
    if write_path:
        atomic_write(Path(write_path), text)
        click.echo(f"wrote {write_path}")
    else:
        click.echo(text, nl=False)


from .cli_accuracy import accuracy  # noqa: E402  (own module; its heavy imports are inside the command)
from .cli_eval import eval_cmd  # noqa: E402  (own module, registered below)
from .report_cli import report  # noqa: E402 - `cimdse report` lives in its own module

main.add_command(eval_cmd)
main.add_command(accuracy)
main.add_command(report)

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
