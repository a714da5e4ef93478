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


# ------------------------------------------------------------------------------------------------ scenario lists

SMALL = ["--model", "gpt2", "--prompt-tokens", "32", "--generate-tokens", "8"]


def test_eval_batch_list_rows_equal_single_evals():
    r = cli("eval", "--set", "device=rram", *SMALL, "--batch", "1,4,16", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["vary"] == "batch" and [row["batch"] for row in out["rows"]] == [1, 4, 16]
    for row in out["rows"]:
        one = json.loads(cli("eval", "--set", "device=rram", *SMALL, "--batch", row["batch"], "--json").stdout)
        for m in ("tokens_per_s", "tpot_ms", "ttft_ms", "energy_per_token_uj", "avg_power_w"):
            assert row[m] == one["metrics"][m], m
        assert row["feasible"] == one["feasible"]
    # the table: one row per value
    r = cli("eval", "--set", "device=rram", *SMALL, "--batch", "1,4,16")
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert [ln.split()[0] for ln in lines[3:6]] == ["1", "4", "16"]


def test_eval_list_with_gpu_beside_and_plot(tmp_path):
    from cimdse.cost.gpu import gpu_metrics
    from cimdse.workload import Scenario, preset

    png = tmp_path / "curves.png"
    r = cli("eval", "--set", "device=sram", "--set", "bits_per_cell=1", "--model", "gpt2", "--generate-tokens", "8",
            "--prompt-tokens", "16,64,256", "--gpu", "a100", "--plot", png, "--json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)["rows"]
    for row in rows:
        g = gpu_metrics("a100-80gb", None, preset("gpt2"), Scenario(prompt_tokens=row["prompt_tokens"],
                                                                    generate_tokens=8))["metrics"]
        assert row["gpu_ttft_ms"] == g["ttft_ms"]
        assert row["speedup_vs_gpu"] == g["tpot_ms"] / row["tpot_ms"]     # GPU time per token / design's
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    assert [p.name for p in tmp_path.iterdir()] == ["curves.png"]          # no temporary file left


def test_eval_list_gpu_alone_without_design():
    r = cli("eval", "--gpu", "h100", "--model", "gpt2", "--batch", "1,8", "--json")
    assert r.exit_code == 0, r.output
    row = json.loads(r.stdout)["rows"][0]
    assert "gpu_tokens_per_s" in row and "tokens_per_s" not in row


# ------------------------------------------------------------------------------------------------ device defaults

def test_unset_bits_per_cell_follows_the_device():
    import cimdse
    from cimdse.tech import DEVICES, load_tech

    df = cimdse.evaluate([{"device": d} for d in DEVICES], model="gpt2")
    caps = load_tech().device["max_bits_per_cell"]
    # the default is min(2, the device's maximum): 1 on SRAM, MRAM, DRAM; 2 on RRAM, PCM, FeFET
    assert df["bits_per_cell"].tolist() == [min(2, int(c)) for c in caps]
    assert df.loc[df["device"] == "sram", "bits_per_cell"].item() == 1
    assert not df["violation"].str.contains("bits_per_cell").any(), df["violation"].tolist()   # no conflict
    r = cli("eval", "--set", "device=sram", "--model", "gpt2")
    assert r.exit_code == 0, r.output
    assert "bits_per_cell=1" in r.stdout and "INFEASIBLE" not in r.stdout


def test_set_bits_per_cell_is_checked_with_the_range():
    r = cli("eval", "--set", "device=sram", "--set", "bits_per_cell=2", "--model", "gpt2")
    assert r.exit_code == 2
    assert "bits_per_cell 2 exceeds" in r.stderr and "sram allows 1 to 1" in r.stderr
    r = cli("eval", "--set", "device=pcm", "--set", "bits_per_cell=3", "--model", "gpt2")
    assert r.exit_code == 0, r.output                                     # PCM stores up to 3


def test_sweep_over_devices_needs_no_bits_per_cell(tmp_path):
    from cimdse.config import load_sweep
    from cimdse.search.scoring import score

    f = tmp_path / "s.yaml"
    f.write_text("name: s\nworkload: {model: gpt2, prompt_tokens: 32, generate_tokens: 8}\n"
                 "space: {device: [sram, mram, rram]}\nfixed: {rows: 128}\n"   # 256 MRAM rows lose 0.12 of V_read
                 "objectives: {energy_per_token_uj: minimize}\n")                 # even with one row driven
    s = score(load_sweep(f), [{"device": "sram"}, {"device": "mram"}, {"device": "rram"}])
    assert s.feasible.all() and list(s.batch["bits_per_cell"]) == [1, 1, 2]


# ------------------------------------------------------------------------------------------------ messages

def _sweep_file(tmp_path, **over):
    lines = {"name": "s", "workload": "{model: gpt2, prompt_tokens: 32, generate_tokens: 8}",
             "space": "{rows: [64, 128]}", "objectives": "{energy_per_token_uj: minimize}", **over}
    f = tmp_path / "s.yaml"
    f.write_text("".join(f"{k}: {v}\n" for k, v in lines.items()))
    return f


def test_sampler_names_ignore_case(tmp_path):
    from cimdse.config import load_sweep

    assert load_sweep(_sweep_file(tmp_path, search="{sampler: NSGA2}")).search.sampler == "nsga2"
    assert load_sweep(_sweep_file(tmp_path), {"sampler": "TPE"}).search.sampler == "tpe"
    r = cli("sweep", _sweep_file(tmp_path, search="{sampler: Random, trials: 2}"), "--out", tmp_path / "o",
            "--quiet", "--no-plots")
    assert r.exit_code == 0, r.output


def test_friendly_hints(tmp_path):
    r = cli("sweep", _sweep_file(tmp_path, constraints='["area_mm2 <= 800 mm2"]'), "--out", tmp_path / "o")
    assert r.exit_code == 2 and "drop the unit 'mm2'" in r.stderr and "write 'area_mm2 <= 800'" in r.stderr
    r = cli("eval", "--set", "node_nm=0.022", "--model", "gpt2")
    assert r.exit_code == 2 and "did you mean 22?" in r.stderr
    r = cli("eval", "--set", "node_nm=2", "--model", "gpt2")            # no rescaling lands in range: no guess
    assert r.exit_code == 2 and "did you mean" not in r.stderr
    f = tmp_path / "tab.yaml"
    f.write_text("name: t\nspace:\n\trows: [64]\n")
    r = cli("sweep", f, "--out", tmp_path / "o")
    assert r.exit_code == 2 and "use spaces, not tabs" in r.stderr
    assert not (tmp_path / "o").exists()


def test_shell_completion_of_models_gpus_and_references():
    from click.shell_completion import ShellComplete

    from cimdse.cli import main

    sc = ShellComplete(main, {}, "cimdse", "_CIMDSE_COMPLETE")

    def values(args, incomplete):
        return [c.value for c in sc.get_completions(args, incomplete) if c.type == "plain"]

    assert values(["workload"], "gemma") == ["gemma-2b", "gemma-2-2b"]
    assert "qwen2-7b" in values(["eval", "--model"], "q")
    assert {"h100", "h100-sxm", "h100-pcie"} <= set(values(["eval", "--gpu"], "h1"))
    assert values(["validate", "--reference"], "isa") == ["isaac"]
    r = cli("validate", "--reference", "isaac")                        # a packaged reference by name
    assert r.exit_code == 0 and "ISAAC" in r.stdout
