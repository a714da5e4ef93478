"""The small sweep file that the end-to-end sweep tests share (3 devices x 3 row counts x 6 ADC widths x 3 tile
counts), and running `cimdse sweep` through click's CliRunner."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from cimdse.cli import main

SMALL = """
name: {name}
workload: {{model: gpt2, batch: 1, prompt_tokens: 32, generate_tokens: 8}}
space:
  device: [sram, rram, fefet]
  rows: [64, 128, 256]
  adc_bits: {{low: 4, high: 9}}
  tiles: [512, 1024, 4096]
{extra}
fixed: {{bits_per_cell: 1, chips: 1, rows_active: 32}}   # 32 driven rows: RRAM columns within max_ir_drop
objectives: {{energy_per_token_uj: minimize, sqnr_db: maximize}}
constraints: ["weights_fit == 1"]
search: {{sampler: {sampler}, trials: {trials}, seed: 3, batch_size: {batch}}}
"""


def write_small(tmp_path: Path, sampler: str, trials: int, name: str, batch: int, extra: str = "") -> Path:
    """SMALL as tmp_path/<name>.yaml; `extra` adds lines to its space."""
    f = tmp_path / f"{name}.yaml"
    f.write_text(SMALL.format(name=name, sampler=sampler, trials=trials, batch=batch, extra=extra))
    return f


def sweep(*args):
    """`cimdse sweep ARGS...` in this process."""
    return CliRunner().invoke(main, ["sweep", *map(str, args)])


def front_trials(front) -> set[int]:
    """Every trial a pareto.csv stands for: each row is one distinct design, `found_in_trials` lists the trials
    that found it (the row's own trial among them)."""
    found = {int(t) for v in front["found_in_trials"] for t in str(v).split()}
    assert set(front["trial"]) <= found
    return found
