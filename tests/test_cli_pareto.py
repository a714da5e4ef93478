"""`cimdse pareto` on a real run folder and on a bare trials.csv, the figures a sweep writes, and bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
from _small_sweep import front_trials
from click.testing import CliRunner

from cimdse.cli import main

SWEEP = """
name: plots
workload: {model: gpt2, batch: 1, prompt_tokens: 32, generate_tokens: 8}
space:
  device: [sram, rram, fefet]
  rows: [64, 128, 256]
  adc_bits: {low: 4, high: 9}
  tiles: [512, 1024, 4096]
fixed: {bits_per_cell: 2, chips: 1}
objectives: {energy_per_token_uj: minimize, sqnr_db: maximize}
constraints: ["weights_fit == 1"]
search: {sampler: tpe, trials: 40, seed: 5, batch_size: 10}
baseline: {gpu: h100-sxm, gpus: 1}
"""
FIGURES = ("pareto.png", "breakdown.png", "history.png", "importance.png")


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """One real sweep with a GPU baseline (bits_per_cell=2 makes every SRAM design infeasible), shared read-only."""
    root = tmp_path_factory.mktemp("run")
    f = root / "plots.yaml"
    f.write_text(SWEEP)
    r = run("sweep", f, "--out", root / "run", "--quiet")
    assert r.exit_code == 0, r.output
    return root / "run"


@pytest.fixture
def rundir(run_dir, tmp_path) -> Path:
    """A private copy of the run folder."""
    return Path(shutil.copytree(run_dir, tmp_path / "run"))


def brute_front(df: pd.DataFrame, metrics: list[tuple[str, str]]) -> set[int]:
    """Trials of the feasible rows that no other feasible row dominates (O(N^2), minimization space)."""
    feas = df[df["feasible"]]
    v = np.column_stack([feas[m] * (1.0 if d == "minimize" else -1.0) for m, d in metrics])
    keep = [not np.any(np.all(v <= r, axis=1) & np.any(v < r, axis=1)) for r in v]
    return set(feas["trial"][np.array(keep)])


def test_sweep_writes_every_figure(run_dir) -> None:
    for name in FIGURES:
        img = matplotlib.image.imread(run_dir / name)
        assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 600 and img.std() > 0.01, name
    # the quickstart-like 2-objective run: the scatter is 9.5 x 6 in at 110 dpi
    assert matplotlib.image.imread(run_dir / "pareto.png").shape[:2] == (660, 1045)


def test_pareto_on_run_folder_uses_the_objectives(rundir) -> None:
    r = run("pareto", rundir)
    assert r.exit_code == 0, r.output
    fig, csv = rundir / "pareto-energy_per_token_uj-sqnr_db.png", rundir / "pareto-energy_per_token_uj-sqnr_db.csv"
    assert matplotlib.image.imread(fig).shape[:2] == (660, 1045)
    trials = pd.read_csv(rundir / "trials.csv")
    front = pd.read_csv(csv)
    metrics = [("energy_per_token_uj", "minimize"), ("sqnr_db", "maximize")]
    assert front_trials(front) == brute_front(trials, metrics)
    assert front["energy_per_token_uj"].is_monotonic_increasing
    # the run's own front over the same objectives is the same table
    pd.testing.assert_frame_equal(front, pd.read_csv(rundir / "pareto.csv"))
    assert f"Pareto front {len(front)} over energy_per_token_uj (minimize), sqnr_db (maximize)" in r.output


def test_pareto_other_metrics_three_axes_svg(rundir, tmp_path) -> None:
    out = tmp_path / "fig.svg"
    r = run("pareto", rundir / "trials.csv", "--x", "tokens_per_s", "--y", "area_mm2", "--z", "sqnr_db",
            "--color", "rows", "--label", "adc_bits", "--feasible-only", "--out", out)
    assert r.exit_code == 0, r.output
    assert out.read_text().rstrip().endswith("</svg>")
    front = pd.read_csv(tmp_path / "fig.csv")
    trials = pd.read_csv(rundir / "trials.csv")
    # not objectives of the run: default directions (tokens/s and SQNR up, area down)
    metrics = [("tokens_per_s", "maximize"), ("area_mm2", "minimize"), ("sqnr_db", "maximize")]
    assert front_trials(front) == brute_front(trials, metrics)
    assert "tokens_per_s (maximize), area_mm2 (minimize), sqnr_db (maximize)" in r.output


def test_gpu_baseline_is_a_reference_marker(rundir, tmp_path) -> None:
    import yaml

    from cimdse.run import pareto_view

    gpu = yaml.safe_load((rundir / "run.yaml").read_text())["baseline"]
    v = pareto_view(rundir, "speedup_vs_gpu", "energy_gain_vs_gpu", out=tmp_path / "g.png")
    label, values = v.references[0]
    assert label == "GPU: 1 x h100-sxm " + gpu["precision"]
    assert values["speedup_vs_gpu"] == values["energy_gain_vs_gpu"] == 1.0  # the GPU against itself
    assert values["tpot_ms"] == gpu["metrics"]["tpot_ms"]
    # ratios are maximized by default: the front is the designs no other beats on both
    metrics = [("speedup_vs_gpu", "maximize"), ("energy_gain_vs_gpu", "maximize")]
    assert front_trials(pd.read_csv(tmp_path / "g.csv")) == brute_front(pd.read_csv(rundir / "trials.csv"), metrics)


def test_pareto_on_bare_trials_csv(run_dir, tmp_path) -> None:
    bare = tmp_path / "trials.csv"
    shutil.copy(run_dir / "trials.csv", bare)
    r = run("pareto", bare)
    assert r.exit_code == 2 and "give --x and --y" in r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trials.csv"]
    r = run("pareto", bare, "--x", "tpot_ms", "--y", "energy_per_token_uj", "--log-x", "--out", tmp_path / "f.pdf")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "f.pdf").read_bytes().startswith(b"%PDF-")
    front = pd.read_csv(tmp_path / "f.csv")
    metrics = [("tpot_ms", "minimize"), ("energy_per_token_uj", "minimize")]
    assert front_trials(front) == brute_front(pd.read_csv(bare), metrics)


def test_pareto_table_without_feasible_column(run_dir, tmp_path) -> None:
    df = pd.read_csv(run_dir / "trials.csv")
    df = df[df["feasible"]].drop(columns=["feasible"])
    df.to_csv(tmp_path / "designs.csv", index=False)
    r = run("pareto", tmp_path / "designs.csv", "--x", "energy_per_token_uj", "--y", "sqnr_db")
    assert r.exit_code == 0, r.output
    front = pd.read_csv(tmp_path / "pareto-energy_per_token_uj-sqnr_db.csv")
    metrics = [("energy_per_token_uj", "minimize"), ("sqnr_db", "maximize")]
    assert front_trials(front) == brute_front(df.assign(feasible=True), metrics)


def _bad_cases(rundir: Path, tmp_path: Path) -> list[tuple[list, str]]:
    empty = tmp_path / "empty"
    empty.mkdir()
    lacking = tmp_path / "lacking"
    lacking.mkdir()
    pd.read_csv(rundir / "trials.csv").drop(columns=["sqnr_db"]).to_csv(lacking / "trials.csv", index=False)
    shutil.copy(rundir / "run.yaml", lacking / "run.yaml")
    return [
        (["pareto", empty], "no trials.csv in this folder"),
        (["pareto", tmp_path / "nowhere"], "no such file or folder"),
        (["pareto", lacking], "lacks column sqnr_db"),
        (["pareto", lacking, "--x", "tpot_ms", "--y", "sqnr_db"], "lacks column sqnr_db"),
        (["pareto", rundir, "--x", "energy_per_tokn_uj", "--y", "sqnr_db"], "did you mean 'energy_per_token_uj'"),
        (["pareto", rundir, "--x", "tpot_ms", "--y", "sqnr_dB"], "--y: unknown metric 'sqnr_dB'"),
        (["pareto", rundir, "--out", tmp_path / "f.jpg"], "--out: expected a file name ending in .png, .svg, .pdf"),
        (["pareto", rundir, "--out", tmp_path / "no" / "f.png"], "folder does not exist"),
        (["pareto", rundir, "--color", "devize"], "did you mean 'device'"),
        (["pareto", rundir, "--label", "nope"], "unknown design parameter 'nope'"),
        (["pareto", rundir, "--x", "tpot_ms"], "give --x and --y together"),
        (["pareto", rundir, "--x", "tpot_ms", "--y", "tpot_ms"], "different metrics"),
        (["pareto", rundir / "run.yaml"], "expected a run folder or a .csv file"),
    ]


def test_pareto_errors_are_one_line_and_write_nothing(rundir, tmp_path) -> None:
    cases = _bad_cases(rundir, tmp_path)
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    for args, expected in cases:
        r = run(*args)
        assert r.exit_code == 2, (args, r.output)
        lines = [ln for ln in r.output.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:"), (args, r.output)
        assert expected in lines[0], (args, lines[0])
    after = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    assert after == before


def test_pareto_on_unreadable_csv(tmp_path) -> None:
    (tmp_path / "trials.csv").write_bytes(b"\xff\xfe\x00garbage\n\x00\x01")
    r = run("pareto", tmp_path / "trials.csv", "--x", "tpot_ms", "--y", "sqnr_db")
    assert r.exit_code == 2 and r.output.startswith("error:") and len(r.output.strip().splitlines()) == 1
    (tmp_path / "trials.csv").write_text("trial,tpot_ms,sqnr_db\n")
    r = run("pareto", tmp_path / "trials.csv", "--x", "tpot_ms", "--y", "sqnr_db")
    assert r.exit_code == 2 and "has no rows" in r.output
    (tmp_path / "trials.csv").write_text("trial,tpot_ms,sqnr_db\n0,1.0,abc\n")
    r = run("pareto", tmp_path / "trials.csv", "--x", "tpot_ms", "--y", "sqnr_db")
    assert r.exit_code == 2 and "sqnr_db has 1 empty or non-numeric value" in r.output


def test_degenerate_run_still_writes_readable_figures(tmp_path) -> None:
    """One objective, one searched parameter, no feasible design: figures say so instead of failing."""
    f = tmp_path / "d.yaml"
    f.write_text("""
name: degenerate
workload: {model: gpt2, batch: 1, prompt_tokens: 16, generate_tokens: 4}
space: {adc_bits: [4, 6, 8]}
objectives: {energy_per_token_uj: minimize}
constraints: ["area_mm2 <= 0.000001"]
search: {sampler: exhaustive}
""")
    out = tmp_path / "run"
    r = run("sweep", f, "--out", out, "--quiet")
    assert r.exit_code == 0, r.output
    assert not (out / "breakdown.png").exists()  # no front, nothing to break down
    for name in ("pareto.png", "history.png", "importance.png"):
        assert matplotlib.image.imread(out / name).std() > 0.01, name
    r = run("pareto", out)  # one objective: paired with area_mm2
    assert r.exit_code == 0, r.output
    assert "3 designs (0 feasible); Pareto front 0 over energy_per_token_uj (minimize), area_mm2 (minimize)" \
        in r.output
    assert len(pd.read_csv(out / "pareto-energy_per_token_uj-area_mm2.csv")) == 0
