"""The accuracy metrics of the cost model (sqnr_db, equivalent_bits, logit_sqnr_db; docs/MODEL.md section 6), once
per batch.

evaluate_batch runs a large batch in chunks (cost/model.py). The error model computes its terms once per group of
designs alike in its inputs (errgroups.py), and much of that work is a fixed cost per call; so the chunks keep what
the metrics read of them (`accuracy_inputs`: a few arrays of the circuits and mapping steps) and `finish_accuracy`
scores the whole batch at once. Grouping only reorders work: the numbers are those of scoring each chunk alone.
"""

from __future__ import annotations

import numpy as np

from ..tech import Tech
from . import erroperands
from .accuracy import group_noise, sqnr_db, sqnr_from_noise
from .analog import device_read_tables
from .errmodel import error_groups, error_metrics, error_shapes, logit_plan, logit_rows
from .erroperands import COLUMNS, operand_codes
from .errstats import equivalent_bits, logit_sqnr_db

EMPTY = np.empty(0)   # a chunk's placeholder of a metric set later (keeps the order of the result's keys)
LATER = ("equivalent_bits", "logit_sqnr_db")   # set after summarize's metrics (sqnr_db: in its place among them)
ROWS = 24576   # designs per slice of a large batch's per-design accuracy arithmetic (about CHUNK_DESIGNS)


def accuracy_metrics(p: dict, wl, c: dict, mp: dict, combined_w: np.ndarray, res: dict) -> dict:
    """In place into res: sqnr_db (the closed form of accuracy.py) and the error model's metrics, with the designs
    grouped once for both (their inputs but IR drop are the same). combined_w: analog column combination merges
    more than one column per weight (circuits' comb_w > 1)."""
    eg = error_groups(p, c, mp, c["adc_range"])
    shapes = error_shapes(wl.model, wl.scenario)
    analog = ~c["gate"]
    args = (p["rows"], mp["ra"], p["input_bits"], p["weight_bits"], p["bits_per_cell"], c["db"], p["adc_bits"],
            c["sigma"], mp["differential"], analog, combined_w, c["adc_range"])
    n = len(p["rows"])
    if eg[2] is not None and n > ROWS:   # a batch of several chunks: the per-design part in slices
        return _sliced(p, shapes, c, eg, args, n, res)
    sq_codes, err_codes = _codes(p, c, mp, combined_w, eg) if eg[2] is None and n >= erroperands.CODED_DESIGNS \
        else (None, None)
    res["sqnr_db"] = np.maximum(0.0, sqnr_db(*args[:9], analog=analog, combined=combined_w, ir_drop=c["ir_drop"],
                                             range_scale=c["adc_range"], groups=eg[2], codes=sq_codes))
    res.update(error_metrics(p, shapes, c, mp, ir_drop_frac=c["ir_drop"], adc_range_scale=c["adc_range"],
                             groups=eg, codes=err_codes))
    return res


def _codes(p: dict, c: dict, mp: dict, combined_w, eg: tuple) -> tuple:
    """The combinations of precisions and slicing of an ungrouped batch, once for sqnr_db and the error model
    (erroperands.operand_codes over the bits, bits per cell, input bits per cycle and both one's flags: sqnr_db
    reads the mapping's differential and combined_w, the error model its own), as each takes them; (None, None)
    where they are not small whole numbers."""
    kw = eg[0]
    coded = operand_codes([p["input_bits"], p["weight_bits"], p["bits_per_cell"], c["db"]],
                          [mp["differential"], combined_w, kw["differential"], kw["combined"]])
    if coded is None:
        return None, None
    (bi, bw, bpc, db, diff_sq, comb_sq, diff, comb), inv = coded
    return ((bi, bw, bpc, db, diff_sq, comb_sq), inv), (dict(zip(COLUMNS, (bi, bw, bpc, db, diff, comb),
                                                                 strict=True)), inv)


def _sliced(p: dict, shapes, c: dict, eg: tuple, args: tuple, n: int, res: dict) -> dict:
    """accuracy_metrics of a grouped batch: the per-configuration work once, then what is added and gathered per
    design in slices of ROWS designs (temporaries that stay in cache instead of fresh batch-sized arrays; the same
    arithmetic per design, so the same bits)."""
    kw, attn_analog, (first, inv) = eg
    noise = group_noise(args, first, n)
    plan = logit_plan(p, shapes, kw, eg[2], c["ir_drop"], attn_analog, n)
    rows = np.asarray(p["rows"], dtype=float)
    ir, analog = np.broadcast_to(c["ir_drop"], (n,)), args[9]
    sqnr, bits, logit_db = np.empty(n), np.empty(n), np.empty(n)
    for i in range(0, n, ROWS):
        s = slice(i, i + ROWS)
        sqnr[s] = np.maximum(0.0, sqnr_from_noise(rows[s] / 9.0, noise.take(inv[s]), analog[s], ir[s]))
        rho = logit_rows(plan, s)
        bits[s], logit_db[s] = equivalent_bits(rho, shapes), logit_sqnr_db(rho)
    res["sqnr_db"] = sqnr
    res.update({"equivalent_bits": bits, "logit_sqnr_db": logit_db})
    return res


def accuracy_inputs(p: dict, c: dict, mp: dict) -> dict:
    """What the accuracy metrics read of one chunk beyond the batch's own columns and the device tables."""
    return {"bits_per_cell": p["bits_per_cell"], "ra": mp["ra"], "differential": mp["differential"],
            "gate": c["gate"], "ir_drop": c["ir_drop"], "combined_w": c["comb_w"] > 1}


def finish_accuracy(res: dict, p: dict, wl, tech: Tech) -> dict:
    """In place: the accuracy metrics of a batch whose chunks kept their `accuracy_inputs` (under `_accuracy`)."""
    a = res.pop("_accuracy")
    d = p["device"]
    p = {**p, "bits_per_cell": a["bits_per_cell"]}   # (as the chunks clipped it)
    # the circuits' values, by the same arithmetic: device constants and the input slice width
    c = {"gate": a["gate"], "sigma": tech.device["sigma_g_rel"].take(d), "ir_drop": a["ir_drop"],
         "db": np.minimum(p["dac_bits"], p["input_bits"]), "adc_range": device_read_tables(tech)["adc_range"].take(d),
         "tech": tech}
    return accuracy_metrics(p, wl, c, {"ra": a["ra"], "differential": a["differential"]}, a["combined_w"], res)
