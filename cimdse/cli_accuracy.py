"""`cimdse accuracy`: perplexity and logit SQNR of a local checkpoint, exact and on a design (docs/ACCURACY.md)."""

from __future__ import annotations

import json

import click

from .errors import UserError


@click.command()
@click.argument("checkpoint", type=click.Path())
@click.argument("design_file", required=False, type=click.Path())
@click.option("--set", "assignments", multiple=True, metavar="KEY=VALUE", help="Set a design parameter (repeatable).")
@click.option("--text", "text_file", required=True, type=click.Path(), help="UTF-8 text file to score.")
@click.option("--tokens", type=int, default=128, show_default=True, help="Score the first N tokens of the text.")
@click.option("--exact", is_flag=True, help="Emulate every matmul bit by bit on the design's arrays (small models) "
              "instead of injecting the analytic model's noise.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the injected and cell noise.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: reference_ppl, design_ppl, logit_sqnr_db, "
              "per_layer, ...")
def accuracy(checkpoint, design_file, assignments, text_file, tokens, exact, seed, as_json) -> None:
    """Run CHECKPOINT (a local Hugging Face folder) over the first --tokens tokens of --text, exactly and on a
    design (DESIGN_FILE and/or --set); print both perplexities and the measured and predicted logit SQNR."""
    from .accuracy.checkpoint import load_checkpoint, require_packages, tokenize
    from .accuracy.measure import full_design, measure, reference
    from .config import load_design_file
    from .cost.params import PARAMS, parse_assignment

    require_packages()
    if tokens < 2:
        raise UserError(f"expected at least 2 tokens, got {tokens}", key="--tokens")
    design = load_design_file(design_file)[0] if design_file else {}
    for a in assignments:
        k, v = parse_assignment(a)
        design[k] = v
    try:
        d = full_design(design)
    except UserError as err:
        raise UserError(err.detail, file=design_file or "command line", key=err.key) from None
    ck = load_checkpoint(checkpoint)
    ids = tokenize(ck, text_file, tokens)
    res = measure(reference(ck, ids), d, "exact" if exact else "inject", seed)
    res = {"checkpoint": str(checkpoint), "text": str(text_file), **res}
    if as_json:
        click.echo(json.dumps(res, indent=2))
        return
    c = ck.config
    shown = {k: v for k, v in d.items() if k in design or PARAMS[k].default != v}
    click.echo(f"checkpoint: {ck.name} ({c.model_type}, {c.layers} layers, hidden {c.hidden}, vocab {c.vocab}); "
               f"{res['tokens']} tokens of {text_file}")
    click.echo("design: " + (", ".join(f"{k}={v}" for k, v in shown.items()) or "defaults"))
    click.echo("mode: " + ("exact emulation of every matmul (bit slices, row groups, ADC, cell noise)" if exact else
                           "noise injected per matmul at the analytic model's predicted noise-to-signal ratio"))
    click.echo(f"reference perplexity   {res['reference_ppl']:.4g}")
    click.echo(f"design perplexity      {res['design_ppl']:.4g}")
    click.echo(f"logit SQNR measured    {_db(res['logit_sqnr_db'])}")
    click.echo(f"logit SQNR predicted   {_db(res['predicted_logit_sqnr_db'])}  (analytic model, floored at 0 dB)")
    ops = [*res["per_layer"][0]["matmuls"], "lm_head"]
    click.echo("\nper layer: residual-stream SQNR and each matmul's own SQNR, measured/predicted (dB)")
    head = ["layer", "stream", *ops]
    rows = []
    for r in res["per_layer"]:
        cells = {op: f"{_num(m['measured_sqnr_db'])}/{_num(m['predicted_sqnr_db'])}" for op, m in r["matmuls"].items()}
        stream = f"{_num(r['hidden_sqnr_db'])}/{_num(r['predicted_hidden_sqnr_db'])}" if "hidden_sqnr_db" in r else ""
        rows.append([str(r["layer"]), stream, *[cells.get(op, "") for op in ops]])
    widths = [max(len(x) for x in col) for col in zip(head, *rows, strict=True)]
    for j, line in enumerate([head, *rows]):
        click.echo("  ".join(s.rjust(w) for s, w in zip(line, widths, strict=True)).rstrip())
        if j == 0:
            click.echo("  ".join("-" * w for w in widths))


def _num(x) -> str:
    return "exact" if x is None else f"{x:.1f}"


def _db(x) -> str:
    return "exact (no error)" if x is None else f"{x:.2f} dB"
