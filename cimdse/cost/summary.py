"""Step 4 of the cost model: area, leakage, and the metrics of each design from its priced passes; limits.

`summarize` turns the per-pass energies and latencies of `price_phase` into the metrics of METRICS (per token,
per request, peak, lifetime) and decides feasibility through `limits.apply_limits` (docs/MODEL.md sections 5-7).
"""

from __future__ import annotations

import numpy as np

from ._select import keep, mask_bits, pick_bits
from ._util import ceil as _ceil
from ._util import total as _total
from .accmetrics import EMPTY
from .leakage import gating_area_factor
from .limits import Check, apply_limits, first_broken, reason_texts
from .params import CONFLICT_TEXTS

SECONDS_PER_YEAR = 3.15576e7
LIFETIME_CAP_YEARS = 1e6  # reported when nothing is ever rewritten
# reasons with a code: parameter conflicts (params.py), then capacity rules of the mapping; checked before limits
REASONS = np.asarray((*CONFLICT_TEXTS, "KV cache does not fit in the CIM arrays"), dtype=object)
KV_CODE = len(REASONS) - 1


def area(p: dict, c: dict, mp: dict) -> dict:
    """Area (mm^2) per component for all chips used."""
    per_array_adcs = _ceil(p["cols"] / p["cols_per_adc"])
    arrays = mp["avail"]
    # (products shared by several parts made once, in the same order: the same numbers)
    array_rows, array_cols, chip_tiles = arrays * p["rows"], arrays * p["cols"], mp["chips_used"] * p["tiles"]
    a = {
        "cells": mp["array_cells"] * c["cell_um2"],   # (arrays x rows x cols)
        "adc": arrays * per_array_adcs * c["a_adc"],
        "dac": array_rows * c["a_dac"],
        "shift_add": arrays * (per_array_adcs * c["a_sa"] + p["cols"] * c["a_comb_col"]),
        "mac_units": array_cols * c["a_tree_col"],
        "buffers": mp["buffer_bits"] * c["a_buffer_bit"],
        "digital": chip_tiles * p["simd_lanes"] * c["a_lane"],
        "noc": chip_tiles * c["a_router"],
        "readout": array_cols * c["a_fe"],   # column front ends (sample-and-hold included)
    }
    g = gating_area_factor(p, c)   # sleep transistors of power-gated cells and buffers (docs/MODEL.md 12)
    a["cells"], a["buffers"] = a["cells"] * g, a["buffers"] * g
    return {k: v * 1e-6 for k, v in a.items()}


def leakage_w(p: dict, c: dict, mp: dict) -> np.ndarray:
    """Static power: volatile (SRAM) cells of the arrays and all buffer bits."""
    return (mp["array_cells"] * c["leak_cell_pw"] + mp["buffer_bits"] * c["sram_leak_pw"]) * 1e-12


def peak_mvm(p: dict, c: dict, mp: dict) -> tuple:
    """One array's full matrix-vector product: (columns used, row groups, MACs, time in ns)."""
    cols_used = np.floor(mp["cols_eff"] / mp["cpw"]) * mp["cpw"]
    n_rg = _ceil(p["rows"] / mp["ra"])
    return cols_used, n_rg, p["rows"] * cols_used / mp["cpw"], mp["in_slices"] * n_rg * c["t_step"]


def summarize(p: dict, wl, c: dict, mp: dict, ar: dict, p_leak: np.ndarray, phase_out: dict,
              code: np.ndarray, peak: tuple | None = None, defer_reasons: bool = False) -> dict:
    """Metrics of every design (METRICS, plus feasible and reason) from its circuits `c`, mapping `mp`, area
    components `ar`, leakage and priced passes `phase_out` (phase -> (energy, latency, ops, energy sum, time));
    peak: `peak_mvm(p, c, mp)` when the caller has it. The accuracy metrics are left to accmetrics.py."""
    res = {}
    area_mm2 = _total(ar.values())
    sc = wl.scenario
    e_pre, t_pre = phase_out["prefill"][3], phase_out["prefill"][4]
    if "decode" in phase_out:
        e_dec, t_dec = phase_out["decode"][3], phase_out["decode"][4]
        G = sc.generate_tokens
        res["tpot_ms"] = t_dec * 1e-6
        res["tokens_per_s"] = sc.batch / (t_dec * 1e-9)
        res["energy_per_token_uj"] = e_dec / sc.batch * 1e-6
        e_chip = e_dec - phase_out["decode"][0]["offchip"]          # without the off-chip memory's energy
        res["chip_energy_per_token_uj"] = e_chip / sc.batch * 1e-6
    else:  # encoders: per-token figures refer to the prompt tokens of the single pass
        e_dec, t_dec, G = 0.0, 0.0, 0
        res["tpot_ms"] = np.zeros(len(e_pre))
        res["tokens_per_s"] = sc.batch * sc.prompt_tokens / (t_pre * 1e-9)
        res["energy_per_token_uj"] = e_pre / (sc.batch * sc.prompt_tokens) * 1e-6
        e_chip = e_pre - phase_out["prefill"][0]["offchip"]
        res["chip_energy_per_token_uj"] = e_chip / (sc.batch * sc.prompt_tokens) * 1e-6
    t_request = t_pre + G * t_dec
    res["ttft_ms"] = t_pre * 1e-6
    res["prefill_energy_mj"] = e_pre * 1e-9
    res["avg_power_w"] = (e_pre + G * e_dec) / t_request * 1e-3
    res["area_mm2"] = area_mm2
    res["die_area_mm2"] = area_mm2 / mp["chips_used"]
    # peak: every array busy with full matrix-vector products
    cols_used, n_rg, macs, t_mvm = peak_mvm(p, c, mp) if peak is None else peak
    conv = cols_used * mp["in_slices"] * n_rg / c["comb_w"] * mp["conv_keep"]
    e_mvm = (p["rows"] * cols_used * mp["in_slices"] * c["e_cell"]
             + conv * (c["e_adc"] + c["e_sa"] + c["e_comb"] + c["e_tree"] + c["e_fe"])
             + p["rows"] * mp["in_slices"] * c["e_row"])
    peak_tops = mp["avail"] * 2 * macs / t_mvm * 1e-3
    peak_w = mp["avail"] * e_mvm / t_mvm * 1e-3
    # (np.where as _select.pick_bits and _select.keep on the masks' bits: the same bits, without np.where's branches)
    macro_tops_per_w = 2 * macs / pick_bits(mask_bits(e_mvm > 0), e_mvm, 1.0)   # (e_mvm is 0 only for dram, replaced below)
    # DRAM PIM peak: every bank unit does simd_lanes MACs per cycle on weights streamed from its bank
    dram = c["dram_bits"]
    e_dram_mac = c["e_mac_w"] + p["weight_bits"] * c["e_dram_bit"]
    dram_macs_per_ns = p["tiles"] * mp["chips_used"] * p["simd_lanes"] * p["clock_ghz"]
    res["peak_tops"] = pick_bits(dram, 2 * dram_macs_per_ns * 1e-3, peak_tops)
    res["peak_power_w"] = pick_bits(dram, dram_macs_per_ns * e_dram_mac * 1e-3, peak_w) + p_leak
    res["tops_per_w"] = res["peak_tops"] / res["peak_power_w"]
    res["power_density_w_mm2"] = res["peak_power_w"] / area_mm2     # all chips alike: one chip's peak over its area
    res["tops_per_mm2"] = res["peak_tops"] / area_mm2
    res["macro_tops_per_w"] = pick_bits(dram, 2 / e_dram_mac, macro_tops_per_w)
    macro_area = (ar["cells"] + ar["adc"] + ar["dac"] + ar["shift_add"] + ar["mac_units"] + ar["readout"]
                  + keep(ar["digital"], dram))
    res["macro_tops_per_mm2"] = res["peak_tops"] / macro_area
    res["chips_needed"] = mp["chips_needed"]
    res["chips_used"] = mp["chips_used"]
    res["weights_fit"] = (~mp["reload_mode"]).astype(float)     # resident in the chips used (no reload)
    res["sqnr_db"] = EMPTY   # (its place among the metrics) set by accmetrics.accuracy_metrics
    res["ir_drop_frac"] = c["ir_drop"]
    # endurance: weight reloads rewrite the staging arrays every pass; attention: cim writes each KV slot once per request
    passes_per_s = (1 + G) / (t_request * 1e-9)
    rate_reload = mp["reload_rounds"] * passes_per_s
    kv_cells_written = (wl.phase_totals["prefill"]["kv_write"]
                        + G * wl.phase_totals.get("decode", {"kv_write": 0})["kv_write"]) * mp["cpk"]
    kv_capacity = np.maximum(mp["kv_arrays"] * p["rows"] * p["cols"], 1)
    rate_kv = keep(kv_cells_written / kv_capacity / (t_request * 1e-9), mp["attn_bits"])
    rate = np.maximum(rate_reload, rate_kv)
    rated = mask_bits(rate > 0)
    life = pick_bits(rated, c["endurance"] / pick_bits(rated, rate, 1.0) / SECONDS_PER_YEAR, LIFETIME_CAP_YEARS)
    res["lifetime_years"] = np.minimum(life, LIFETIME_CAP_YEARS)
    res["utilization"] = mp["weight_cells"] / mp["array_cells"]
    res["offchip_gb"] = offchip_bytes(wl, p, c, mp) * 1e-9
    res["feasible"], res["reason"] = feasibility(p, res, c, mp, code, defer_reasons)
    return res


def offchip_bytes(wl, p: dict, c: dict, mp: dict) -> np.ndarray:
    """Bytes the off-chip memory holds: the embedding table (always gathered from there), the weights that
    `overflow: reload` streams every pass, and the KV cache when it lives neither in the global buffers, nor in
    CIM arrays (attention: cim), nor in DRAM PIM banks."""
    emb = wl.model.param_counts()["embedding"] * p["weight_bits"] / 8
    kv_off = ~mp["kv_in_buffer"] & (p["attention"] != 1) & ~c["is_dram"]
    return emb + mp["reload_bytes"] + keep(mp["kv_bytes"], mask_bits(kv_off))


def offchip_edge_gbps(die_mm2: np.ndarray, p: dict, c: dict) -> np.ndarray:
    """The most off-chip bandwidth (GB/s) one die can attach: its memory PHYs sit on its edge, so the shipped record
    (interconnect offchip_die_gbps on offchip_die_mm2) scales with the edge, sqrt(area); one device is always
    allowed (a macro or small chip reaches its memory through a host or base die, not priced)."""
    ic = c["tech"].interconnect
    one = c["off_gbps"] / p["offchip_devices"]
    return np.maximum(one, ic["offchip_die_gbps"] * np.sqrt(die_mm2 / ic["offchip_die_mm2"]))


def package_silicon_mm2(die_mm2: np.ndarray, p: dict, mp: dict) -> np.ndarray:
    """Silicon (mm2) of the chips that share one package (chips_per_package of the chips_used, all alike); 0 for a
    die alone in its package (max_die_mm2 bounds it)."""
    n = np.minimum(p["chips_per_package"], mp["chips_used"])
    return keep(n * die_mm2, mask_bits(n > 1))


# the physical limits in order (docs/MODEL.md section 10): (name, unit, text) of each limits.Check; its value and
# limit per design come from `feasibility`
LIMITS = (("max_die_mm2", "mm2", "die area"), ("max_power_density_w_mm2", "W/mm2", "peak power density"),
          ("chips_used x offchip_devices x capacity_gb", "GB", "off-chip data"), ("fmax_ghz", "GHz", "clock"),
          ("logic_clock_max_ghz", "GHz", "clock"), ("max_ir_drop", "of V_read", "IR drop"),
          ("offchip_edge_gbps", "GB/s", "off-chip bandwidth"), ("tile_buffer_kb", "KB", "one array's input vector"),
          ("package_silicon_mm2", "mm2", "silicon in one package"), ("node_nm", "nm", "finest DRAM process"),
          ("dram_logic_clock_max_ghz", "GHz", "clock"), ("sram_clock_max_ghz", "GHz", "clock"))


def feasibility(p: dict, res: dict, c: dict, mp: dict, code: np.ndarray,
                defer: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Feasible flag and reason per design: parameter conflicts and capacity first, then the physical limits in
    order; a new limit is one more row of LIMITS and its (value, limit) here. With `defer` the reason is the
    conflict code, with the arrays of limits.first_broken added to res: `finish_reasons` makes the texts later
    (once for all the chunks of a batch; the same texts)."""
    kv_broken = (code == 0) & ~mp["kv_fits"]
    code = code ^ ((code ^ KV_CODE) & np.negative(kv_broken.view(np.int8)))   # np.where(kv_broken, KV_CODE, code), int8
    numbers = ((res["die_area_mm2"], p["max_die_mm2"]), (res["power_density_w_mm2"], p["max_power_density_w_mm2"]),
               (res["offchip_gb"], c["off_gb"] * mp["chips_used"]), (p["clock_ghz"], c["fmax_ghz"]),
               (p["clock_ghz"], c["clock_ceiling_ghz"]),   # shipped-clock record, scaled below the nominal supply
               (res["ir_drop_frac"], p["max_ir_drop"]), (c["off_gbps"], offchip_edge_gbps(res["die_area_mm2"], p, c)),
               # the model reads each matmul input once from the tile buffer, so it holds an array's whole input vector
               # over its input slices (DRAM PIM: bank rows, not inputs; 0)
               (keep(p["rows"] * p["input_bits"] / 8192, ~(dram := c["dram_bits"])), p["tile_buffer_kb"]),
               (package_silicon_mm2(res["die_area_mm2"], p, mp), c["tech"].interconnect["package_silicon_mm2"]),
               # DRAM PIM: the bank units are logic in a DRAM process; the floor is the value, the node its limit
               (keep((dp := c["tech"].periphery["dram_process"])["node_min_nm"], dram), p["node_nm"]),
               (keep(p["clock_ghz"], dram), dp["logic_clock_max_ghz"]),
               # SRAM arrays: the clock limits of hp logic slowed by the cells' flavour (MODEL.md 27)
               (keep(p["clock_ghz"], mask_bits(c["is_sram"])), c["sram_clock_max_ghz"]))
    checks = [Check(name, value, limit, unit, text) for (name, unit, text), (value, limit) in zip(LIMITS, numbers,
                                                                                                   strict=True)]
    if not defer:
        return apply_limits(code, REASONS, checks)
    ok, res["_limit_broken"], res["_limit_value"], res["_limit_limit"] = first_broken(code, checks)
    return ok, code


def finish_reasons(res: dict) -> dict:
    """In place: the reason texts of a result whose feasibility was deferred (see `feasibility`); else unchanged."""
    if "_limit_broken" in res:
        checks = [Check(name, None, None, unit, text) for name, unit, text in LIMITS]
        res["reason"] = reason_texts(res["reason"], REASONS, res.pop("_limit_broken"), res.pop("_limit_value"),
                                     res.pop("_limit_limit"), checks)
    return res
