"""The interactive report (cimdse/report.py): its data against the run's files and the cost model's own totals,
the page is self-contained, and (tests/test_report_browser.py) it renders in a real browser."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _report_run import make_run
from click.testing import CliRunner

from cimdse.cli import main
from cimdse.report import MAX_POINTS, report_data, sample_rows, write_report


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("report"))


@pytest.fixture(scope="module")
def data(run_dir) -> dict:
    return report_data(run_dir)


def test_sweep_writes_the_report_and_the_cli_rewrites_it_identically(run_dir, tmp_path) -> None:
    page = run_dir / "report.html"
    assert page.is_file()
    out = tmp_path / "again.html"
    res = CliRunner().invoke(main, ["report", str(run_dir), "--out", str(out)])
    assert res.exit_code == 0, res.output
    # the sweep built it from its in-memory table, the command from trials.csv: the same bytes
    assert out.read_bytes() == page.read_bytes()


def test_a_sweep_computes_the_importances_once(tmp_path, monkeypatch) -> None:
    """importance.png and report.html show the importances of one computation (run.outputs.run_importances);
    a sweep used to compute them twice (about 0.1 s per 1,000 trials each)."""
    from cimdse.search import importance

    calls = []
    real = importance.oa.param_importances
    monkeypatch.setattr(importance.oa, "param_importances", lambda *a, **k: calls.append(1) or real(*a, **k))
    run = make_run(tmp_path, "--workers", "1")
    assert (run / "importance.png").is_file() and (run / "report.html").is_file()
    assert len(calls) == 1


def test_no_plots_writes_no_report(tmp_path) -> None:
    run = make_run(tmp_path, "--no-plots")
    assert (run / "trials.csv").is_file() and not (run / "report.html").exists()


def test_counts_match_the_run_files(run_dir, data) -> None:
    trials = pd.read_csv(run_dir / "trials.csv")
    front = pd.read_csv(run_dir / "pareto.csv")
    c = data["counts"]
    assert c["trials"] == c["shown"] == len(trials) == 162 and not c["sampled"]
    assert c["feasible"] == int(trials["feasible"].sum()) and c["front"] == len(front)
    cols = data["columns"]
    # every trial is in the page, in trials.csv order, with its front flag matching pareto.csv
    assert cols["trial"] == trials["trial"].tolist()
    on_front = {t for t, f in zip(cols["trial"], cols["front"], strict=True) if f}
    assert on_front == set(front["trial"])
    # the parallel coordinates hold every feasible trial (fewer than MAX_PARCOORDS)
    assert sorted(data["parcoords"]) == [i for i, f in enumerate(cols["feasible"]) if f]
    # device is a category: codes into the listed choices
    dev = next(p for p in data["params"] if p["name"] == "device")
    assert [dev["choices"][k] for k in cols["device"]] == trials["device"].tolist()


def test_breakdowns_add_up_to_the_run_metrics(run_dir, data) -> None:
    """The model defines each total as the sum of its parts (docs/MODEL.md): decode energy per token, tpot,
    prefill energy, ttft and area. Parts and totals are written with 5 significant digits, so they agree to ~1e-4."""
    bd, cols = data["breakdown"], data["columns"]
    assert bd["mismatch"] == 0 and len(bd["rows"]) == data["counts"]["shown"]
    rows = bd["rows"]
    totals = {("energy", "decode"): "energy_per_token_uj", ("energy", "prefill"): "prefill_energy_mj",
              ("operators", "decode"): "energy_per_token_uj", ("operators", "prefill"): "prefill_energy_mj",
              ("latency", "decode"): "tpot_ms", ("latency", "prefill"): "ttft_ms"}
    for (what, phase), metric in totals.items():
        parts = np.array(list(bd[what][phase].values()), dtype=float).sum(axis=0)
        want = np.array([cols[metric][i] for i in rows], dtype=float)
        np.testing.assert_allclose(parts, want, rtol=1e-4, err_msg=f"{what} {phase} vs {metric}")
    area = np.array(list(bd["area"].values()), dtype=float).sum(axis=0)
    np.testing.assert_allclose(area, [cols["area_mm2"][i] for i in rows], rtol=1e-4)


def test_baseline_history_importance_and_header(data) -> None:
    base = data["baseline"]
    assert base["label"].startswith("GPU: 1 x h100-sxm")
    # the ratios of the GPU to itself are 1 (plots.baseline_reference), and it has the plotted objectives
    assert base["metrics"]["speedup_vs_gpu"] == 1.0 and {"energy_per_token_uj", "tpot_ms"} <= set(base["metrics"])
    h = data["history"]
    assert h["x"][-1] == 161 and h["y"][-1] == 100 and all(np.diff(h["y"]) >= 0)
    imp = data["importance"]["values"]
    assert set(imp) == {"energy_per_token_uj", "tpot_ms"}
    for values in imp.values():  # PED-ANOVA importances sum to 1 over the searched parameters
        assert set(values) == {"device", "rows", "adc_bits", "tiles"} and abs(sum(values.values()) - 1) < 1e-3
    header = dict(data["header"])
    assert header["trials"].startswith("162 designs") and header["status"] == "complete"
    assert "h100-sxm" in header["GPU baseline"] and "sqnr_db >= 15" in header["constraints"]


def test_page_is_self_contained(run_dir) -> None:
    text = (run_dir / "report.html").read_text(encoding="utf-8")
    # no external script, style sheet, image or frame: every <script> is inline, there is no <link>
    assert not re.search(r"<script[^>]*\bsrc\s*=", text, re.I) and not re.search(r"<link\b", text, re.I)
    # and the browser is told to refuse any request (Content-Security-Policy default-src 'none')
    assert "default-src 'none'" in text
    # plotly.js is inlined whole (its version banner), with the page script and the data after it
    assert text.count("plotly.js v") >= 1 and 'id="report-data"' in text
    data = text.split('<script type="application/json" id="report-data">', 1)[1].split("</script>", 1)[0]
    assert "</" not in data  # the JSON cannot close its <script> element


def test_sample_keeps_every_front_row_and_mostly_feasible_ones() -> None:
    rng = np.random.default_rng(5)
    n = 100_000
    feasible = rng.random(n) < 0.3
    front = feasible & (rng.random(n) < 0.02)   # about 600 front rows
    rows = sample_rows(feasible, front)
    assert len(rows) == MAX_POINTS and np.all(np.diff(rows) > 0)
    assert front[rows].sum() == front.sum()
    # infeasible rows take at most a quarter of the sample when there are enough feasible ones
    assert (~feasible[rows]).sum() == int((MAX_POINTS - front.sum()) * 0.25)
    assert np.array_equal(rows, sample_rows(feasible, front))   # fixed seed: the same page each time
    small = sample_rows(feasible[:500], front[:500])
    assert np.array_equal(small, np.arange(500))


def test_bad_run_folders_are_user_errors(tmp_path, run_dir) -> None:
    cases = [([str(tmp_path / "missing")], "no such folder"),
             ([str(run_dir), "--out", str(tmp_path / "r.png")], "--out"),
             ([str(run_dir), "--out", str(tmp_path / "nowhere" / "r.html")], "folder does not exist")]
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "trials.csv").write_text((run_dir / "trials.csv").read_text())
    cases.append(([str(bare)], "run.yaml"))
    for args, text in cases:
        res = CliRunner().invoke(main, ["report", *args])
        assert res.exit_code == 2, res.output
        assert res.output.startswith("error:") and text in res.output and res.output.count("\n") == 1
    assert not (tmp_path / "r.png").exists() and not (bare / "report.html").exists()


def test_write_report_default_path(run_dir, tmp_path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    (copy / "report.html").unlink()
    assert write_report(copy) == copy / "report.html" and (copy / "report.html").stat().st_size > 1_000_000
