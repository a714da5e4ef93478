"""Measure a design on a checkpoint: perplexity and logit SQNR, exact against the design's non-idealities.

Two ways to disturb the matmuls: `inject` adds to each matmul's exact output y (the real activations times the real
weights) Gaussian noise of variance NSR * mean(y^2), with the NSR the analytic model predicts for that matmul
(cimdse.cost.errmodel.matmul_nsr); `exact` emulates each matmul bit by bit on the design's arrays
(cimdse.accuracy.emulate). Both are seeded and deterministic. Logit SQNR: 10 log10(sum ref^2 / sum (design - ref)^2)
over all positions and vocabulary entries, the same definition as the analytic `logit_sqnr_db`.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .checkpoint import ArchConfig, Checkpoint, load_checkpoint, tokenize
from .emulate import EmulateOps, cim_spec
from .forward import MatmulOps, Trace, forward, perplexity

MODES = ("inject", "exact")


def model_config(c: ArchConfig, name: str = "checkpoint"):
    """The workload's ModelConfig of a checkpoint, so the analytic model sees the same shapes."""
    from ..workload import ModelConfig

    gpt2 = c.family == "gpt2"
    return ModelConfig(name=name, family=c.model_type, arch="decoder", layers=c.layers, hidden=c.hidden,
                       heads=c.heads, kv_heads=c.kv_heads, ffn="mlp" if gpt2 else "gated",
                       activation="silu" if c.activation == "silu" else ("relu" if c.activation == "relu" else "gelu"),
                       ffn_dim=c.ffn_dim, vocab=c.vocab, max_context=c.max_positions,
                       position="learned" if gpt2 else "rotary", position_rows=c.max_positions if gpt2 else 0,
                       tied_embeddings=c.tied_embeddings, norm=c.norm, bias=gpt2 or c.model_type == "qwen2",
                       head_dim=c.head_dim)


@dataclass(frozen=True)
class Prediction:
    """The analytic model's view of one design on one checkpoint and sequence length."""

    nsr: dict[str, dict[str, float]]   # matmul kind -> term -> noise-to-signal power ratio
    logit_sqnr_db: float
    hidden_nsr: tuple[float, ...]      # residual stream NSR after each layer

    def total(self, op: str) -> float:
        return float(sum(self.nsr[op].values()))


def predict(design: Mapping, c: ArchConfig, tokens: int) -> Prediction:
    """Per-matmul NSR and logit SQNR from the analytic model for a causal pass over `tokens` tokens (mean keys per
    query (tokens + 1) / 2, given to the model as a prompt of tokens // 2 and one generated token)."""
    from ..cost import errmodel
    from ..workload import Scenario

    m = model_config(c)
    sc = Scenario(batch=1, prompt_tokens=max(tokens // 2, 1), generate_tokens=0,
                  weight_bits=int(design.get("weight_bits", 8)), act_bits=int(design.get("input_bits", 8)))
    nsr = errmodel.matmul_nsr(dict(design), m, sc)
    shapes = errmodel.error_shapes(m, sc)
    rho = errmodel.logit_nsr(nsr, shapes)
    prof = errmodel.layer_profile(nsr, shapes, c.layers)[0]
    flat = {op: {t: float(np.ravel(v)[0]) for t, v in terms.items()} for op, terms in nsr.items()}
    return Prediction(nsr=flat, logit_sqnr_db=float(np.ravel(errmodel.logit_sqnr_db(rho))[0]),
                      hidden_nsr=tuple(float(v) for v in prof))


def _rng(seed: int, op: str, layer: int) -> np.random.Generator:
    return np.random.default_rng([seed, layer, zlib.crc32(op.encode()), 1])


class InjectOps(MatmulOps):
    """Exact matmuls plus Gaussian noise of variance NSR * mean(y^2), NSR per matmul kind from the prediction."""

    def __init__(self, nsr_total: Mapping[str, float], seed: int = 0) -> None:
        self.nsr, self.seed = dict(nsr_total), seed

    def _noisy(self, op: str, layer: int, y: np.ndarray) -> np.ndarray:
        v = self.nsr.get(op, 0.0)
        if v <= 0:
            return y
        std = math.sqrt(v * float(np.mean(y.astype(np.float64) ** 2)))
        return (y + std * _rng(self.seed, op, layer).standard_normal(y.shape)).astype(np.float32)

    def static(self, op, layer, x, w):
        return self._noisy(op, layer, super().static(op, layer, x, w))

    def dynamic(self, op, layer, x, w):
        return self._noisy(op, layer, super().dynamic(op, layer, x, w))


@dataclass
class Tap(MatmulOps):
    """Wraps other ops and records, per (layer, matmul), the power of the exact product and of the deviation."""

    inner: MatmulOps
    power: dict[tuple[int, str], list[float]] = field(default_factory=dict)

    def _rec(self, op, layer, y, ref):
        e = self.power.setdefault((layer, op), [0.0, 0.0])
        e[0] += float(np.sum(ref.astype(np.float64) ** 2))
        e[1] += float(np.sum((y.astype(np.float64) - ref) ** 2))
        return y

    def static(self, op, layer, x, w):
        return self._rec(op, layer, self.inner.static(op, layer, x, w), MatmulOps.static(self, op, layer, x, w))

    def dynamic(self, op, layer, x, w):
        return self._rec(op, layer, self.inner.dynamic(op, layer, x, w), MatmulOps.dynamic(self, op, layer, x, w))


def sqnr_db(signal: float, noise: float) -> float | None:
    """10 log10(signal / noise); None when there is no noise at all."""
    if noise <= 0:
        return None
    return 10.0 * math.log10(signal / noise) if signal > 0 else -math.inf


def _db(nsr: float) -> float | None:
    return None if nsr <= 0 else -10.0 * math.log10(nsr)


@dataclass
class Reference:
    """The exact run, shared by every design measured on the same checkpoint and tokens."""

    ck: Checkpoint
    ids: np.ndarray
    logits: np.ndarray
    hidden: list[np.ndarray]
    ppl: float


def reference(ck: Checkpoint, ids: np.ndarray) -> Reference:
    tr = Trace()
    logits = forward(ck, ids, trace=tr)
    return Reference(ck=ck, ids=ids, logits=logits, hidden=tr.hidden, ppl=perplexity(logits, ids))


def full_design(design: Mapping) -> dict:
    """Defaults filled in and checked for contradictions (UserError)."""
    from ..cost.params import cross_check, defaults, from_batch, to_batch

    d = {**defaults(), **design}
    cross_check(d)
    return from_batch(to_batch([d]), 0)  # canonical types: int parameters as int


def measure(ref: Reference, design: Mapping, mode: str = "inject", seed: int = 0) -> dict:
    """Run the design once and compare with the reference: perplexities, measured and predicted logit SQNR, and
    per layer the residual-stream SQNR and each matmul's own SQNR (measured on its real operands; predicted)."""
    if mode not in MODES:
        raise ValueError(mode)
    d = full_design(design)
    c = ref.ck.config
    pred = predict(d, c, len(ref.ids))
    inner = EmulateOps(cim_spec(d), seed) if mode == "exact" else InjectOps(
        {op: pred.total(op) for op in pred.nsr}, seed)
    tap, tr = Tap(inner), Trace()
    logits = forward(ref.ck, ref.ids, tap, tr)
    noise = float(np.sum((logits.astype(np.float64) - ref.logits) ** 2))
    signal = float(np.sum(ref.logits.astype(np.float64) ** 2))
    per_layer = []
    ops = (*c.static_matmuls(), "qk_scores", "score_v")
    for i in range(c.layers):
        h_ref = ref.hidden[i].astype(np.float64)
        h_sig, h_err = float(np.sum(h_ref**2)), float(np.sum((tr.hidden[i] - h_ref) ** 2))
        per_layer.append({
            "layer": i, "hidden_sqnr_db": sqnr_db(h_sig, h_err), "predicted_hidden_sqnr_db": _db(pred.hidden_nsr[i]),
            "matmuls": {op: {"measured_sqnr_db": sqnr_db(*tap.power[(i, op)]), "predicted_sqnr_db": _db(pred.total(op))}
                        for op in ops}})
    per_layer.append({"layer": "lm_head", "matmuls": {"lm_head": {
        "measured_sqnr_db": sqnr_db(*tap.power[(c.layers, "lm_head")]), "predicted_sqnr_db": _db(pred.total("lm_head"))}}})
    return {"mode": mode, "seed": seed, "tokens": int(len(ref.ids)), "reference_ppl": ref.ppl,
            "design_ppl": perplexity(logits, ref.ids), "logit_sqnr_db": sqnr_db(signal, noise),
            "predicted_logit_sqnr_db": pred.logit_sqnr_db, "design": d, "per_layer": per_layer}


def measure_designs(checkpoint: str | Path | Checkpoint, text: str | Path, designs: Iterable[Mapping],
                    tokens: int = 128, mode: str = "inject", seed: int = 0):
    """One row per design: reference and design perplexity, measured and predicted logit SQNR (pandas DataFrame).

    The checkpoint is loaded and the reference run made once; `cimdse sweep --verify` can call this on a front."""
    import pandas as pd

    ck = checkpoint if isinstance(checkpoint, Checkpoint) else load_checkpoint(checkpoint)
    ref = reference(ck, tokenize(ck, text, tokens))
    rows = []
    for design in designs:
        r = measure(ref, design, mode, seed)
        rows.append({**{k: v for k, v in dict(design).items()}, "reference_ppl": r["reference_ppl"],
                     "measured_ppl": r["design_ppl"], "measured_logit_sqnr_db": r["logit_sqnr_db"],
                     "predicted_logit_sqnr_db": r["predicted_logit_sqnr_db"]})
    return pd.DataFrame(rows)
