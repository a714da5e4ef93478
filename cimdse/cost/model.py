"""The CIM cost model: a pure, vectorized function from a batch of designs and a workload to metrics.

Steps, called in order from `evaluate_batch` (each is a named function, see docs/MODEL.md):
  circuits -> map_weights -> price_phase (prefill, decode; phase.py) -> summarize (summary.py).
Shapes: per-design arrays are (N,); per-matrix arrays are (N, J) for the J distinct static matrix shapes, stored
column-major (see map_weights). The workload side (`Workload`, `prepare`) is in shapes.py.
Units: energy pJ, time ns, area um^2 inside; metric names carry their own units.
"""

from __future__ import annotations

import numpy as np

from ..metrics import METRICS, metric_units  # noqa: F401  (re-exported: the cost model's outputs)
from ..tech import Tech, load_tech
from . import cam as _cam  # CAM blocks (token selection, analog-CAM non-linear lookups): docs/MODEL.md 14
from ._select import keep as _keep
from ._select import mask_bits, pick_bits
from ._util import ceil as _ceil
from ._util import dot_shapes as _dot_shapes
from ._util import equal_chunks, fill_rows
from ._util import total as _total
from .accmetrics import EMPTY, LATER, accuracy_inputs, accuracy_metrics, finish_accuracy
from .activity import conversions_kept, input_activity, skip_detection_pj
from .analog import auto_rows_active, cell_wire_ohm, design_ir_drop_frac, device_read_tables
from .leakage import gated_fraction_of, gating_rates, sram_bit_leakage_pw, sram_speed_factor
from .nodes import node_quantities
from .params import CATEGORICAL, DEFAULT_BITS_PER_CELL, FLOORS, conflict_codes
from .phase import ENERGY_PARTS, LATENCY_PARTS, price_phase, static_costs  # noqa: F401  (re-exported: plots, tests)
from .readout import readout
from .shapes import PAR_GROUPS, Workload, build_workload, prepare  # noqa: F401  (re-exported: cost/__init__.py and tests import them here)
from .static import mvm_costs as _mvm_costs  # noqa: F401  (re-exported: tests price one matrix with it)
from .summary import area, finish_reasons, leakage_w, peak_mvm, summarize
from .timing import adc_area_um2, adc_energy_pj, fmax_at_supplies, memo_table

CHUNK_DESIGNS = 24576     # most designs per pass through the model: temporaries stay small and in cache

AREA_PARTS = ("cells", "adc", "dac", "shift_add", "mac_units", "buffers", "digital", "noc", "cam", "readout")


# ------------------------------------------------------------------------------------------------ helpers

def logic_scale(tech: Tech, node, vdd, ref_node, ref_vdd, k_node=None):
    """Dynamic-energy scale of CMOS logic relative to a reference node and supply: k(node)/k(ref) (V/Vref)^2,
    k the switched-capacitance factor of Stillmaker and Baas (Tech.cap_scale; Dennard would give node/ref).
    `k_node`: tech.cap_factor(node) when the caller already has it (the batch computes it once)."""
    k = tech.cap_factor(node) if k_node is None else k_node
    return k / tech.cap_factor(ref_node) * (vdd / ref_vdd) ** 2


# ------------------------------------------------------------------------------------------------ step 1

def _digital_cim(p: dict, dc: dict, node, vdd, db, tech: Tech, k_node, ra) -> dict:
    """Digital SRAM CIM per column (docs/MODEL.md 'Digital SRAM CIM'): AND gates and an adder tree over the rows.

    e_cell: energy per cell and input slice (db AND gates); e_tree: one evaluation of a column's adder tree over
    ra rows of db-bit products; a_col: AND gates and adder tree area per column (um^2). ra: rows driven at once.
    """
    levels = np.ceil(np.log2(np.maximum(ra, 1)) - 1e-9)
    half = np.exp2(-levels)
    # full-adder bits of a ripple-carry tree: sum over levels l of (ra / 2^l) adders of (db + l - 1) bits
    n_fa = ra * ((db - 1) * (1 - half) + 2 - (levels + 2) * half)
    cv2 = k_node / tech.cap_factor(dc["ref_node_nm"]) * vdd**2 * 1e-3   # fF -> pJ at this node and supply
    e_and = 0.5 * dc["nd2_cap_ff"] * cv2
    e_fa = (3 * dc["nd2_cap_ff"] + 2 * dc["xor2_cap_ff"]) * cv2
    gamma = dc["adder_tree_activity"]
    a_scale = (node / dc["ref_node_nm"]) ** 2
    a_fa = 3 * dc["nd2_area_um2"] + 2 * dc["xor2_area_um2"]
    return {"e_cell": gamma * db * e_and, "e_tree": gamma * n_fa * e_fa,
            "a_col": (ra * db * dc["nd2_area_um2"] + n_fa * a_fa) * a_scale}


def combine_group(bits, bpc, differential, analog):
    """Bit-slice columns merged into one conversion (docs/MODEL.md 'Column combination'): with
    `column_combine: analog` the ceil(magnitude bits / bits_per_cell) binary-weighted columns of one value are
    charge-shared and converted once; otherwise every column converts on its own (1)."""
    return pick_bits(mask_bits(analog), _bit_columns(bits, bpc, mask_bits(differential)), 1.0)


def _bit_columns(bits, bpc, diff_bits):
    """Bit-slice columns of one value's magnitude: ceil(magnitude bits / bits_per_cell), the magnitude one bit short
    of `bits` for a differential pair (diff_bits: _select.mask_bits of those designs; np.where as _select.pick_bits).
    Shared by column combination (circuits) and the cells per value (map_weights)."""
    return _ceil(pick_bits(diff_bits, np.maximum(bits - 1, 1), bits) / bpc)


class _DeviceColumns(dict):
    """Per-design values of the device constants (tech.device), each gathered on first use."""

    def __init__(self, table: dict, device: np.ndarray):
        super().__init__()
        self.table, self.device = table, device

    def __missing__(self, key: str) -> np.ndarray:
        value = self[key] = self.table[key].take(self.device)
        return value


def _device_tables(tech: Tech) -> dict:
    """Per device (DEVICES order), once per Tech: constants of circuits() that depend on the device alone, by the
    same arithmetic as per design (so the same numbers)."""
    def build(dev: dict) -> dict:
        resistive = ~tech.capacitive & ~tech.dram
        g_avg = 0.5 * (1 / np.where(resistive, dev["r_on_ohm"], 1.0) + 1 / np.where(resistive, dev["r_off_ohm"], 1.0))
        v_read2 = dev["read_voltage_v"] ** 2
        return {
            "v_read2": v_read2,
            "e_res": v_read2 * g_avg * dev["read_pulse_ns"] * 1e-9 * 1e12,          # pJ per resistive cell read
            "e_res_ns": v_read2 * g_avg * 1e-9 * 1e12,                             # pJ per ns of read pulse
            "e_dram_bit": np.where(tech.dram, dev["activate_pj_per_bit"] + dev["column_pj_per_bit"], 0.0),
            "endurance": dev["endurance_cycles"] / np.maximum(dev["write_verify_pulses"], 1),
        }
    return memo_table(tech, tech.device, "circuits", build)


def circuits(p: dict, tech: Tech, r_cell=None, nq: dict | None = None) -> dict:
    """Per-design energy per action, time per step and area per component (docs/MODEL.md sections 2-3).
    r_cell: analog.cell_wire_ohm(p, tech) and nq: nodes.node_quantities(p["node_nm"], tech) when the caller has them."""
    per, dig = tech.periphery, tech.periphery["digital"]
    d = p["device"]                          # take() gathers per-device constants faster than fancy indexing
    dev = _DeviceColumns(tech.device, d)     # only the constants used, each gathered once
    tab = _device_tables(tech)
    capacitive = tech.capacitive.take(d)
    is_dram = tech.dram.take(d)
    resistive = ~capacitive & ~is_dram
    dcim = (p["compute"] == 1) & ~is_dram                                 # digital SRAM CIM
    gate = dcim | is_dram                                                 # no ADCs, DACs or analog noise
    # the masks as bits, for np.where as _select.keep and _select.pick_bits (the same bits, without np.where's branches)
    gate_bits, dram_bits, dcim_bits, cap_bits = mask_bits(gate), mask_bits(is_dram), mask_bits(dcim), mask_bits(capacitive)
    analog_bits, no_dram_bits = ~gate_bits, ~dram_bits
    # a differential pair per signed weight (weight_encoding: differential; not digital CIM or DRAM): map_weights
    diff_bits = mask_bits(p["weight_encoding"] == 0) & analog_bits
    node = p["node_nm"]
    nq = node_quantities(node, tech) if nq is None else nq       # once per distinct node (nodes.py)
    log_node, v_nom = nq["log_node"], nq["v_nom"]
    set_vdd = p["vdd"] > 0                                              # 0: the node's nominal supply
    vdd = pick_bits(mask_bits(set_vdd), p["vdd"], v_nom)
    k_node = nq["k_node"]                                                # Stillmaker-Baas factor, once per batch
    s45 = logic_scale(tech, node, vdd, dig["ref_node_nm"], dig["ref_vdd_v"], k_node)
    a45 = (node / dig["ref_node_nm"]) ** 2
    f_um = node * 1e-3
    sram_floor = nq["sram_bit_um2"]                # the node's smallest SRAM bitcell, 0 at planar nodes (cellarea.py)
    cell_um2 = np.maximum(dev["cell_area_f2"] * f_um**2, _keep(sram_floor, cap_bits))
    pitch_um = np.sqrt(cell_um2)
    wire_ff = per["dac"]["wire_cap_ff_per_um"] * pitch_um               # fF per cell crossed
    db = np.minimum(p["dac_bits"], p["input_bits"])
    act = (ia := input_activity(p["input_stats"], p["input_encoding"], p["input_bits"], db, tech))["rho"]
    vdd2 = vdd**2
    v_read2 = pick_bits(cap_bits, vdd2, tab["v_read2"].take(d))       # read voltage^2: the supply for SRAM/DRAM
    e_res = tab["e_res"].take(d)                                         # pJ, resistive cells (others: unused)
    t_read = dev["read_pulse_ns"]
    if np.any(p["read_ns"] > 0):                 # a design's own read pulse (docs/MODEL.md 2) replaces the device's
        t_read = np.where(p["read_ns"] > 0, p["read_ns"], t_read)
        e_res = np.where(p["read_ns"] > 0, tab["e_res_ns"].take(d) * p["read_ns"], e_res)
    cap_ff = dev["cell_cap_ff"] * pick_bits(mask_bits(dev["ref_node_nm"] > 0), k_node / tech.device_ref_cap_factor.take(d),
                                         1.0)
    e_cap = cap_ff * vdd2 * 1e-3                                         # fF V^2 = fJ -> pJ
    e_cell = act * (pick_bits(cap_bits, e_cap, e_res) + wire_ff * v_read2 * 1e-3)
    # a row is driven (its DAC switched, its line charged) in proportion to its slice value; plus zero-slice detection
    e_row = (act * (per["dac"]["cap_ff_per_bit"] * db * (db > 1) * ~gate + p["cols"] * wire_ff) * vdd2 * 1e-3
             + skip_detection_pj(p, tech, k_node, vdd, is_dram, no_dram_bits))
    # digital CIM's laws only where some design uses it (elsewhere every use below picks the other branch)
    ra = np.minimum(np.where(p["rows_active"] > 0, p["rows_active"], p["rows"]), p["rows"])   # rows driven at once
    dg = (_digital_cim(p, per["digital_cim"], node, vdd, db, tech, k_node, ra) if np.any(dcim)
          else {"e_cell": 0.0, "e_tree": 0.0, "a_col": 0.0})
    e_cell = pick_bits(dcim_bits, dg["e_cell"], _keep(e_cell, no_dram_bits))
    e_row = _keep(e_row, no_dram_bits)
    b = p["adc_bits"]
    adc = per["adc"]
    a_adc = adc_area_um2(b, tech) * node / adc["ref_node_nm"]
    a_adc = _keep(a_adc, analog_bits)
    t_conv = np.where(p["adc_ns"] > 0, p["adc_ns"], (b + adc["cycles_per_conversion_extra"]) / p["clock_ghz"])
    e_adc = _keep(adc_energy_pj(b, vdd, t_conv, tech, k_node), analog_bits)   # rises above Murmann's corners
    # analog column combination (not for digital CIM or DRAM, which have no ADC): fewer conversions per ADC per step
    combine = (p["column_combine"] == 1) & ~gate
    t_adc_step = lambda g: np.maximum(t_read, _ceil(p["cols_per_adc"] / g) * t_conv)  # noqa: E731
    cc, bpc = per["column_combine"], p["bits_per_cell"]
    # binary-weighted combining capacitors per group (fF): C_u * sum_s 2^(s bpc); 0 when nothing is combined
    comb_ff = lambda g, den: _keep(cc["unit_cap_ff"] * (np.exp2(g * bpc) - 1) / den, mask_bits(g > 1))  # noqa: E731
    bit_cols = {"weight": _bit_columns(p["weight_bits"], bpc, diff_bits)}   # (map_weights' cells per value too)
    if np.any(combine):
        combine_bits = mask_bits(combine)
        bit_cols["input"] = _bit_columns(p["input_bits"], bpc, diff_bits)
        comb_w = pick_bits(combine_bits, bit_cols["weight"], 1.0)
        comb_k = pick_bits(combine_bits, bit_cols["input"], 1.0)
        t_w, t_k = t_adc_step(comb_w), t_adc_step(comb_k)
        den = np.exp2(bpc) - 1   # (once for both)
        ff_w, ff_k = comb_ff(comb_w, den), comb_ff(comb_k, den)
    else:  # the same values without the arithmetic: groups of 1, no capacitors
        comb_w = comb_k = np.ones(len(node))
        t_w = t_k = t_adc_step(1.0)
        ff_w = ff_k = np.zeros(len(node))
    sa = per["shift_add"]
    s32 = logic_scale(tech, node, vdd, sa["ref_node_nm"], tech.vdd_for_node(np.array(sa["ref_node_nm"])), k_node)
    a32 = (node / sa["ref_node_nm"]) ** 2
    e_add32 = dig["add32_pj"] * s45
    bank_kb = np.minimum(p["tile_buffer_kb"], dig["sram_bank_kb"])
    e_sram_bit = lambda kb: dig["sram_64b_8kb_pj"] / 64 * np.sqrt(kb / 8.0) * s45  # noqa: E731
    ic = tech.interconnect
    ro = readout(p, tech, vdd, p["rows"] * wire_ff, resistive, gate, a32, analog_bits)   # column front end (docs/MODEL.md 16)
    return {
        "vdd": vdd, "vdd2": vdd2, "k_node": k_node, "s45": s45, "a45": a45, "cell_um2": cell_um2, "e_cell": e_cell, "e_row": e_row,
        "e_adc": e_adc, "a_adc": a_adc, "t_conv": t_conv, "e_sa": _keep(sa["energy_pj"] * s32, no_dram_bits),
        "a_sa": _keep(sa["area_um2"] * a32, no_dram_bits),
        "e_fe": ro["e_fe"], "a_fe": ro["a_fe"],
        "a_dac": _keep(per["dac"]["area_um2_1bit"] * np.exp2(db - 1) * a32, analog_bits),
        "t_step": pick_bits(gate_bits, (cycle := 1.0 / p["clock_ghz"]), t_w),
        "t_step_kv": pick_bits(gate_bits, cycle, t_k),
        "comb_w": comb_w, "comb_k": comb_k,
        "e_comb": act * ff_w * vdd2 * 1e-3, "e_comb_k": act * ff_k * vdd2 * 1e-3,
        "a_comb_col": ff_w / cc["cap_density_ff_per_um2"] / comb_w,   # um^2 per column
        "dcim": dcim, "is_dram": is_dram, "gate": gate, "dram_bits": dram_bits, "diff_bits": diff_bits, "bit_cols": bit_cols,
        "gate_bits": gate_bits, "e_tree": _keep(dg["e_tree"], dcim_bits),
        "a_tree_col": _keep(dg["a_col"], dcim_bits),
        "e_dram_bit": tab["e_dram_bit"].take(d),
        "t_act": dev["row_activate_ns"],
        "e_mac_w": dig["mult32_pj"] * (p["weight_bits"] / 32) ** 2 * s45
        + dig["add32_pj"] * (2 * p["weight_bits"] + 8) / 32 * s45,
        "t_read": t_read, "db": db, "in_slices": ia["slices"], "act_code": ia["code"], "act": act,
        "e_acc": e_add32,
        "e_mac": lambda bits: dig["mult32_pj"] * (bits / 32) ** 2 * s45 + dig["add32_pj"] * (2 * bits + 8) / 32 * s45,
        "e_vec": dig["vector_op_pj"] * s45,
        "e_tile_bit": e_sram_bit(bank_kb),
        "e_global_bit": dig["sram_64b_8kb_pj"] / 64 * np.sqrt(np.float64(dig["sram_bank_kb"]) / 8.0) * s45,
        "a_buffer_bit": np.maximum(dig["buffer_cell_area_f2"] * f_um**2, sram_floor) / dig["buffer_array_efficiency"],
        "a_lane": dig["vector_lane_area_um2"] * a45,
        "e_write": dev["write_energy_pj"], "t_write": dev["write_latency_ns"],
        "endurance": tab["endurance"].take(d),   # writes, not pulses
        "sigma": dev["sigma_g_rel"],   # SRAM bits leak by the law of cost/leakage.py; other cells by their constant
        "sram_leak_pw": (sram_pw := sram_bit_leakage_pw(p["sram_vt"], node, vdd, p["temperature_c"], tech, log_node,
                                                      (nq["leak_i"], nq["leak_w"]))),
        "leak_cell_pw": pick_bits(cap_bits, sram_pw, dev["leakage_pw_per_cell"]),
        "fmax_ghz": (fmax := fmax_at_supplies(p["vdd"], set_vdd, vdd, node, tech, nq)),
        # the shipped-clock record, slowed below the nominal supply as f_max is (docs/MODEL.md 23)
        "clock_ceiling_ghz": (ceil := per["timing"]["logic_clock_max_ghz"] * np.minimum(1.0, fmax / nq["fmax_nom"])),
        # SRAM arrays read at the clock: both clock limits are hp logic's, slower by the cells' flavour (MODEL.md 27)
        # (a batch without SRAM arrays checks 0 against it: f_max stands in, no work)
        "sram_clock_max_ghz": np.minimum(fmax, ceil) * sram_speed_factor(p["sram_vt"], (nq["leak_i"], nq["leak_w"]),
                                                                         tech) if capacitive.any() else fmax,
        "is_sram": capacitive,
        "ra": ra,
        "ir_drop": design_ir_drop_frac(p, tech, ra, cell_um2, log_node, r_cell),
        "adc_range": device_read_tables(tech)["adc_range"].take(d),   # finite on/off ratio (1 without ADC or DC read)
        "e_noc_bit_mm": ic["noc_pj_per_bit_mm"] * logic_scale(tech, node, vdd, ic["ref_node_nm"],
                                                                tech.vdd_for_node(np.array(ic["ref_node_nm"])), k_node),
        "e_router_bit": ic["noc_router_pj_per_bit"] * s32, "tech": tech,
        "a_router": per["shift_add"]["router_area_um2"] * a32,
        "e_off_bit": tech.offchip["energy_pj_per_bit"].take(p["offchip"]),
        "off_gbps": tech.offchip["bandwidth_gbps"].take(p["offchip"]) * p["offchip_devices"],
        "off_gb": tech.offchip["capacity_gb"].take(p["offchip"]) * p["offchip_devices"],     # capacity per chip (GB)
    }


# ------------------------------------------------------------------------------------------------ step 2

def _cells_per_value(bits, bpc, diff_bits, bit_cols=None, pair=None):
    """Columns (cells) one signed value of `bits` bits occupies: bit slices, doubled for a differential pair
    (diff_bits: _select.mask_bits of the differential designs; bit_cols: _bit_columns(bits, bpc, diff_bits) and pair:
    pick_bits(diff_bits, 2.0, 1.0) when the caller has them)."""
    cols = _bit_columns(bits, bpc, diff_bits) if bit_cols is None else bit_cols
    return cols * (pick_bits(diff_bits, 2.0, 1.0) if pair is None else pair)


def map_weights(p: dict, wl: Workload, c: dict) -> dict:
    """Tile every static matrix onto arrays; capacity, chips, replication, reload (docs/MODEL.md section 4)."""
    rows, cols, bpc = p["rows"], p["cols"], p["bits_per_cell"]
    # digital CIM and DRAM store two's-complement weight bits: no differential pair, no reference column
    differential = (p["weight_encoding"] == 0) & ~c["gate"]
    diff_bits = c["diff_bits"]            # (differential as _select.mask_bits: np.where as _select.pick_bits)
    cols_eff = pick_bits(diff_bits | c["gate_bits"], cols, cols - 1)
    pair = pick_bits(diff_bits, 2.0, 1.0)    # columns per bit slice: 2 for a differential pair
    cpw = _cells_per_value(p["weight_bits"], bpc, diff_bits, c["bit_cols"]["weight"], pair)
    ra = c["ra"]
    in_slices = c["in_slices"]   # input slices per vector (activity.py: sign-magnitude drops the sign slice)
    conv_keep = conversions_kept(p["slice_skip"], c["act_code"], ra, c["tech"])   # zero-slice skipping (MODEL.md 15)
    R, C, CPW, RA = rows[:, None], cols_eff[:, None], cpw[:, None], ra[:, None]
    k, n = wl.k[None, :], wl.n[None, :]
    # (N, J) arrays are made column-major (order="F"): a shape's column [:, j] is contiguous, and numpy's loops
    # then run along the designs, not along the few shapes (several times faster; the same numbers)
    row_tiles = _ceil(np.divide(k, R, order="F"))
    col_tiles = _ceil(np.multiply(n, CPW, order="F") / C)
    arrays_one = row_tiles * col_tiles                                   # (N, J) one matrix
    # DRAM PIM packs weight bits densely along its rows (a matrix need not align with the bank geometry)
    dram = np.flatnonzero(c["is_dram"])
    if len(dram):   # (on the DRAM designs' rows only)
        arrays_one[dram] = _ceil(np.multiply(k * n, CPW[dram]) / (R[dram] * C[dram]))
    n_rg = _ceil(np.minimum(R, k, order="F") / RA)
    weight_arrays = _dot_shapes(arrays_one, wl.copies * wl.count)
    weight_cells = cpw * float((wl.k * wl.n * wl.copies * wl.count).sum())   # exact: integers below 2^53
    # KV cache in CIM arrays (attention: cim): per layer, sequence and KV head a K array (hd rows x context)
    # and a V array (context rows x hd), at the KV precision
    m, sc = wl.model, wl.scenario
    kv_bits = kv_precision(p, wl)
    cpk = _cells_per_value(kv_bits, bpc, diff_bits, c["bit_cols"].get("input") if kv_bits is p["input_bits"] else None,
                           pair)
    kv_per_head = 0.0   # arrays per sequence and KV head, summed over layers; a sliding window caps the context
    for n_layers, span in m.kv_spans(sc.prompt_tokens + sc.generate_tokens):
        k_arrays = _ceil(m.hd / rows) * _ceil(span * cpk / cols_eff)
        v_arrays = _ceil(span / rows) * _ceil(m.hd * cpk / cols_eff)
        kv_per_head = kv_per_head + n_layers * (k_arrays + v_arrays)
    ctx_max = m.cached_tokens(sc.prompt_tokens + sc.generate_tokens)   # tokens cached per layer, on average
    attn_bits = mask_bits(p["attention"] == 1)   # attention: cim
    kv_arrays = _keep(sc.batch * m.kv_heads * kv_per_head, attn_bits)
    arrays_per_chip = p["tiles"] * p["arrays_per_tile"]
    needed = weight_arrays + kv_arrays
    chips_needed = _ceil(needed / arrays_per_chip)
    fit = chips_needed <= p["chips"]
    reload_mode = (p["overflow"] == 1) & ~fit
    chips_used = pick_bits(mask_bits(reload_mode | fit), p["chips"], chips_needed)
    avail = chips_used * arrays_per_chip
    kv_fits = kv_arrays <= avail
    weight_space = np.maximum(avail - kv_arrays, 0)
    reload_bits = mask_bits(reload_mode)
    rep = pick_bits(mask_bits(fit) | ~reload_bits, np.maximum(np.floor(weight_space / np.maximum(weight_arrays, 1)), 1), 1.0)
    rep = pick_bits(c["dram_bits"], 1.0, rep)   # DRAM PIM spreads every matrix over all banks already
    per_layer_arrays = _dot_shapes(arrays_one, wl.copies * wl.per_layer)
    single_arrays = np.zeros(len(rows))
    for j in wl.single_shapes:
        single_arrays = np.maximum(single_arrays, arrays_one[:, j] * wl.copies[j])
    staging = np.maximum(np.minimum(weight_space, np.maximum(per_layer_arrays, single_arrays)), 1)
    resident = pick_bits(reload_bits, np.maximum(weight_space - staging, 0), weight_arrays)
    reload_arrays = _keep(np.maximum(weight_arrays - resident, 0), reload_bits)
    # KV cache of the whole batch at full context: layers x (K, V) x kv_dim x kv_bits / 8 bytes per token
    # (kv_bytes_per_token(1) is that count at 1 bit); digital attention keeps it in the global buffers if it fits
    kv_bytes = m.kv_bytes_per_token(1) * sc.batch * ctx_max * kv_bits
    kv_in_buffer = kv_bytes <= p["global_buffer_mb"] * 1e6 * chips_used
    reload_fraction = _keep(reload_arrays / np.maximum(weight_arrays, 1), reload_bits)
    return {
        "cpw": cpw, "cols_eff": cols_eff, "ra": ra, "in_slices": in_slices, "row_tiles": row_tiles, "conv_keep": conv_keep,
        "col_tiles": col_tiles, "n_rg": n_rg, "weight_arrays": weight_arrays, "weight_cells": weight_cells,
        "kv_arrays": kv_arrays, "cpk": cpk, "needed": needed, "chips_needed": chips_needed, "fit": fit,
        "chips_used": chips_used, "avail": avail, "rep": rep, "reload_mode": reload_mode, "staging": staging,
        "reload_fraction": reload_fraction,
        "reload_bytes": weight_cells * reload_fraction / cpw * p["weight_bits"] / 8,   # streamed from off-chip
        "reload_rounds": reload_arrays / staging, "kv_fits": kv_fits, "differential": differential,
        "attn_bits": attn_bits,
        "lanes": p["simd_lanes"] * p["tiles"] * chips_used,   # vector lanes of all chips (passes, CAM area)
        "array_cells": avail * rows * cols,   # cells of all arrays; buffer bits of all chips (area, leakage)
        "buffer_bits": chips_used * (p["tiles"] * p["tile_buffer_kb"] * 8192 + p["global_buffer_mb"] * 8e6),
        "kv_bits": kv_bits, "kv_bytes": kv_bytes, "kv_in_buffer": kv_in_buffer,
    }


def kv_precision(p: dict, wl: Workload) -> np.ndarray:
    """Bits per K and V value: the workload's `kv_bits` when it sets one, else the design's `input_bits` (K and V
    are activations the arrays produce; docs/MODEL.md section 3)."""
    kv = wl.scenario.kv_bits
    return np.full(len(p["input_bits"]), float(kv)) if kv else p["input_bits"]


def evaluate_batch(p: dict, wl: Workload, tech: Tech | None = None, breakdown: bool = False) -> dict:
    """Metrics for every design of the batch `p` (dict of arrays) on workload `wl`; see METRICS.

    Large batches run in equal chunks of at most CHUNK_DESIGNS designs (same numbers, less memory traffic).
    """
    tech = tech or load_tech()
    p = {k: (np.asarray(v) if k in CATEGORICAL else np.asarray(v, dtype=float)) for k, v in p.items()}
    if "host" in p and np.any(p["host"] != 0):   # a host GPU runs part of the work (cost/host.py)
        from .host import evaluate_hosted
        return evaluate_hosted(p, wl, tech, breakdown, _evaluate_chunk, build_workload, CHUNK_DESIGNS)
    n = len(p["rows"])
    if n <= CHUNK_DESIGNS:
        return _evaluate_chunk(p, wl, tech, breakdown)
    return _evaluate_chunks(p, wl, tech, breakdown)


def _evaluate_chunks(p: dict, wl: Workload, tech: Tech, breakdown: bool) -> dict:
    """evaluate_batch (host none) of a batch of more than CHUNK_DESIGNS designs, in equal chunks of at most that
    many; the reason texts and the accuracy metrics once for the batch: limits that many designs break repeat their
    numbers across chunks, and the error model's per-configuration work is shared by the chunks."""
    n = len(p["rows"])
    res: dict = {}
    for _, i, j in equal_chunks((n,), CHUNK_DESIGNS):
        fill_rows(res, _evaluate_chunk({k: v[i:j] for k, v in p.items()}, wl, tech, breakdown, True), i, n)
    return finish_accuracy(finish_reasons(res), p, wl, tech)


def _evaluate_chunk(p: dict, wl: Workload, tech: Tech, breakdown: bool, defer: bool = False,
                    sums: bool = False) -> dict:
    """evaluate_batch on one chunk of designs (defer: the reason texts and the accuracy metrics are left for the
    batch, see summary.feasibility and accmetrics.py; sums: each phase's pass sums under "_sums", for host.combine)."""
    code = conflict_codes(p, tech)
    # evaluate conflicting designs on clipped values so every metric stays finite; they are flagged infeasible
    p = dict(p)
    max_bpc = tech.device["max_bits_per_cell"].take(p["device"])
    bpc = p["bits_per_cell"]   # 0 (the device's default) is resolved by params.to_batch; here too for raw batches
    p["bits_per_cell"] = np.minimum(np.where(bpc == 0, np.minimum(DEFAULT_BITS_PER_CELL, max_bpc), bpc), max_bpc)
    nq = node_quantities(p["node_nm"], tech)             # once per distinct node
    r_cell = cell_wire_ohm(p, tech, nq["wire_ohm_um"])   # line resistance per cell pitch (IR drop), used twice
    p["rows_active"] = np.minimum(auto_rows_active(p, tech, r_cell), p["rows"])   # 0: as many rows as IR drop allows
    p["cols_per_adc"] = np.minimum(p["cols_per_adc"], p["cols"])
    for name, f in FLOORS.items():      # (0, floor) is flagged by conflict_codes and priced at the floor
        p[name] = _keep(np.maximum(p[name], f.value), mask_bits(p[name] > 0))   # (np.where(p > 0, max, 0): _select.keep)
    c = circuits(p, tech, r_cell, nq)
    mp = map_weights(p, wl, c)
    ar = area(p, c, mp)
    ar["cam"] = _cam.cam_area_um2(p, wl, c, mp, tech) * 1e-6                  # CAM blocks (MODEL.md 14)
    p_leak = leakage_w(p, c, mp) + _cam.cam_leakage_w(p, wl, c)
    phase_out = {}
    sc_ = static_costs(p, wl, c, mp)
    peak = peak_mvm(p, c, mp)
    gating = gating_rates(p, c, mp, peak[2], peak[3])
    for ph in wl.vectors:
        e, t, ops = price_phase(p, wl, c, mp, ph, sc_, breakdown)   # (the operator split: breakdown only)
        t_pass = _total(t.values())
        e["leakage"] = p_leak * t_pass * 1e3                               # W * ns = nJ -> pJ
        if gating is not None:   # (without gating the fraction is 1)
            macs = float((wl.vectors[ph] * wl.k * wl.n).sum())        # static MACs of the pass (power gating duty)
            e["leakage"] = e["leakage"] * gated_fraction_of(gating, macs, t_pass)
        phase_out[ph] = (e, t, ops, _total(e.values()), t_pass)
    res = summarize(p, wl, c, mp, ar, p_leak, phase_out, code, peak, defer)
    if sums:   # per phase (time ns, energy pJ, leakage pJ, off-chip pJ) of one pass: the sums summarize read
        res["_sums"] = {ph: (o[4], o[3], o[0]["leakage"], o[0]["offchip"]) for ph, o in phase_out.items()}
    if defer:   # sqnr_db, equivalent_bits, logit_sqnr_db once for the batch (accmetrics.py): what they read
        res.update(dict.fromkeys(LATER, EMPTY), _accuracy=accuracy_inputs(p, c, mp))
    else:
        accuracy_metrics(p, wl, c, mp, c["comb_w"] > 1, res)
    if breakdown:
        res["breakdown"] = {
            "area_mm2": ar,
            "energy_pj": {ph: o[0] for ph, o in phase_out.items()},
            "latency_ns": {ph: o[1] for ph, o in phase_out.items()},
            "operators_pj": {ph: o[2] for ph, o in phase_out.items()},
        }
    return res
