"""Figures of a run: each renders to a valid image of the expected size; the numbers behind them are checked."""

from __future__ import annotations

import itertools
from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from cimdse import plots
from cimdse.cost import evaluate
from cimdse.cost.model import METRICS
from cimdse.pareto import hypervolume_history
from cimdse.results import METRIC_DIRECTIONS, metric_direction
from cimdse.workload import Scenario, load_model

MODEL = "gpt2"
SCENARIO = Scenario(batch=2, prompt_tokens=32, generate_tokens=8)


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    """A real trials table: 5 devices x 3 ADC resolutions x 2 tile counts x 2 bits per cell (60 designs).

    bits_per_cell=2 on SRAM (1 bit at most) makes some rows infeasible, so both kinds of point appear."""
    designs = [{"device": d, "adc_bits": a, "tiles": t, "bits_per_cell": b, "chips": 1, "rows_active": 32}
               for d, a, t, b in itertools.product(["sram", "rram", "pcm", "mram", "fefet"], [4, 6, 8],
                                                   [1024, 8192], [1, 2])]
    df = evaluate(designs, model=MODEL, scenario=SCENARIO)
    df.insert(0, "trial", np.arange(len(df)))
    assert df["feasible"].any() and not df["feasible"].all()
    return df


def image(path: Path) -> np.ndarray:
    """Decode a PNG and check it is not blank."""
    img = matplotlib.image.imread(path)
    assert img.ndim == 3 and img.std() > 0.01, "blank image"
    return img


# ------------------------------------------------------------------------------------------------ Pareto figure

def test_pareto_scatter_png_size(table, tmp_path) -> None:
    out = plots.pareto_figure(table, [("energy_per_token_uj", "minimize"), ("sqnr_db", "maximize")],
                              tmp_path / "p.png", color="device", title="t")
    # figsize 9.5 x 6 in at 110 dpi -> 1045 x 660 px
    assert image(out).shape[:2] == (660, 1045)


def test_pareto_matrix_png_size(table, tmp_path) -> None:
    out = plots.pareto_figure(table, [("energy_per_token_uj", "minimize"), ("tpot_ms", "minimize"),
                                      ("area_mm2", "minimize")], tmp_path / "m.png")
    # 3 objectives -> 2 x 2 panels: (3.6*2 + 2.6) x (3.3*2 + 0.6) = 9.8 x 7.2 in at 110 dpi -> 1078 x 792 px
    assert image(out).shape[:2] == (792, 1078)


@pytest.mark.parametrize("suffix", [".svg", ".pdf"])
def test_vector_formats_are_valid(table, tmp_path, suffix) -> None:
    out = plots.pareto_figure(table, [("energy_per_token_uj", "minimize"), ("sqnr_db", "maximize")],
                              tmp_path / f"p{suffix}")
    data = out.read_bytes()
    if suffix == ".svg":
        import xml.etree.ElementTree as ET

        assert ET.fromstring(data).tag.endswith("svg")
    else:
        assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    assert not list(tmp_path.glob(".tmp-*"))


def test_same_figure_same_bytes(table, tmp_path) -> None:
    objs = [("energy_per_token_uj", "minimize"), ("sqnr_db", "maximize")]
    for suffix in (".png", ".svg", ".pdf"):
        a = plots.pareto_figure(table, objs, tmp_path / f"a{suffix}").read_bytes()
        b = plots.pareto_figure(table, objs, tmp_path / f"b{suffix}").read_bytes()
        assert a == b, suffix


def test_front_points_and_reference_markers(table) -> None:
    import matplotlib.pyplot as plt

    objs = [("energy_per_token_uj", "minimize"), ("sqnr_db", "maximize")]
    refs = [("GPU A100", {"energy_per_token_uj": 50.0, "sqnr_db": 40.0}), ("no such axis", {"ttft_ms": 1.0})]
    fig = plots.build_pareto_figure(table, objs, references=refs, label="adc_bits")
    ax = fig.axes[0]
    front = {c.get_label(): c for c in ax.collections}
    pts = front["_front_points"].get_offsets()
    feas = table[table["feasible"]]
    v = np.column_stack([feas["energy_per_token_uj"], -feas["sqnr_db"]])
    brute = [not np.any(np.all(v <= r, axis=1) & np.any(v < r, axis=1)) for r in v]
    assert len(pts) == sum(brute) >= 2
    np.testing.assert_allclose(front["_ref:GPU A100"].get_offsets(), [[50.0, 40.0]])
    assert "_ref:no such axis" not in front  # a reference without both metrics is left out of that panel
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "GPU A100" in legend and any(t.startswith("infeasible (") for t in legend)
    assert "no such axis" not in legend  # nowhere to place it, so not in the legend either
    assert any(t.get_text() in {"4", "6", "8"} for t in ax.texts)  # --label values beside front points
    plt.close(fig)


def test_large_tables_draw_a_sample_but_every_front_point(table, monkeypatch) -> None:
    import matplotlib.pyplot as plt

    monkeypatch.setattr(plots, "MAX_BACKGROUND_POINTS", 10)
    objs = [("energy_per_token_uj", "minimize"), ("sqnr_db", "maximize")]
    fig = plots.build_pareto_figure(table, objs)
    by_label = {c.get_label(): len(c.get_offsets()) for c in fig.axes[0].collections}
    n_front = by_label["_front_points"]
    assert by_label.get("_feasible", 0) + by_label.get("_infeasible", 0) == 10
    assert f"a random 10 of the {len(table) - n_front} trials off the front" in fig.get_suptitle()
    plt.close(fig)


def test_baseline_reference_from_run_record() -> None:
    assert plots.baseline_reference(None) is None
    label, values = plots.baseline_reference({"gpu": "a100", "gpus": 2, "precision": "fp16",
                                              "metrics": {"tpot_ms": 3.0}})
    assert label == "GPU: 2 x a100 fp16"
    assert values == {"tpot_ms": 3.0, "speedup_vs_gpu": 1.0, "energy_gain_vs_gpu": 1.0}
    assert plots.metric_label("speedup_vs_gpu") == "speedup_vs_gpu [x]"


def test_step_line_direction() -> None:
    # x minimized: a front point's y is attained for every larger x, up to the next point -> hold after ('post')
    assert plots.step_where("minimize") == "post"
    assert plots.step_where("maximize") == "pre"


def test_log_axis_choice_and_ticks() -> None:
    assert plots.use_log(np.array([1.0, 50.0]), None) is False        # 50x: linear
    assert plots.use_log(np.array([1.0, 500.0]), None) is True        # 500x: log
    assert plots.use_log(np.array([0.0, 500.0]), None) is False       # a zero: linear
    assert plots.use_log(np.array([1.0, 2.0]), True) is True          # forced
    assert plots._tick(1000.0) == "1000" and plots._tick(0.002) == "0.002"
    assert plots._tick(1e5) == "$10^{5}$" and plots._tick(2e-5) == "$2\\times10^{-5}$"


def test_default_color_falls_back(table) -> None:
    assert plots.default_color(table, ["device", "adc_bits"]) == "device"
    one_device = table[table["device"] == "rram"]
    assert plots.default_color(one_device, ["device", "adc_bits", "tiles"]) == "adc_bits"
    assert plots.default_color(one_device, ["device"]) is None


def test_numeric_color_uses_a_colorbar(table, tmp_path) -> None:
    df = table.copy()
    df["tiles"] = np.arange(len(df)) * 100 + 1  # 60 distinct values -> continuous colour scale
    fig = plots.build_pareto_figure(df, [("energy_per_token_uj", "minimize"), ("sqnr_db", "maximize")],
                                    color="tiles")
    assert any(a.get_label() == "<colorbar>" for a in fig.axes)
    plots.save_figure(fig, tmp_path / "c.png")


# ------------------------------------------------------------------------------------------------ breakdown

def test_breakdown_parts_sum_to_the_metrics(table) -> None:
    front = table[table["feasible"]].head(4)
    vals = plots.breakdown_values(front, load_model(MODEL), SCENARIO)
    for ph, what, metric in (("decode", "energy", "energy_per_token_uj"), ("decode", "latency", "tpot_ms"),
                             ("prefill", "energy", "prefill_energy_mj"), ("prefill", "latency", "ttft_ms")):
        total = sum(vals[ph][what].values())
        np.testing.assert_allclose(total, front[metric].to_numpy(), rtol=1e-9, err_msg=f"{ph} {what}")


def test_pick_front_designs_spreads_and_keeps_ends() -> None:
    front = pd.DataFrame({"trial": range(11)})
    # linspace(0, 10, 5) = 0, 2.5, 5, 7.5, 10 -> rounded half to even: 0, 2, 5, 8, 10
    assert plots.pick_front_designs(front, 5)["trial"].tolist() == [0, 2, 5, 8, 10]
    assert len(plots.pick_front_designs(front.head(3), 5)) == 3


def test_breakdown_png_size(table, tmp_path) -> None:
    front = table[table["feasible"]].head(5)
    out = plots.breakdown_figure(front, load_model(MODEL), SCENARIO, tmp_path / "b.png",
                                 objectives=["energy_per_token_uj", "sqnr_db"], title="t")
    # two phases: (5.2*2 + 2.4) x 7.4 = 12.8 x 7.4 in at 110 dpi -> 1408 x 814 px
    assert image(out).shape[:2] == (814, 1408)


# ------------------------------------------------------------------------------------------------ history

def test_hypervolume_curve_checkpoints_match_exact_history() -> None:
    rng = np.random.default_rng(1)
    v = rng.random((400, 2))
    dirs, ref = ["minimize", "maximize"], np.array([1.1, -0.1])
    exact = hypervolume_history(v, dirs, ref)
    seen, hv = plots.hypervolume_curve(v, dirs, ref, exact_rows=50, checkpoints=37)  # the checkpoint path
    assert seen[-1] == 400 and len(seen) == 37
    np.testing.assert_allclose(hv, exact[seen - 1], rtol=1e-12)
    seen2, hv2 = plots.hypervolume_curve(v, dirs, ref)
    np.testing.assert_array_equal(seen2, np.arange(1, 401))
    np.testing.assert_allclose(hv2, exact)


def test_history_space_logs_wide_columns_only() -> None:
    v = np.array([[1.0, 0.0, 2.0], [1000.0, 5.0, 3.0]])
    out, labels = plots.history_space(v, ["a", "b", "c"])
    np.testing.assert_allclose(out, [[0.0, 0.0, 2.0], [3.0, 5.0, 3.0]])  # log10 1 = 0, log10 1000 = 3
    assert labels == ["log10 a", "b", "c"]


def test_history_png_size(table, tmp_path) -> None:
    out = plots.history_figure(table, [("energy_per_token_uj", "minimize"), ("sqnr_db", "maximize")],
                               tmp_path / "h.png", title="t")
    assert image(out).shape[:2] == (528, 880)  # 8 x 4.8 in at 110 dpi


def test_history_without_feasible_trials_still_draws(table, tmp_path) -> None:
    df = table.assign(feasible=False)
    out = plots.history_figure(df, [("energy_per_token_uj", "minimize"), ("sqnr_db", "maximize")],
                               tmp_path / "h.png")
    assert image(out).shape[:2] == (528, 880)


# ------------------------------------------------------------------------------------------------ importance

def _dists():
    from optuna.distributions import CategoricalDistribution, IntDistribution

    return {"adc_bits": IntDistribution(1, 10), "device": CategoricalDistribution(["sram", "rram"])}


def test_importance_finds_the_parameter_that_matters() -> None:
    # energy = adc_bits exactly; device is balanced in every adc_bits group, so it cannot matter
    rows = [{"trial": i, "adc_bits": a, "device": d, "energy_per_token_uj": float(a), "sqnr_db": float(a),
             "feasible": True}
            for i, (a, d, _) in enumerate(itertools.product(range(1, 11), ["sram", "rram"], range(10)))]
    df = pd.DataFrame(rows)
    imp = plots.param_importances(df, [("energy_per_token_uj", "minimize"), ("sqnr_db", "maximize")], _dists())
    for m in ("energy_per_token_uj", "sqnr_db"):
        assert sum(imp[m].values()) == pytest.approx(1.0)
        assert imp[m]["adc_bits"] > 0.9 > imp[m]["device"]


def test_importance_png_and_note(table, tmp_path) -> None:
    from optuna.distributions import CategoricalDistribution, IntDistribution

    dists = {"device": CategoricalDistribution(["sram", "rram", "pcm", "mram", "fefet"]),
             "adc_bits": IntDistribution(4, 8, step=2), "tiles": IntDistribution(1024, 8192, log=True)}
    objs = [("energy_per_token_uj", "minimize"), ("sqnr_db", "maximize")]
    out = plots.importance_figure(table, objs, dists, tmp_path / "i.png", title="t")
    # (3.4*2 + 1.8) x (0.32*3 + 1.9) = 8.6 x 2.86 in at 110 dpi -> 946 x 314.6 (314) px
    assert image(out).shape[:2] == (314, 946)
    note = plots.importance_figure(table, objs, {"device": dists["device"]}, tmp_path / "n.png")
    assert image(note).shape[:2] == (330, 880)  # the note figure: 8 x 3 in


# ------------------------------------------------------------------------------------------------ directions

def test_every_metric_has_a_default_direction() -> None:
    from cimdse.cost.gpu import BASELINE_METRICS

    assert set(METRIC_DIRECTIONS) == set(METRICS) | set(BASELINE_METRICS)
    assert set(METRIC_DIRECTIONS.values()) == {"minimize", "maximize"}
    assert metric_direction("tokens_per_s") == "maximize" and metric_direction("tpot_ms") == "minimize"
    assert metric_direction("tpot_ms", {"tpot_ms": "maximize"}) == "maximize"  # the run's objective wins


# ------------------------------------------------------------------------------------------------ figure processes

@pytest.fixture()
def small_sweep(tmp_path):
    from cimdse.config import load_sweep

    path = tmp_path / "s.yaml"
    path.write_text("name: s\nworkload: {model: gpt2, batch: 2, prompt_tokens: 32, generate_tokens: 8}\n"
                    "space: {device: [sram, rram, pcm, mram, fefet], adc_bits: [4, 6, 8], tiles: [1024, 8192],"
                    " bits_per_cell: [1, 2]}\nfixed: {chips: 1}\n"
                    "objectives: {energy_per_token_uj: minimize, sqnr_db: maximize}\n")
    return load_sweep(path)


def _figure_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.png"))}


def test_figures_in_two_processes_are_the_same_files(table, small_sweep, tmp_path) -> None:
    one, two, worker = tmp_path / "one", tmp_path / "two", tmp_path / "worker"
    for d in (one, two, worker):
        d.mkdir()
    plots.write_run_plots(one, table, small_sweep)
    paths = plots.write_run_plots(two, table, small_sweep, processes=2)
    assert [p.name for p in paths] == ["pareto.png", "breakdown.png", "history.png", "importance.png"]
    w = plots.start_figure_worker()
    assert w is not None  # Linux: fork is available
    drawn = plots.ask_figure_worker(w, plots.write_run_plots, worker, table, small_sweep, [], 2)  # None: failed there
    assert drawn is not None and [p.name for p in drawn] == [p.name for p in paths]
    assert not w.process.is_alive()
    assert _figure_bytes(one) == _figure_bytes(two) == _figure_bytes(worker)
    assert len(_figure_bytes(one)) == 4


def test_figure_error_in_the_child_is_raised_here(table, small_sweep, tmp_path, monkeypatch) -> None:
    def broken(*a, **k):
        raise ValueError("breakdown broke")

    monkeypatch.setattr(plots, "breakdown_figure", broken)  # the forked child inherits the patch
    with pytest.raises(ValueError, match="breakdown broke"):
        plots.write_run_plots(tmp_path, table, small_sweep, processes=2)


def test_dead_figure_worker_falls_back_to_this_process(table, small_sweep, tmp_path) -> None:
    w = plots.start_figure_worker()
    w.process.kill()
    w.process.join()
    paths = plots.draw_run_plots(w, tmp_path, table, small_sweep)
    assert {p.name for p in paths} == {"pareto.png", "breakdown.png", "history.png", "importance.png"}
    assert all(p.is_file() for p in paths)


def test_unused_figure_worker_exits(tmp_path) -> None:
    w = plots.start_figure_worker()
    plots.stop_figure_worker(w)
    assert not w.process.is_alive() and w.process.exitcode == 0
    plots.stop_figure_worker(w)  # twice is harmless


def test_figure_worker_can_be_switched_off(monkeypatch) -> None:
    monkeypatch.setenv("CIMDSE_NO_FIGURE_PROCESS", "1")
    assert plots.start_figure_worker() is None


def test_no_figure_worker_in_a_threaded_process() -> None:
    """A notebook kernel runs threads: forking there could hang the child on a lock another thread held."""
    import threading

    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        assert plots.start_figure_worker() is None
    finally:
        stop.set()
        t.join()
    w = plots.start_figure_worker()
    assert w is not None
    plots.stop_figure_worker(w)


def test_worker_forked_after_polars_ran_leaves_the_tables_here(table, tmp_path) -> None:
    """polars' thread pool does not survive fork; once this process has written a CSV with polars, a new worker
    must not touch polars (it would hang), so it draws figures only and the sweep writes its tables itself."""
    import signal

    from cimdse.results import write_csv

    write_csv(table.head(3), tmp_path / "warm.csv")  # polars has now run in this process
    w = plots.start_figure_worker()
    assert w is not None and w.tables is False
    old = signal.signal(signal.SIGALRM, lambda *a: (_ for _ in ()).throw(TimeoutError("figure worker hung")))
    signal.alarm(120)
    try:
        from cimdse.config import load_sweep
        from cimdse.study import run_sweep

        f = tmp_path / "s.yaml"
        f.write_text("name: s\nworkload: {model: gpt2, batch: 1, prompt_tokens: 16, generate_tokens: 4}\n"
                     "space: {device: [sram, rram], adc_bits: {low: 3, high: 8}}\nfixed: {chips: 1, rows_active: 32}\n"
                     "objectives: {energy_per_token_uj: minimize, sqnr_db: maximize}\n"
                     "search: {sampler: random, trials: 12, seed: 1, batch_size: 4}\n")
        res = run_sweep(load_sweep(f), out=tmp_path / "run")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
        plots.stop_figure_worker(w)
    assert res.completed == 12 and len(res.trials) == 12
    assert {p.name for p in (tmp_path / "run").glob("*.png")} == {"pareto.png", "breakdown.png", "history.png",
                                                                    "importance.png"}


def test_figure_worker_dies_with_the_sweep(tmp_path) -> None:
    """A sweep killed with SIGKILL takes its figure worker with it (no orphan writing into the run folder)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    # the worker is busy with a 30 s job when the sweep is killed: it must not run on to the end of it
    code = ("import sys, time\nfrom cimdse import plots\nw = plots.start_figure_worker()\n"
            "w.conn.send((time.sleep, (30,)))\nprint(w.process.pid, flush=True)\ntime.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    worker = int(proc.stdout.readline())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            with open(f"/proc/{worker}/stat") as fh:
                state = fh.read().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            break
        if state == "Z":  # killed, waiting to be reaped by init
            break
        time.sleep(0.05)
    else:
        os.kill(worker, signal.SIGKILL)
        raise AssertionError("the figure worker outlived the sweep")


def test_no_figure_worker_off_linux(monkeypatch) -> None:
    """macOS lists fork, but its frameworks are not fork-safe: figures are then drawn in the sweep's process."""
    import sys

    monkeypatch.setattr(sys, "platform", "darwin")
    assert plots.start_figure_worker() is None
