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
