"""Per-distinct-value evaluation in the cost model (cost/_util.distinct, cost/nodes.py): the same numbers as per design."""

from __future__ import annotations

import numpy as np

from cimdse.cost._util import distinct, spread
from cimdse.cost.analog import wire_ohm_per_um
from cimdse.cost.leakage import sram_bit_leakage_pw
from cimdse.cost.nodes import node_quantities
from cimdse.cost.timing import fmax_ghz
from cimdse.tech import load_tech


def test_distinct_values_and_index_rebuild_the_array():
    x = np.array([22.0, 7.0, 65.0, 7.0, 22.0])
    values, index = distinct(x)
    assert values.tolist() == [7.0, 22.0, 65.0] and values.take(index).tolist() == x.tolist()
    values, index = distinct(np.full(4, 3.0))
    assert values.tolist() == [3.0] and index is None and spread(values, index, 4).tolist() == [3.0] * 4
    assert distinct(np.arange(40.0)) is None                 # too many values: computed per design instead
    assert distinct(np.array([1.0, np.nan, 1.0])) is None    # (a NaN never compares equal)


def test_node_quantities_equal_the_laws_per_design():
    tech = load_tech()
    for node in (np.full(6, 22.0), np.array([7.0, 14.0, 22.0, 28.0, 45.0, 65.0, 7.0, 65.0]),
                 np.exp(np.linspace(np.log(3.0), np.log(180.0), 30))):     # one node, a few, many (per design)
        q = node_quantities(node, tech)
        vdd = np.linspace(0.5, 1.2, len(node))
        assert np.array_equal(q["log_node"], np.log(node))
        assert np.array_equal(q["v_nom"], tech.vdd_for_node(node))
        assert np.array_equal(q["k_node"], tech.cap_factor(node))
        assert np.array_equal(q["wire_ohm_um"], wire_ohm_per_um(node, tech))
        assert np.array_equal(fmax_ghz(vdd, node, tech, node_part=(q["f_nom"], q["vth"])), fmax_ghz(vdd, node, tech))
        code, temp = np.arange(len(node)) % 3, np.full(len(node), 60.0)
        assert np.array_equal(sram_bit_leakage_pw(code, node, vdd, temp, tech, node_part=(q["leak_i"], q["leak_w"])),
                              sram_bit_leakage_pw(code, node, vdd, temp, tech))
