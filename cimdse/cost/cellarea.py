"""The smallest SRAM bitcell a FinFET node can build (docs/MODEL.md 'SRAM cells at FinFET nodes').

Cell areas are F^2 multiples, which hold for planar nodes but not below 20 nm, where the node name is no longer a
length: 146 F^2 is 5.7x smaller than TSMC's 5 nm cell. At a FinFET node (F <= node_families finfet_max_nm) an
SRAM bit (buffer or SRAM array cell) is at least the published high-density 6T bitcell of periphery.yaml
`digital.sram_bitcell_um2`, log-log interpolated between its nodes, extrapolated above its largest node with the
slope of its two largest, held at its smallest node's value below it. Planar nodes: 0 (no floor).
"""

from __future__ import annotations

import numpy as np

from ..tech import Tech


def sram_bitcell_floor_um2(node: np.ndarray, tech: Tech) -> np.ndarray:
    """Per node (nm): the smallest SRAM bitcell (um^2) at a FinFET node, 0 at a planar node."""
    table = tech.periphery["digital"]["sram_bitcell_um2"]
    nodes = np.array(sorted(float(k) for k in table))
    log_n = np.log(nodes)
    log_a = np.log(np.array([float(table[k]) for k in sorted(table, key=float)]))
    x = np.log(np.maximum(node, nodes[0]))                    # held at the smallest node's cell below it
    a = np.interp(x, log_n, log_a)
    if len(nodes) > 1:                                        # above the largest node: the last slope continues
        slope = (log_a[-1] - log_a[-2]) / (log_n[-1] - log_n[-2])
        a = np.where(x > log_n[-1], log_a[-1] + slope * (x - log_n[-1]), a)
    return np.where(node <= tech.finfet_max_nm, np.exp(a), 0.0)
