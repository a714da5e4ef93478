"""The quantities of a design that depend on its technology node alone (log node, nominal supply, switched-capacitance
factor, wire resistance, the node factors of the clock law and of SRAM leakage), computed once per distinct node of a
chunk and gathered: a sweep rarely varies the node, and then each law runs on one value instead of every design.
Each law is the elementwise function of its own module (tech, timing, analog, leakage): the same numbers.
"""

from __future__ import annotations

import numpy as np

from ..tech import Tech, memo
from ._util import distinct, spread
from .analog import wire_ohm_per_um
from .cellarea import sram_bitcell_floor_um2
from .leakage import leakage_node_part
from .timing import fmax_ghz, fmax_node_part

NODES_KEPT = 256   # distinct nodes whose quantities a Tech keeps (a sweep uses a handful; beyond: computed per call)


def node_quantities(node: np.ndarray, tech: Tech) -> dict:
    """Per design (N,): log_node, v_nom (V), k_node (Tech.cap_factor), wire_ohm_um (ohm/um), f_nom and vth (V) of
    timing.fmax_node_part, fmax_nom (GHz, f_max at v_nom), leak_i and leak_w of leakage.leakage_node_part,
    sram_bit_um2 of cellarea.sram_bitcell_floor_um2. A batch of few distinct nodes looks each one up in the Tech's
    table of nodes seen (Tech.memo, the same numbers: each law is elementwise)."""
    d = distinct(node)
    if d is None:
        return _quantities(node, tech)
    values, index = d
    kept = memo(tech, "node_quantities", lambda _: {})    # node (nm) -> its quantities
    keys = values.tolist()
    miss = [v for v in keys if v not in kept]
    if miss:
        if len(kept) + len(miss) > NODES_KEPT:
            return {k: spread(v, index, len(node)) for k, v in _quantities(values, tech).items()}
        q = _quantities(np.array(miss), tech)
        for i, v in enumerate(miss):
            kept[v] = {k: a[i] for k, a in q.items()}
    if index is None:   # one node: every design's
        return {k: np.full(len(node), a) for k, a in kept[keys[0]].items()}
    rows = [kept[v] for v in keys]
    return {k: np.array([r[k] for r in rows]).take(index) for k in rows[0]}


def _quantities(values: np.ndarray, tech: Tech) -> dict:
    """node_quantities of each of `values` (node, nm)."""
    log_node = np.log(values)
    v_nom = np.interp(log_node, np.log(tech.vdd_nodes), tech.vdd_values)    # tech.vdd_for_node, log(node) reused
    q = {"log_node": log_node, "v_nom": v_nom, "k_node": tech.cap_factor(values),
         "wire_ohm_um": wire_ohm_per_um(values, tech)}
    q["f_nom"], q["vth"] = fmax_node_part(values, tech, v_nom, log_node)
    q["fmax_nom"] = fmax_ghz(v_nom, values, tech, node_part=(q["f_nom"], q["vth"]))   # f_max at the nominal supply
    q["leak_i"], q["leak_w"] = leakage_node_part(log_node, tech)
    q["sram_bit_um2"] = sram_bitcell_floor_um2(values, tech)
    return q
