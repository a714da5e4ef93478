"""SRAM cells at FinFET nodes (cimdse/cost/cellarea.py, docs/MODEL.md 'SRAM cells at FinFET nodes'): no SRAM bit
smaller than the published high-density 6T bitcell of its node."""

from __future__ import annotations

import numpy as np
import pytest

from cimdse.cost import evaluate_arrays
from cimdse.cost.cellarea import sram_bitcell_floor_um2
from cimdse.cost.model import circuits
from cimdse.cost.params import to_batch
from cimdse.tech import load_tech


def test_floor_by_hand():
    # table (periphery.yaml digital.sram_bitcell_um2): 14 nm 0.0588, 7 nm 0.027, 5 nm 0.021 um^2, log-log
    # 10 nm: 0.027 * (0.0588 / 0.027)^(ln(10/7) / ln 2) = 0.027 * 2.1778^0.51457 = 0.027 * 1.4927 = 0.04030
    # 16 nm: 0.0588 * (16/14)^s, s = ln(0.0588/0.027) / ln 2 = 1.1229: 0.0588 * 1.1618 = 0.06831 (TSMC 16 nm: 0.07)
    # 3 nm: held at the 5 nm cell; 22 nm and above: planar, no floor
    got = sram_bitcell_floor_um2(np.array([3.0, 5.0, 7.0, 10.0, 14.0, 16.0, 20.0, 22.0, 45.0]), load_tech())
    assert got[:6] == pytest.approx([0.021, 0.021, 0.027, 0.04030, 0.0588, 0.06831], rel=2e-4)
    assert got[6] > got[5]
    assert got[7:].tolist() == [0.0, 0.0]


def test_buffer_bits_take_the_published_cell_at_5_nm_and_f2_at_22_nm():
    # 100 MB more global buffer on one chip = 8e8 bits more; area per bit = cell / 0.7 (buffer_array_efficiency)
    # 5 nm: 8e8 * 0.021 / 0.7 um^2 = 2.4e7 um^2 = 24.0 mm^2 (146 F^2 would give 8e8 * 146 * 0.005^2 / 0.7 = 4.17 mm^2)
    # 22 nm (planar): 8e8 * 146 * 0.022^2 / 0.7 um^2 = 80.76 mm^2
    for node, expected in ((5.0, 24.0), (22.0, 80.76)):
        res = evaluate_arrays({"device": ["sram", "sram"], "node_nm": [node, node], "global_buffer_mb": [16.0, 116.0],
                               "overflow": ["reload", "reload"]}, model="gpt2")
        assert res["chips_used"].tolist() == [1, 1]
        assert res["area_mm2"][1] - res["area_mm2"][0] == pytest.approx(expected, rel=1e-3)


def test_sram_array_cells_at_least_the_6t_cell_other_devices_unchanged():
    # sram: 280 F^2; at 5 nm 280 * 0.005^2 = 0.007 um^2 < 0.021 -> 0.021; at 22 nm 280 * 0.022^2 = 0.13552 um^2
    # rram: 48 F^2 at 5 nm = 0.0012 um^2, kept (the floor is for SRAM cells)
    tech = load_tech()
    p = to_batch([{"device": "sram", "node_nm": 5.0}, {"device": "sram", "node_nm": 22.0},
                  {"device": "rram", "node_nm": 5.0}], tech)
    assert circuits(p, tech)["cell_um2"] == pytest.approx([0.021, 0.13552, 0.0012], rel=1e-9)
