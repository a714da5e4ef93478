"""The foundation commands through click's CliRunner."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from cimdse.cli import main


def run(*args):
    return CliRunner().invoke(main, list(args))


def test_version_and_help():
    r = run("--version")
    assert r.exit_code == 0 and "cimdse" in r.output
    assert run("--help").exit_code == 0


def test_models_lists_presets():
    r = run("models")
    assert r.exit_code == 0
    assert "llama-2-70b" in r.output and "64/8" in r.output and "6.738B" in r.output


def test_workload_table_and_json():
    r = run("workload", "gpt2", "--prompt-tokens", "16", "--generate-tokens", "4")
    assert r.exit_code == 0, r.output
    assert "prefill" in r.output and "decode" in r.output and "qk_scores" in r.output
    r = run("workload", "llama-2-7b", "--json", "--act-bits", "16")
    data = json.loads(r.output)
    assert data["summary"]["kv_bytes_per_token"] == 524288
    assert data["params"]["total"] == 6738415616


def test_workload_config_json(hf_dir):
    r = run("workload", str(hf_dir / "mixtral-8x7b" / "config.json"), "--json")
    assert r.exit_code == 0
    assert json.loads(r.output)["params"]["active"] == 12879925248


def test_errors_are_one_line_exit_2(tmp_path):
    bad = tmp_path / "config.json"
    bad.write_text('{"model_type": "llama", "hidden_size": 4096}')
    for args in (["workload", "no-such-model"], ["workload", str(bad)],
                 ["workload", "gpt2", "--prompt-tokens", "-3"]):
        r = run(*args)
        assert r.exit_code == 2, (args, r.output)
        lines = [ln for ln in r.output.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:"), r.output
        assert "Traceback" not in r.output


def test_python_dash_m():
    out = subprocess.run([sys.executable, "-m", "cimdse", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and "cimdse" in out.stdout
