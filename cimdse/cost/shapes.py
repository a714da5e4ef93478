"""The workload side of the cost model: what it needs from a model and scenario, precomputed once per pair
(distinct static matrix shapes, vectors per phase, element counts). `prepare` is cached per (model, scenario).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..workload import ModelConfig, Scenario, operator_table, phases

PAR_GROUPS = ({"q_proj", "k_proj", "v_proj"}, {"ffn_gate", "ffn_up"}, {"shared_gate", "shared_up"})


@dataclass(frozen=True)
class Workload:
    """What the cost model needs from a model and scenario, precomputed once (element counts, no bits)."""

    model: ModelConfig
    scenario: Scenario
    # distinct static matrix shapes (J,)
    k: np.ndarray
    n: np.ndarray
    copies: np.ndarray        # matrices of this shape stored per occurrence (experts)
    count: np.ndarray         # occurrences (layers) x rows merged into this shape
    per_layer: np.ndarray     # True if the shape belongs to every layer
    # per phase: vectors through each shape per pass (J,), and aggregated scalars
    vectors: dict             # phase -> (J,) sum over merged rows of count * m * active
    stage_shapes: tuple       # per-layer stages: tuple of index tuples into the shapes (sequential stages)
    single_shapes: tuple      # shapes run once per pass (lm_head, pooler)
    phase_totals: dict        # phase -> dict of element counts
    steps: dict               # phase -> passes per request
    stage_share: float = 1.0  # largest share of a per-layer stage's vectors one copy serves (MoE: experts/token / copies)


def _stage_plan(names: list[str]) -> list[list[str]]:
    plan: list[list[str]] = []
    for nm in names:
        for g in PAR_GROUPS:
            if nm in g and plan and plan[-1][0] in g:
                plan[-1].append(nm)
                break
        else:
            plan.append([nm])
    return plan


@lru_cache(maxsize=64)
def prepare(model: ModelConfig, scenario: Scenario) -> Workload:
    """Precompute the workload arrays for the cost model."""
    return build_workload(model, scenario, {ph: operator_table(model, scenario, ph) for ph in phases(model)})


def build_workload(model: ModelConfig, scenario: Scenario, tables: dict) -> Workload:
    """The Workload of given operator tables (phase -> OpTable); cost/host.py passes the PIM side's share."""
    pre = tables["prefill"]
    static = pre.select(kind="static_matmul")
    names = list(pre.cols["name"][static])
    keys = []
    for i in np.flatnonzero(static):
        keys.append((pre.cols["k"][i], pre.cols["n"][i], pre.cols["copies"][i], pre.cols["count"][i] > 1))
    shape_of, uniq = {}, []
    for nm, key in zip(names, keys, strict=True):
        if key not in uniq:
            uniq.append(key)
        shape_of[nm] = uniq.index(key)
    J = len(uniq)
    count = np.zeros(J)
    for nm, i in zip(names, np.flatnonzero(static), strict=True):
        count[shape_of[nm]] += pre.cols["count"][i]
    vectors, totals = {}, {}
    for ph, t in tables.items():
        st = t.select(kind="static_matmul")
        v = np.zeros(J)
        for nm, i in zip(t.cols["name"][st], np.flatnonzero(st), strict=True):
            v[shape_of[nm]] += t.cols["count"][i] * t.cols["m"][i] * t.cols["active"][i]
        vectors[ph] = v
        dyn = t.select(kind="dynamic_matmul")
        elem = np.isin(t.cols["kind"], ("softmax", "norm", "activation", "residual"))
        totals[ph] = {
            "static_in": t.total("in_elems", st),
            "static_out": t.total("out_elems", st),
            "dyn_macs": t.total("macs", dyn),
            "dyn_in": t.total("in_elems", dyn),
            "dyn_out": t.total("out_elems", dyn),
            "elem_ops": t.total("elem_ops", elem | st),   # static rows: bias adds
            "elem_io": t.total("in_elems", elem) + t.total("out_elems", elem),
            "kv_read": t.total("in_elems", t.select(kind="kv_read")),
            "kv_write": t.total("out_elems", t.select(kind="kv_write")),
            "embed": t.total("weight_elems", t.select(kind="embedding")),
            "m": float(scenario.batch * (scenario.prompt_tokens if ph == "prefill" else 1)),
            "keys": float(t.cols["n"][t.select(name="qk_scores")][0]),
            "queries": float(scenario.prompt_tokens if ph == "prefill" else 1),
            # CAM: element ops an analog-CAM lookup replaces (softmax exp, FFN activation), docs/MODEL.md 14
            "nl_lookups": sum(t.total("in_elems", t.select(name=nm)) for nm in ("softmax", "ffn_act", "shared_act")),
        }
    per_layer_names = [nm for nm, key in zip(names, keys, strict=True) if key[3]]
    stages = tuple(tuple(sorted({shape_of[nm] for nm in grp})) for grp in _stage_plan(per_layer_names))
    singles = tuple(shape_of[nm] for nm, key in zip(names, keys, strict=True) if not key[3])
    copies = np.array([u[2] for u in uniq])
    share = np.where(copies > 1, model.experts_per_token / np.maximum(copies, 1), 1.0)
    return Workload(
        model=model, scenario=scenario,
        k=np.array([u[0] for u in uniq]), n=np.array([u[1] for u in uniq]),
        copies=np.array([u[2] for u in uniq]), count=count, per_layer=np.array([u[3] for u in uniq]),
        vectors=vectors, stage_shapes=stages, single_shapes=singles, phase_totals=totals,
        steps={ph: t.steps for ph, t in tables.items()},
        stage_share=float(np.max(share[[j for s in stages for j in s]], initial=1.0)),
    )
