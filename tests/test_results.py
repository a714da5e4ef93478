"""The CSV writer: rounding to significant digits, integer columns, quoting, atomic replacement."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cimdse.results import round_significant, write_csv


def test_round_significant_by_hand():
    x = np.array([1.23456789012345, 123456789012.345, 0.000123456789012345, 0.0, -2.5e-7, 7.0])
    # 10 significant digits: 1.234567890|12 -> 1.23456789; 1234567890|12.345 -> 123456789000;
    # 0.0001234567890|12 -> 0.000123456789; zero stays; -2.5e-7 and 7 are already short
    want = np.array([1.23456789, 123456789000.0, 0.000123456789, 0.0, -2.5e-7, 7.0])
    np.testing.assert_array_equal(round_significant(x), want)


def test_round_significant_keeps_non_finite():
    x = np.array([np.inf, -np.inf, np.nan, 1e-320, 1e308])
    y = round_significant(x)
    assert np.isinf(y[0]) and np.isinf(y[1]) and np.isnan(y[2])
    assert y[3] == 1e-320 and y[4] == 1e308


def test_write_csv_text(tmp_path):
    df = pd.DataFrame({
        "trial": np.array([0, 1]),
        "rows": np.array([256.0, 1024.0]),              # integer-valued floats -> integers
        "energy_uj": np.array([1.23456789012345, 0.5]),  # 10 significant digits, shortest form
        "device": np.array(["rram", "sram"], dtype=object),
        "feasible": np.array([True, False]),
        "violation": np.array(["", "area_mm2 <= 10, sqnr_db >= 20"], dtype=object),
    })
    out = tmp_path / "t.csv"
    write_csv(df, out)
    assert out.read_text() == (
        "trial,rows,energy_uj,device,feasible,violation\n"
        '0,256,1.23456789,rram,true,""\n'
        '1,1024,0.5,sram,false,"area_mm2 <= 10, sqnr_db >= 20"\n'
    )
    back = pd.read_csv(out, keep_default_na=False)
    assert back["feasible"].tolist() == [True, False]
    assert back["violation"].tolist() == ["", "area_mm2 <= 10, sqnr_db >= 20"]
    assert not list(tmp_path.glob(".t.csv.tmp-*"))  # the temporary name was renamed away


def test_text_columns_as_str_of_each_value():
    """Text columns are converted once per distinct string (results._text_series); the result must equal str() of
    every value (the plain path), also for columns with repeats, quotes, missing values or non-strings."""
    import polars as pl

    from cimdse.results import _text_series

    rng = np.random.default_rng(1)
    words = np.array(["", "sram", 'say "hi"', "a, b", "x\ny", "pcm"], dtype=object)
    cols = {
        "repeats": words[rng.integers(0, len(words), 500)],
        "with_none": np.array(["rram", None, "sram", np.nan] * 5, dtype=object),
        "mixed": np.array([1, "1", 1.0, True, "True"] * 4, dtype=object),   # 1 == 1.0 == True as dict keys
        "np_str": np.array([np.str_("fefet"), "mram"] * 10, dtype=object),
        "empty": np.array([], dtype=object),
    }
    for name, v in cols.items():
        fast = _text_series(name, v)
        assert fast.dtype == pl.String
        assert fast.equals(pl.Series(name, v.astype(str))), name
        assert pl.DataFrame([fast]).write_csv() == pl.DataFrame([pl.Series(name, v.astype(str))]).write_csv()
    assert _text_series("m", cols["mixed"]).to_list()[:5] == ["1", "1", "1.0", "True", "True"]


def test_csv_rows_equal_polars_write_csv():
    """results.write_csv_rows writes runs of constant columns as one literal column and quotes text itself; the bytes
    must equal polars' own write_csv (default quoting) for constant and varying columns of every kind, text that
    needs quoting (empty, comma, quote, line break), -0.0 beside 0.0 (not one value), NaN and inf."""
    import io

    import polars as pl

    from cimdse.results import write_csv_rows

    n = 7
    frame = pl.DataFrame({
        "trial": np.arange(n),
        "same_int": np.full(n, 22), "same_text": ["digital"] * n, "same_empty": [""] * n,
        "same_comma": ["a, b"] * n, "same_float": np.full(n, 0.1), "same_bool": [True] * n,
        "vary_text": ["", "x", 'say "hi"', "a,b", "p\nq", "r\rs", "plain"],
        "signed_zero": [0.0, -0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        "same_nan": [float("nan")] * n, "same_inf": [float("inf")] * n,
        "vary_float": np.linspace(-1, 1, n), "last_same": np.full(n, 3),
    })
    for cols in (frame.columns, frame.columns[1:7], ["same_int"], ["vary_text", "same_int", "same_text"]):
        f = frame.select(cols)
        for rows in (f, f.head(1), f.head(0)):
            out = io.BytesIO()
            write_csv_rows(rows, out)
            assert out.getvalue() == rows.write_csv(include_header=False, line_terminator="\n").encode(), cols
