"""Arithmetic in constraints and objectives (issue 18 item 8): safe parsing, normalized column names, values on
numpy columns, and a real sweep whose trials.csv and pareto.csv carry the expression columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from _small_sweep import sweep, write_small

from cimdse.config import load_sweep
from cimdse.expr import ExprError, parse_expr

KNOWN = ("a", "b", "c", "area_mm2", "chips_used")


@pytest.mark.parametrize("text,norm", [
    ("area_mm2/chips_used", "area_mm2 / chips_used"),
    ("(a * b) / c", "a * b / c"),                 # redundant parentheses dropped
    ("a - (b - c)", "a - (b - c)"),               # needed ones kept
    ("a / (b * c)", "a / (b * c)"),
    ("(a + b) * c", "(a + b) * c"),
    ("-(a + 2.5)", "-(a + 2.5)"),
    ("a", "a"),
])
def test_normalized_text_is_the_column_name(text, norm):
    e = parse_expr(text, KNOWN)
    assert e.text == norm
    assert parse_expr(norm, KNOWN).text == norm   # normalizing twice changes nothing


def test_values_by_hand():
    cols = {"a": np.array([1.0, 6.0, 10.0]), "b": np.array([2.0, 3.0, 4.0]), "c": np.array([4.0, 1.0, 0.0])}
    # (a + b) * c: (1+2)*4 = 12, (6+3)*1 = 9, (10+4)*0 = 0
    assert parse_expr("(a + b) * c", KNOWN).evaluate(cols).tolist() == [12.0, 9.0, 0.0]
    # a - (b - c) / 2: 1-(2-4)/2 = 2, 6-(3-1)/2 = 5, 10-(4-0)/2 = 8
    assert parse_expr("a - (b - c) / 2", KNOWN).evaluate(cols).tolist() == [2.0, 5.0, 8.0]
    # a / c: division by zero gives inf, not an exception
    assert parse_expr("a / c", KNOWN).evaluate(cols).tolist() == [0.25, 6.0, np.inf]


@pytest.mark.parametrize("text,msg", [
    ("a ** 2", "'**' is not allowed"),
    ("a // 2", "'//' is not allowed"),
    ("a % 2", "'%' is not allowed"),
    ("__import__('os')", "is not allowed"),
    ("a.real", "a.real is not allowed"),
    ("[a]", "is not allowed"),
    ("'a'", "is not allowed"),
    ("a if b else c", "is not allowed"),
    ("lambda: 1", "is not allowed"),
    ("a < b", "is not allowed"),
    ("True", "is not allowed"),
    ("a +", "cannot parse"),
    ("", "empty expression"),
    ("aa / b", "unknown metric or parameter 'aa' (did you mean 'a'?)"),
    ("area_mm2 / device", "'device' is a categorical parameter"),
    ("1e999", "not finite"),
])
def test_refused(text, msg):
    with pytest.raises(ExprError) as err:
        parse_expr(text, KNOWN)
    assert msg in str(err.value) and "\n" not in str(err.value)


def _expr_sweep(tmp_path):
    f = write_small(tmp_path, "random", 40, "expr", 20)
    text = f.read_text().replace("fixed: {bits_per_cell: 1, chips: 1, rows_active: 32}",
                                 "fixed: {bits_per_cell: 1, rows_active: 32}")
    text = text.replace("objectives: {energy_per_token_uj: minimize, sqnr_db: maximize}",
                        "objectives: {'tokens_per_s/area_mm2': maximize, sqnr_db: maximize}")
    text = text.replace('constraints: ["weights_fit == 1"]',
                        'constraints: ["weights_fit == 1", "area_mm2 / chips_used <= 800", "(adc_bits - 1) * 2 >= 8"]')
    f.write_text(text)
    return f


def test_sweep_with_expressions(tmp_path):
    f = _expr_sweep(tmp_path)
    sw = load_sweep(f)
    assert sw.objectives[0] == ("tokens_per_s / area_mm2", "maximize")
    res = sweep(f, "--out", tmp_path / "run")
    assert res.exit_code == 0, res.output
    df = pd.read_csv(tmp_path / "run" / "trials.csv")
    for col in ("tokens_per_s / area_mm2", "area_mm2 / chips_used", "(adc_bits - 1) * 2"):
        assert col in df.columns
    # each column equals its arithmetic on the table's own columns (both written to 10 significant digits)
    np.testing.assert_allclose(df["tokens_per_s / area_mm2"], df["tokens_per_s"] / df["area_mm2"], rtol=1e-8)
    np.testing.assert_allclose(df["area_mm2 / chips_used"], df["area_mm2"] / df["chips_used"], rtol=1e-8)
    # hand-worked: adc_bits 4 -> (4 - 1) * 2 = 6 < 8 (broken); 5 -> 8 (holds); 9 -> 16
    pairs = set(zip(df["adc_bits"], df["(adc_bits - 1) * 2"], strict=True))
    assert {(4, 6), (5, 8)} <= pairs and pairs <= {(4, 6), (5, 8), (6, 10), (7, 12), (8, 14), (9, 16)}
    low = df["adc_bits"] == 4
    assert df.loc[low, "violation"].str.contains(r"\(adc_bits - 1\) \* 2 >= 8", regex=True).all()
    assert not df.loc[~low, "violation"].fillna("").str.contains("adc_bits").any()
    over = df["area_mm2"] / df["chips_used"] > 800
    assert not df.loc[over, "feasible"].any()
    # the front is computed on the expression column and carries it
    front = pd.read_csv(tmp_path / "run" / "pareto.csv")
    assert len(front) and "tokens_per_s / area_mm2" in front.columns
    best = df[df["feasible"]]["tokens_per_s / area_mm2"].max()
    assert front["tokens_per_s / area_mm2"].max() == best
    rec = yaml.safe_load((tmp_path / "run" / "run.yaml").read_text())
    assert rec["objectives"] == {"tokens_per_s / area_mm2": "maximize", "sqnr_db": "maximize"}
    assert "area_mm2 / chips_used <= 800" in rec["constraints"]
    assert (tmp_path / "run" / "pareto.png").exists()
