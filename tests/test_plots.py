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
from cimdse.models import load_model
from cimdse.pareto import hypervolume_history
from cimdse.results import METRIC_DIRECTIONS, metric_direction
from cimdse.run.outputs import save_figure
from cimdse.search.importance import param_importances
from cimdse.workload import Scenario

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
    out = save_figure(plots.pareto_figure(table, [("energy_per_token_uj", "minimize"), ("sqnr_db", "maximize")],
                                          color="device", title="t"), tmp_path / "p.png")
    # figsize 9.5 x 6 in at 110 dpi -> 1045 x 660 px
    assert image(out).shape[:2] == (660, 1045)


def test_pareto_matrix_png_size(table, tmp_path) -> None:
    out = save_figure(plots.pareto_figure(table, [("energy_per_token_uj", "minimize"), ("tpot_ms", "minimize"),
                                                  ("area_mm2", "minimize")]), tmp_path / "m.png")
    # 3 objectives -> 2 x 2 panels: (3.6*2 + 2.6) x (3.3*2 + 0.6) = 9.8 x 7.2 in at 110 dpi -> 1078 x 792 px
    assert image(out).shape[:2] == (792, 1078)


@pytest.mark.parametrize("suffix", [".svg", ".pdf"])
def test_vector_formats_are_valid(table, tmp_path, suffix) -> None:
    out = save_figure(plots.pareto_figure(table, [("energy_per_token_uj", "minimize"), ("sqnr_db", "maximize")]),
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
        a = save_figure(plots.pareto_figure(table, objs), tmp_path / f"a{suffix}").read_bytes()
        b = save_figure(plots.pareto_figure(table, objs), tmp_path / f"b{suffix}").read_bytes()
        assert a == b, suffix


def test_front_points_and_reference_markers(table) -> None:
    objs = [("energy_per_token_uj", "minimize"), ("sqnr_db", "maximize")]
    refs = [("GPU A100", {"energy_per_token_uj": 50.0, "sqnr_db": 40.0}), ("no such axis", {"ttft_ms": 1.0})]
    fig = plots.pareto_figure(table, objs, references=refs, label="adc_bits")
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


def test_large_tables_draw_a_sample_but_every_front_point(table, monkeypatch) -> None:

    monkeypatch.setattr(plots.scatter, "MAX_BACKGROUND_POINTS", 10)
    objs = [("energy_per_token_uj", "minimize"), ("sqnr_db", "maximize")]
    fig = plots.pareto_figure(table, objs)
    by_label = {c.get_label(): len(c.get_offsets()) for c in fig.axes[0].collections}
    n_front = by_label["_front_points"]
    assert by_label.get("_feasible", 0) + by_label.get("_infeasible", 0) == 10
    title = "".join(t.get_text() for t in fig.texts)  # the suptitle (Figure.get_suptitle needs matplotlib 3.8)
    assert f"a random 10 of the {len(table) - n_front} trials off the front" in title


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
    fig = plots.pareto_figure(df, [("energy_per_token_uj", "minimize"), ("sqnr_db", "maximize")],
                                    color="tiles")
    assert any(a.get_label() == "<colorbar>" for a in fig.axes)
    save_figure(fig, tmp_path / "c.png")


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
    out = save_figure(plots.breakdown_figure(front, load_model(MODEL), SCENARIO,
                                             objectives=["energy_per_token_uj", "sqnr_db"], title="t"),
                      tmp_path / "b.png")
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
    out = save_figure(plots.history_figure(table, [("energy_per_token_uj", "minimize"), ("sqnr_db", "maximize")],
                                           title="t"), tmp_path / "h.png")
    assert image(out).shape[:2] == (528, 880)  # 8 x 4.8 in at 110 dpi


def test_history_without_feasible_trials_still_draws(table, tmp_path) -> None:
    df = table.assign(feasible=False)
    out = save_figure(plots.history_figure(df, [("energy_per_token_uj", "minimize"), ("sqnr_db", "maximize")]),
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
    imp = param_importances(df, [("energy_per_token_uj", "minimize"), ("sqnr_db", "maximize")], _dists())
    for m in ("energy_per_token_uj", "sqnr_db"):
        assert sum(imp[m].values()) == pytest.approx(1.0)
        assert imp[m]["adc_bits"] > 0.9 > imp[m]["device"]


def test_importance_png_and_note(table, tmp_path) -> None:
    from optuna.distributions import CategoricalDistribution, IntDistribution

    dists = {"device": CategoricalDistribution(["sram", "rram", "pcm", "mram", "fefet"]),
             "adc_bits": IntDistribution(4, 8, step=2), "tiles": IntDistribution(1024, 8192, log=True)}
    objs = [("energy_per_token_uj", "minimize"), ("sqnr_db", "maximize")]
    n_feas = int(table["feasible"].sum())
    imp = param_importances(table, objs, dists)
    out = save_figure(plots.importance_figure(imp, objs, list(dists), n_feasible=n_feas, sample=n_feas, title="t"),
                      tmp_path / "i.png")
    # (3.4*2 + 1.8) x (0.32*3 + 1.9) = 8.6 x 2.86 in at 110 dpi -> 946 x 314.6 (314) px
    assert image(out).shape[:2] == (314, 946)
    note = save_figure(plots.importance_figure(None, objs, ["device"], n_feasible=n_feas, sample=n_feas),
                       tmp_path / "n.png")
    assert image(note).shape[:2] == (330, 880)  # the note figure: 8 x 3 in
    assert "2 searched parameters" in plots.importance_note(["device"], n_feas)
    assert "10 feasible trials" in plots.importance_note(["device", "adc_bits"], 3)


# ------------------------------------------------------------------------------------------------ directions

def test_every_metric_has_a_default_direction() -> None:
    from cimdse.cost.gpu import BASELINE_METRICS

    assert set(METRIC_DIRECTIONS) == set(METRICS) | set(BASELINE_METRICS)
    assert set(METRIC_DIRECTIONS.values()) == {"minimize", "maximize"}
    assert metric_direction("tokens_per_s") == "maximize" and metric_direction("tpot_ms") == "minimize"
    assert metric_direction("tpot_ms", {"tpot_ms": "maximize"}) == "maximize"  # the run's objective wins


# ------------------------------------------------------------------------------------------------ a run's figures

@pytest.fixture()
def small_sweep(tmp_path):
    from cimdse.config import load_sweep

    path = tmp_path / "s.yaml"
    path.write_text("name: s\nworkload: {model: gpt2, batch: 2, prompt_tokens: 32, generate_tokens: 8}\n"
                    "space: {device: [sram, rram, pcm, mram, fefet], adc_bits: [4, 6, 8], tiles: [1024, 8192],"
                    " bits_per_cell: [1, 2]}\nfixed: {chips: 1}\n"
                    "objectives: {energy_per_token_uj: minimize, sqnr_db: maximize}\n")
    return load_sweep(path)


def test_run_figures_are_written_and_deterministic(table, small_sweep, tmp_path) -> None:
    from cimdse.run.outputs import write_run_figures

    one, two = tmp_path / "one", tmp_path / "two"
    for d in (one, two):
        d.mkdir()
    paths = write_run_figures(one, table, small_sweep)
    assert [p.name for p in paths] == ["pareto.png", "breakdown.png", "history.png", "importance.png"]
    write_run_figures(two, table, small_sweep)
    for p in paths:
        image(p)
        assert p.read_bytes() == (two / p.name).read_bytes(), p.name


def test_figures_do_not_use_pyplot(table) -> None:
    """A figure is a plain matplotlib Figure: pyplot's list of open figures stays as it was."""
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    fig = plots.pareto_figure(table, [("energy_per_token_uj", "minimize"), ("sqnr_db", "maximize")])
    assert type(fig).__module__ == "matplotlib.figure" and plt.get_fignums() == before
