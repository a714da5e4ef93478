"""Scenario lists on `cimdse eval`: one design (and/or a GPU) scored at several batch sizes, prompt lengths or
generated lengths, as a table and as curves of each main metric against the varied value."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import click

from .errors import UserError

VARIED = ("batch", "prompt_tokens", "generate_tokens")
# metrics drawn and printed per value (throughput-vs-batch curves as in LLM-Viewer)
MAIN_METRICS = ("tokens_per_s", "tpot_ms", "ttft_ms", "energy_per_token_uj", "avg_power_w", "prefill_energy_mj")
PLOT_FORMATS = (".png", ".svg", ".pdf")
MAX_VALUES = 64


class IntList(click.ParamType):
    """An integer, or integers separated by commas (`1,4,16,64`); parsed to a tuple."""

    name = "N[,N...]"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        opt = param.opts[0] if param is not None else "value"
        return parse_int_list(str(value), opt)


def scenario_options(f):
    """`cimdse eval`'s workload options: --batch, --prompt-tokens and --generate-tokens take a list (1,4,16)."""
    opts = [
        click.option("--batch", type=IntList(), default=None, help="Sequences processed together [1]; a list "
                     "(1,4,16,64) prints one row per value."),
        click.option("--prompt-tokens", type=IntList(), default=None, help="Prompt length in tokens [512]; or a list."),
        click.option("--generate-tokens", type=IntList(), default=None, help="Generated tokens (decode steps) "
                     "[128]; or a list."),
        click.option("--weight-bits", type=int, default=None, help="Weight precision in bits [8]."),
        click.option("--act-bits", type=int, default=None, help="Activation and KV precision in bits [8]."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def parse_int_list(text: str, option: str) -> tuple[int, ...]:
    """'1,4,16' -> (1, 4, 16); a UserError naming the option for anything else."""
    parts = [p.strip() for p in text.split(",")]
    out = []
    for p in parts:
        try:
            out.append(int(p))
        except ValueError:
            raise UserError(f"expected an integer or integers separated by commas (1,4,16), got {text!r}",
                            key=option) from None
    if len(set(out)) != len(out):
        raise UserError(f"each value once, got {text!r}", key=option)
    if len(out) > MAX_VALUES:
        raise UserError(f"at most {MAX_VALUES} values, got {len(out)}", key=option)
    return tuple(out)


def option_name(key: str) -> str:
    return "--" + key.replace("_", "-")


def varied(kw: dict) -> tuple[str | None, dict]:
    """Which of batch / prompt_tokens / generate_tokens holds several values (at most one), and the options with
    single values unpacked to integers."""
    lists = [k for k in VARIED if isinstance(kw.get(k), tuple) and len(kw[k]) > 1]
    if len(lists) > 1:
        raise UserError(f"vary one of {', '.join(map(option_name, VARIED))} at a time; got lists for "
                        f"{' and '.join(map(option_name, lists))}", key=option_name(lists[1]))
    flat = {k: (v[0] if isinstance(v, tuple) and k not in lists else v) for k, v in kw.items()}
    return (lists[0] if lists else None), flat


def score_values(key: str, values: tuple[int, ...], model, scenario, design: dict | None, gpu: str | None,
                 n_gpus: int | None, tech=None) -> list[dict]:
    """One row per value: `key`, the CIM design's main metrics (feasible, violation) when a design is given, and
    `gpu_<metric>` (plus speedup_vs_gpu and energy_gain_vs_gpu with a design) when a GPU is; `violation` says why
    a design is infeasible."""
    from .cost import evaluate_arrays
    from .cost.gpu import baseline_columns, gpu_metrics
    from .cost.params import to_batch
    from .workload import check_context, fit_scenario

    rows = []
    for v in values:
        try:
            sc = replace(scenario, **{key: v})
            sc = fit_scenario(model, sc)
            check_context(model, sc)
        except UserError as err:
            raise UserError(err.detail, key=option_name(key)) from None
        row: dict = {key: v}
        if design is not None:
            res = evaluate_arrays(to_batch([design], tech), model, sc, tech=tech)
            row.update({m: float(res[m][0]) for m in MAIN_METRICS})
            row.update(feasible=bool(res["feasible"][0]), violation=str(res["violation"][0]))
        if gpu is not None:
            try:
                g = gpu_metrics(gpu, n_gpus, model, sc, tech=tech)
            except UserError as err:
                raise err.at(key="--" + (err.key or "gpus")) from None
            row.update({f"gpu_{m}": float(g["metrics"][m]) for m in MAIN_METRICS})
            row.update(gpus=g["gpus"], gpu_feasible=bool(g["feasible"]), gpu_violation=g["violation"])
            if design is not None:
                row.update({k: float(a[0]) for k, a in baseline_columns({m: [row[m]] for m in MAIN_METRICS},
                                                                         g["metrics"]).items()})
        rows.append(row)
    return rows


def scenario_figure(rows: list[dict], key: str, out: str | Path, *, title: str = "", cim_label: str = "CIM design",
                    gpu_label: str = "GPU") -> Path:
    """Each main metric against the varied value: one panel per metric, the design's curve and the GPU's; an
    infeasible design's points are hollow. Written through a temporary file and a rename."""
    import numpy as np
    from matplotlib.figure import Figure
    from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter, NullLocator

    from .metrics import UNITS

    out = Path(out)
    x = np.array([r[key] for r in rows], dtype=float)
    order = np.argsort(x)
    x = x[order]
    has_cim, has_gpu = "tpot_ms" in rows[0], "gpu_tpot_ms" in rows[0]
    metrics = [m for m in MAIN_METRICS if not (m == "tpot_ms" and all(r.get("tpot_ms", 0) == 0 and
                                                                      r.get("gpu_tpot_ms", 0) == 0 for r in rows))]
    fig = Figure(figsize=(12, 6.6), layout="constrained")
    axes = fig.subplots(2, 3).ravel()
    log_x = x.min() > 0 and x.max() / x.min() >= 8
    for ax, m in zip(axes, metrics, strict=False):
        if has_cim:
            y = np.array([rows[i][m] for i in order])
            ok = np.array([rows[i]["feasible"] for i in order])
            ax.plot(x, y, "-", color="tab:blue", lw=1.8, label=cim_label)
            ax.plot(x[ok], y[ok], "o", color="tab:blue", ms=6)
            ax.plot(x[~ok], y[~ok], "o", mfc="white", mec="tab:blue", ms=6,
                    label="infeasible design" if (~ok).any() else None)
        if has_gpu:
            y = np.array([rows[i][f"gpu_{m}"] for i in order])
            ax.plot(x, y, "s--", color="tab:orange", lw=1.6, ms=5, label=gpu_label)
        ax.set_title(f"{m} [{UNITS.get(m, '')}]", fontsize=11)
        ax.set_xlabel(key)
        ax.grid(True, alpha=0.3)
        if log_x:
            ax.set_xscale("log", base=2)
        ax.xaxis.set_major_locator(FixedLocator(x))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))
        ax.xaxis.set_minor_locator(NullLocator())
        ys = [ln.get_ydata() for ln in ax.get_lines()]
        vals = np.concatenate([np.asarray(v, dtype=float) for v in ys]) if ys else np.array([])
        vals = vals[np.isfinite(vals) & (vals > 0)]
        if len(vals) and vals.max() / vals.min() > 30:   # a GPU and a CIM design often differ by decades
            ax.set_yscale("log")
            ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=12))
            ax.yaxis.set_major_formatter(FuncFormatter(_compact))
            ax.yaxis.set_minor_formatter(NullFormatter())
        else:
            ax.set_ylim(bottom=0)                           # linear axes start at zero: no exaggerated slopes
    for ax in axes[len(metrics):]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=12)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), fontsize=10, frameon=False)
    tmp = out.with_name(f".tmp-{out.name}")
    try:
        fig.savefig(tmp, format=out.suffix.lstrip(".").lower(), dpi=110,
                    metadata={".svg": {"Date": None}, ".pdf": {"CreationDate": None}}.get(out.suffix.lower(), {}))
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def _compact(v: float, _pos=None) -> str:
    """Log-axis tick: plain below 10^4 (0.5, 20, 5000), else mantissa and exponent (2e5)."""
    if v <= 0:
        return ""
    if 1e-3 <= v < 1e4:
        return f"{v:g}"
    exp = int(f"{v:e}".split("e")[1])
    return f"{v / 10**exp:g}e{exp}"


def check_plot_path(path: str, key: str | None) -> Path:
    """The --plot target: a list of values to draw, a known suffix, an existing folder to write into."""
    if key is None:
        raise UserError("needs a list of values to draw, e.g. --batch 1,4,16,64", key="--plot")
    out = Path(path)
    if out.suffix.lower() not in PLOT_FORMATS:
        raise UserError(f"expected a file name ending in {', '.join(PLOT_FORMATS)}, got {path!r}", key="--plot")
    if not out.parent.is_dir():
        raise UserError(f"folder {str(out.parent)!r} does not exist", key="--plot")
    return out


def print_rows(rows: list[dict], key: str, echo, table) -> None:
    """The rows as a table: the varied value, the design's metrics, then the GPU's beside them."""
    cols = [key]
    both = "tpot_ms" in rows[0] and "gpu_tpot_ms" in rows[0]
    shown = MAIN_METRICS[:4] if both else MAIN_METRICS   # side by side: the four that matter most (--json: all)
    if "tpot_ms" in rows[0]:
        cols += [*shown, "feasible"]
    if "gpu_tpot_ms" in rows[0]:
        cols += ["gpus", *(f"gpu_{m}" for m in shown)]
        if "speedup_vs_gpu" in rows[0]:
            cols += ["speedup_vs_gpu", "energy_gain_vs_gpu"]
    body = [[("yes" if r[c] else "no") if c == "feasible" else r[c] for c in cols] for r in rows]
    echo(table(body, cols))
    for r in rows:
        if "feasible" in r and not r["feasible"]:
            echo(f"{key} {r[key]}: INFEASIBLE: {r['violation']}")
        if "gpu_feasible" in r and not r["gpu_feasible"]:
            echo(f"{key} {r[key]}: GPU: {r['gpu_violation']}")


def eval_list(vary, kw, design_file, assignments, model_spec, gpu_name, n_gpus, as_json, plot_path, table,
              trial: int | None = None, tech=None) -> None:
    """`cimdse eval ... --batch 1,4,16,64`: one row per value (design and/or GPU), optionally drawn."""
    from .config import load_workload
    from .cost.gpu import get_gpu
    from .cost.params import cross_check, scenario_defaults
    from .design_input import design_and_workload

    values = kw[vary]
    if n_gpus is not None and gpu_name is None:
        raise UserError("needs --gpu NAME (see `cimdse gpus`)", key="--gpus")
    gpu = None
    if gpu_name is not None:
        try:
            gpu = get_gpu(gpu_name).name
        except UserError as err:
            raise UserError(err.detail, key="--gpu") from None
    with_design = gpu is None or bool(design_file or assignments)
    design, wl_dict = design_and_workload(design_file, trial, assignments, model_spec,
                                          {k: v for k, v in kw.items() if k != vary})
    model, sc = load_workload(wl_dict, design_file or "command line", prefix="" if not design_file else "workload.")
    full = None
    if with_design:
        full = {**scenario_defaults(sc), **design}
        try:
            cross_check(full, tech)
        except UserError as err:
            raise UserError(err.detail, file=design_file or "command line", key=err.key) from None
    rows = score_values(vary, values, model, sc, full, gpu, n_gpus, tech)
    if plot_path is not None:
        what = {k: getattr(sc, k) for k in ("batch", "prompt_tokens", "generate_tokens") if k != vary}
        title = f"{model.name}, " + ", ".join(f"{k} {v}" for k, v in what.items()) + f" ({sc.weight_bits}-bit weights)"
        gpu_label = f"{rows[0].get('gpus', 1)} x {gpu}" if gpu else "GPU"
        scenario_figure(rows, vary, plot_path, title=title, gpu_label=gpu_label,
                        cim_label="CIM design" + (f" {design_file}" if design_file else "")
                        + (f" ({', '.join(assignments)})" if assignments else ""))
    if as_json:
        click.echo(json.dumps({"model": model.name, "scenario": sc.to_dict(), "vary": vary, "gpu": gpu,
                               "rows": rows}, indent=2))
        return
    click.echo(f"workload: {model.name}, " + ", ".join(f"{k.replace('_', ' ')} {getattr(sc, k)}" for k in
                                                       ("batch", "prompt_tokens", "generate_tokens") if k != vary)
               + f"; {vary} varied" + (f"; GPU {gpu}" if gpu else ""))
    print_rows(rows, vary, click.echo, table)
    if plot_path is not None:
        click.echo(f"wrote {plot_path}")
