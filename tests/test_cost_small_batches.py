"""The small-batch paths of the cost model (a sweep's 1 to 25 designs per call) give the numbers of the large-batch
paths: prices of every matrix shape at once (static.py, traffic.py), node quantities looked up in the Tech's table
of nodes seen (nodes.py). Each path is forced both ways on the same batch and compared bit for bit."""

import dataclasses

import numpy as np
import pytest
from _designs import every_choice_drawn

from cimdse.cost import _util, evaluate_arrays, nodes
from cimdse.cost.params import PARAMS
from cimdse.tech import load_tech
from cimdse.workload import Scenario

SC = Scenario(batch=4, prompt_tokens=256, generate_tokens=64)


def _mixed_designs(n: int, seed: int = 5) -> dict:
    """n designs with every categorical parameter drawn (DRAM PIM, digital CIM, CIM attention, hosts), geometries
    and chip counts that split matrices over chips in some designs, several nodes."""
    rng = np.random.default_rng(seed)
    b = every_choice_drawn(n, rng)
    b["rows"] = 2.0 ** rng.integers(5, 11, n)
    b["cols"] = 2.0 ** rng.integers(5, 11, n)
    b["tiles"] = 2.0 ** rng.integers(2, 12, n)          # few tiles: large matrices span chips
    b["chips"] = rng.integers(1, 9, n).astype(float)
    b["node_nm"] = rng.choice([7.0, 22.0, 28.0, 45.0], n)
    b["overflow"] = rng.integers(0, len(PARAMS["overflow"].choices), n)
    return b


def _flat(res: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in res.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": np.asarray(v)})
    return out


def _same(a: dict, b: dict) -> None:
    fa, fb = _flat(a), _flat(b)
    assert fa.keys() == fb.keys()
    for k in fa:
        if fa[k].dtype == object:
            assert fa[k].tolist() == fb[k].tolist(), k
        else:
            np.testing.assert_array_equal(fa[k], fb[k], err_msg=k)


@pytest.mark.parametrize("model", ["llama-2-7b", "mixtral-8x7b"])
def test_shapes_priced_at_once_or_one_by_one_give_the_same_bits(monkeypatch, model):
    b = _mixed_designs(40)
    monkeypatch.setattr(_util, "WHOLE_CELLS", 10**9)
    at_once = evaluate_arrays(b, model, SC, breakdown=True)
    monkeypatch.setattr(_util, "WHOLE_CELLS", 0)
    one_by_one = evaluate_arrays(b, model, SC, breakdown=True)
    assert np.any(at_once["chips_used"] > 1) and not np.all(at_once["feasible"])   # split and infeasible designs
    _same(at_once, one_by_one)


def test_node_table_gives_the_numbers_of_the_laws(monkeypatch):
    """node_quantities of a few distinct nodes (looked up in the Tech's table, filled on first use) equals the laws
    evaluated on the whole column, whatever the nodes seen before; beyond NODES_KEPT nodes it computes them."""
    tech = dataclasses.replace(load_tech())   # a copy: its own, empty table
    node = np.array([28.0, 7.0, 28.0, 45.0, 7.0, 12.5])
    direct = nodes._quantities(node, tech)
    for _ in range(2):   # first call fills the table, the second only looks up
        q = nodes.node_quantities(node, tech)
        for k, v in direct.items():
            np.testing.assert_array_equal(q[k], v, err_msg=k)
    one = nodes.node_quantities(np.full(3, 45.0), tech)
    np.testing.assert_array_equal(one["k_node"], np.full(3, direct["k_node"][3]))
    kept = len(tech.memo["node_quantities"])
    assert kept == 4
    nodes_16 = np.linspace(3.0, 180.0, 16)   # (distinct() groups at most 16 distinct values)
    monkeypatch.setattr(nodes, "NODES_KEPT", kept + 3)   # more new nodes than the table may still take: not kept
    q = nodes.node_quantities(np.concatenate([nodes_16] * 2), tech)
    assert len(tech.memo["node_quantities"]) == kept
    for k, v in nodes._quantities(np.concatenate([nodes_16] * 2), tech).items():
        np.testing.assert_array_equal(q[k], v, err_msg=k)
