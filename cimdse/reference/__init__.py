"""Reference design points: published systems expressed in cimdse parameters, frozen predictions and validation.

Each `reference/<name>.yaml` (hand-written, with citations) holds one system: the design, the workload it is
evaluated on, and the figures its paper published. `reference/_recorded.yaml` (machine-written by
`cimdse check --update`) holds the metrics cimdse predicted for each, so CI catches any change nobody meant.
`reference/_survey.yaml` lists every system of the survey notes with its modelling status.
Files whose name starts with '_' are not reference points.

A published figure is either absolute (a cimdse metric of the design, e.g. `peak_tops`) or relative to a GPU
(`speedup_vs_gpu`, `energy_gain_vs_gpu` with `baseline: {gpu, gpus, bits}`): the prediction is then the GPU
roofline's metric over the design's on the same workload (cimdse.cost.gpu.baseline_columns), optionally on the
paper's own `workload:` for that figure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from ..errors import UserError

REF_KEYS = ("name", "system", "citation", "technology", "kind", "design", "workload", "condition", "published",
            "not_expressible", "notes")
REQUIRED = ("name", "system", "citation", "technology", "design", "workload", "condition", "published")
PUB_KEYS = ("metric", "value", "unit", "source", "role", "note", "why_off", "baseline", "workload")
BASELINE_KEYS = ("gpu", "gpus", "bits")
ROLES = ("calibration", "holdout", "not_compared")
TECHNOLOGIES = ("sram-analog", "sram-digital", "rram", "pcm", "mram", "fefet", "dram")
RECORDED = "_recorded.yaml"
SURVEY = "_survey.yaml"
FACTOR_AIM = 2.0


@dataclass(frozen=True)
class Published:
    """One published figure: a cimdse metric (or a label when it cannot be compared), value, unit, source."""

    metric: str
    value: float | None
    unit: str
    source: str
    role: str            # calibration | holdout | not_compared
    note: str = ""
    why_off: str = ""    # one line saying why the prediction stays off (shown when the error factor > 2)
    baseline: dict | None = None  # relative figures: {"gpu": name, "gpus": n, "bits": b or None}
    workload: dict | None = None  # the paper's workload for this figure, when it is not the reference's

    @property
    def key(self) -> str:
        """The name of this figure's prediction in _recorded.yaml (the metric itself for an absolute figure)."""
        if not self.baseline:
            return self.metric
        b = self.baseline
        key = f"{self.metric}@{b['gpus']}x{b['gpu']}" + (f"/{b['bits']}bit" if b.get("bits") else "")
        return key + (f"/{self.workload['model']}" if self.workload else "")

    @property
    def baseline_text(self) -> str:
        """The baseline in words for the tables, e.g. '1x t4, 16 bit, on gpt2'."""
        if not self.baseline:
            return ""
        b = self.baseline
        text = f"{b['gpus']}x {b['gpu']}" + (f", {b['bits']} bit" if b.get("bits") else "")
        return text + (f", on {self.workload['model']}" if self.workload else "")


@dataclass(frozen=True)
class Reference:
    """One reference design point as read from its YAML file."""

    name: str
    system: str
    citation: str
    technology: str
    design: dict
    workload: dict
    condition: str
    published: tuple[Published, ...]
    not_expressible: tuple[str, ...]
    path: str


def folder() -> Path:
    """The packaged reference folder."""
    return Path(str(resources.files("cimdse.reference")))


def _relative(item: dict, where: str, key: str, ref_workload) -> tuple[dict, dict | None]:
    """The `baseline:` (and optional `workload:`) of a relative figure, checked: a known GPU, enough of them to hold
    the model at the baseline's precision (config._baseline, as for a sweep), bits an integer in [1, 32]."""
    from ..config import _baseline, check_keys, load_workload
    from ..cost.gpu import BASELINE_METRICS

    if item["metric"] not in BASELINE_METRICS:
        raise UserError(f"a baseline goes with metric {' or '.join(BASELINE_METRICS)}, got '{item['metric']}'",
                        file=where, key=f"{key}.baseline")
    spec = item["baseline"]
    if not isinstance(spec, dict):
        raise UserError("expected a mapping like {gpu: t4, gpus: 1, bits: 16}", file=where, key=f"{key}.baseline")
    check_keys(spec, BASELINE_KEYS, where, f"{key}.baseline.")
    wl = item.get("workload")
    if wl is not None and (not isinstance(wl, dict) or "model" not in wl):
        raise UserError("expected a workload mapping that names its model", file=where, key=f"{key}.workload")
    model, sc = load_workload(wl if wl is not None else ref_workload, where,
                              prefix=f"{key}.workload." if wl is not None else "workload.")
    bits = spec.get("bits")
    if bits is not None and (isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 32):
        raise UserError(f"expected an integer number of bits in [1, 32], got {bits!r}", file=where,
                        key=f"{key}.baseline.bits")
    try:
        base = _baseline({k: v for k, v in spec.items() if k != "bits"}, where, model, gpu_scenario(sc, bits))
    except UserError as err:
        raise UserError(err.detail, file=where, key=f"{key}.{err.key}") from None
    return {**base, "bits": bits}, (dict(wl) if wl is not None else None)


def gpu_scenario(sc, bits: int | None):
    """The scenario the GPU baseline runs: the workload's, at `bits` for weights, activations and KV cache if given."""
    from ..workload import Scenario

    if bits is None:
        return sc
    return Scenario(**{**sc.to_dict(), "weight_bits": bits, "act_bits": bits, "kv_bits": 0})


def _published(item, where: str, i: int, ref_workload=None) -> Published:
    key = f"published[{i}]"
    if not isinstance(item, dict):
        raise UserError("expected a mapping", file=where, key=key)
    bad = [k for k in item if k not in PUB_KEYS]
    if bad:
        raise UserError(f"unknown key '{bad[0]}'; expected one of: {', '.join(PUB_KEYS)}", file=where, key=key)
    for k in ("metric", "unit", "source", "role"):
        if not isinstance(item.get(k), str) or not item[k].strip():
            raise UserError(f"'{k}' is required (a non-empty string)", file=where, key=key)
    if item["role"] not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}, got {item['role']!r}", file=where, key=key)
    value = item.get("value")
    baseline = workload = None
    if item["role"] != "not_compared":
        from ..cost.gpu import BASELINE_METRICS
        from ..cost.model import METRICS

        if item["metric"] in BASELINE_METRICS and item.get("baseline") is None:
            raise UserError(f"a relative figure ({item['metric']}) needs baseline: {{gpu: NAME, gpus: N}}",
                            file=where, key=f"{key}.baseline")
        if item["metric"] not in (*METRICS, *BASELINE_METRICS):
            raise UserError(f"metric '{item['metric']}' is not a cimdse metric; use role: not_compared",
                            file=where, key=key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise UserError(f"expected a positive number as value, got {value!r}", file=where, key=key)
        if item.get("baseline") is not None:
            baseline, workload = _relative(item, where, key, ref_workload)
    for k in ("baseline", "workload"):
        if item.get(k) is not None and baseline is None:
            raise UserError(f"'{k}' goes only with a compared relative figure (metric speedup_vs_gpu or "
                            "energy_gain_vs_gpu, role holdout or calibration)", file=where, key=f"{key}.{k}")
    return Published(metric=item["metric"], value=None if value is None else float(value), unit=item["unit"],
                     source=item["source"], role=item["role"], note=str(item.get("note") or ""),
                     why_off=str(item.get("why_off") or ""), baseline=baseline, workload=workload)


def load_reference(path: str | Path) -> Reference:
    """Read and check one reference file (design validated against the parameter table)."""
    from ..config import load_design, load_workload, load_yaml

    where = str(path)
    data = load_yaml(path)
    bad = [k for k in data if k not in REF_KEYS]
    if bad:
        raise UserError(f"unknown key '{bad[0]}'; expected one of: {', '.join(REF_KEYS)}", file=where, key=bad[0])
    for k in REQUIRED:
        if k not in data or data[k] in (None, "", [], {}):
            raise UserError("is required", file=where, key=k)
    for k in ("name", "system", "citation", "condition"):
        if not isinstance(data[k], str):
            raise UserError("expected a string", file=where, key=k)
    if data["name"] != Path(path).stem:
        raise UserError(f"name '{data['name']}' must equal the file name '{Path(path).stem}'", file=where, key="name")
    if data["technology"] not in TECHNOLOGIES:
        raise UserError(f"expected one of {', '.join(TECHNOLOGIES)}", file=where, key="technology")
    design = load_design(data["design"], where)
    load_workload(data["workload"], where)
    if not isinstance(data["published"], list):
        raise UserError("expected a list of published figures", file=where, key="published")
    pubs = tuple(_published(p, where, i, data["workload"]) for i, p in enumerate(data["published"]))
    keys = [p.key for p in pubs if p.baseline]
    dup = next((k for k in keys if keys.count(k) > 1), None)
    if dup:
        raise UserError(f"two relative figures with the same metric, baseline and workload ({dup})", file=where,
                        key="published")
    ne = data.get("not_expressible") or []
    if not isinstance(ne, list) or not all(isinstance(x, str) for x in ne):
        raise UserError("expected a list of strings", file=where, key="not_expressible")
    return Reference(name=data["name"], system=data["system"], citation=data["citation"],
                     technology=data["technology"], design=design, workload=dict(data["workload"]),
                     condition=data["condition"], published=pubs, not_expressible=tuple(ne), path=where)


def find_reference(spec: str | Path) -> Reference | None:
    """The reference a DESIGN_FILE argument names: a packaged reference by name (`isaac`), or the path of a reference
    file; None for anything else (an ordinary design file). See config.reference_path."""
    from ..config import reference_path

    path = reference_path(spec)
    return load_reference(path) if path is not None else None


def load_references(where: str | Path | None = None) -> list[Reference]:
    """Every reference file of the folder, sorted by name."""
    base = Path(where) if where else folder()
    return [load_reference(p) for p in sorted(base.glob("*.yaml")) if not p.name.startswith("_")]


def evaluate_reference(ref: Reference, workload: dict | None = None, tech=None) -> dict[str, float]:
    """All cimdse metrics of a reference design on its workload, or on `workload` (plus `feasible` as 0/1);
    `tech`: a cimdse.tech.Tech (None: the shipped data)."""
    from ..config import load_workload
    from ..cost import evaluate_arrays
    from ..cost.model import METRICS
    from ..cost.params import scenario_defaults, to_batch

    model, sc = load_workload(workload or ref.workload, ref.path)
    design = {**scenario_defaults(sc), **ref.design}
    res = evaluate_arrays(to_batch([design], tech), model, sc, tech=tech)
    out = {m: float(res[m][0]) for m in METRICS}
    out["feasible"] = float(bool(res["feasible"][0]))
    return out


def predict_relative(ref: Reference, pub: Published, cim: dict | None = None, tech=None) -> float:
    """cimdse's prediction of a relative figure: the GPU roofline's metric over the design's on the figure's workload,
    through cimdse.cost.gpu.baseline_columns (speedup_vs_gpu: tpot ratio, ttft for encoders; energy_gain_vs_gpu:
    energy-per-token ratio). `cim` passes the design's metrics when already evaluated on that workload."""
    from ..config import load_workload
    from ..cost.gpu import baseline_columns, gpu_metrics

    model, sc = load_workload(pub.workload or ref.workload, ref.path)
    cim = cim if cim is not None else evaluate_reference(ref, pub.workload, tech)
    gpu = gpu_metrics(pub.baseline["gpu"], pub.baseline["gpus"], model, gpu_scenario(sc, pub.baseline["bits"]),
                      tech=tech)
    return float(baseline_columns(cim, gpu["metrics"])[pub.metric])


def reference_values(ref: Reference, tech=None) -> dict[str, float]:
    """What `cimdse check` records for a reference: every metric on its workload and every relative figure's
    prediction (keyed Published.key, e.g. 'speedup_vs_gpu@1xt4')."""
    out = evaluate_reference(ref, None, tech)
    for p in ref.published:
        if p.baseline:
            out[p.key] = predict_relative(ref, p, None if p.workload else out, tech)
    return out


# ------------------------------------------------------------------------------------------------ check

def read_recorded(where: str | Path | None = None) -> dict:
    """The machine-written recorded metrics: {reference name: {metric: value}}."""
    path = (Path(where) if where else folder()) / RECORDED
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return data.get("recorded", {})


def render_recorded(values: dict) -> str:
    """The text of _recorded.yaml (floats in repr form, so they read back exactly)."""
    head = ("# Written by `cimdse check --update`; do not edit by hand. The metrics cimdse predicted for every\n"
            "# reference design point (cimdse/reference/<name>.yaml). `cimdse check` compares against these.\n")
    body = {"recorded": {n: {k: float(v) for k, v in sorted(m.items())} for n, m in sorted(values.items())}}
    return head + yaml.safe_dump(body, sort_keys=False, default_flow_style=False)


def rel_diff(a: float, b: float) -> float:
    """|a - b| relative to the larger magnitude (0 when both are 0)."""
    scale = max(abs(a), abs(b))
    return 0.0 if scale == 0 else abs(a - b) / scale


@dataclass(frozen=True)
class Drift:
    """One recorded metric that no longer matches (or is missing on one side)."""

    reference: str
    metric: str
    recorded: float | None
    current: float | None

    @property
    def rel(self) -> float:
        if self.recorded is None or self.current is None:
            return math.inf
        return rel_diff(self.recorded, self.current)


def check(rtol: float = 1e-6, where: str | Path | None = None) -> tuple[dict, list[Drift]]:
    """Evaluate every reference point and compare with the recorded values: (current values, drifts)."""
    refs = load_references(where)
    recorded = read_recorded(where)
    current = {r.name: reference_values(r) for r in refs}
    drifts: list[Drift] = []
    for name, vals in current.items():
        rec = recorded.get(name)
        if rec is None:
            drifts.append(Drift(name, "(not recorded)", None, None))
            continue
        for k in sorted(set(vals) | set(rec)):
            a, b = rec.get(k), vals.get(k)
            if a is None or b is None or rel_diff(float(a), float(b)) > rtol:
                drifts.append(Drift(name, k, None if a is None else float(a), None if b is None else float(b)))
    for name in sorted(set(recorded) - set(current)):
        drifts.append(Drift(name, "(no reference file)", None, None))
    return current, drifts


# ------------------------------------------------------------------------------------------------ validate

@dataclass(frozen=True)
class Row:
    """One published figure against cimdse's prediction."""

    reference: str
    system: str
    metric: str
    published: float
    predicted: float
    role: str
    why_off: str
    baseline: str = ""   # relative figures: the GPU baseline in words (empty for absolute figures)
    band: tuple | None = None   # (p10, p90) of the prediction over the constants' bands (reference/bands.py)

    @property
    def factor(self) -> float:
        p, q = self.published, self.predicted
        if p <= 0 or q <= 0:
            return math.inf
        return max(p / q, q / p)


def validation_rows(refs: list[Reference] | None = None, tech=None, bands: bool = False) -> list[Row]:
    """Every comparable published figure with cimdse's current prediction (`tech`: a cimdse.tech.Tech, None for
    the shipped data); with `bands`, also the p10-p90 band of each prediction."""
    from .bands import figure_bands

    refs = refs if refs is not None else load_references()
    rows = []
    for r in refs:
        vals = band = None
        for p in r.published:
            if p.role == "not_compared":
                continue
            vals = vals or reference_values(r, tech)
            band = band or (figure_bands(r, tech) if bands else {})
            rows.append(Row(r.name, r.system, p.metric, p.value, vals[p.key], p.role, p.why_off, p.baseline_text,
                            band.get(p.key)))
    return rows


def geomean_factor(rows: list[Row]) -> float:
    """Geometric mean of the error factors (1.0 = exact)."""
    if not rows:
        return math.nan
    return math.exp(sum(math.log(r.factor) for r in rows) / len(rows))


def read_survey(where: str | Path | None = None) -> list[dict]:
    """The survey systems and their modelling status (reference/_survey.yaml)."""
    path = (Path(where) if where else folder()) / SURVEY
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return list(data.get("systems", []))


def read_calibration(where: str | Path | None = None) -> list[dict]:
    """The calibrated shared constants and the data each was fitted on (reference/_survey.yaml)."""
    path = (Path(where) if where else folder()) / SURVEY
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return list(data.get("calibration", []))


def _g(x: float) -> str:
    return f"{x:.4g}"


def render_validation(refs: list[Reference] | None = None, tech=None, bands: bool = True) -> str:
    """docs/VALIDATION.md: published vs predicted (with each prediction's p10-p90 band), geometric means per
    metric, survey coverage. `tech`: a cimdse.tech.Tech (None: the shipped data)."""
    from .bands import band_summary

    refs = refs if refs is not None else load_references()
    every = validation_rows(refs, tech, bands)
    rows = [r for r in every if not r.baseline]          # absolute figures: the headline comparison
    rel = [r for r in every if r.baseline]               # relative figures against a GPU: reported apart
    by_name = {r.name: r for r in refs}
    out = [
        "# Validation: published figures against cimdse",
        "",
        "Generated by `cimdse validate --write docs/VALIDATION.md` from `cimdse/reference/*.yaml`; do not edit by hand",
        "(a test regenerates it and fails when it is stale). Error factor = max(published/predicted,",
        "predicted/published); 1.00 is exact. Aim: every figure within 2x, geometric mean within 1.3x.",
        "Role: `calibration` figures were used to set a shared constant, or follow from a design value taken from",
        "the paper (see below); `holdout` figures were not used for any value and test the model. Each reference",
        "file gives the citation, the design in cimdse",
        "parameters, what could not be expressed, and the workload. Relative figures (speed-ups and energy gains",
        "against a GPU) are compared in their own section with their own geometric mean, apart from these absolute",
        "figures: they also test cimdse's GPU roofline and the papers' GPU baselines.",
        *(["Band: the 10th and 90th percentile of the prediction over Latin-hypercube samples of the technology",
           "constants' uncertainty bands (docs/MODEL.md, Uncertainty bands); inside: the published value lies in it.",
           "A figure that no sampled constant enters, or moves by less than 0.1 % (e.g. `peak_tops`, fixed by the",
           "design's clock, ADC timing and organisation, which are design values taken from the paper or assumed, not",
           "constants) has a band of one point: it is shown as 'design only', has no band to be inside of, and is left",
           "out of the count; its error factor still counts in the geometric means."]
          if bands else []),
        *([f"Technology: the shipped data with {tech.path} merged over it."] if tech is not None and tech.path else []),
        "",
        "## Published vs predicted",
        "",
        *_absolute_table(rows),
    ]
    out += ["", "## Geometric-mean error factor per metric", "",
            "| metric | figures (holdout) | geomean holdout | figures (calibration) | geomean calibration | "
            "geomean all |", "|---|---:|---:|---:|---:|---:|"]
    for m in sorted({r.metric for r in rows}):
        sel = [r for r in rows if r.metric == m]
        ho = [r for r in sel if r.role == "holdout"]
        ca = [r for r in sel if r.role == "calibration"]
        out.append(f"| `{m}` | {len(ho)} | {_fmt_gm(ho)} | {len(ca)} | {_fmt_gm(ca)} | {_fmt_gm(sel)} |")
    ho_all = [r for r in rows if r.role == "holdout"]
    within = sum(r.factor <= FACTOR_AIM for r in rows)
    out += ["", f"All figures: {len(rows)}, within 2x: {within}; geometric mean {_fmt_gm(rows)} "
            f"(holdout only: {_fmt_gm(ho_all)} over {len(ho_all)} figures). {band_summary(rows)}".rstrip(), ""]
    out += _render_relative(rel)
    out += ["## Calibrated constants", "",
            "Only shared constants are fitted, never one per paper. Design values taken from a paper or a published "
            "model of its chip that fix a compared figure are listed as well, and that figure is marked calibration "
            "(it does not test the model); every other figure above is a holdout.", "",
            "| constant | calibrated on | note |", "|---|---|---|"]
    for cal in read_calibration():
        out.append(f"| `{cal['constant']}` | {cal['data']} | {cal.get('note', '')} |")
    out.append("")
    out += ["## Figures recorded but not compared", "",
            "Relative figures that cannot be compared (a baseline cimdse does not model, an unnamed GPU, a workload",
            "that is not a transformer) are kept in the reference files and listed here with the reason.", "",
            "| system | figure | value | why not compared |", "|---|---|---|---|"]
    for r in refs:
        for p in r.published:
            if p.role == "not_compared":
                val = "" if p.value is None else _g(p.value) + (f" {p.unit}" if p.unit not in ("", "1") else "")
                out.append(f"| {r.system} (`{r.name}`) | {p.metric} | {val} | {p.note} |")
    out += ["", "## Every system of the survey notes", "",
            "| system | status | reference file | error / why not yet |", "|---|---|---|---|"]
    for s in read_survey():
        ref = s.get("reference") or ""
        if ref and ref in by_name:
            sel = [r for r in every if r.reference == ref]
            err = ", ".join(f"`{r.metric}`{' vs ' + r.baseline if r.baseline else ''} {r.factor:.2f}x"
                            for r in sel) or "no figure to compare"
            note = s.get("note") or ""
            out.append(f"| {s['system']} | modelled | `{ref}` | {err}{'; ' + note if note else ''} |")
        else:
            out.append(f"| {s['system']} | not yet | | {s.get('note', '')} |")
    out.append("")
    return "\n".join(out)


def _absolute_table(rows: list[Row]) -> list[str]:
    """The table of absolute figures: system, metric, published, predicted (its band), error factor, role, why off."""
    from .bands import band_cells

    banded = any(r.band is not None for r in rows)
    out = ["| system | metric | published | predicted |" + (" band p10 - p90 | inside |" if banded else "")
           + " error factor | role | why off (if > 2x) |", "|---|---|---:|---:|" + ("---:|:---:|" if banded else "")
           + "---:|---|---|"]
    for r in rows:
        why = r.why_off if r.factor > FACTOR_AIM else ""
        out.append(f"| {r.system} (`{r.reference}`) | `{r.metric}` | {_g(r.published)} | {_g(r.predicted)} |"
                   f"{band_cells(r)} {r.factor:.2f} | {r.role} | {why} |")
    return out


def render_reference(ref: Reference, tech=None, bands: bool = True) -> str:
    """The comparison of one reference file (`cimdse validate --reference FILE`), e.g. while writing it."""
    every = validation_rows([ref], tech, bands)
    rows = [r for r in every if not r.baseline]
    rel = [r for r in every if r.baseline]
    out = [f"# {ref.system} (`{ref.name}`, {ref.path})", ""]
    if rows:
        out += ["## Published vs predicted", "", *_absolute_table(rows), ""]
    if rel:
        out += _render_relative(rel)
    skipped = [p for p in ref.published if p.role == "not_compared"]
    if skipped:
        out += ["Not compared: " + "; ".join(f"{p.metric} ({p.note})" for p in skipped), ""]
    return "\n".join(out)


def _render_relative(rel: list[Row]) -> list[str]:
    """The section of relative figures: one row per figure, then the geometric-mean error per metric."""
    from .bands import band_cells, band_summary

    banded = any(r.band is not None for r in rel)
    out = ["## Relative figures against a GPU", "",
           "A paper's speed-up or energy gain over a GPU, against cimdse's ratio on the paper's workload:",
           "`speedup_vs_gpu` = GPU time / design time (decode `tpot_ms`; `ttft_ms` for encoders) and",
           "`energy_gain_vs_gpu` = GPU energy per token / design energy per token, with the GPU from the roofline of",
           "docs/MODEL.md section 8 (its shared calibration, never fitted to these papers). The error factor mixes",
           "the error of the CIM model, of the GPU roofline, and of the paper's GPU baseline (often an unoptimised",
           "framework at batch 1), so these figures are reported apart from the absolute ones above.", "",
           "| system | metric | baseline | published | predicted |" + (" band p10 - p90 | inside |" if banded else "")
           + " error factor | role | why off (if > 2x) |", "|---|---|---|---:|---:|" + ("---:|:---:|" if banded else "")
           + "---:|---|---|"]
    for r in rel:
        why = r.why_off if r.factor > FACTOR_AIM else ""
        out.append(f"| {r.system} (`{r.reference}`) | `{r.metric}` | {r.baseline} | {_g(r.published)} | "
                   f"{_g(r.predicted)} |{band_cells(r)} {r.factor:.2f} | {r.role} | {why} |")
    out += ["", "| metric | figures | within 2x | geomean error |", "|---|---:|---:|---:|"]
    for m in sorted({r.metric for r in rel}):
        sel = [r for r in rel if r.metric == m]
        out.append(f"| `{m}` | {len(sel)} | {sum(r.factor <= FACTOR_AIM for r in sel)} | {_fmt_gm(sel)} |")
    within = sum(r.factor <= FACTOR_AIM for r in rel)
    out += ["", f"Relative figures: {len(rel)}, within 2x: {within}; geometric mean {_fmt_gm(rel)}. "
            f"{band_summary(rel)}".rstrip(), ""]
    return out


def _fmt_gm(rows: list[Row]) -> str:
    return "-" if not rows else f"{geomean_factor(rows):.2f}"
