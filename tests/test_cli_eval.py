"""`cimdse eval` and `cimdse devices` through click's CliRunner."""

from __future__ import annotations

import json

from click.testing import CliRunner

from cimdse.cli import main


def run(*args):
    return CliRunner().invoke(main, list(args))


def test_eval_defaults_table():
    r = run("eval")
    assert r.exit_code == 0, r.output
    assert "energy_per_token_uj" in r.output and "tpot_ms" in r.output


def test_eval_json_and_breakdown(tmp_path):
    f = tmp_path / "d.yaml"
    f.write_text("design: {device: sram, bits_per_cell: 1, tiles: 4096}\nworkload: {model: gpt2, prompt_tokens: 64}\n")
    r = run("eval", str(f), "--json", "--set", "adc_bits=6")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["design"]["device"] == "sram" and data["design"]["adc_bits"] == 6
    assert data["workload"]["model"] == "gpt2" and data["workload"]["prompt_tokens"] == 64
    assert set(data["breakdown"]) == {"area_mm2", "energy_pj", "latency_ns", "operators_pj"}
    assert data["metrics"]["area_mm2"] > 0
    r = run("eval", str(f), "--breakdown")
    assert "energy per pass" in r.output and "area (mm^2)" in r.output


def test_eval_flat_design_file_and_model_option(tmp_path):
    f = tmp_path / "d.yaml"
    f.write_text("device: pcm\nbits_per_cell: 3\n")
    r = run("eval", str(f), "--model", "llama-2-13b", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["workload"]["model"] == "llama-2-13b"


def test_eval_errors_one_line_exit_2(tmp_path):
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("design: {rows: [1, 2\n")
    unknown_key = tmp_path / "u.yaml"
    unknown_key.write_text("design: {rowz: 128}\n")
    cases = [
        ["eval", "--set", "device=dram", "--set", "bits_per_cell=2"],  # set by the user: checked
        ["eval", "--set", "rows_active=512", "--set", "rows=256"],
        ["eval", "--set", "adc_bits=0"],
        ["eval", "--set", "rows=12.5"],
        ["eval", "--set", "colour=1"],
        ["eval", str(bad_yaml)],
        ["eval", str(unknown_key)],
        ["eval", str(tmp_path / "missing.yaml")],
        ["eval", str(tmp_path)],
        ["eval", "--model", "nope"],
    ]
    for args in cases:
        r = run(*args)
        assert r.exit_code == 2, (args, r.output)
        lines = [ln for ln in r.output.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:"), (args, r.output)
    r = run("eval", str(unknown_key))
    assert "did you mean 'rows'" in r.output and "design.rowz" in r.output


def test_devices_lists_technologies_with_sources():
    r = run("devices")
    assert r.exit_code == 0 and "fefet" in r.output and "endurance_cycles" in r.output
    r = run("devices", "--sources")
    assert "rram.endurance_cycles" in r.output
