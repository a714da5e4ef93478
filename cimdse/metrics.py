"""The one table of metrics: name, unit, better direction and meaning. Every other part reads it.

The cost model produces the CIM metrics (`METRICS`, in this order); a sweep with a GPU baseline adds the
comparison ratios (`BASELINE_METRICS`). Units live in the names as well (docs/MODEL.md, section 5).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    """One metric: its column name, unit, which way is better, and a one-line meaning."""

    name: str
    unit: str
    direction: str  # "minimize" or "maximize"
    doc: str
    baseline: bool = False  # a ratio against the GPU baseline, present only when a sweep names one


TABLE: tuple[Metric, ...] = (
    Metric("ttft_ms", "ms", "minimize", "time to first token: the prefill pass"),
    Metric("tpot_ms", "ms", "minimize", "time per output token: one decode pass"),
    Metric("tokens_per_s", "tokens/s", "maximize", "batch / tpot (encoders: batch x prompt / ttft)"),
    Metric("energy_per_token_uj", "uJ", "minimize", "decode pass energy per sequence, leakage included"),
    Metric("chip_energy_per_token_uj", "uJ", "minimize", "energy_per_token_uj without the off-chip memory part"),
    Metric("prefill_energy_mj", "mJ", "minimize", "prefill pass energy for the whole batch"),
    Metric("avg_power_w", "W", "minimize", "request energy over request time"),
    Metric("area_mm2", "mm^2", "minimize", "silicon area of all chips used"),
    Metric("die_area_mm2", "mm^2", "minimize", "silicon area of one chip (area_mm2 / chips_used); limit max_die_mm2"),
    Metric("peak_tops", "TOPS", "maximize", "every array computing at the design's precisions (1 MAC = 2 ops)"),
    Metric("tops_per_w", "TOPS/W", "maximize", "peak_tops / peak_power_w"),
    Metric("tops_per_mm2", "TOPS/mm^2", "maximize", "peak_tops / area_mm2"),
    Metric("macro_tops_per_w", "TOPS/W", "maximize", "arrays and their periphery only, as macro papers report"),
    Metric("macro_tops_per_mm2", "TOPS/mm^2", "maximize", "peak_tops over the macro area"),
    Metric("peak_power_w", "W", "minimize", "peak array power plus leakage"),
    Metric("power_density_w_mm2", "W/mm^2", "minimize", "peak_power_w / area_mm2 (= one chip's); limit "
           "max_power_density_w_mm2"),
    Metric("chips_needed", "chips", "minimize", "chips whose arrays hold every weight (and the KV cache in CIM)"),
    Metric("chips_used", "chips", "minimize", "chips built: requested, or needed when overflow adds chips"),
    Metric("weights_fit", "0/1", "maximize", "1 when every weight stays resident in the chips used (0: overflow "
           "reload streams some from off-chip every pass)"),
    Metric("sqnr_db", "dB", "maximize", "SQNR of one analog MVM of `rows` inputs on uniform random data, workload-blind "
           "(docs/MODEL.md section 6.1)"),
    Metric("logit_sqnr_db", "dB", "maximize", "predicted SQNR of the model's output logits: every matmul's noise (weights, "
           "inputs with the family's outliers, ADC, cells, drift, IR drop) accumulated over the layers (docs/ACCURACY.md)"),
    Metric("equivalent_bits", "bit", "maximize", "round-to-nearest weight width with the same logit noise, to read against "
           "weight-only quantization tables (docs/ACCURACY.md)"),
    Metric("lifetime_years", "years", "maximize", "endurance over the write rate per cell"),
    Metric("utilization", "fraction", "maximize", "weight cells / provisioned cells"),
    Metric("offchip_gb", "GB", "minimize", "data kept in off-chip memory: embeddings, reloaded weights, spilled KV "
           "cache; limit offchip_devices x capacity_gb per chip"),
    # with a GPU baseline: ratios above 1 mean the design beats the GPU
    Metric("speedup_vs_gpu", "x", "maximize", "GPU time per token / design's", baseline=True),
    Metric("energy_gain_vs_gpu", "x", "maximize", "GPU energy per token / design's", baseline=True),
)

BY_NAME: dict[str, Metric] = {m.name: m for m in TABLE}
METRICS: tuple[str, ...] = tuple(m.name for m in TABLE if not m.baseline)
BASELINE_METRICS: tuple[str, ...] = tuple(m.name for m in TABLE if m.baseline)
UNITS: dict[str, str] = {m.name: m.unit for m in TABLE}
DIRECTIONS: dict[str, str] = {m.name: m.direction for m in TABLE}


def metric_units() -> dict[str, str]:
    """Unit of each CIM metric, for tables and plot labels."""
    return {k: UNITS[k] for k in METRICS}
