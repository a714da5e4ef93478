"""The quantities of a design that depend on its technology node alone (log node, nominal supply, switched-capacitance
factor, wire resistance, the node factors of the clock law and of SRAM leakage), computed once per distinct node of a
chunk and gathered: a sweep rarely varies the node, and then each law runs on one value instead of every design.
Each law is the elementwise function of its own module (tech, timing, analog, leakage): the same numbers.
"""

from __future__ import annotations

import numpy as np

from ..tech import Tech
from ._util import distinct, spread
from .analog import wire_ohm_per_um
from .leakage import leakage_node_part
from .timing import fmax_node_part


def node_quantities(node: np.ndarray, tech: Tech) -> dict:
    """Per design (N,): log_node, v_nom (V), k_node (Tech.cap_factor), wire_ohm_um (ohm/um), f_nom and vth (V) of
    timing.fmax_node_part, leak_i and leak_w of leakage.leakage_node_part."""
    d = distinct(node)
    values = node if d is None else d[0]
    log_node = np.log(values)
    v_nom = np.interp(log_node, np.log(tech.vdd_nodes), tech.vdd_values)    # tech.vdd_for_node, log(node) reused
    q = {"log_node": log_node, "v_nom": v_nom, "k_node": tech.cap_factor(values),
         "wire_ohm_um": wire_ohm_per_um(values, tech)}
    q["f_nom"], q["vth"] = fmax_node_part(values, tech, v_nom, log_node)
    q["leak_i"], q["leak_w"] = leakage_node_part(log_node, tech)
    return q if d is None else {k: spread(v, d[1], len(node)) for k, v in q.items()}
