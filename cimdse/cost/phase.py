"""Step 3 of the cost model: the energy (pJ) and latency (ns) of one pass of each phase (docs/MODEL.md sections 5-6).

`static_costs` prices what every pass of a chunk shares (the static matmuls of static.py, the traffic of traffic.py,
the per-design constants of `_pass_constants`); `price_phase` combines them with one phase's counts
(Workload.phase_totals). Shapes and units as in model.py: (N,) per design, energy pJ, time ns.
"""

from __future__ import annotations

import numpy as np

from . import cam as _cam  # CAM blocks (token selection, analog-CAM non-linear lookups): docs/MODEL.md 14
from ._select import keep as _keep
from ._select import mask_bits, pick_bits
from ._util import ceil as _ceil
from ._util import total as _total
from .shapes import Workload
from .static import static_pass_costs
from .traffic import traffic_constants

ENERGY_PARTS = ("cells", "adc", "dac", "shift_add", "mac_units", "digital", "buffers", "noc", "chip_link", "offchip",
                "writes", "leakage", "cam", "readout")
# operator classes of price_phase's energy split, in the order the breakdown lists them
OPERATOR_CLASSES = ("static_matmul", "buffers_noc", "attention", "elementwise", "embedding", "weight_reload",
                    "chip_link")
LATENCY_PARTS = ("arrays", "digital", "cim_attention", "kv_write", "reload", "offchip", "chip_link", "cam")


def static_costs(p: dict, wl: Workload, c: dict, mp: dict) -> dict:
    """Energy of the static matmuls of one pass per phase by component, the per-vector latency of each distinct
    matrix (list of (N,)) and the one-vector layer latency (N,) (static.py)."""
    e_pass, t_vec = static_pass_costs(p, wl, c, mp)
    t_layer = np.zeros(len(p["rows"]))
    for stage in wl.stage_shapes:
        slowest = t_vec[stage[0]]
        for j in stage[1:]:
            slowest = np.maximum(slowest, t_vec[j])
        t_layer += slowest
    return {"e_pass": e_pass, "t_vec": t_vec, "t_layer": t_layer, **_pass_constants(p, wl, c, mp, t_vec, t_layer)}


def _pass_constants(p: dict, wl: Workload, c: dict, mp: dict, t_vec: list, t_layer: np.ndarray) -> dict:
    """Per-design quantities that every phase's pass shares (NoC distance, KV placement, weight reload, the parts
    of the array latency that do not depend on the phase); price_phase only combines them with the phase's counts."""
    tiles_used = np.maximum(_ceil(mp["needed"] / p["arrays_per_tile"]), 1)
    hops = 2.0 / 3.0 * np.sqrt(np.minimum(tiles_used, p["tiles"]))
    tile_mm = np.sqrt(p["arrays_per_tile"] * p["rows"] * p["cols"] * c["cell_um2"] * 3.0) * 1e-3
    kv_in_buffer = mp["kv_in_buffer"]
    kv_dram = c["is_dram"]                      # DRAM PIM: the KV cache lives in the banks next to the MAC units
    kv_on_chip = kv_in_buffer & ~kv_dram
    clock = p["clock_ghz"]
    lanes = mp["lanes"]
    reload_cells = mp["weight_cells"] * mp["reload_fraction"]
    w_bytes = mp["reload_bytes"]
    off_gbps = c["off_gbps"] * mp["chips_used"]
    e_reload_write, e_reload_read = reload_cells * c["e_write"], w_bytes * 8 * c["e_off_bit"]
    tr = traffic_constants(p, wl, mp, hops, c["tech"])     # multicast, partial sums, chip links, KV bandwidth
    kv_dram_gbps = lanes * mp["kv_bits"] * clock / 8        # bank read rate matched to the lanes (GB/s)
    L = wl.model.layers
    dram_bits = c["dram_bits"]   # (the masks as _select.mask_bits: np.where as _select.keep and _select.pick_bits)
    P = pick_bits(dram_bits, 1.0, np.minimum(p["pipeline_depth"], L))   # DRAM: all banks serve every vector
    batch_rounds = _ceil(wl.scenario.batch / mp["rep"])
    hd = float(wl.model.hd)
    cim_attn = p["attention"] == 1
    attn_bits = mp["attn_bits"]
    if np.any(cim_attn):   # attention: cim, the K arrays' row tiles and groups (phase independent)
        rg_k = _ceil(np.minimum(p["rows"], hd) / mp["ra"])
        attn = {"rg_k": rg_k, "k_groups_per_hd": _ceil(hd / p["rows"]) * rg_k / hd}
    else:
        attn = {}
    return {
        **attn,
        "chip_bounds": mp["chips_used"] - 1,
        "hops": hops, "lanes": lanes, "kv_on_chip": kv_on_chip, "kv_dram": kv_dram, "kv_local": kv_on_chip | kv_dram,
        "cim_attn": cim_attn, "attn_bits": attn_bits, "digital_bits": ~attn_bits,
        "kv_on_chip_bits": (on_chip_bits := mask_bits(kv_on_chip)), "kv_far_bits": ~(on_chip_bits | dram_bits),
        "kv_dram_gbps": kv_dram_gbps,
        # the bandwidth (GB/s) the KV cache is read at: DRAM banks, global buffers or off-chip memory
        "kv_gbps": pick_bits(dram_bits, kv_dram_gbps, pick_bits(on_chip_bits, tr["kv_buffer_gbps"], off_gbps)),
        "e_kv_bit": pick_bits(dram_bits, c["e_dram_bit"], pick_bits(mask_bits(kv_in_buffer), c["e_global_bit"], c["e_off_bit"])),
        "e_mac": c["e_mac"](p["input_bits"]),
        "off_gbps_all": off_gbps,
        "e_reload_write": e_reload_write, "e_reload_read": e_reload_read, "e_reload": e_reload_write + e_reload_read,
        "t_reload": np.maximum(w_bytes / off_gbps, mp["reload_rounds"] * p["rows"] * c["t_write"]),
        "e_hop_bit": c["e_router_bit"] + tile_mm * c["e_noc_bit_mm"],
        # latency of the arrays: L t_layer (vectors per stage + P - 1) / P per pass, plus the single (once per
        # pass) shapes, plus the NoC hops of every stage; (vectors + P) - 1 = vectors + (P - 1): integers, exact
        "pipe": P, "pipe_fill": P - 1, "t_layers": L * t_layer,
        "t_singles": [t_vec[j] * batch_rounds for j in wl.single_shapes],
        "t_hops": hops / clock * L * len(wl.stage_shapes),
        "lane_rate": lanes * clock,                          # digital lane operations per ns
        **tr,
    }


def price_phase(p: dict, wl: Workload, c: dict, mp: dict, ph: str, sc_: dict,
                by_op: bool = True) -> tuple[dict, dict, dict]:
    """Energy (pJ) and latency (ns) components of one pass of phase `ph`, and energy by operator class (by_op False:
    an empty dict; only the breakdown reads it, and its sums are left out).

    Every part of ENERGY_PARTS and LATENCY_PARTS is set here (leakage: by the caller). A new term: add its name to
    the tuple and set e[name] / t[name] here (a per-phase count from wl.phase_totals times a per-design cost from
    circuits() `c`); what does not depend on the phase goes into _pass_constants, computed once per chunk."""
    tot = wl.phase_totals[ph]
    bits = p["input_bits"]
    e: dict[str, np.ndarray] = {}
    t: dict[str, np.ndarray] = {}
    ops: dict[str, np.ndarray] = {}
    # --- static matmuls on the CIM arrays: per-vector costs x vectors through each matrix (static.py)
    e.update(sc_["e_pass"][ph])
    if by_op:
        ops["static_matmul"] = _total(e.values())
    e_tile_bit = c["e_tile_bit"]
    io_bits = (tot["static_in"] + tot["static_out"]) * bits
    e_io = io_bits * e_tile_bit
    hops = sc_["hops"]
    # NoC: inputs and outputs over the average distance, plus multicast trees and partial sums (traffic.py)
    e["noc"] = (io_bits * hops + sc_["noc_extra_pass"][ph]) * sc_["e_hop_bit"]
    if by_op:
        ops["buffers_noc"] = e_io + e["noc"]
    # latency: layers in sequence, stages in sequence, arrays of one matrix in parallel; pipelining overlaps vectors
    m_vec = tot["m"]
    vec_per_stage = _ceil(m_vec * wl.stage_share / mp["rep"])
    t_static = sc_["t_layers"] * (vec_per_stage + sc_["pipe_fill"]) / sc_["pipe"]
    for t_single in sc_["t_singles"]:
        t_static = t_static + t_single
    t["arrays"] = t_static + sc_["t_hops"]
    # --- attention and element-wise work
    cim_attn, attn, digital = sc_["cim_attn"], sc_["attn_bits"], sc_["digital_bits"]
    e_kv_bit = sc_["e_kv_bit"]
    keep = p["kv_keep"]                 # attention tokens kept after pruning: QK^T, S.V and KV reads shrink
    dyn_macs, kv_read = tot["dyn_macs"] * keep, tot["kv_read"] * keep
    dyn_io = (tot["dyn_in"] + tot["dyn_out"]) * keep
    dyn_digital = _keep(dyn_macs, digital)
    e_dyn_macs = dyn_digital * sc_["e_mac"]
    kv_bits = mp["kv_bits"]
    kv_traffic = _keep((kv_read + tot["kv_write"]) * kv_bits, digital)
    if by_op:
        e_attn = e_dyn_macs + kv_traffic * e_kv_bit + dyn_io * bits * e_tile_bit   # (e_kv_bit finite: 0 x e = 0)
    nl = _cam.nonlinear_costs(p, c, tot, c["tech"])      # CAM (MODEL.md 14): lookups leave the lanes
    elem_ops = tot["elem_ops"] - nl["lookups"]
    e_vec_ops = elem_ops * c["e_vec"]
    if by_op:
        ops["elementwise"] = e_vec_ops + nl["energy"] + tot["elem_io"] * bits * e_tile_bit
    e["digital"] = e_dyn_macs + e_vec_ops
    e["buffers"] = (e_io + (dyn_io + tot["elem_io"]) * bits * e_tile_bit
                    + _keep(kv_traffic * c["e_global_bit"], sc_["kv_on_chip_bits"]))
    e_off = _keep(kv_traffic * c["e_off_bit"], sc_["kv_far_bits"])
    e["cells"] = e["cells"] + kv_traffic * c["e_dram_bit"]          # e_dram_bit is 0 but for DRAM PIM
    t_compute = (dyn_digital + elem_ops) / sc_["lane_rate"] + nl["lookups"] / sc_["lanes"] * nl["t_lookup"]
    t["digital"] = np.maximum(t_compute, kv_traffic * 0.125 / sc_["kv_gbps"])   # (x 1/8: the bits of / 8)
    # attention in CIM arrays: write K and V, then two analog MVMs per query and head
    if np.any(cim_attn):
        hd, keys = float(wl.model.hd), np.maximum(tot["keys"] * keep, 1.0)   # kept keys only
        cells_written = tot["kv_write"] * mp["cpk"]
        e_w = _keep(cells_written * c["e_write"], attn)
        macs = dyn_macs * 0.5  # QK^T and S.V each (x 1/2: the bits of / 2)
        s = mp["in_slices"]
        cells_qk = macs * mp["cpk"] * s
        rg_k = sc_["rg_k"]
        rt_v, rg_v = _ceil(keys / p["rows"]), _ceil(np.minimum(p["rows"], keys) / mp["ra"])
        conv = cells_qk * (sc_["k_groups_per_hd"] + rt_v * rg_v / keys) / c["comb_k"] * mp["conv_keep"]
        e_cim = {
            "cells": 2 * cells_qk * c["e_cell"], "adc": conv * c["e_adc"],
            "dac": (macs / keys + macs / hd) * s * c["e_row"], "shift_add": conv * (c["e_sa"] + c["e_comb_k"]),
            "readout": conv * c["e_fe"],
        }
        for part, val in e_cim.items():
            e[part] = e[part] + _keep(val, attn)
        e["writes"] = e_w
        if by_op:
            e_attn = e_attn + _keep(_total(e_cim.values()) + e_w, attn)
        group = wl.model.heads / wl.model.kv_heads
        t_mvm = s * (rg_k + rg_v) * c["t_step_kv"]
        t["cim_attention"] = _keep(wl.model.layers * tot["queries"] * group * t_mvm, attn)
        rows_written = hd + (tot["queries"] if ph == "prefill" else 1.0)
        t["kv_write"] = _keep(wl.model.layers * rows_written * c["t_write"], attn)
    else:
        e["writes"] = t["cim_attention"] = t["kv_write"] = np.zeros(len(bits))
    zero = np.zeros(len(bits))
    sel = _cam.selection_costs(p, wl, c, mp, ph, tot, c["tech"])   # CAM token selection (MODEL.md 14)
    e["cam"] = nl["energy"] + sel["energy"] + zero
    t["cam"] = sel["time"] + zero
    if by_op:
        ops["attention"] = e_attn + sel["energy"]
    # --- embedding lookups from off-chip memory
    emb_bits = tot["embed"] * p["weight_bits"]
    e_emb = emb_bits * c["e_off_bit"]
    e["offchip"] = e_off + e_emb
    t["offchip"] = emb_bits * 0.125 / sc_["off_gbps_all"]
    # --- weight reload (overflow: reload and the weights do not fit)
    e["writes"] = e["writes"] + sc_["e_reload_write"]
    e["offchip"] = e["offchip"] + sc_["e_reload_read"]
    t["reload"] = sc_["t_reload"]
    # --- chip-to-chip: activations cross every chip boundary (layers split over chips)
    # and every matrix split over chips multicasts its input and sends partial sums across (traffic.py)
    link_bits = m_vec * wl.model.hidden * bits * sc_["chip_bounds"]
    if sc_["link_bits_pass"] is not None:
        link_bits = link_bits + sc_["link_bits_pass"][ph]
    e["chip_link"] = link_bits * sc_["e_link_eff"]
    t["chip_link"] = link_bits * sc_["link_ns_per_bit"] + sc_["link_hop_ns"]
    if by_op:
        ops["embedding"], ops["weight_reload"], ops["chip_link"] = e_emb, sc_["e_reload"], e["chip_link"]
        ops = {k: ops[k] for k in OPERATOR_CLASSES}   # (the order they were set in before)
    return _in_order(e, ENERGY_PARTS), _in_order(t, LATENCY_PARTS), ops


def _in_order(parts: dict, order: tuple) -> dict:
    """parts with the keys of `order` first, in that order (sums over the parts add them in this fixed order), then
    any others as they were set."""
    out = {k: parts[k] for k in order if k in parts}
    out.update(parts)
    return out
