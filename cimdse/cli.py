"""Command-line interface: parse, call the library, print. Heavy imports stay inside commands."""

from __future__ import annotations

import json
import sys

import click

from . import __version__
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


def _fmt(x: float) -> str:
    """Human-readable number: thousands separators for integers, 4 significant digits otherwise."""
    if isinstance(x, str):
        return x
    if float(x).is_integer() and abs(x) < 1e15:
        return f"{int(x):,}"
    return f"{x:.4g}"


def _table(rows: list[list], headers: list[str]) -> str:
    cells = [headers] + [[_fmt(c) if not isinstance(c, str) else c for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for j, r in enumerate(cells):
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))))
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


@main.command()
def models() -> None:
    """List the built-in model presets."""
    from .workload import preset, preset_names

    rows = []
    for name in preset_names():
        m = preset(name)
        p = m.param_counts()
        ffn = f"{m.ffn}/{m.activation} {m.ffn_dim}" + (f" x{m.experts}e top{m.experts_per_token}" if m.experts > 1 else "")
        rows.append([name, f"{p['total'] / 1e9:.3f}B", m.arch, m.layers, m.hidden, f"{m.heads}/{m.kv_heads}", ffn,
                     m.max_context])
    click.echo(_table(rows, ["model", "params", "arch", "layers", "hidden", "heads/kv", "ffn", "context"]))


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
@click.argument("model")
@workload_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def workload(model: str, as_json: bool, **kw) -> None:
    """Show the operators of MODEL (a preset name or a config.json path) per phase."""
    from .workload import load_model, operator_table, phases, workload_summary

    m = load_model(model)
    sc = scenario_from_options(**kw)
    if m.arch == "encoder" and sc.generate_tokens:
        sc = type(sc)(**{**sc.to_dict(), "generate_tokens": 0})
    summary = workload_summary(m, sc)
    tables = {ph: operator_table(m, sc, ph) for ph in phases(m)}
    if as_json:
        out = {"model": m.to_dict(), "scenario": sc.to_dict(), "params": m.param_counts(), "summary": summary,
               "operators": {ph: t.to_frame().to_dict(orient="records") for ph, t in tables.items()}}
        click.echo(json.dumps(out, indent=2, default=float))
        return
    p = m.param_counts()
    click.echo(f"{m.name}: {p['total']:,} parameters ({p['active']:,} active per token); "
               f"KV cache {summary['kv_bytes_per_token']:,.0f} B per token at {sc.kv} bits")
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
