"""A sweep with no feasible design explains itself (issue 18 item 7): each constraint and physical limit with the
share of trials that broke it, the trial closest to feasibility, and why breakdown.png is missing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import yaml
from _small_sweep import sweep, write_small

from cimdse.run.diagnose import reason_kind


def _empty_sweep(tmp_path, name="empty"):
    f = write_small(tmp_path, "random", 60, name, 30)
    f.write_text(f.read_text().replace('constraints: ["weights_fit == 1"]',
                                       'constraints: ["weights_fit == 1", "area_mm2 <= 5", "sqnr_db >= 30"]'))
    return f


def test_empty_front_names_each_rule_and_the_closest_trial(tmp_path):
    f = _empty_sweep(tmp_path)
    res = sweep(f, "--out", tmp_path / "run")
    assert res.exit_code == 0, res.output
    df = pd.read_csv(tmp_path / "run" / "trials.csv")
    assert not df["feasible"].any()
    rec = yaml.safe_load((tmp_path / "run" / "run.yaml").read_text())
    why = rec["no_feasible_design"]
    shares = {r["rule"]: r["share"] for r in why["violated"]}
    # the shares counted again from the table, by the constraint's own comparison
    assert shares["area_mm2 <= 5"] == round(float((df["area_mm2"] > 5).mean()), 4) == 1.0
    assert shares["sqnr_db >= 30"] == round(float((df["sqnr_db"] < 30).mean()), 4)
    assert 0 < shares["sqnr_db >= 30"] < 1
    assert shares["weights_fit == 1"] == 0.0
    # physical limits counted by kind: the cost model's reason without its numbers
    limits = [r for r in why["violated"] if r["kind"] != "constraint"]
    assert limits and all(reason_kind(r["rule"]) == r["rule"] for r in limits)
    assert sum(r["trials"] for r in limits) == int((~df["violation"].str.split("; ").map(set(
        ["weights_fit == 1", "area_mm2 <= 5", "sqnr_db >= 30"]).issuperset)).sum())
    # closest: fewest broken rules, then the smallest summed relative excess, then the lowest trial
    texts = {"weights_fit == 1", "area_mm2 <= 5", "sqnr_db >= 30"}
    phys = [[p for p in str(v).split("; ") if p not in texts] for v in df["violation"]]
    count = (df["area_mm2"] > 5).astype(int) + (df["sqnr_db"] < 30).astype(int) + [len(p) for p in phys]
    excess = (np.maximum(df["area_mm2"] - 5, 0) / 5 + np.maximum(30 - df["sqnr_db"], 0) / 30).to_numpy()
    fewest = count == count.min()
    cand = df[fewest & np.isclose(excess, excess[fewest].min(), rtol=1e-6)]
    assert why["closest"]["trial"] == int(cand["trial"].min())
    assert why["closest"]["violated_rules"] == int(count.min())
    assert "area_mm2 <= 5 (value " in why["closest"]["violations"]
    assert why["breakdown.png"].startswith("not drawn: no design is feasible")
    assert not (tmp_path / "run" / "breakdown.png").exists()
    # the summary printed under the sweep's line says the same
    assert "(0 feasible)" in res.output
    assert "100.0%  area_mm2 <= 5" in res.output
    assert f"closest to feasible: trial {why['closest']['trial']} " in res.output
    assert "breakdown.png not drawn" in res.output


def test_a_run_with_feasible_designs_has_no_explanation(tmp_path):
    res = sweep(write_small(tmp_path, "random", 30, "ok", 30), "--out", tmp_path / "run", "--no-plots")
    assert res.exit_code == 0, res.output
    rec = yaml.safe_load((tmp_path / "run" / "run.yaml").read_text())
    assert rec["feasible_trials"] > 0 and "no_feasible_design" not in rec
    assert "closest to feasible" not in res.output


def test_reason_kind_drops_the_numbers():
    assert reason_kind("die area 1230 mm2 > max_die_mm2 858 mm2") == "die area > max_die_mm2"
    assert reason_kind("IR drop 0.123 of V_read > max_ir_drop 0.1 of V_read") == "IR drop > max_ir_drop"
    assert reason_kind("rows_active (512) exceeds rows (256)") == "rows_active (N) exceeds rows (N)"


def test_merged_shards_explain_an_empty_front(tmp_path):
    from click.testing import CliRunner

    from cimdse.cli import main

    f = write_small(tmp_path, "exhaustive", 1, "shards", 64)
    f.write_text(f.read_text().replace('constraints: ["weights_fit == 1"]', 'constraints: ["area_mm2 <= 1"]'))
    for i in (1, 2):
        assert sweep(f, "--shard", f"{i}/2", "--out", tmp_path / f"s{i}", "--no-plots").exit_code == 0
    res = CliRunner().invoke(main, ["merge", str(f), str(tmp_path / "s1"), str(tmp_path / "s2"),
                                    "--out", str(tmp_path / "m")])
    assert res.exit_code == 0, res.output
    why = yaml.safe_load((tmp_path / "m" / "run.yaml").read_text())["no_feasible_design"]
    assert why["trials"] == 162 and why["violated"][0] == {"rule": "area_mm2 <= 1", "kind": "constraint",
                                                           "trials": 162, "share": 1.0}
    assert "100.0%  area_mm2 <= 1" in res.output and "breakdown.png not drawn" in res.output
