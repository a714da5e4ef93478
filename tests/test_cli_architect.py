"""The architect's everyday moves through the CLI (issue 18): GPU aliases, scenario lists on `eval`,
device-dependent defaults, friendlier messages and shell completion."""

from __future__ import annotations

import json

from click.testing import CliRunner

from cimdse.cli import main


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


# ------------------------------------------------------------------------------------------------ GPU aliases

def test_gpu_aliases_resolve_to_documented_entries():
    from cimdse.cost.gpu import get_gpu, resolve_gpu

    assert resolve_gpu("a100") == "a100-80gb"
    assert resolve_gpu("h100") == "h100-sxm"
    assert resolve_gpu("H100") == "h100-sxm"              # case does not matter
    assert resolve_gpu("NVIDIA H100 SXM") == "h100-sxm"   # nor the vendor prefix and spaces
    assert resolve_gpu("3090") == "rtx-3090"
    assert get_gpu("h100").name == "h100-sxm"


def test_eval_gpu_alias_and_listing():
    r = cli("eval", "--gpu", "h100", "--model", "gpt2", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["gpu"]["name"] == "h100-sxm"
    r = cli("gpus")
    assert r.exit_code == 0 and "h100-sxm = h100" in r.stdout and "a100-80gb = a100" in r.stdout


def test_gpu_typo_still_gets_did_you_mean():
    r = cli("eval", "--gpu", "h10", "--model", "gpt2")
    assert r.exit_code == 2 and "did you mean 'h100'" in r.stderr and len(r.stderr.splitlines()) == 1
    r = cli("eval", "--gpu", "zzz", "--model", "gpt2")
    assert r.exit_code == 2 and "did you mean" not in r.stderr and "a100-80gb" in r.stderr


def test_sweep_baseline_alias_is_recorded_as_the_entry(tmp_path):
    from cimdse.config import load_sweep

    f = tmp_path / "s.yaml"
    f.write_text("name: s\nworkload: {model: gpt2, prompt_tokens: 32, generate_tokens: 8}\nspace: {rows: [64, 128]}\n"
                 "objectives: {energy_per_token_uj: minimize}\nbaseline: {gpu: a100}\n")
    assert load_sweep(f).baseline["gpu"] == "a100-80gb"
