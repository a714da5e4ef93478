"""The logit NSR of a batch straight from the error model's per-design parts (errmodel.nsr_parts), for the cost
model's designs that are not grouped (errgroups.design_groups: None).

errstats.logit_nsr(with_pruning(nsr_terms(...))) adds, per distinct matmul kind, its eight terms over every design,
most of them zero arrays or zeros scattered around the few designs that convert (digital designs have no ADC or
cell noise; K and V are digital unless `attention: cim`). This adds the same terms in the same order, leaving out
only the additions of those zeros (x + 0 = x for the non-negative terms), so every design gets the same bits, alone
or in any batch, as logit_nsr of its terms; the grouped path (errmodel.logit_plan) adds them the same way.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .errstats import ErrorShapes, weighted_kinds
from .pruning import design_prune_nsr


def logit_nsr_parts(n: int, zero: np.ndarray, parts: Mapping[str, dict], p: Mapping,
                    shapes: ErrorShapes) -> np.ndarray:
    """logit_nsr of with_pruning(nsr_terms(...)) from nsr_parts' (n, zero, parts) and the designs p (kv_keep,
    token_select, cam_hash_bits for S.V's pruning term): per kind, weight_quant + input_quant, then for the
    converting designs (part["ix"]) + adc + device (+ drift + read) (+ IR drop), then + kv_prune (S.V), weighted
    and summed over the kinds in weighted_kinds' order."""
    prune = None
    if "score_v" in shapes.names and "kv_keep" in p:
        names = list(shapes.names)
        prune = design_prune_nsr(p, float(shapes.k[names.index("score_v")]),
                                 float(shapes.k[names.index("qk_scores")]))
    view = dict(parts)
    if prune is not None:   # with_pruning gives S.V terms of its own: its own weight in weighted_kinds
        view["score_v"] = dict(parts["score_v"])
    out = zero
    for k, (nm, w) in enumerate(weighted_kinds(view, shapes)):
        part = view[nm]
        base = part["weight_quant"] + part["input_quant"]   # (per design, or per combination: gathered)
        code, ix = part["code"], part["ix"]
        total = base if code is None else base.take(code)
        if ix is not None:
            if isinstance(ix, slice):
                sub = total
            else:
                sub = total.take(ix) if code is None else base.take(part["code_on"])
            sub += part["adc"]
            sub += part["device"]
            for t in ("drift", "read"):
                if t in part:
                    sub += part[t]
            if "ir" in part:   # (0 where a design does not convert)
                sub += part["ir"]["sub"]
            if not isinstance(ix, slice):
                total[ix] = sub
        if prune is not None and nm == "score_v":
            total += prune
        total *= w
        if k == 0:
            out = total   # (0 + x = x: the first kind's weighted terms as they are)
        else:
            out += total
    return out
