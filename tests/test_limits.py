"""The limit mechanism (cimdse/cost/limits.py) and the physical limits wired through it."""

from __future__ import annotations

import numpy as np

from cimdse.cost import evaluate_arrays
from cimdse.cost.limits import Check, apply_limits
from cimdse.cost.params import defaults, to_batch
from cimdse.workload import Scenario

TEXTS = ("", "rows_active exceeds rows")


def test_reason_names_the_limit_and_both_numbers():
    ok, why = apply_limits(np.zeros(3, dtype=np.int8), TEXTS,
                           [Check("max_die_mm2", np.array([1234.0, 858.0, 171700.0]), 858.0, "mm2", "die area")])
    assert ok.tolist() == [False, True, False]          # at the limit is still within it
    assert why.tolist() == ["die area 1234 mm2 > max_die_mm2 858 mm2", "",
                            "die area 171700 mm2 > max_die_mm2 858 mm2"]


def test_conflicts_come_first_then_checks_in_order():
    code = np.array([1, 0, 0, 0], dtype=np.int8)
    a = Check("max_a", np.array([5.0, 5.0, 0.0, 0.0]), 1.0, "W", "a")
    b = Check("max_b", np.array([5.0, 5.0, 5.0, 0.0]), np.array([1.0, 1.0, 2.5, 9.0]), "V", "b")
    ok, why = apply_limits(code, TEXTS, [a, b])
    assert ok.tolist() == [False, False, False, True]
    assert why.tolist() == ["rows_active exceeds rows", "a 5 W > max_a 1 W", "b 5 V > max_b 2.5 V", ""]


def test_nan_is_never_feasible_and_small_numbers_keep_their_digits():
    ok, why = apply_limits(np.zeros(2, dtype=np.int8), TEXTS,
                           [Check("max_x", np.array([np.nan, 0.012345]), 0.01, "W/mm2", "power density")])
    assert not ok.any()
    assert why.tolist() == ["power density nan W/mm2 > max_x 0.01 W/mm2",
                            "power density 0.01234 W/mm2 > max_x 0.01 W/mm2"]


def test_equal_values_share_one_text_and_each_row_gets_its_own():
    vals = np.array([2000.0, 3000.0, 2000.0, 100.0])
    ok, why = apply_limits(np.zeros(4, dtype=np.int8), TEXTS, [Check("max_die_mm2", vals, 858.0, "mm2", "die area")])
    assert why[0] is why[2]                    # formatted once
    assert why[1] == "die area 3000 mm2 > max_die_mm2 858 mm2" and why[3] == ""


def _eval(designs, model="gpt2", sc=None):
    # 32 driven rows: the default 256 would break max_ir_drop (31 % of V_read lost), hiding the limit under test
    return evaluate_arrays(to_batch([{**defaults(), "rows_active": 32, **d} for d in designs]), model,
                           sc or Scenario(prompt_tokens=32))


def test_die_limit_is_wired_through_the_cost_model():
    r = _eval([{}])
    die = float(r["die_area_mm2"][0])
    assert np.isclose(die, r["area_mm2"][0] / r["chips_used"][0])
    r = _eval([{"max_die_mm2": die * 1.01}, {"max_die_mm2": die * 0.99}])
    assert r["feasible"].tolist() == [True, False]
    assert r["reason"][1] == f"die area {die:.4g} mm2 > max_die_mm2 {die * 0.99:.4g} mm2"


def test_llama_70b_default_design_says_what_it_builds():
    """The default design on llama-2-70b needs hundreds of chips of its own size; the metrics say so."""
    r = _eval([{}], "llama-2-70b", Scenario())
    assert r["chips_used"][0] > 100
    assert np.isclose(r["die_area_mm2"][0] * r["chips_used"][0], r["area_mm2"][0])
