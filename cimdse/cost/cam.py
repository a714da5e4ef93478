"""CAM blocks in the cost model (docs/MODEL.md section 14): a ternary CAM that selects the attention tokens kept
(`token_select: cam`) and analog-CAM lookup tables for the non-linear functions (`nonlinear: acam`).

Constants come from tech/data/cam.yaml. Every function takes whole batches (arrays over designs).
Units: energy pJ, time ns, area um^2 (mm^2 where the name says so).
"""

from __future__ import annotations

import numpy as np

from ..tech import Tech, memo
from ._select import keep as _keep
from ._select import mask_bits
from ._util import ceil as _ceil
from .timing import fmax_ghz

TOKEN_SELECT_CAM = 1      # code of 'cam' in PARAMS["token_select"].choices
NONLINEAR_ACAM = 1        # code of 'acam' in PARAMS["nonlinear"].choices


def cam_bit_energy_pj(tech: Tech, k_node, vdd, cell: str = "tcam", v_scale2=None) -> np.ndarray:
    """Energy (pJ) of one CAM cell in one search at the design's node and supply: the published fJ/bit/search
    scaled by the Stillmaker-Baas capacitance factor and (V / V_ref)^2 (match-line and search-line C V^2).
    v_scale2: (vdd / V_ref)^2 when the caller has it (both cells share the reference supply)."""
    t = tech.cam["tcam"]
    e_fj = t["energy_fj_per_bit_search"] if cell == "tcam" else tech.cam["acam"]["energy_fj_per_cell_search"]
    v_scale2 = (vdd / t["ref_vdd_v"]) ** 2 if v_scale2 is None else v_scale2
    return e_fj * 1e-3 * k_node / tech.cap_factor(float(t["ref_node_nm"])) * v_scale2


def _e_cell_pj(p: dict, c: dict, tech: Tech, cell: str) -> np.ndarray:
    k_node = c["k_node"] if "k_node" in c else tech.cap_factor(p["node_nm"])   # circuits() computed it once
    v_scale2 = _once(c, "v_scale2", lambda: (c["vdd"] / tech.cam["tcam"]["ref_vdd_v"]) ** 2)   # (both cells')
    return cam_bit_energy_pj(tech, k_node, c["vdd"], cell, v_scale2)


def _once(c: dict, name: str, build):
    """build(), kept in the chunk's circuit dict `c`: per-design CAM constants do not depend on the phase."""
    key = "cam_" + name
    if key not in c:
        c[key] = build()
    return c[key]


def _select_bits(p: dict, c: dict) -> np.ndarray:
    """_select.mask_bits of the designs with `token_select: cam` (for _select.keep: np.where(on, x, 0)), once per chunk."""
    return _once(c, "select_bits", lambda: mask_bits(p["token_select"] == TOKEN_SELECT_CAM))


def _nl_bits(p: dict, c: dict) -> np.ndarray:
    """_select.mask_bits of the designs with `nonlinear: acam`, once per chunk."""
    return _once(c, "nl_bits", lambda: mask_bits(p["nonlinear"] == NONLINEAR_ACAM))


def search_energy_pj(rows, bits, e_bit_pj) -> np.ndarray:
    """One search of an array of `rows` words of `bits` cells: every match line and search line switches."""
    return rows * bits * e_bit_pj


def search_time_ns(tech: Tech, bits, vdd, node, clock_ghz, f_max=None, shared: dict | None = None) -> np.ndarray:
    """One search: the published cycle scaled by the word length (match-line capacitance) and the node's logic
    delay (FO4 law of timing.py), at least one clock cycle. f_max: fmax_ghz(vdd, node, tech) when the caller has it;
    shared: a dict that keeps the delay factor and the clock cycle for the next call on the same designs."""
    t = tech.cam["tcam"]
    shared = {} if shared is None else shared
    if "delay" not in shared:
        f_ref = memo(tech, "cam_ref_fmax", lambda _: fmax_ghz(np.array(t["ref_vdd_v"], dtype=float),
                                                            np.array(float(t["ref_node_nm"])), tech))
        shared["delay"] = f_ref / np.maximum(fmax_ghz(vdd, node, tech) if f_max is None else f_max, 1e-9)
        shared["cycle"] = 1.0 / clock_ghz
    return np.maximum(t["ref_search_ns"] * bits / t["ref_bits"] * shared["delay"], shared["cycle"])


def acam_lut(tech: Tech, in_bits) -> tuple[np.ndarray, np.ndarray]:
    """Rows and cells per row of an analog-CAM lookup table of a function of one `in_bits`-bit input: one row per
    output code (2^in_bits ranges), ceil(in_bits / levels_bits) analog cells per row."""
    return np.exp2(in_bits), _ceil(in_bits / tech.cam["acam"]["levels_bits"])


def selection_costs(p: dict, wl, c: dict, mp: dict, ph: str, tot: dict, tech: Tech) -> dict:
    """Energy (pJ) and time (ns) of CAM token selection in one pass of phase `ph` (zero where token_select is
    none): per layer, sequence and query head one search of the signatures of every cached key, the query's and
    the new keys' signatures computed by sign random projections (hash_bits x head_dim adds each) and written."""
    on = _once(c, "select_on", lambda: p["token_select"] == TOKEN_SELECT_CAM)
    if not _once(c, "select_any", lambda: bool(np.any(on))):
        return {"energy": 0.0, "time": 0.0}
    m, sc = wl.model, wl.scenario
    L, hd = float(m.layers), float(m.hd)
    hb = p["cam_hash_bits"]
    keys = tot["keys"]                                    # keys each query attends to (before pruning)
    arrays = _ceil(keys / p["cam_rows"])                   # TCAM arrays holding one head's signatures
    searches = L * sc.batch * tot["queries"] * m.heads     # query heads: GQA heads share their KV head's CAM
    e_search = search_energy_pj(arrays * p["cam_rows"], hb, _once(c, "tcam_bit", lambda: _e_cell_pj(p, c, tech, "tcam")))
    new_keys = L * sc.batch * tot["queries"] * m.kv_heads  # signatures written this pass (one per new key and head)
    add32 = tech.periphery["digital"]["add32_pj"]
    e_add = _once(c, "hash_add", lambda: add32 * p["input_bits"] / 32 * c["s45"])   # one input_bits-bit add
    e_hash = (searches + new_keys) * hb * hd * e_add
    e_write = new_keys * hb * c["e_tile_bit"]
    on_bits = _select_bits(p, c)   # (np.where(on, x, 0) as bits, _select.keep)
    energy = _keep(searches * e_search + e_hash + e_write, on_bits)
    # sequences and KV heads search their own arrays in parallel; a KV head's query heads one after another
    group = m.heads / m.kv_heads
    t_search = _once(c, "t_search", lambda: search_time_ns(tech, hb, c["vdd"], p["node_nm"], p["clock_ghz"],
                                                                   c.get("fmax_ghz"), _once(c, "search", dict)))
    time = _keep(L * tot["queries"] * group * t_search, on_bits)
    return {"energy": energy, "time": time}


def selection_bits(p: dict, wl, on_bits=None) -> np.ndarray:
    """TCAM bits provisioned for token selection: every layer, sequence and KV head holds the signatures of its
    whole context (arrays of cam_rows rows). on_bits: _select.mask_bits(token_select == cam) when the caller has it."""
    m, sc = wl.model, wl.scenario
    ctx = m.cached_tokens(sc.prompt_tokens + sc.generate_tokens)
    rows = _ceil(ctx / p["cam_rows"]) * p["cam_rows"]
    on_bits = mask_bits(p["token_select"] == TOKEN_SELECT_CAM) if on_bits is None else on_bits
    return _keep(m.layers * sc.batch * m.kv_heads * rows * p["cam_hash_bits"], on_bits)   # np.where(on, x, 0)


def nonlinear_costs(p: dict, c: dict, tot: dict, tech: Tech) -> dict:
    """Analog-CAM lookups replacing one digital element op each (the exp of a softmax score, the GELU/SiLU of an
    FFN activation): lookups, their energy (pJ: table search plus a DAC driving the input on the data line) and
    time (ns: one lookup table per vector lane, a search each)."""
    on = _once(c, "nl_on", lambda: p["nonlinear"] == NONLINEAR_ACAM)
    if not _once(c, "nl_any", lambda: bool(np.any(on))):
        return {"lookups": 0.0, "energy": 0.0, "t_lookup": 1.0}
    lookups = _keep(tot["nl_lookups"], _nl_bits(p, c))   # np.where(on, n, 0) (_select.keep)
    e_lookup, t_lookup = _once(c, "lookup", lambda: _lookup(p, c, tech))
    return {"lookups": lookups, "energy": lookups * e_lookup, "t_lookup": t_lookup}


def _lookup(p: dict, c: dict, tech: Tech) -> tuple:
    """(energy pJ, time ns) of one analog-CAM lookup: the table search plus the DAC driving the input."""
    rows, cells = _once(c, "lut", lambda: acam_lut(tech, p["input_bits"]))
    dac_pj = tech.periphery["dac"]["cap_ff_per_bit"] * p["input_bits"] * (c["vdd2"] if "vdd2" in c else c["vdd"] ** 2) * 1e-3
    e_lookup = search_energy_pj(rows, cells, _e_cell_pj(p, c, tech, "acam")) + dac_pj
    return e_lookup, search_time_ns(tech, cells, c["vdd"], p["node_nm"], p["clock_ghz"], c.get("fmax_ghz"),
                                    _once(c, "search", dict))


def cam_area_um2(p: dict, wl, c: dict, mp: dict, tech: Tech) -> np.ndarray:
    """Area (um^2) of the CAM blocks of all chips: the token-selection TCAM and one analog-CAM lookup table per
    vector lane (cells x cell area / array efficiency)."""
    if not (np.any(p["token_select"] == TOKEN_SELECT_CAM) or np.any(p["nonlinear"] == NONLINEAR_ACAM)):
        return np.zeros(len(p["node_nm"]))
    f2 = (p["node_nm"] * 1e-3) ** 2
    eff = tech.cam["tcam"]["array_efficiency"]
    tcam = _once(c, "bits", lambda: selection_bits(p, wl, _select_bits(p, c))) * tech.cam["tcam"]["cell_area_f2"] * f2 / eff
    rows, cells = _once(c, "lut", lambda: acam_lut(tech, p["input_bits"]))
    lanes = mp["lanes"]   # (simd_lanes x tiles x chips used)
    acam = _keep(lanes * rows * cells * tech.cam["acam"]["cell_area_f2"] * f2 / eff, _nl_bits(p, c))
    return tcam + acam


def cam_leakage_w(p: dict, wl, c: dict) -> np.ndarray:
    """Static power (W) of the token-selection TCAM: two SRAM bits per ternary cell, leaking as the design's
    SRAM (cost/leakage.py). The analog CAM's memristors hold their state without power; its 6T periphery
    leakage is not modelled."""
    if not np.any(p["token_select"] == TOKEN_SELECT_CAM):
        return np.zeros(len(p["node_nm"]))
    return 2.0 * _once(c, "bits", lambda: selection_bits(p, wl, _select_bits(p, c))) * c["sram_leak_pw"] * 1e-12
