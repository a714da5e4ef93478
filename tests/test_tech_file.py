"""The technology file (--tech FILE, sweep key tech:): overrides reach the cost model, the GPU roofline, leakage and
noise tables, run.yaml and the fingerprint; `cimdse devices --tech` marks the user's values."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from cimdse.cli import main
from cimdse.cost import evaluate, evaluate_arrays
from cimdse.errors import UserError
from cimdse.tech import load_tech


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def tech_file(tmp_path, text: str, name: str = "tech.yaml"):
    f = tmp_path / name
    f.write_text(text)
    return f


def cells_pj(tech=None) -> float:
    """Decode 'cells' energy (pJ) of an SRAM design at its capacitance's reference node and supply."""
    design = {"device": "sram", "bits_per_cell": 1, "node_nm": 28, "vdd": 0.9}
    res = evaluate_arrays({k: [v] for k, v in design.items()}, "gpt2", breakdown=True, tech=tech)
    return float(res["breakdown"]["energy_pj"]["decode"]["cells"][0])


def test_doubling_the_cell_capacitances_doubles_the_cell_energy(tmp_path):
    # e_cell = activity x (C_cell + C_wire/um x pitch_um) x V^2 (docs/MODEL.md, cell read energy): doubling both
    # capacitances (0.35 -> 0.7 fF per SRAM cell, 0.2 -> 0.4 fF/um of line) doubles e_cell, and the `cells` part of
    # the energy breakdown is (MACs) x e_cell, so it moves by exactly 2x; nothing else in that part changes.
    f = tech_file(tmp_path, "devices:\n  sram:\n    cell_cap_ff: 0.7\nperiphery:\n  dac:\n    wire_cap_ff_per_um: 0.4\n")
    assert cells_pj(load_tech(f)) == pytest.approx(2 * cells_pj(), rel=1e-12)


def test_cell_capacitance_alone_moves_the_cells_part_by_the_hand_computed_ratio(tmp_path):
    # Only C_cell doubled: ratio = (2 C_cell + C_wire) / (C_cell + C_wire), C_cell = 0.35 fF (28 nm, 0.9 V: no
    # scaling), C_wire = 0.2 fF/um x sqrt(280 F^2 x (0.028 um)^2) = 0.2 x 0.46853 um = 0.093706 fF.
    c_cell, c_wire = 0.35, 0.2 * math.sqrt(280 * 0.028**2)
    f = tech_file(tmp_path, "devices:\n  sram:\n    cell_cap_ff: {value: 0.7, source: 'my 28 nm cell'}\n")
    assert cells_pj(load_tech(f)) / cells_pj() == pytest.approx((2 * c_cell + c_wire) / (c_cell + c_wire), rel=1e-9)


def test_none_is_the_shipped_data_and_a_path_works_like_a_tech(tmp_path):
    f = tech_file(tmp_path, "devices:\n  rram:\n    read_voltage_v: 0.25\n")
    a = evaluate([{"device": "rram"}], "gpt2")
    b = evaluate([{"device": "rram"}], "gpt2", tech=None)
    c = evaluate([{"device": "rram"}], "gpt2", tech=f)
    d = evaluate([{"device": "rram"}], "gpt2", tech=load_tech(f))
    assert a.equals(b) and c.equals(d)
    assert c["energy_per_token_uj"][0] < a["energy_per_token_uj"][0]   # a lower read voltage spends less
    assert load_tech(None) is load_tech()                                # the shipped data is read once


def test_merged_leaf_keeps_unit_and_names_the_file(tmp_path):
    f = tech_file(tmp_path, "devices:\n  rram:\n    r_on_ohm: {value: 20000, source: 'lab data 2026'}\n")
    t = load_tech(f)
    leaf = t.raw["devices"]["rram"]["r_on_ohm"]
    assert leaf["value"] == 20000 and leaf["unit"] == "ohm" and leaf["source"] == f"user file {f}: lab data 2026"
    assert load_tech().raw["devices"]["rram"]["r_on_ohm"]["value"] == 100000   # the shipped tree is untouched
    assert t.device["r_on_ohm"][1] == 20000


def test_noise_and_leakage_sections_reach_their_tables(tmp_path):
    from cimdse.cost.errmodel import device_noise
    from cimdse.cost.leakage import leakage_data
    from cimdse.tech import DEVICES

    # drift = level x sigma_nu x ln((t + t0) / t0) (noise.yaml, docs/MODEL.md section 6): with t = t0 = 20 s it is
    # 0.5 x 0.008 x ln 2 = 0.0027726 for PCM.
    f = tech_file(tmp_path, "noise:\n  evaluation_time_s: 20\nleakage:\n  power_gating:\n    retention_fraction: 0.25\n")
    t = load_tech(f)
    assert device_noise(t)["drift"][DEVICES.index("pcm")] == pytest.approx(0.5 * 0.008 * math.log(2), rel=1e-12)
    assert leakage_data(t)["retention"] == 0.25
    assert leakage_data()["retention"] != 0.25


def test_gpu_constants_reach_the_roofline(tmp_path):
    from cimdse.cost.gpu import gpu_metrics
    from cimdse.models import load_model
    from cimdse.workload import Scenario

    # memory-bound kernel time = bytes / (hbm_gbps x mem_efficiency): halving mem_efficiency doubles the
    # memory-bound part of decode exactly (a memory-bound kernel stays memory-bound).
    half = load_tech().raw["gpus"]["calibration"]["mem_efficiency"]["value"] / 2
    f = tech_file(tmp_path, f"gpus:\n  calibration:\n    mem_efficiency: {half}\n")
    m, sc = load_model("llama-2-7b"), Scenario()
    a = gpu_metrics("h100-sxm", 1, m, sc, breakdown=True)["breakdown"]["decode"]["memory_bound"]
    b = gpu_metrics("h100-sxm", 1, m, sc, breakdown=True, tech=load_tech(f))["breakdown"]["decode"]["memory_bound"]
    assert b == pytest.approx(2 * a, rel=1e-12)


@pytest.mark.parametrize("text,key,expect", [
    ("devices:\n  rram:\n    read_voltag_v: 0.3\n", "devices.rram.read_voltag_v", "did you mean 'read_voltage_v'"),
    ("periphery:\n  adc:\n    linear_fj_per_bit: true\n", "periphery.adc.linear_fj_per_bit", "expected a number"),
    ("memory:\n  offchip:\n    hbm3:\n      capacity_gb: 0\n", "memory.offchip.hbm3.capacity_gb", "positive"),
    ("periphery:\n  vdd_by_node:\n    value: {22: 0.8}\n", "periphery.vdd_by_node", "exactly the keys"),
    ("gpus:\n  gpus:\n    h100-sxm:\n      hbm_gbps: {value: 3000, unit: TB/s}\n", "gpus.gpus.h100-sxm.hbm_gbps.unit",
     "expected 'GB/s'"),
])
def test_bad_files_name_the_file_and_key(tmp_path, text, key, expect):
    f = tech_file(tmp_path, text)
    with pytest.raises(UserError) as e:
        load_tech(f)
    msg = str(e.value)
    assert str(f) in msg and key in msg and expect in msg and "\n" not in msg


def test_eval_json_records_the_file(tmp_path):
    f = tech_file(tmp_path, "devices:\n  rram:\n    read_voltage_v: 0.25\n")
    r = run("eval", "--model", "gpt2", "--set", "device=rram", "--tech", f, "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["tech"]["path"] == str(f) and len(out["tech"]["digest"]) == 16
    plain = json.loads(run("eval", "--model", "gpt2", "--set", "device=rram", "--json").output)
    assert "tech" not in plain and out["metrics"]["energy_per_token_uj"] < plain["metrics"]["energy_per_token_uj"]


def test_devices_table_marks_user_values(tmp_path):
    f = tech_file(tmp_path, "devices:\n  pcm:\n    read_pulse_ns: {value: 50, source: 'Le Gallo 2023'}\n"
                            "periphery:\n  adc:\n    thermal_fj: 0.002\n")
    r = run("devices", "--tech", f)
    assert r.exit_code == 0, r.output
    row = next(line for line in r.output.splitlines() if line.startswith("read_pulse_ns"))
    assert "50*" in row and row.count("*") == 1
    assert f"* source: user file {f}" in r.output
    assert "periphery.adc.thermal_fj" in r.output and "0.002" in r.output
    src = run("devices", "--tech", f, "--sources").output
    assert f"pcm.read_pulse_ns = 50 ns: user file {f}: Le Gallo 2023" in src
    assert "rram.read_pulse_ns = 10 ns: user file" not in src


SWEEP = """
name: techrun
workload: {model: gpt2, batch: 1, prompt_tokens: 32, generate_tokens: 8}
space:
  device: [sram, rram]
  rows: [64, 128]
fixed: {bits_per_cell: 1, chips: 1, rows_active: 32, tiles: 1024}
objectives: {energy_per_token_uj: minimize, area_mm2: minimize}
search: {sampler: random, trials: 8, seed: 1, batch_size: 4}
tech: sub/tech.yaml
"""


def test_sweep_records_the_file_and_refuses_a_resume_with_another(tmp_path):
    from cimdse.config import load_sweep
    from cimdse.results import sweep_fingerprint

    (tmp_path / "sub").mkdir()
    tf = tech_file(tmp_path / "sub", "devices:\n  rram:\n    read_voltage_v: 0.25\n")
    sf = tmp_path / "s.yaml"
    sf.write_text(SWEEP)
    out = tmp_path / "run"
    r = run("sweep", sf, "--out", out, "--quiet", "--no-plots")
    assert r.exit_code == 0, r.output
    rec = yaml.safe_load((out / "run.yaml").read_text())
    assert rec["tech"]["path"] == str(tf) and rec["tech"]["overrides"] == {"devices": {"rram": {"read_voltage_v": 0.25}}}
    fp = rec["fingerprint"]
    tf.write_text("# a comment changes nothing\ndevices:\n  rram:\n    read_voltage_v: 0.25\n")
    assert sweep_fingerprint(load_sweep(sf)) == fp
    tf.write_text("devices:\n  rram:\n    read_voltage_v: 0.3\n")
    assert sweep_fingerprint(load_sweep(sf)) != fp
    r = run("sweep", sf, "--out", out, "--quiet", "--no-plots", "--trials", "12")
    assert r.exit_code == 2 and "different sweep" in r.output
    # the same run re-scored from its trials: --trial uses the recorded technology, not the file on disk
    trials = __import__("pandas").read_csv(out / "trials.csv")
    i = int(trials.index[trials["device"] == "rram"][0])
    r = run("eval", out, "--trial", int(trials["trial"][i]), "--json")
    assert r.exit_code == 0, r.output
    got = json.loads(r.output)["metrics"]["energy_per_token_uj"]
    assert got == pytest.approx(float(trials["energy_per_token_uj"][i]), rel=1e-5)


def test_sweep_without_tech_keeps_its_fingerprint(tmp_path):
    from cimdse.config import load_sweep
    from cimdse.results import sweep_fingerprint

    sf = tmp_path / "s.yaml"
    sf.write_text(SWEEP.replace("tech: sub/tech.yaml\n", ""))
    sw = load_sweep(sf)
    assert sw.tech is None and not sw.uncertainty
    import hashlib

    raw = {k: v for k, v in sw.raw.items() if k != "search"}
    s = sw.search
    raw["search"] = {"sampler": s.sampler, "seed": s.seed, "storage": s.storage, "study_name": s.study_name}
    expect = hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()[:16]
    assert sweep_fingerprint(sw) == expect   # the fingerprint of runs made before technology files existed


def test_cli_tech_replaces_the_sweep_key(tmp_path):
    from cimdse.config import load_sweep

    (tmp_path / "sub").mkdir()
    tech_file(tmp_path / "sub", "devices:\n  rram:\n    read_voltage_v: 0.25\n")
    other = tech_file(tmp_path, "devices:\n  rram:\n    read_voltage_v: 0.3\n", "other.yaml")
    sf = tmp_path / "s.yaml"
    sf.write_text(SWEEP)
    assert load_sweep(sf, {"tech": str(other)}).tech.device["read_voltage_v"][1] == 0.3
    assert load_sweep(sf).tech.device["read_voltage_v"][1] == 0.25
    assert np.array_equal(load_sweep(sf).tech.device["r_on_ohm"], load_tech().device["r_on_ohm"])
