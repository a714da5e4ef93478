"""Fronts that can be built: over the whole parameter space no feasible design breaks a physical limit, and a small
real sweep of every shipped sweep file's space has only such designs on its Pareto front."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _small_sweep import sweep
from hypothesis import given, settings
from hypothesis import strategies as st

from cimdse.cost import evaluate_arrays
from cimdse.cost.params import PARAMS, defaults, to_batch
from cimdse.models import load_model
from cimdse.tech import OFFCHIP, load_tech
from cimdse.workload import Scenario

SWEEPS = sorted(Path(__file__).resolve().parent.parent.joinpath("sweeps").glob("*.yaml"))


def limit_breaks(df: pd.DataFrame) -> list[str]:
    """Every physical limit of docs/MODEL.md section 10 a row of metrics breaks, recomputed from its columns."""
    cap = dict(zip(OFFCHIP, load_tech().offchip["capacity_gb"], strict=True))
    off_cap = df["offchip"].map(cap) * df["offchip_devices"] * df["chips_used"]
    out = []
    for i in np.flatnonzero(df["die_area_mm2"] > df["max_die_mm2"]):
        out.append(f"row {i}: die {df['die_area_mm2'].iloc[i]} > {df['max_die_mm2'].iloc[i]}")
    for i in np.flatnonzero(df["power_density_w_mm2"] > df["max_power_density_w_mm2"]):
        out.append(f"row {i}: power density {df['power_density_w_mm2'].iloc[i]}")
    for i in np.flatnonzero(df["offchip_gb"] > off_cap):
        out.append(f"row {i}: off-chip {df['offchip_gb'].iloc[i]} GB > {off_cap.iloc[i]} GB")
    gbps = df["offchip"].map(dict(zip(OFFCHIP, load_tech().offchip["bandwidth_gbps"], strict=True)))
    edge = np.maximum(gbps, 4800 * np.sqrt(df["die_area_mm2"] / 814))     # H200 on GH100, per die edge
    for i in np.flatnonzero(gbps * df["offchip_devices"] > edge * (1 + 1e-12)):
        out.append(f"row {i}: off-chip {gbps.iloc[i] * df['offchip_devices'].iloc[i]} GB/s > {edge.iloc[i]} GB/s")
    need_kb = np.where(df["device"] == "dram", 0.0, df["rows"] * df["input_bits"] / 8192)   # one array's inputs
    for i in np.flatnonzero(need_kb > df["tile_buffer_kb"]):
        out.append(f"row {i}: input vector {need_kb[i]} KB > tile buffer {df['tile_buffer_kb'].iloc[i]} KB")
    dram = (df["device"] == "dram").to_numpy()
    for i in np.flatnonzero(dram & ((df["node_nm"] < 12) | (df["clock_ghz"] > 1.0)).to_numpy()):   # DRAM process
        out.append(f"row {i}: DRAM PIM at {df['node_nm'].iloc[i]} nm, {df['clock_ghz'].iloc[i]} GHz")
    in_pkg = np.minimum(df["chips_per_package"], df["chips_used"])       # chips sharing one package (Dojo tile)
    for i in np.flatnonzero(((in_pkg > 1) & (in_pkg * df["die_area_mm2"] > 16125)).to_numpy()):
        out.append(f"row {i}: {in_pkg.iloc[i]} chips of {df['die_area_mm2'].iloc[i]} mm2 in one package")
    return out


POW2 = st.sampled_from([16, 64, 256, 1024, 4096])
DESIGN = st.fixed_dictionaries({
    "device": st.sampled_from(PARAMS["device"].choices),
    "node_nm": st.sampled_from([7.0, 22.0, 45.0, 130.0]),
    "rows": POW2, "cols": POW2, "bits_per_cell": st.integers(1, 4), "adc_bits": st.integers(1, 12),
    "cols_per_adc": st.sampled_from([1, 8, 64]), "arrays_per_tile": st.integers(1, 64),
    "tiles": st.integers(1, 70000), "chips": st.integers(1, 256), "clock_ghz": st.floats(0.1, 5.0),
    "attention": st.sampled_from(["digital", "cim"]), "offchip": st.sampled_from(OFFCHIP),
    "offchip_devices": st.integers(1, 8), "overflow": st.sampled_from(["chips", "reload"]),
    "global_buffer_mb": st.floats(0, 512), "compute": st.sampled_from(["analog", "digital"]),
    "max_die_mm2": st.sampled_from([100.0, 858.0, 46225.0]),
    "max_power_density_w_mm2": st.sampled_from([0.1, 1.0, 10.0]), "chips_per_package": st.sampled_from([1, 8, 4096]),
})


@settings(max_examples=80, deadline=None)
@given(st.lists(DESIGN, min_size=1, max_size=6), st.sampled_from(["gpt2", "llama-2-7b", "llama-2-70b"]),
       st.builds(Scenario, batch=st.integers(1, 256), prompt_tokens=st.integers(1, 4096),
                 generate_tokens=st.integers(0, 1024)))
def test_no_feasible_design_breaks_a_physical_limit(designs, model, scenario):
    # a request must fit the model's context (longer ones are refused up front): clamp it, keeping the extremes
    room = load_model(model).max_context
    gen = min(scenario.generate_tokens, room - 1)
    scenario = dataclasses.replace(scenario, generate_tokens=gen, prompt_tokens=min(scenario.prompt_tokens, room - gen))
    full = [{**defaults(), **d} for d in designs]
    r = evaluate_arrays(to_batch(full), model, scenario)
    df = pd.DataFrame({**{k: [d[k] for d in full] for k in PARAMS}, **{k: np.asarray(v) for k, v in r.items()}})
    assert limit_breaks(df[df["feasible"]].reset_index(drop=True)) == []
    # and every infeasible design says why
    assert all(df.loc[~df["feasible"], "reason"].str.len() > 0)


@pytest.mark.parametrize("path", SWEEPS, ids=[p.stem for p in SWEEPS])
def test_every_front_design_of_each_shipped_sweep_passes_all_limits(path, tmp_path):
    """A small random sweep over the file's space (300 designs; about 2 % of the quickstart's space is feasible);
    its front holds only buildable designs."""
    out = tmp_path / "run"
    r = sweep(path, "--sampler", "random", "--trials", 300, "--out", out, "--quiet", "--no-plots")
    assert r.exit_code == 0, r.output
    front = pd.read_csv(out / "pareto.csv")
    assert len(front), "empty front"
    assert front["feasible"].all()
    assert limit_breaks(front) == []


@pytest.mark.parametrize("name", ["max_die_mm2", "max_power_density_w_mm2", "max_ir_drop", "temperature_c",
                                  "input_stats", "read_ns"])
def test_limits_and_conditions_cannot_be_searched(name, tmp_path):
    # a search would pick the most lenient value of a limit, condition or data assumption: one line, exit 2
    from click.testing import CliRunner

    from cimdse.cli import main
    from cimdse.cost.params import NOT_SEARCHABLE

    values = list(PARAMS[name].choices) if PARAMS[name].kind == "cat" else [PARAMS[name].default, PARAMS[name].high]
    f = tmp_path / "s.yaml"
    f.write_text(f"name: s\nworkload: {{model: gpt2}}\nspace: {{rows: [128, 256], {name}: {values}}}\n"
                 "objectives: {energy_per_token_uj: minimize}\n")
    r = CliRunner().invoke(main, ["sweep", str(f), "--out", str(tmp_path / "run")])
    assert r.exit_code == 2 and f"space.{name}: {name} is {NOT_SEARCHABLE[name]}" in r.output
    assert len(r.output.strip().splitlines()) == 1 and not (tmp_path / "run").exists()
    f.write_text(f"name: s\nworkload: {{model: gpt2}}\nspace: {{rows: [128, 256]}}\nfixed: {{{name}: {values[0]}}}\n"
                 "objectives: {energy_per_token_uj: minimize}\n")
    assert CliRunner().invoke(main, ["sweep", str(f), "--out", str(tmp_path / "run"), "--quiet",
                                     "--no-plots"]).exit_code == 0
