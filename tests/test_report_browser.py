"""The report in a real browser: headless Chromium opens report.html from the file system with the network
unreachable (a network namespace without interfaces where allowed, and no host resolvable), runs its scripts, and the page records what it drew (points, bars, lines per figure) and any script
error into #report-status, which is read back from the rendered DOM. Chromium's network log shows that the page
asked for nothing over the network. Skipped (with a message) only where no Chromium is installed; `.ci/run` installs
Debian's package and sets CIMDSE_REQUIRE_CHROMIUM=1, which turns the skip into a failure."""

from __future__ import annotations

import functools
import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from _report_run import make_run

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# no route to any host: every name resolves to nothing and any proxy use fails; no background traffic of its own
OFFLINE = ("--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9",
           "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
           "--disable-default-apps", "--disable-domain-reliability")
TIMEOUT_S = 240


def browser() -> str:
    exe = next((p for p in map(shutil.which, BROWSERS) if p), None)
    if exe is None:
        if os.environ.get("CIMDSE_REQUIRE_CHROMIUM"):
            pytest.fail("CIMDSE_REQUIRE_CHROMIUM is set but no Chromium was found on PATH")
        pytest.skip("no Chromium on PATH (Debian: apt-get install chromium; .ci/run installs it)")
    return exe


@functools.lru_cache(maxsize=1)
def no_network_prefix() -> tuple[str, ...]:
    """`unshare -n` (a network namespace with no interface up) where this user may create one, else nothing (the
    resolver and proxy flags still leave the page no route to any host)."""
    for prefix in (("unshare", "-n"), ("unshare", "-rn")):
        if shutil.which(prefix[0]) and subprocess.run([*prefix, "true"], capture_output=True).returncode == 0:
            return prefix
    return ()


def headless(exe: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    """Run headless Chromium with a throwaway profile and no network."""
    # a window tall enough to show the whole page: the parallel coordinates are drawn when they come into view
    cmd = [*no_network_prefix(), exe, "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars",
           f"--user-data-dir={profile}", "--window-size=1400,6000", *OFFLINE, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)


def page_requests(netlog: Path) -> list[str]:
    """URLs and hosts the page itself (a file:// document) asked the network for, from Chromium's net log.

    Chromium's own requests (updates, accounts) carry another isolation key and are left out."""
    log = json.loads(netlog.read_text())
    out = []
    for e in log["events"]:
        p = e.get("params") or {}
        key = str(p.get("network_isolation_key", p.get("network_anonymization_key", "")))
        target = str(p.get("url", p.get("host", "")))
        if key.startswith("file://") and re.match(r"(https?|wss?|ftp)://", target):
            out.append(target)
    return out


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """(run folder, status written by the page, page requests) after Chromium ran the report of a small sweep."""
    exe = browser()
    tmp = tmp_path_factory.mktemp("browser")
    run = make_run(tmp)
    netlog = tmp / "net.json"
    # the virtual time budget lets every timer and animation frame of the page run before the DOM is dumped
    res = headless(exe, tmp / "profile", f"--log-net-log={netlog}", "--virtual-time-budget=30000", "--dump-dom",
                   (run / "report.html").as_uri())
    assert res.returncode == 0, res.stderr[-2000:]
    m = re.search(r'<pre id="report-status"[^>]*data-done="1"[^>]*>([^<]*)</pre>', res.stdout)
    assert m, "the page did not finish drawing: " + res.stdout[-2000:]
    return run, json.loads(html.unescape(m.group(1))), page_requests(netlog)


def test_page_draws_every_figure_without_errors(rendered) -> None:
    run, status, _ = rendered
    assert status["errors"] == [] and status["ok"]
    trials = pd.read_csv(run / "trials.csv")
    front = pd.read_csv(run / "pareto.csv")
    n, n_feas = len(trials), int(trials["feasible"].sum())
    fig = status["figures"]
    # scatter: every trial is a point (feasible and infeasible), the front's points on top, the GPU star placed
    s = fig["scatter"]
    assert s["points"] == n and s["infeasible_points"] == n - n_feas
    assert s["front_points"] == len(front) and s["baseline"] is True
    assert (s["x"], s["y"]) == ("energy_per_token_uj", "tpot_ms")
    # under 1,500 points the scatter is SVG: the DOM holds one marker per trial, plus the GPU star and the ring
    # around the selected design (a front design when the page opens)
    assert status["domPoints"]["scatter"] == n + 2 and s["selected"] in set(front["trial"])
    # breakdown of the selected front design: 7 panels (3 x prefill/decode + area), plus the GPU ratios
    b = fig["breakdown"]
    assert b["trial"] in set(front["trial"]) and b["subplots"] == 8
    assert b["bars"] == status["domPoints"]["breakdown_bars"] > 20
    # parallel coordinates: one line per feasible trial; an axis for each searched parameter, objective and
    # constraint metric that varies among them (weights_fit is 1 on every feasible trial: no axis)
    p = fig["parcoords"]
    feas = trials[trials["feasible"]]
    axes = [c for c in ("device", "rows", "adc_bits", "tiles", "energy_per_token_uj", "tpot_ms", "weights_fit",
                        "sqnr_db") if feas[c].nunique() > 1]
    assert "weights_fit" not in axes and len(axes) >= 5
    assert p["lines"] == n_feas and p["dimensions"] == len(axes) and status["domPoints"]["parcoords_canvases"] == 3
    assert fig["history"]["points"] > 1 and fig["importance"]["bars"] == 4 * 2


def test_clicking_a_point_shows_its_breakdown(rendered, tmp_path) -> None:
    """report.html#click-trial=N sends the scatter a click on trial N (through plotly's event, as a mouse click
    does): the page selects it, rings it and draws its breakdown. An infeasible design has a breakdown too."""
    run, _, _ = rendered
    trials = pd.read_csv(run / "trials.csv")
    pick = int(trials.loc[~trials["feasible"], "trial"].iloc[-1])
    res = headless(browser(), tmp_path / "profile", "--virtual-time-budget=30000", "--dump-dom",
                   (run / "report.html").as_uri() + f"#click-trial={pick}")
    m = re.search(r'<pre id="report-status"[^>]*data-done="1"[^>]*>([^<]*)</pre>', res.stdout)
    assert m, res.stderr[-2000:]
    status = json.loads(html.unescape(m.group(1)))
    assert status["errors"] == []
    assert status["figures"]["scatter"]["selected"] == pick and status["figures"]["breakdown"]["trial"] == pick
    assert status["figures"]["breakdown"]["bars"] > 20
    assert f"Selected design: trial {pick}" in res.stdout and "infeasible:" in res.stdout


def test_page_requests_nothing_from_the_network(rendered) -> None:
    _, status, requests = rendered
    assert requests == []
    assert not any("blocked request" in e for e in status["errors"])


def test_screenshot(rendered, tmp_path) -> None:
    """A full-page screenshot renders (a PNG of the window's size); look at it when changing the page."""
    run, _, _ = rendered
    shot = tmp_path / "report.png"
    res = headless(browser(), tmp_path / "profile", "--virtual-time-budget=30000", "--window-size=1400,4200",
                   f"--screenshot={shot}", (run / "report.html").as_uri())  # (the last --window-size counts)
    assert res.returncode == 0 and shot.is_file(), res.stderr[-2000:]
    import matplotlib.image

    img = matplotlib.image.imread(shot)
    assert img.shape[:2] == (4200, 1400) and img.std() > 0.05
    if os.environ.get("CIMDSE_SCREENSHOT_DIR"):  # keep it to look at
        shutil.copy(shot, Path(os.environ["CIMDSE_SCREENSHOT_DIR"]) / "report.png")


def test_run_without_a_feasible_design(tmp_path) -> None:
    """No feasible design, one objective: the page still draws (infeasible points only, notes instead of the
    breakdown, history, importances and parallel coordinates) without a script error."""
    exe = browser()
    f = tmp_path / "none.yaml"
    f.write_text("name: none\nworkload: {model: gpt2, batch: 1, prompt_tokens: 32, generate_tokens: 8}\n"
                 "space: {adc_bits: [4, 6, 8]}\nobjectives: {energy_per_token_uj: minimize}\n"
                 'constraints: ["area_mm2 <= 0.000001"]\nsearch: {sampler: exhaustive}\n')
    from click.testing import CliRunner

    from cimdse.cli import main

    res = CliRunner().invoke(main, ["sweep", str(f), "--out", str(tmp_path / "run"), "--quiet"])
    assert res.exit_code == 0, res.output
    out = headless(exe, tmp_path / "profile", "--virtual-time-budget=30000", "--dump-dom",
                   (tmp_path / "run" / "report.html").as_uri())
    m = re.search(r'<pre id="report-status"[^>]*data-done="1"[^>]*>([^<]*)</pre>', out.stdout)
    assert m, out.stderr[-2000:]
    status = json.loads(html.unescape(m.group(1)))
    assert status["errors"] == []
    fig = status["figures"]
    # one objective: paired with area_mm2 as in pareto.png; 3 infeasible points, nothing else to draw
    assert (fig["scatter"]["x"], fig["scatter"]["y"]) == ("energy_per_token_uj", "area_mm2")
    assert fig["scatter"]["points"] == fig["scatter"]["infeasible_points"] == 3
    assert fig["breakdown"]["bars"] == fig["parcoords"]["lines"] == fig["importance"]["bars"] == 0
    assert "No feasible design" in out.stdout and "no feasible trial" in out.stdout


def test_verified_front_table(tiny_checkpoint, text_file, tmp_path) -> None:
    """`sweep --verify`: the page shows a table of the front designs with what the checkpoint measured, one row per
    pareto.csv row, with the same numbers; the page draws without errors."""
    pytest.importorskip("safetensors")
    pytest.importorskip("tokenizers")
    from _small_sweep import sweep, write_small

    from cimdse.report import report_data

    exe = browser()
    f = write_small(tmp_path, "tpe", 24, "verify", 8)
    r = sweep(f, "--out", tmp_path / "run", "--verify", tiny_checkpoint("llama"), "--text", text_file,
              "--verify-tokens", 32, "--quiet")
    assert r.exit_code == 0, r.output
    front = pd.read_csv(tmp_path / "run" / "pareto.csv")
    block = report_data(tmp_path / "run")["verify"]
    assert block["columns"][0] == "trial" and block["columns"][-2:] == ["measured_ppl", "measured_logit_sqnr_db"]
    by_trial = {int(row[0]): row for row in block["rows"]}
    assert set(by_trial) == set(front["trial"])
    for _, row in front.iterrows():
        assert by_trial[int(row["trial"])][-2] == pytest.approx(row["measured_ppl"], rel=1e-12)
    out = headless(exe, tmp_path / "profile", "--virtual-time-budget=30000", "--dump-dom",
                   (tmp_path / "run" / "report.html").as_uri())
    m = re.search(r'<pre id="report-status"[^>]*data-done="1"[^>]*>([^<]*)</pre>', out.stdout)
    assert m, out.stderr[-2000:]
    status = json.loads(html.unescape(m.group(1)))
    assert status["errors"] == [] and status["figures"]["verify"]["rows"] == len(front)
    table = out.stdout[out.stdout.index('id="verify-table"'):]
    assert table[: table.index("</table>")].count("<tr>") == len(front) + 1   # header + one row per design
    assert "measured on the checkpoint" in out.stdout


def test_no_verify_section_without_verify(rendered) -> None:
    """A run without --verify has no verify data and the section stays hidden."""
    run, status, _ = rendered
    from cimdse.report import report_data

    assert report_data(run)["verify"] is None and "verify" not in status["figures"]
