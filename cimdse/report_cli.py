"""`cimdse report RUN_DIR [--out FILE.html]`: the interactive HTML report of a run (built by cimdse/report.py)."""

from __future__ import annotations

import click

from .errors import UserError


@click.command()
@click.argument("run_dir", type=click.Path())
@click.option("--out", default=None, metavar="FILE.html", type=click.Path(dir_okay=False),
              help="Where to write the page [RUN_DIR/report.html].")
def report(run_dir: str, out: str | None) -> None:
    """Write one self-contained HTML page to explore a run in a browser (no server, no network): the Pareto
    scatter on any two metrics, each design's energy, latency and area breakdown, parallel coordinates of the
    feasible trials, the search history and parameter importances."""
    from pathlib import Path

    from .report import write_report

    if out is not None and Path(out).suffix.lower() not in (".html", ".htm"):
        raise UserError("expected a file name ending in .html", key="--out")
    path = write_report(run_dir, out)
    click.echo(f"wrote {path} (open it in a browser; it works offline)")
