"""Per-workload and per-device constants of the analytic error model (cimdse/cost/errmodel.py): the activation
statistics of the model families, cell drift and read noise at the stated time, crest factors (expected largest
|value| over rms) of Gaussian vectors and of the FFN activation's output, the propagation weights of each block's
noise to the logits, and ErrorShapes, which collects them per matmul kind (computed once per model and scenario);
and the model-level step: per-matmul NSRs carried through the layers into the logit NSR and its metrics.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources

import numpy as np
import yaml

from ..tech import DEVICES, Tech, load_tech, memo
from ..workload import ModelConfig, Scenario

# matmuls whose input is a normalization output: the family's outlier channels reach them (LLM.int8(), Sec. 3-4;
# SmoothQuant, Sec. 3: outliers in the inputs of the QKV and first FFN projections)
NORM_FED = ("q_proj", "k_proj", "v_proj", "ffn_gate", "ffn_up", "router", "lm_head", "pooler")
ATTENTION = ("qk_scores", "score_v")


# ------------------------------------------------------------------------------------------------ data

@cache
def activation_stats() -> dict:
    """Per model family: outlier_ratio (largest outlier channel / rms of the ordinary channels; 0 = none)."""
    raw = yaml.safe_load(resources.files("cimdse").joinpath("data/activations.yaml").read_text())
    return {fam: {k: (v["value"] if isinstance(v, dict) and "value" in v else v) for k, v in row.items()}
            for fam, row in raw["families"].items()}


def device_noise(tech: Tech | None = None) -> dict:
    """Per device (DEVICES order): drift and read noise std relative to g_max at the stated time (noise.yaml);
    once per Tech (None: the shipped data; a technology file's `noise:` overrides otherwise)."""
    return memo(tech or load_tech(), "noise", _noise_table)


def _noise_table(tech: Tech) -> dict:
    raw = tech.raw["noise"]
    t_s = float(raw["evaluation_time_s"]["value"])
    drift, read = np.zeros(len(DEVICES)), np.zeros(len(DEVICES))
    for i, dev in enumerate(DEVICES):
        row = {k: v["value"] for k, v in raw["devices"].get(dev, {}).items()}
        if not row:
            continue
        g = row["level_rel"]
        # global drift compensation removes the mean exponent; the spread sigma_nu stays: g (t/t0)^-dnu ~ g (1 - dnu ln)
        drift[i] = g * row["drift_nu_sigma"] * np.log((t_s + row["drift_t0_s"]) / row["drift_t0_s"])
        read[i] = g * row["read_q_s"] * np.sqrt(np.log((t_s + row["read_t_s"]) / (2 * row["read_t_s"])))
    return {"time_s": t_s, "drift": drift, "read": read}


_T_GRID = 40.0 * np.linspace(0.0, 1.0, 1601) ** 2   # |value| / rms at which survival functions are tabulated (dense near 0)
_A_GRID = np.linspace(-10.0, 10.0, 2001)        # pre-activation values a ~ N(0, 1) for operator statistics
_A_W = np.exp(-0.5 * _A_GRID**2) / np.sum(np.exp(-0.5 * _A_GRID**2))


def _expected_max(survival: np.ndarray, n) -> float:
    """E[max of n iid |Y|] = integral over t >= 0 of 1 - (1 - S(t))^n, S tabulated on _T_GRID (trapezoid rule):
    the order-statistics identity E[M] = integral of P(M > t) for a non-negative M."""
    cdf_n = np.exp(float(n) * np.log1p(-np.minimum(survival, 1.0 - 1e-16)))
    f = 1.0 - cdf_n
    return float(np.sum(0.5 * (f[1:] + f[:-1]) * np.diff(_T_GRID)))


@lru_cache(maxsize=256)
def gauss_crest(n) -> float:
    """Crest factor (max / rms) of a Gaussian vector of n values: the expected largest |z| of n standard normal
    samples (_expected_max with S(t) = 2 Q(t); 3.05 for n = 256, 2.87 for 128)."""
    from scipy.special import ndtr

    return _expected_max(2.0 * ndtr(-_T_GRID), n)


def _act(name: str, a: np.ndarray) -> np.ndarray:
    """The FFN activation functions of cimdse.workload.ACTIVATIONS (gelu exact; silu = a sigmoid(a))."""
    from scipy.special import erf

    if name == "silu":
        return a / (1.0 + np.exp(-a))
    if name == "gelu":
        return 0.5 * a * (1.0 + erf(a / np.sqrt(2.0)))
    if name == "relu":
        return np.maximum(a, 0.0)
    raise ValueError(name)


@lru_cache(maxsize=64)
def ffn_down_crest(n: int, activation: str, gated: bool) -> float:
    """Crest factor of the input of the FFN's down projection, n values: act(a) (mlp) or act(a) u (gated: SwiGLU,
    GeGLU), a and u independent standard normal pre-activations (a normalized input times unit-gain weight
    columns). Expected largest |value| (_expected_max) over the rms sqrt(E[act(a)^2] E[u^2]); the survival
    function of |act(a) u| is E_a[2 Q(t / |act(a)|)], of |act(a)| P(|act(a)| > t), both over a quadrature of a.
    SwiGLU, n = 256: 6.5 (20,000 simulated vectors: 6.5; the tiny llama checkpoint of benchmarks/bench_accuracy.py
    measures 6.6), against 3.05 for a Gaussian vector: the product of two Gaussians has exponential tails."""
    from scipy.special import ndtr

    y = np.abs(_act(activation, _A_GRID))
    rms = float(np.sqrt(np.dot(_A_W, y * y)))
    t = _T_GRID[:, None] * rms
    if gated:
        surv = (2.0 * ndtr(-t / np.maximum(y, 1e-300)[None, :])) @ _A_W
    else:
        surv = (y[None, :] > t) @ _A_W
    return _expected_max(surv, n)


# ------------------------------------------------------------------------------------------------ workload

@dataclass(frozen=True)
class ErrorShapes:
    """Per-workload constants of the error model, one entry per matmul kind (names)."""

    names: tuple[str, ...]
    k: np.ndarray            # contraction length K
    x_crest: np.ndarray      # input max / rms of the ordinary channels (per token vector)
    w_crest: np.ndarray      # stored operand max / rms (per output column)
    stored_kv: np.ndarray    # True: the stored operand is K or V (written at input_bits), not a weight
    unsigned_x: np.ndarray   # True: inputs are non-negative (attention probabilities)
    static: np.ndarray       # True: a static weight matrix (counts in equivalent_bits' reference)
    coef: np.ndarray         # weight of this kind's NSR in the logit NSR (propagation, docs/MODEL.md 6.3)


def _propagation(model: ModelConfig) -> tuple[float, float]:
    """Weights of one attention block's and one FFN block's output NSR in the final hidden state's NSR.

    Residual stream: every sublayer adds an output of equal power, uncorrelated; the embedding's power is
    negligible beside them (pre-norm transformers: the stream's rms grows from the embedding's by orders of
    magnitude over the first blocks; 0.008 against 0.1-1 per sublayer in the bench checkpoint); a sublayer passes
    its input's relative noise on with gain 1 (normalization keeps relative error) and adds its own NSR eta_i.
    After sublayer i the stream holds power i P and noise (i - 1) rho_(i-1) P + (rho_(i-1) + eta_i) P, so
    rho_i = rho_(i-1) + eta_i / i: attention of layer l (i = 2l - 1) weighs 1/(2l - 1), its FFN (i = 2l) 1/(2l)."""
    ls = np.arange(1, model.layers + 1, dtype=float)
    return float(np.sum(1.0 / (2 * ls - 1))), float(np.sum(1.0 / (2 * ls)))


@lru_cache(maxsize=64)
def error_shapes(model: ModelConfig, scenario: Scenario | None = None) -> ErrorShapes:
    """The matmul kinds of `model` with their contraction lengths, crest factors and propagation weights.

    scenario: sets the attention context (mean keys per query in decode; prompt_tokens / 2 without one)."""
    fam = activation_stats().get(model.family, {"outlier_ratio": 0.0, "min_params": 0.0})
    big = model.param_counts()["total"] >= float(fam["min_params"])
    outlier = float(fam["outlier_ratio"]) if big else 0.0
    d, hd = model.hidden, model.hd
    if scenario is not None:
        keys = scenario.prompt_tokens + (scenario.generate_tokens + 1) / 2 if model.arch == "decoder" \
            else float(scenario.prompt_tokens)
    else:
        keys = model.max_context / 2
    keys = max(keys, 1.0)
    w_attn, w_ffn = _propagation(model)
    ffn = ("ffn_gate", "ffn_up", "ffn_down") if model.ffn == "gated" else ("ffn_up", "ffn_down")
    rows = [("q_proj", d, w_attn), ("k_proj", d, w_attn), ("v_proj", d, w_attn), ("o_proj", model.q_dim, w_attn)]
    rows += [(nm, model.ffn_dim if nm == "ffn_down" else d, w_ffn) for nm in ffn]
    if model.arch == "decoder":
        rows.append(("lm_head", d, 1.0))
    elif model.pooler:
        rows.append(("pooler", d, 1.0))
    names, k, xc, wc, kv, ux, st, coef = [], [], [], [], [], [], [], []
    for nm, kk, cf in rows:
        names.append(nm)
        k.append(kk)
        g = gauss_crest(kk)
        if nm == "ffn_down":   # the activation's (and gate's) output: heavy-tailed, not Gaussian
            xc.append(ffn_down_crest(kk, model.activation, model.ffn == "gated"))
        else:
            xc.append(max(g, outlier) if nm in NORM_FED else g)
        wc.append(g)
        kv.append(False)
        ux.append(False)
        st.append(True)
        coef.append(cf)
    # attention: QK^T contracts over hd (stored K column: one key's hd values); S.V over the keys (stored V column:
    # one feature over the keys). Probabilities: one-hot and uniform attention bound the crest factor at sqrt(n)
    # and 1; assumed: attention spread over sqrt(n) keys, crest n^(1/4) (measured by `cimdse accuracy`).
    for nm, kk, x_c, w_c, uns in (("qk_scores", hd, gauss_crest(hd), gauss_crest(hd), False),
                                  ("score_v", keys, keys ** 0.25, gauss_crest(keys), True)):
        names.append(nm)
        k.append(kk)
        xc.append(x_c)
        wc.append(w_c)
        kv.append(True)
        ux.append(uns)
        st.append(False)
        coef.append(w_attn)
    arr = lambda v, t=float: np.asarray(v, dtype=t)  # noqa: E731
    return ErrorShapes(names=tuple(names), k=arr(k), x_crest=arr(xc), w_crest=arr(wc), stored_kv=arr(kv, bool),
                       unsigned_x=arr(ux, bool), static=arr(st, bool), coef=arr(coef))


# ------------------------------------------------------------------------------------------------ model level

def block_nsr(nsr: Mapping[str, Mapping[str, np.ndarray]], shapes: ErrorShapes) -> tuple[np.ndarray, np.ndarray]:
    """Output NSR of one attention block and one FFN block: the NSRs of the matmuls in their chain add (relative
    errors of a product add in power; softmax and the activation function are taken with gain 1)."""
    attn = ffn = 0.0
    for nm in shapes.names:
        total = sum(nsr[nm].values())
        if nm in ("q_proj", "k_proj", "v_proj", "o_proj", *ATTENTION):
            attn = attn + total
        elif nm.startswith("ffn_"):
            ffn = ffn + total
    return attn, ffn


def logit_nsr(nsr: Mapping[str, Mapping[str, np.ndarray]], shapes: ErrorShapes) -> np.ndarray:
    """NSR of the output logits (decoders; encoders: the final hidden state, plus the pooler): each kind's NSR
    weighted by its propagation coefficient (ErrorShapes.coef, `_propagation`), lm_head with weight 1.
    Kinds that share their arrays (same shape and statistics) are summed once."""
    out = 0.0
    for nm, w in weighted_kinds(nsr, shapes):
        out = out + w * (total_but_ir(nsr[nm]) + nsr[nm]["ir_drop"] + nsr[nm]["kv_prune"])
    return out


def weighted_kinds(nsr: Mapping[str, Mapping[str, np.ndarray]], shapes: ErrorShapes) -> list[tuple[str, float]]:
    """(kind, weight in the logit NSR) per distinct terms dict of nsr (kinds that share their arrays: weights added),
    in the order of their first kind; routers are left out (routing decisions: not propagated as additive noise,
    docs/MODEL.md 6.3)."""
    weight: dict[int, float] = {}
    first: dict[int, str] = {}
    for j, nm in enumerate(shapes.names):
        if nm == "router":
            continue
        key = id(nsr[nm])
        weight[key] = weight.get(key, 0.0) + float(shapes.coef[j])
        first.setdefault(key, nm)
    return [(nm, weight[key]) for key, nm in first.items()]


def total_but_ir(terms: Mapping[str, np.ndarray]) -> np.ndarray:
    """Sum of a kind's terms but ir_drop and kv_prune, in logit_nsr's order (those two are added last)."""
    total = terms["weight_quant"] + terms["input_quant"] + terms["adc"] + terms["device"]
    for t in ("drift", "read"):
        total = total + terms[t]
    return total


def layer_profile(nsr: Mapping[str, Mapping[str, np.ndarray]], shapes: ErrorShapes, layers: int) -> np.ndarray:
    """Predicted NSR of the residual stream after each layer, (N, layers): rho_i = rho_(i-1) + eta_i / i
    (attention of layer l at i = 2l - 1, its FFN at i = 2l; `_propagation`)."""
    attn, ffn = block_nsr(nsr, shapes)
    attn, ffn = np.atleast_1d(attn), np.atleast_1d(ffn)
    ls = np.arange(1, layers + 1, dtype=float)
    steps = attn[:, None] / (2 * ls - 1) + ffn[:, None] / (2 * ls)
    return np.cumsum(steps, axis=1)


def rtn_reference(shapes: ErrorShapes) -> float:
    """B in NSR_rtn(b) = B / (12 (2^(b-1) - 1)^2): the logit NSR of round-to-nearest, per-output-column, b-bit
    weights in every static matmul and nothing else (the weight-only RTN rows of post-training quantization
    tables, e.g. OmniQuant Table 1)."""
    return float(np.sum(shapes.coef * shapes.w_crest**2 * shapes.static))


def equivalent_bits(rho, shapes: ErrorShapes) -> np.ndarray:
    """Round-to-nearest weight width with the same logit NSR rho: solve B / (12 (2^(b-1) - 1)^2) = rho for b."""
    return 1.0 + np.log2(1.0 + np.sqrt(rtn_reference(shapes) / (12.0 * np.asarray(rho, dtype=float))))


def logit_sqnr_db(rho) -> np.ndarray:
    """-10 log10(rho), floored at 0 dB (noise as strong as the signal: nothing of the logits is left)."""
    return np.maximum(0.0, -10.0 * np.log10(np.asarray(rho, dtype=float)))
