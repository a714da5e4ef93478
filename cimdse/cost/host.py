"""A host GPU beside the CIM/PIM chips: which operators run where, the transfers between the two sides, and the
schedule that combines their times and energies into one design's metrics (docs/MODEL.md 'Host GPU and PIM offload').

model.evaluate_batch hands a batch with any `host` != none to `evaluate_hosted` (with its pass over one chunk and
model.build_workload, so that this module does not import the model): the CIM/PIM side by the ordinary cost model
on its share of the operators (the `offload` groups; `build_workload` on masked operator tables), the host by the
GPU roofline (gpu.price_phase_gpu) on the rest. The host side depends only on categorical and integer parameters, so it is priced
once per distinct (host, host_count, offload) and gathered per design; the combination is array arithmetic, per chunk.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import lru_cache

import numpy as np

from ..tech import Tech, load_tech, memo
from ..workload import ModelConfig, OpTable, Scenario, operator_table, phases
from ._util import equal_chunks, fill_rows
from .accmetrics import finish_accuracy
from .errgroups import dense_inverse
from .gpu import get_gpu, kv_split, load_gpus, memory_need_bytes, price_phase_gpu, tensor_peak_tflops
from .params import PARAMS
from .summary import LIFETIME_CAP_YEARS, finish_reasons

HOSTS = PARAMS["host"].choices
OFFLOAD = PARAMS["offload"].choices
# operator groups each `offload` choice puts on the CIM/PIM side ("rest": projections, norms, residuals, embedding,
# lm_head: on the host unless everything is offloaded)
PIM_GROUPS = {"none": (), "attention": ("attention",), "ffn": ("ffn",), "all": ("attention", "ffn", "rest")}
ATTENTION_KINDS = ("kv_write", "kv_read", "dynamic_matmul", "softmax")
FFN_PREFIXES = ("ffn_", "shared_", "router")
COUNTING = ("count", "macs", "weight_elems", "in_elems", "out_elems", "elem_ops", "weight_bytes", "in_bytes",
            "out_bytes")


def operator_group(name: str, kind: str) -> str:
    """'attention' (QK^T, softmax, S.V, KV cache reads and writes), 'ffn' (FFN and MoE matmuls, router, activation)
    or 'rest' for one row of an operator table."""
    if kind in ATTENTION_KINDS:
        return "attention"
    if kind == "activation" or name.startswith(FFN_PREFIXES):
        return "ffn"
    return "rest"


def on_pim(table: OpTable, offload: str) -> np.ndarray:
    """Mask of the table's rows that run on the CIM/PIM side under `offload`."""
    groups = PIM_GROUPS[offload]
    return np.array([operator_group(str(n), str(k)) in groups for n, k in zip(table.cols["name"], table.cols["kind"],
                                                                                strict=True)], dtype=bool)


def _masked(table: OpTable, keep: np.ndarray) -> OpTable:
    """The table with the rows not in `keep` emptied: zero counts and sizes (a static row keeps a 0 x n shape, which
    costs nothing, so the cost model's arrays never have zero width; qk_scores keeps its key count)."""
    cols = dict(table.cols)
    for c in COUNTING:
        cols[c] = np.where(keep, cols[c], 0.0)
    cols["k"] = np.where(keep | (cols["kind"] != "static_matmul"), cols["k"], 0.0)
    cols["copies"] = np.where(keep, cols["copies"], 1.0)
    return dataclasses.replace(table, cols=cols)


@lru_cache(maxsize=64)
def pim_workload(model: ModelConfig, scenario: Scenario, offload: str, build_workload):
    """The cost model's Workload (model.build_workload) of the operators `offload` puts on the CIM/PIM side."""
    tables = {ph: operator_table(model, scenario, ph) for ph in phases(model)}
    return build_workload(model, scenario, {ph: _masked(t, on_pim(t, offload)) for ph, t in tables.items()})


def host_phase(gpu: str, n: int, model: ModelConfig, scenario: Scenario, offload: str, phase: str,
               tech: Tech | None = None) -> tuple:
    """(time ns, energy pJ) of one pass of `phase` on n host GPUs for the operators not offloaded (the GPU data of
    `tech`, a technology file's where it overrides gpus; cached per Tech)."""
    tech = tech or load_tech()
    cache = memo(tech, "host_phase", lambda _: {})
    key = (gpu, n, model, scenario, offload, phase)
    if key not in cache:
        table = operator_table(model, scenario, phase)
        skip = frozenset(str(x) for x in table.cols["name"][on_pim(table, offload)])
        r = price_phase_gpu(get_gpu(gpu, tech), n, model, scenario, phase, skip=skip, tech=tech)
        cache[key] = (r["time_s"] * 1e9, r["energy_j"] * 1e12)
    return cache[key]


@lru_cache(maxsize=256)
def host_memory_bytes(model: ModelConfig, scenario: Scenario, offload: str) -> tuple[float, float]:
    """(weight bytes, KV-cache bytes) the host holds: the weights it computes with (all but the offloaded ones) and,
    unless attention is offloaded, the KV cache; per GPU as in gpu.min_gpus (once per model, scenario, offload)."""
    pre = operator_table(model, scenario, "prefill")
    w_host = float(pre.total("weight_bytes", ~on_pim(pre, offload)))
    return w_host, 0.0 if "attention" in PIM_GROUPS[offload] else memory_need_bytes(model, scenario)[1]


def crossing_elems(model: ModelConfig, offload: str) -> float:
    """Activation elements that cross between host and PIM per token and layer: attention sends Q, K and V to the
    PIM and gets the heads' outputs back; ffn sends the normed hidden state and gets the FFN output back."""
    q = model.heads * model.hd
    if offload == "attention":
        return q + 2 * model.kv_heads * model.hd + q
    if offload == "ffn":
        return 2.0 * model.hidden
    return 0.0      # none: nothing on the PIM; all: nothing on the host (token ids and logits are not counted)


def _half(sc: Scenario) -> Scenario:
    """The scenario of one of two sub-batches (ceil(batch / 2) sequences)."""
    return dataclasses.replace(sc, batch=(sc.batch + 1) // 2)


def _keys(p: dict, keys: tuple) -> tuple[list, np.ndarray, np.ndarray]:
    """The distinct value tuples of the parameters `keys` over the designs of p: (the tuples, a design having each,
    per design the number of its tuple)."""
    cols = [p[k].astype(np.int64) for k in keys]
    key = np.zeros(len(cols[0]), dtype=np.int64)
    for col in cols:   # one integer per value tuple (mixed radix; values are small category codes and counts)
        key = key * (int(col.max(initial=0)) + 1) + col
    first, inv = dense_inverse(key)   # (a small range: counted in a table, not sorted)
    return [tuple(int(c[f]) for c in cols) for f in first], first, inv


def _runs(group: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """An order of the designs by group (0 <= group < count, stable) and the end of each group's run in it."""
    order = np.argsort(group.astype(np.uint8, copy=False), kind="stable")   # (small integers: a radix sort)
    return order, np.cumsum(np.bincount(group, minlength=count))


def _spans(group: np.ndarray, count: int, most: int) -> list[tuple[int, int]]:
    """Equal spans [a, b) of a batch of designs in groups (0 <= group < count), as few as hold about 5 % below
    `most` designs of its largest group each (a span's run of a group is one chunk, bar an uneven batch)."""
    n = len(group)
    largest = int(np.bincount(group, minlength=count).max())
    k = 1 if largest <= most else -(-largest * 21 // (20 * most))
    size = -(-n // k)
    return [(a, min(a + size, n)) for a in range(0, n, size)]


def _one_value(v: np.ndarray) -> bool:
    """Whether a parameter has one value over the batch, bit for bit (-0.0 is not 0.0; then it is its own offload
    order in every span): its bits compared in one pass, after a first few values that tell most that do not."""
    if v.dtype.kind not in "biuf" or len(v) == 0:
        return False
    w = v.view(f"u{v.dtype.itemsize}")
    return bool(w[0] == w[-1] and np.all(w[:16] == w[0]) and np.all(w == w[0]))


def _put_back(out: dict, part: dict, inverse: np.ndarray, a: int, n: int) -> None:
    """In place: a span's results (nested dicts of arrays, in the order whose inverse permutation is `inverse`, in
    their first len(inverse) rows) into rows a.. of the batch's arrays of n rows (made on the first span);
    placeholders (0 rows) as they are. (A gather per array: its rows are read from cache and written in sequence.)"""
    for k, v in part.items():
        if isinstance(v, dict):
            _put_back(out.setdefault(k, {}), v, inverse, a, n)
        elif len(v) == 0:
            out[k] = v
        else:
            if k not in out:
                out[k] = np.empty((n, *v.shape[1:]), dtype=v.dtype)
            v.take(inverse, axis=0, out=out[k][a:a + len(inverse)], mode="clip")   # (clip: not buffered; all in range)


def _no_host(part: dict, wl) -> dict:
    """In place: a breakdown of designs without a host given the host's entries (zeros), as combine() makes them
    (the same keys in the same order)."""
    z = np.zeros(len(part["area_mm2"]))
    b = part["breakdown"]
    b["host"] = {ph: dict.fromkeys(HOST_PARTS, z) for ph in wl.vectors}
    b["area_mm2"]["host"] = z
    for ph in wl.vectors:
        b["energy_pj"][ph].update(host=z, host_link=z)
        b["latency_ns"][ph].update(host=z, host_link=z)
        b["operators_pj"][ph]["host"] = z
    return part


def evaluate_hosted(p: dict, wl, tech: Tech, breakdown: bool, evaluate_chunk: Callable, build_workload: Callable,
                    chunk_designs: int) -> dict:
    """evaluate_batch for a batch where some designs have a host: the CIM cost model (`evaluate_chunk`, model.py's
    pass over one chunk) prices each design's offloaded share (`build_workload` of the masked operator tables),
    combined here with the host's roofline.

    The batch is cut into spans (_spans) of about five chunks. A span is put in the order of its offload shares (the
    designs without a host first; a parameter of one value over the batch is not copied), each share's run priced in
    chunks of at most `chunk_designs`, each chunk combined with the host while its results are in cache, and the
    span's results put back in the batch's order: every array stays span-sized, none batch-sized in another order.
    The reason texts and the accuracy metrics are made once for the batch (as model._evaluate_chunks)."""
    n = len(p["rows"])
    group = np.add(p["offload"], 1, dtype=np.uint8, casting="unsafe")   # a design's share: 1 + its offload code,
    group *= p["host"] != 0                                             # 0 without a host (uint8: radix-sort keys)
    sc = wl.scenario
    wls = [wl] + [pim_workload(wl.model, sc, o, build_workload) for o in OFFLOAD]
    # the host's constants per (host, host_count, offload) of this model and scenario: shared by the chunks and calls
    consts = memo(tech, "host_constants", lambda _: {}).setdefault((wl.model, sc), {})
    res: dict = {}
    over_rows, over_texts = [], []
    spans = _spans(group, len(OFFLOAD) + 1, chunk_designs)
    size = spans[0][1] - spans[0][0]   # (the largest span: they are equal but for the last)
    # span-sized arrays made once and reused by every span (fresh memory costs a page fault per 4 KB on its first
    # touch, again for each span's new arrays): the parameters of more than one value over the batch in offload
    # order, a span's results in that order (fill_rows makes them on the first span), the inverse permutation
    moving = {k: np.empty(size, dtype=v.dtype) for k, v in p.items() if not _one_value(v)}
    no_host, counting, inverse_buf = np.zeros(size, dtype=p["host"].dtype), np.arange(size), np.empty(size, np.intp)
    span: dict = {}
    for a, b in spans:
        m = b - a
        order, ends = _runs(group[a:b], len(OFFLOAD) + 1)
        q = {k: v[a:b].take(order, out=moving[k][:m], mode="clip") if k in moving else v[a:b] for k, v in p.items()}
        pim_q = {**q, "host": no_host[:m]}
        for run, i, j in equal_chunks(ends, chunk_designs):
            qc, pim_c = ({k: v[i:j] for k, v in d.items()} for d in (q, pim_q))
            # a side with no work (offload: none) has passes of 0 ns: rates inf/NaN until combine() replaces them
            with np.errstate(divide="ignore", invalid="ignore"):
                part = evaluate_chunk(pim_c, wls[run], tech, breakdown, True, run > 0)
            if run == 0:
                part = _no_host(part, wl) if breakdown else part
            else:
                def half(idx: np.ndarray, pim_c=pim_c, offload=OFFLOAD[run - 1]) -> dict:
                    half_wl = pim_workload(wl.model, _half(sc), offload, build_workload)   # (sub-batches only)
                    with np.errstate(divide="ignore", invalid="ignore"):
                        return evaluate_chunk({k: v.take(idx) for k, v in pim_c.items()}, half_wl, tech, breakdown,
                                              True, True)

                part, idx, texts = combine(qc, wl, tech, part, run - 1, half, breakdown, consts)
                if len(idx):
                    over_rows.append(a + order.take(idx + i))
                    over_texts.append(texts)
            fill_rows(span, part, i, size)
        inverse = inverse_buf[:m]
        inverse[order] = counting[:m]
        _put_back(res, span, inverse, a, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        res = finish_reasons(res)
        if over_rows:   # the host memory limit: designs feasible on the PIM side that fail here
            res["reason"][np.concatenate(over_rows)] = np.concatenate(over_texts)
        return finish_accuracy(res, p, wl, tech)


HOST_PARTS = ("step_ns", "host_ns", "pim_ns", "link_ns", "host_pj", "host_wait_pj", "pim_pj", "pim_wait_pj", "link_pj")


def combine(p: dict, wl, tech: Tech, pim: dict, offload: int, half: Callable, breakdown: bool,
            consts: dict) -> tuple:
    """The metrics of the hosted designs p of one offload share (`offload`, its code; pim: their PIM side's results
    with their pass sums "_sums", and the breakdown if `breakdown`; half: the PIM side's results of designs of p, by
    index, on one of two sub-batches, alike): per
    phase, the step time by the schedule (host_overlap), the energy of both sides, the link, and each side's power
    while it waits; system area, peak and feasibility with the host; the breakdown if `breakdown`. consts: the
    host's constants per (host, host_count, offload), filled as needed. Returns (the result, the designs that only
    the host's memory makes infeasible, their reason texts): pim's reasons are still codes (feasibility deferred)."""
    model, sc = wl.model, wl.scenario
    L = model.layers
    ic = tech.interconnect
    table, inv = _host_table(p, offload, wl, tech, consts)   # host constants per choice, gathered per design
    cols = iter(table)
    idle_w, tdp_w, die_mm2, peak_tops = (next(cols).take(inv) for _ in range(4))
    host_t, host_e = {}, {}
    for ph in wl.vectors:
        host_t[ph], host_e[ph] = next(cols).take(inv), next(cols).take(inv)
    half_t, half_e = next(cols), next(cols)      # decode, one sub-batch (subbatch overlap): per choice
    need_gb, usable_gb = next(cols), next(cols)  # per choice
    # link: none when the PIM is the host's own memory (shared; auto = shared for DRAM PIM), else a board link;
    # nothing crosses when one side runs it all (offload none or all: the link's zeros are not added)
    elems = crossing_elems(model, OFFLOAD[offload])
    n = len(inv)
    if elems:
        shared = (p["host_link"] == 1) | ((p["host_link"] == 0) & tech.dram[p["device"]])
        link_gbps = ic["board_link_gbps"] * p["host_count"]
    # (entries are replaced below, never written into; "_sums": model._evaluate_chunk's per phase (time, energy,
    # leakage, off-chip) of one pass, the sums of its breakdown's parts in their order, so no part is added twice)
    res = {k: v for k, v in pim.items() if k not in ("breakdown", "_sums")}
    out_bd = {}
    sums = {}
    pb = pim["breakdown"] if breakdown else None
    bd = ({"area_mm2": {**pb["area_mm2"], "host": die_mm2}, "energy_pj": {}, "latency_ns": {}, "operators_pj": {}}
          if breakdown else None)
    sub = (p["host_overlap"] == 1) if sc.batch >= 2 and "decode" in wl.vectors else None
    for ph in wl.vectors:
        if breakdown:
            en, lat, ops = ({k: np.array(v, copy=True) for k, v in pb[key][ph].items()}
                            for key in ("energy_pj", "latency_ns", "operators_pj"))
        t_p, e_p, e_leak, e_off = pim["_sums"][ph]
        if elems:
            m = sc.batch * (sc.prompt_tokens if ph == "prefill" else 1)
            x_bits = L * m * elems * sc.act_bits    # crossing a board link; none over shared memory (the scalar's
            # arithmetic is that of the array of it: the same numbers, fewer passes over the chunk)
            t_x = np.where(shared, 0.0, x_bits / 8 / link_gbps + 2 * L * ic["chip_link_latency_ns"])
            e_x = np.where(shared, 0.0, x_bits * ic["board_link_pj_per_bit"])
        else:
            t_x, e_x = np.zeros(n), np.zeros(n)
        t_h, e_h = host_t[ph], host_e[ph]
        t = t_h + t_p                               # per layer in turn: host, link, PIM, link, host
        if elems:
            t += t_x
        t_h_busy, t_p_busy = t_h, t_p
        if ph == "decode" and sub is not None and np.any(sub):
            pim_half = half(np.flatnonzero(sub))
            tp1, ep1, _, eo1 = pim_half["_sums"][ph]
            th2, tp2 = 2 * half_t.take(inv[sub]), 2 * tp1
            tx2 = t_x[sub] + np.where(t_x[sub] > 0, 2 * L * ic["chip_link_latency_ns"], 0.0)   # twice the hops
            t[sub] = np.maximum(th2, tp2 + tx2 if elems else tp2) + np.minimum(th2, tp2) / (2 * L)
            t_h_busy, t_p_busy = t_h.copy(), t_p.copy()
            t_h_busy[sub], t_p_busy[sub] = th2, tp2
            e_h, e_p, e_off = e_h.copy(), e_p.copy(), e_off.copy()
            e_h[sub], e_p[sub], e_off[sub] = 2 * half_e.take(inv[sub]), 2 * ep1, 2 * eo1
            t_x[sub] = tx2
            if breakdown:
                hb = pim_half["breakdown"]
                for key, d in (("energy_pj", en), ("latency_ns", lat), ("operators_pj", ops)):
                    for part, v in hb[key][ph].items():     # the PIM side's parts: two half batches
                        d[part][sub] = 2 * v
        # while one side waits: the host at its idle power; the PIM chips at their (gated) leakage power
        p_leak = np.divide(e_leak, t_p, out=np.zeros(n), where=t_p > 0)              # pJ/ns; 0 with no PIM pass
        e_wait_h = idle_w * (t - t_h_busy) * 1e3                                       # W x ns = nJ -> pJ
        e_wait_p = p_leak * (t - t_p_busy)
        e = e_p + e_h
        if elems:
            e += e_x
        e += e_wait_h
        e += e_wait_p
        sums[ph] = (t, e, e_off)
        if not breakdown:
            continue
        # the breakdown by component adds up to the totals: the host's share of the step is what the PIM side's
        # parts and the link leave (per layer in turn: the host's own time; sub-batches: its time not hidden)
        en["leakage"] = en["leakage"] + e_wait_p
        en["host"], en["host_link"] = e_h + e_wait_h, e_x
        ops["host"] = e_h + e_wait_h + e_x
        lat["host"] = np.maximum(t - sum(lat.values()) - t_x, 0.0)
        lat["host_link"] = t_x
        bd["energy_pj"][ph], bd["latency_ns"][ph], bd["operators_pj"][ph] = en, lat, ops
        out_bd[ph] = {"step_ns": t, "host_ns": t_h_busy, "pim_ns": t_p_busy, "link_ns": t_x, "host_pj": e_h,
                      "host_wait_pj": e_wait_h, "pim_pj": e_p, "pim_wait_pj": e_wait_p, "link_pj": e_x}
    _metrics(res, sums, sc, pim)
    res["area_mm2"] = res["area_mm2"] + die_mm2
    res["peak_tops"] = res["peak_tops"] + peak_tops
    res["peak_power_w"] = res["peak_power_w"] + tdp_w
    res["tops_per_w"] = res["peak_tops"] / res["peak_power_w"]
    res["tops_per_mm2"] = res["peak_tops"] / res["area_mm2"]
    over = (need_gb > usable_gb).take(inv)
    idx = np.flatnonzero(over & res["feasible"])
    res["feasible"] = res["feasible"] & ~over
    if breakdown:
        res["breakdown"] = {**bd, "host": out_bd}
    # reason texts per host choice (a design's numbers are its choice's), only for the designs that fail here
    text = np.array([f"host memory: {a:.1f} GB per GPU needed > {b:.0f} GB usable" if a > b else ""
                     for a, b in zip(need_gb, usable_gb, strict=True)], dtype=object)
    return res, idx, text.take(inv.take(idx))


def _host_table(p: dict, offload: int, wl, tech: Tech, consts: dict) -> tuple[list, np.ndarray]:
    """The host's constants (_host_constants) of the designs p of one offload share: (per constant, an array over
    the choices; per design, its choice). With one host count, the choices are the host codes (no grouping; the
    codes absent from p get NaN; the table kept in consts for the next chunk of these choices); else the distinct
    (host, host_count) pairs."""
    hc = p["host_count"]
    key = None
    if hc[0] == hc[-1] and hc.min() == hc.max():
        inv = p["host"].astype(np.intp, copy=False)
        present = np.bincount(inv, minlength=len(HOSTS)) > 0
        choices = [(h, int(hc[0]), offload) if present[h] else None for h in range(len(HOSTS))]
        key = ("table", *choices)
        if key in consts:
            return consts[key], inv
    else:
        choices, _, inv = _keys(p, ("host", "host_count", "offload"))
    rows = []
    for c in choices:
        if c is not None and c not in consts:
            consts[c] = _host_constants(c, wl, tech)
        rows.append(consts[c] if c is not None else None)
    width = len(next(r for r in rows if r is not None))
    table = np.array([r if r is not None else [np.nan] * width for r in rows], dtype=float)
    cols = list(table.T.copy())   # (read only: combine() gathers from them)
    if key is not None:
        consts[key] = cols
    return cols, inv


def _host_constants(choice: tuple, wl, tech: Tech) -> list:
    """The constants of one (host, host_count, offload) choice that combine() reads: idle and peak power W, die
    area mm2, peak TOPS, (time ns, energy pJ) per phase, of a half batch's decode, and memory GB needed and usable
    per GPU."""
    h, cnt, off = choice
    model, sc = wl.model, wl.scenario
    g, offload = get_gpu(HOSTS[h], tech), OFFLOAD[off]
    row = [g.idle_w * cnt, g.tdp_w * cnt, g.die_mm2 * cnt, tensor_peak_tflops(g, sc)[0] * cnt]
    for ph in wl.vectors:
        row += host_phase(g.name, cnt, model, sc, offload, ph, tech)
    row += host_phase(g.name, cnt, model, _half(sc), offload, "decode", tech) if "decode" in wl.vectors else (0, 0)
    w_host, kv = host_memory_bytes(model, sc, offload)
    frac = load_gpus(tech).calibration["usable_memory_fraction"]
    return row + [(w_host / cnt + kv / kv_split(model, cnt)) * 1e-9, g.hbm_gb * frac]


def _metrics(res: dict, sums: dict, sc: Scenario, pim: dict) -> None:
    """In place: the time and energy metrics of summary.summarize, from the combined passes."""
    t_pre, e_pre, off_pre = sums["prefill"]
    t_old = pim["ttft_ms"] * 1e6
    if "decode" in sums:
        t_dec, e_dec, off_dec = sums["decode"]
        G = sc.generate_tokens
        res["tpot_ms"] = t_dec * 1e-6
        res["tokens_per_s"] = sc.batch / (t_dec * 1e-9)
        res["energy_per_token_uj"] = e_dec / sc.batch * 1e-6
        res["chip_energy_per_token_uj"] = (e_dec - off_dec) / sc.batch * 1e-6
        t_old = t_old + G * pim["tpot_ms"] * 1e6
    else:
        t_dec, e_dec, G = 0.0, 0.0, 0
        res["tpot_ms"] = np.zeros(len(t_pre))
        res["tokens_per_s"] = sc.batch * sc.prompt_tokens / (t_pre * 1e-9)
        res["energy_per_token_uj"] = e_pre / (sc.batch * sc.prompt_tokens) * 1e-6
        res["chip_energy_per_token_uj"] = (e_pre - off_pre) / (sc.batch * sc.prompt_tokens) * 1e-6
    t_request = t_pre + G * t_dec
    res["ttft_ms"] = t_pre * 1e-6
    res["prefill_energy_mj"] = e_pre * 1e-9
    res["avg_power_w"] = (e_pre + G * e_dec) / t_request * 1e-3
    # the PIM side's writes are spread over the longer request: its lifetime grows in proportion (capped as before)
    scale = t_request / np.where(t_old > 0, t_old, t_request)
    res["lifetime_years"] = np.minimum(res["lifetime_years"] * scale, LIFETIME_CAP_YEARS)
