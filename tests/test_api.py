"""The public Python API (DESIGN.md): the functions the CLI calls, importable from `cimdse`."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

import cimdse
from cimdse.errors import UserError


def test_every_api_name_resolves():
    for name in cimdse.__all__:
        assert getattr(cimdse, name) is not None, name
    with pytest.raises(AttributeError):
        cimdse.no_such_function  # noqa: B018


def test_import_stays_light():
    # `import cimdse` must not pull numpy, pandas, optuna or matplotlib (cimdse --help stays instant)
    code = "import sys, cimdse; print(sorted(m for m in ('numpy','pandas','optuna','matplotlib') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_pareto_front_by_hand():
    # (energy min, sqnr max): a=(1, 10) and c=(3, 30) are non-dominated; b=(2, 5) is dominated by a;
    # d=(0.5, 40) would dominate everything but is infeasible
    df = pd.DataFrame({"name": list("abcd"), "e": [1.0, 2.0, 3.0, 0.5], "s": [10.0, 5.0, 30.0, 40.0],
                       "feasible": [True, True, True, False]})
    front = cimdse.pareto_front(df, {"e": "minimize", "s": "maximize"})
    assert list(front["name"]) == ["a", "c"]
    no_flag = cimdse.pareto_front(df.drop(columns="feasible"), [("e", "minimize"), ("s", "maximize")])
    assert list(no_flag["name"]) == ["d"]
    with pytest.raises(UserError):
        cimdse.pareto_front(df, {"latency": "minimize"})
    with pytest.raises(UserError):
        cimdse.pareto_front(df, {"e": "smallest"})


def test_evaluate_from_the_package():
    df = cimdse.evaluate([{"device": "rram"}, {"device": "sram", "bits_per_cell": 1}], model="gpt2")
    assert len(df) == 2 and (df["energy_per_token_uj"] > 0).all()


def test_evaluate_frame_is_what_pandas_would_build():
    """cost.frame assembles the frame from its arrays directly; the public constructor must give the same frame
    (values, dtypes, column order and index), including infeasible rows and their text reasons."""
    import numpy as np
    import pandas as pd

    from cimdse.cost import frame

    designs = [{"device": "rram"}, {"device": "sram", "bits_per_cell": 2}, {"device": "pcm", "compute": "analog"}]
    df = cimdse.evaluate(designs, model="gpt2")
    assert not df["feasible"].all()
    plain = pd.DataFrame({c: np.asarray(df[c].to_numpy(), dtype=object) if df[c].dtype.kind not in "fbi"
                          else df[c].to_numpy() for c in df.columns})
    pd.testing.assert_frame_equal(df, plain)
    small = frame({"a": np.array([1.0, 2.0]), "b": np.array(["x", "y"], dtype=object), "c": np.array([True, False])}, 2)
    pd.testing.assert_frame_equal(small, pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"], "c": [True, False]}))


def test_public_api_listed_with_docstrings():
    names = [n for n in cimdse.__all__ if n != "__version__"]
    assert {"evaluate", "evaluate_arrays", "load_sweep", "run_sweep", "pareto_front", "load_model",
            "gpu_metrics", "UserError"} <= set(names)
    assert set(names) <= set(dir(cimdse))                      # lazily loaded names show up in dir()
    for n in names:
        assert (getattr(cimdse, n).__doc__ or "").strip(), n   # help(cimdse.NAME) says something


def test_evaluate_arrays_takes_a_plain_dict_of_columns():
    import numpy as np

    from cimdse.cost.params import to_batch

    plain = {"device": ["rram", "sram"], "rows": [256, 512], "bits_per_cell": [2, 1]}
    a = cimdse.evaluate_arrays(plain, model="gpt2")
    b = cimdse.evaluate_arrays(to_batch(plain), model="gpt2")     # the encoded fast path: same numbers
    for k in ("tpot_ms", "energy_per_token_uj", "area_mm2", "feasible"):
        assert np.array_equal(a[k], b[k]), k
    assert list(a["violation"]) == ["", ""] and a["violation"] is a["reason"]   # one name; `reason` an alias
    with pytest.raises(UserError, match="did you mean 'adc_bits'"):
        cimdse.evaluate_arrays({"adc_bit": [4]}, model="gpt2")


def test_integer_parameters_stay_integers_and_violation_is_named_as_in_the_csv():
    df = cimdse.evaluate([{"device": "rram", "rows": 128}, {"device": "sram", "bits_per_cell": 2}], model="gpt2")
    assert df["rows"].dtype.kind == "i" and df["rows"].tolist() == [128, 256]
    assert df["adc_bits"].dtype.kind == "i" and df["clock_ghz"].dtype.kind == "f"
    assert "reason" not in df.columns and "bits_per_cell" in df["violation"][1]
    with pytest.raises(UserError, match="rows: expected an integer, got 100.5"):
        cimdse.evaluate({"rows": [100.5]}, model="gpt2")
