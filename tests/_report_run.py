"""The small exhaustive sweep (with a GPU baseline) whose run the report tests open, run with `cimdse sweep`."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from cimdse.cli import main

# 3 devices x 3 row counts x 6 ADC widths x 3 tile counts = 162 designs, scored exhaustively, with a GPU baseline
SWEEP = """
name: report-test
workload: {model: gpt2, batch: 2, prompt_tokens: 32, generate_tokens: 8}
space:
  device: [sram, rram, fefet]
  rows: [64, 128, 256]
  adc_bits: [4, 5, 6, 7, 8, 9]
  tiles: [512, 1024, 4096]
fixed: {bits_per_cell: 1, chips: 1}
objectives: {energy_per_token_uj: minimize, tpot_ms: minimize}
constraints: ["weights_fit == 1", "sqnr_db >= 15"]
baseline: {gpu: h100-sxm}
search: {sampler: exhaustive}
"""


def make_run(folder: Path, *extra: str) -> Path:
    """Run SWEEP with `cimdse sweep` into folder/run; returns the run folder."""
    f = folder / "report-test.yaml"
    f.write_text(SWEEP)
    run = folder / "run"
    res = CliRunner().invoke(main, ["sweep", str(f), "--out", str(run), "--quiet", *extra])
    assert res.exit_code == 0, res.output
    return run
