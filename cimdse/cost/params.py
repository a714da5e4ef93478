"""The design parameters of a CIM accelerator: names, types, units, defaults, ranges, and batch encoding.

A batch of designs is a dict of equal-length numpy arrays, one per parameter; categorical parameters are
stored as integer codes into their `choices`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..errors import UserError, number_hint, shown, unknown
from ..tech import DEVICES, OFFCHIP

# Longest ADC conversion accepted (ns): 100 us, far above any SAR, flash or counter ADC, leaving room for slow
# integrating (integrate-and-fire neuron) converters; longer values are taken as typos (e.g. a time in ps).
ADC_NS_MAX = 100_000.0


# GPUs a design may name as its host: the entries of cimdse/tech/data/gpus.yaml (tests/test_host.py checks the two
# agree; listed here so that importing the parameters does not parse that file)
HOST_GPUS = ("a100-80gb", "h100-sxm", "h100-pcie", "h200", "l40s", "t4", "titan-rtx", "rtx-3090", "gtx-1060")


@dataclass(frozen=True)
class Param:
    """One design parameter. kind: 'int', 'float' or 'cat'."""

    name: str
    kind: str
    default: float | str
    unit: str
    doc: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()


# Parameters that are not design choices: a search given one as a dimension would pick its most lenient value
# (relax the limit, cool the die, assume the sparsest data), so a sweep may fix them but not search them.
NOT_SEARCHABLE: dict[str, str] = {
    "max_die_mm2": "a physical limit (a search would relax it)",
    "max_power_density_w_mm2": "a physical limit (a search would relax it)",
    "max_ir_drop": "a physical limit (a search would relax it)",
    "temperature_c": "an operating condition (a search would pick the coolest die)",
    "input_stats": "a property of the workload's data (a search would pick the sparsest)",
    "read_ns": "a published macro's own read pulse (no law here bounds how short a read can be, so a search would "
               "shorten it for free)",
}


# bits_per_cell a design gets when nobody sets it: 2 (a common multi-level choice of RRAM/PCM/FeFET macros), capped at
# the device's max_bits_per_cell (SRAM, STT-MRAM and DRAM store 1), so `device=sram` alone is a valid design
DEFAULT_BITS_PER_CELL = 2

PARAMS: dict[str, Param] = {p.name: p for p in (
    Param("device", "cat", "rram", "", "memory technology of the CIM arrays", choices=DEVICES),
    Param("node_nm", "float", 22.0, "nm", "CMOS technology node of periphery and digital logic", 3, 180),
    Param("rows", "int", 256, "", "word lines (rows) per array", 4, 8192),
    Param("cols", "int", 256, "", "bit lines (columns) per array", 4, 8192),
    Param("bits_per_cell", "int", 0, "bit", "bits stored per cell, at most the device's max_bits_per_cell (0 = the "
          f"device's default: min({DEFAULT_BITS_PER_CELL}, its maximum))", 0, 8),
    Param("weight_bits", "int", 8, "bit", "weight precision (sign included)", 1, 16),
    Param("input_bits", "int", 8, "bit", "activation (input) precision; also the KV-cache precision", 1, 16),
    Param("dac_bits", "int", 1, "bit", "input bits applied per array cycle (1 = bit-serial)", 1, 8),
    Param("adc_bits", "int", 8, "bit", "ADC resolution", 1, 16),
    Param("rows_active", "int", 0, "",
          "word lines driven at once (0 = all rows, or as many as max_ir_drop allows on resistive cells)", 0, 8192),
    Param("cols_per_adc", "int", 32, "", "columns multiplexed onto one ADC", 1, 8192),
    Param("arrays_per_tile", "int", 16, "", "CIM arrays per tile", 1, 4096),
    Param("tiles", "int", 1024, "", "tiles per chip", 1, 1_000_000),
    Param("chips", "int", 1, "", "chips provisioned", 1, 100_000),
    Param("pipeline_depth", "int", 1, "", "pipeline stages overlapping tokens/requests (capped at the layer count)",
          1, 4096),
    Param("clock_ghz", "float", 1.0, "GHz", "digital clock; ADCs convert one bit per cycle", 0.01, 10.0),
    Param("adc_ns", "float", 0.0, "ns",
          "time of one ADC conversion (0 = clock-derived: (adc_bits + 1) cycles, a SAR ADC); set it for ADCs whose "
          "timing is not one bit per cycle (integrating/neuron, counter, flash)", 0.0, ADC_NS_MAX),
    Param("attention", "cat", "digital", "",
          "digital: QK^T and S.V in digital lanes reading the KV cache; cim: K and V written into CIM arrays",
          choices=("digital", "cim")),
    Param("offchip", "cat", "hbm3", "", "off-chip memory attached to each chip", choices=OFFCHIP),
    Param("offchip_devices", "int", 1, "", "off-chip memory devices (stacks, channels) per chip", 1, 64),
    Param("chips_per_package", "int", 8, "", "chips per package: chip boundaries inside a package use die-to-die "
          "links (UCIe), boundaries between packages board links", 1, 100_000),
    Param("vdd", "float", 0.0, "V", f"supply voltage (0 = the node's default; else at least {0.3:g} V)", 0.0, 2.0),
    Param("weight_encoding", "cat", "differential", "",
          "signed weights as a differential cell pair, or with an offset and a reference column",
          choices=("differential", "offset")),
    Param("overflow", "cat", "chips", "",
          "when weights do not fit: 'chips' adds the chips needed; 'reload' rewrites weights from off-chip every pass",
          choices=("chips", "reload")),
    Param("simd_lanes", "int", 64, "", "digital vector lanes per tile (attention, softmax, norms)", 1, 65536),
    Param("tile_buffer_kb", "float", 16.0, "KB", "activation buffer per tile", 1.0, 65536.0),
    Param("global_buffer_mb", "float", 16.0, "MB", "global buffer per chip (holds the KV cache when it fits)",
          0.0, 65536.0),
    Param("compute", "cat", "analog", "",
          "analog: ADCs read column currents/charges; digital: bit-serial AND gates and an adder tree per column "
          "(SRAM only; dram always computes digitally in its bank units)", choices=("analog", "digital")),
    Param("column_combine", "cat", "digital", "",
          "digital: each weight-bit (bit-slice) column is converted and shift-added digitally; analog: the "
          "binary-weighted bit-slice columns of one weight are charge-shared and converted once (the ADC must then "
          "cover the combined range)", choices=("digital", "analog")),
    Param("adc_range_sigma", "float", 0.0, "sigma",
          "ADC input range as mean + this many standard deviations of a bit-slice partial sum (0 = the full range "
          "of the partial sum; like aihwkit's out_bound): a smaller range gives finer steps but clips the tails",
          0.0, 64.0),
    Param("kv_keep", "float", 1.0, "", "fraction of attention tokens (keys) kept after pruning: scales QK^T, S.V "
          "and KV reads and costs accuracy (docs/MODEL.md 9; 0 < kv_keep <= 1)", 0.001, 1.0),
    # physical limits (docs/MODEL.md 'Physical limits'); a design beyond one is infeasible, with the reason
    Param("max_die_mm2", "float", 858.0, "mm2",
          "largest die (one chip): the lithography reticle field, 26 mm x 33 mm (see RETICLE_MM2)", 1.0, 100_000.0),
    Param("max_power_density_w_mm2", "float", 1.0, "W/mm2",
          "highest peak power per die area (air cooling; an H100 SXM dissipates 700 W over 814 mm2)", 0.001, 100.0),
    Param("sram_vt", "cat", "lstp", "",
          "threshold flavour of the SRAM cells (buffers, SRAM arrays): lstp (high Vt, low standby power), lop (low "
          "operating power), hp (low Vt); sets their leakage and the clock limit of SRAM arrays (docs/MODEL.md 12, 27)",
          choices=("lstp", "lop", "hp")),
    Param("temperature_c", "float", 27.0, "C", "junction temperature, an operating condition that sets leakage", 27.0,
          127.0),
    Param("power_gating", "cat", "none", "",
          "none: idle SRAM buffers and arrays leak in full; idle: they drop to a retention state while not computing",
          choices=("none", "idle")),
    Param("max_ir_drop", "float", 0.1, "",
          "largest IR drop on the array lines, as a fraction of the read voltage lost at the worst cell", 0.0, 100.0),
    # CAM blocks (docs/MODEL.md section 14, cost/cam.py)
    Param("token_select", "cat", "none", "",
          "none: kv_keep prunes keys by an exact, unpriced top-k (an upper bound; its accuracy cost is priced); "
          "cam: a ternary CAM holding each key's signature "
          "(cam_hash_bits sign bits of a random projection) is searched by every query to select the kept keys, and "
          "its search, hashing, write energy, time and area are priced", choices=("none", "cam")),
    Param("cam_hash_bits", "int", 64, "bit", "bits of each key signature stored in the token-selection CAM", 1, 4096),
    Param("cam_rows", "int", 256, "", "rows (stored keys) per token-selection CAM array", 4, 8192),
    Param("nonlinear", "cat", "digital", "",
          "digital: exp (softmax) and GELU/SiLU on the vector lanes; acam: each such element op is an analog-CAM lookup "
          "(2^input_bits ranges, one table per lane), as in RACE-IT", choices=("digital", "acam")),
    # a host GPU beside the CIM/PIM chips (cost/host.py, docs/MODEL.md 'Host GPU and PIM offload')
    Param("host", "cat", "none", "", "host GPU (`cimdse gpus`) that runs the operators not offloaded, by its roofline; "
          "none: the CIM/PIM chips run everything", choices=("none", *HOST_GPUS)),
    Param("host_count", "int", 1, "", "host GPUs in tensor parallel (with host)", 1, 1024),
    Param("offload", "cat", "all", "", "operator groups on the CIM/PIM side when there is a host: none (host only), "
          "attention (QK^T, softmax, S.V, KV cache), ffn (FFN matmuls and activation), all",
          choices=("none", "attention", "ffn", "all")),
    Param("host_link", "cat", "auto", "", "path between host and PIM: shared (the PIM is the host's own memory, as "
          "HBM-PIM: no transfer), board (NVLink-C2C-class link), auto (shared for dram, else board)",
          choices=("auto", "shared", "board")),
    Param("host_overlap", "cat", "none", "", "none: per layer the two sides run in turn (sum of times); subbatch: two "
          "sub-batches alternate between the sides as NeuPIMs does (max of the sides' times)",
          choices=("none", "subbatch")),
    # input activity (docs/MODEL.md section 15, cost/activity.py)
    Param("input_stats", "cat", "laplace", "",
          "statistics of the input activations: laplace (Laplace-distributed, clipped at the MSE-optimal value for "
          "input_bits) or uniform (random test vectors: every bit 1 half the time)", choices=("laplace", "uniform")),
    Param("input_encoding", "cat", "twos_complement", "",
          "signed inputs: twos_complement (input_bits slices, sign-extension bits of negative values are 1) or "
          "sign_magnitude (input_bits - 1 magnitude slices, the sign sets the row-drive polarity)",
          choices=("twos_complement", "sign_magnitude")),
    Param("slice_skip", "cat", "off", "",
          "on: an input slice that is 0 on every driven row of a row group is detected and not converted (saves "
          "ADC, read-out and shift-add energy, not time)", choices=("off", "on")),
    Param("read_ns", "float", 0.0, "ns",
          "cell read (word-line) pulse per input slice (0 = the device's read_pulse_ns); set it to a macro's "
          "published timing where its cells conduct for less than the device default", 0.0, ADC_NS_MAX),
)}

# The exposure field of every current 193 nm immersion and 0.33-NA EUV scanner is 26 mm x 33 mm = 858 mm^2 (ASML
# TWINSCAN NXT:2000i and NXE:3400C product specifications, "field size 26 x 33 mm"; IRDS 2022 Lithography chapter,
# maximum exposure field). A monolithic die larger than this needs stitching or wafer-scale integration.
RETICLE_MM2 = 26.0 * 33.0

# Below about 0.3 V logic runs sub-threshold (R. Dreslinski et al., "Near-threshold computing: reclaiming Moore's
# law through energy efficient integrated circuits", Proc. IEEE 98(2), 2010: threshold voltages near 0.3-0.4 V);
# there the cost model's
# C V^2 energy at a fixed clock no longer holds, and as vdd -> 0 every energy -> 0 (TOPS/W -> inf).
VDD_MIN_V = 0.3
# Shortest ADC conversion or word-line read pulse the model prices (ns): 10 ps is about three FO4 inverter delays at
# 7 nm (docs/MODEL.md 11), below what any converter or pulsed line can produce; shorter values (hypothesis found
# 8e-301 ns) made peak TOPS and power overflow. 0 keeps its meaning (clock-derived / the device's pulse).
TIME_MIN_NS = 0.01


class Floor(NamedTuple):
    """The floor of a parameter where 0 means its default and a value in (0, value) is outside the model."""

    value: float
    unit: str
    default: str    # what 0 stands for
    noun: str       # what a value is
    why: str        # why a value below the floor is outside the model


FLOORS = {"vdd": Floor(VDD_MIN_V, "V", "the node's default", "a supply", "sub-threshold, outside the model"),
          "adc_ns": Floor(TIME_MIN_NS, "ns", "the default", "a time", "shorter than any conversion, outside the model"),
          "read_ns": Floor(TIME_MIN_NS, "ns", "the default", "a time", "shorter than any read pulse, outside the model")}

CATEGORICAL = tuple(n for n, p in PARAMS.items() if p.kind == "cat")
_CODES = {n: {c: i for i, c in enumerate(p.choices)} for n, p in PARAMS.items() if p.kind == "cat"}  # name -> code


def defaults() -> dict:
    """The default design."""
    return {n: p.default for n, p in PARAMS.items()}


def scenario_defaults(sc) -> dict:
    """The default design with the scenario's precisions (weight_bits, input_bits = the workload's weight and
    activation bits): what a design that does not set them is scored with."""
    return {**defaults(), "weight_bits": float(sc.weight_bits), "input_bits": float(sc.act_bits)}


def check_value(name: str, value) -> float | str:
    """Validate one parameter value; return it in canonical form (str for categories, float otherwise)."""
    if name not in PARAMS:
        raise UserError(unknown("design parameter", name, PARAMS), key=name)
    p = PARAMS[name]
    if p.kind == "cat":
        if not isinstance(value, str) or value not in p.choices:
            raise UserError(f"expected one of {', '.join(p.choices)}, got {shown(value)}", key=name)
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise UserError(f"expected a number, got {shown(value)}{number_hint(value)}", key=name)
    try:
        v = float(value)
    except OverflowError:  # an integer beyond float range
        raise UserError(f"expected a finite number, got {shown(value)}", key=name) from None
    if not np.isfinite(v):
        raise UserError(f"expected a finite number, got {shown(value)}", key=name)
    if p.kind == "int" and not v.is_integer():
        raise UserError(f"expected an integer, got {shown(value)}", key=name)
    if not (p.low <= v <= p.high):
        raise UserError(f"expected {p.kind} in [{p.low:g}, {p.high:g}] {p.unit}".rstrip() + f", got {shown(value)}"
                        + _scale_hint(p, v), key=name)
    if name in FLOORS and 0 < v < FLOORS[name].value:
        f = FLOORS[name]
        raise UserError(f"expected 0 ({f.default}) or {f.noun} in [{f.value:g}, {p.high:g}] {f.unit}, "
                        f"got {shown(value)}", key=name)
    if name == "adc_bits" and v < 1:
        raise UserError("expected at least 1 bit", key=name)
    return v


def _scale_hint(p: Param, v: float) -> str:
    """' (did you mean 22?)' when the value, read in a unit 1000x larger or smaller (0.022 um for 22 nm, 1000 MHz
    for 1 GHz), falls in range; else ''."""
    if p.kind != "float" or not p.unit:
        return ""
    for f in (1e3, 1e-3):
        w = v * f
        if p.low <= w <= p.high and w != 0:
            return f" (did you mean {w:.6g}? {p.name} is in {p.unit})"
    return ""


def parse_assignment(text: str) -> tuple[str, float | str]:
    """Parse 'key=value' from --set, converting numbers."""
    if "=" not in text:
        raise UserError(f"expected key=value, got {shown(text)}", key="--set")
    key, raw = (s.strip() for s in text.split("=", 1))
    value: float | str = raw
    try:
        value = float(raw) if any(c in raw for c in ".eE") else int(raw)
    except ValueError:
        pass
    return key, check_value(key, value)


def cross_check(design: Mapping, tech=None) -> None:
    """Raise UserError for a single design whose parameters contradict each other (`tech`: None for the shipped
    data)."""
    _, reasons = conflicts(to_batch([design], tech), tech)
    if reasons[0]:
        key = reasons[0].split(" ", 1)[0]
        value = design.get(key)
        text = reasons[0]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            text = f"{key} {value:g}" + text[len(key):]     # 'bits_per_cell 2 exceeds ...'
        limits = allowed_range(key, design, tech)
        raise UserError(text + (f"; {limits}" if limits else ""), key=key)


def to_batch(designs: Iterable[Mapping] | Mapping, tech=None) -> dict[str, np.ndarray]:
    """Turn designs (a list of dicts, or a dict of columns) into a batch of arrays, filling defaults (`tech`, a
    cimdse.tech.Tech or None for the shipped data, gives each device's maximum bits per cell)."""
    if isinstance(designs, Mapping):
        cols = {k: np.atleast_1d(np.asarray(v)) for k, v in designs.items()}
        n = max((len(v) for v in cols.values()), default=1)
        rows = None
    else:
        rows = designs if isinstance(designs, list) else list(designs)
        n = len(rows)
        cols = {}
    batch = {}
    for name, p in PARAMS.items():
        if rows is not None:
            raw = [r.get(name, p.default) for r in rows]
        elif name in cols:
            raw = cols[name]
        else:  # a default fills the whole column
            batch[name] = np.full(n, _CODES[name][p.default] if p.kind == "cat" else float(p.default),
                                  dtype=np.int64 if p.kind == "cat" else float)
            continue
        if p.kind == "cat":
            arr = np.asarray(raw)
            if arr.dtype.kind in "iuf":
                codes = arr.astype(np.int64)
            else:
                lookup = _CODES[name]
                try:
                    codes = np.array([lookup[str(v)] for v in arr], dtype=np.int64)
                except KeyError as exc:
                    raise UserError(f"expected one of {', '.join(p.choices)}, got {exc.args[0]!r}", key=name) from None
            batch[name] = codes if len(codes) == n else np.broadcast_to(codes, (n,)).copy()
        else:
            arr = np.array(raw, dtype=float)  # a copy: the batch never aliases the caller's arrays
            batch[name] = arr if arr.shape == (n,) else np.broadcast_to(arr, (n,)).copy()
    unknown_keys = set(cols) - set(PARAMS) if rows is None else {k for r in rows for k in r} - set(PARAMS)
    if unknown_keys:
        key = sorted(unknown_keys)[0]
        raise UserError(unknown("design parameter", key, PARAMS), key=key)
    resolve_device_defaults(batch, tech)
    return batch


def resolve_device_defaults(batch: dict, tech=None) -> None:
    """In place: bits_per_cell 0 (not set) becomes the device's default, min(DEFAULT_BITS_PER_CELL, its maximum)."""
    bpc = batch["bits_per_cell"]
    if np.any(bpc == 0):
        from ..tech import load_tech

        cap = (tech or load_tech()).device["max_bits_per_cell"][batch["device"]]
        batch["bits_per_cell"] = np.where(bpc == 0, np.minimum(DEFAULT_BITS_PER_CELL, cap), bpc)


def allowed_range(key: str, design: Mapping, tech=None) -> str:
    """The values `key` may take given the rest of a single design (for messages), or ''."""
    if key == "bits_per_cell":
        from ..tech import load_tech

        dev = design.get("device", PARAMS["device"].default)
        cap = int((tech or load_tech()).device["max_bits_per_cell"][DEVICES.index(dev)])
        return f"{dev} allows 1 to {cap} (0: its default, {min(DEFAULT_BITS_PER_CELL, cap)})"
    if key in ("rows_active", "cols_per_adc"):
        other = "rows" if key == "rows_active" else "cols"
        v = design.get(other, PARAMS[other].default)
        return f"allowed: {PARAMS[key].low:g} to {other} ({v:g})"
    return ""


def from_batch(batch: Mapping[str, np.ndarray], i: int) -> dict:
    """Design i of a batch as a plain dict with category names."""
    out = {}
    for name, p in PARAMS.items():
        v = batch[name][i]
        out[name] = p.choices[int(v)] if p.kind == "cat" else (int(v) if p.kind == "int" else float(v))
    return out


CONFLICT_TEXTS = (
    "",
    "bits_per_cell exceeds the device's maximum bits per cell",
    "rows_active exceeds rows",
    "cols_per_adc exceeds cols",
    "cols too small for an offset reference column",
    "compute 'digital' needs device sram (the bit-serial adder-tree macro reads binary SRAM cells)",
    "attention 'cim' is not available on dram (attention runs on the bank units next to the KV cache)",
    *(f"{name} below {f.value:g} {f.unit} ({f.why})" for name, f in FLOORS.items()),
)
CONFLICT_KEYS = ((), ("bits_per_cell", "device"), ("rows_active", "rows"), ("cols_per_adc", "cols"),
                 ("cols", "weight_encoding"), ("compute", "device"), ("attention", "device"), *((name,) for name in FLOORS))  # the parameters each rule involves


def conflict_masks(batch: Mapping[str, np.ndarray], tech=None) -> tuple[np.ndarray, ...]:
    """Per rule (CONFLICT_TEXTS[1:]), the mask of designs that break it (`tech`: None for the shipped data)."""
    from ..tech import load_tech

    tech = tech or load_tech()
    max_bpc = tech.device["max_bits_per_cell"].take(batch["device"])   # (take: faster than fancy indexing)
    is_dram = tech.dram.take(batch["device"])
    digital = batch["compute"] == 1
    return (
        batch["bits_per_cell"] > max_bpc,
        batch["rows_active"] > batch["rows"],
        batch["cols_per_adc"] > batch["cols"],
        (batch["weight_encoding"] == 1) & (batch["cols"] < 2),
        digital & (batch["device"] != DEVICES.index("sram")) & ~is_dram,
        is_dram & (batch["attention"] == 1),
        *((batch[name] > 0) & (batch[name] < f.value) for name, f in FLOORS.items()),
    )


def conflict_codes(batch: Mapping[str, np.ndarray], tech=None) -> np.ndarray:
    """Per design: index into CONFLICT_TEXTS of the first contradiction between parameters (0 = none)."""
    checks = conflict_masks(batch, tech)
    code = np.zeros(len(batch["rows"]), dtype=np.int8)
    for i in range(len(checks), 0, -1):  # last to first, so the first violated check wins
        if checks[i - 1].any():   # code = np.where(mask, i, code) on int8 bits (no branches: faster than putmask)
            code ^= (code ^ np.int8(i)) & np.negative(checks[i - 1].view(np.int8))
    return code


def conflicts(batch: Mapping[str, np.ndarray], tech=None) -> tuple[np.ndarray, np.ndarray]:
    """Per design: True where parameters contradict each other, and the reason (empty string if none)."""
    code = conflict_codes(batch, tech)
    return code != 0, np.asarray(CONFLICT_TEXTS, dtype=object)[code]
