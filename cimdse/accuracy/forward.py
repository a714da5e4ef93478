"""The numpy float32 forward pass of a llama-family or gpt2 checkpoint over one sequence (causal, prefill).

Every matrix product goes through a `MatmulOps` object, so the same forward runs exact (`ExactOps`), with the
design's noise injected, or with each matmul emulated bit by bit on the CIM arrays (cimdse.accuracy.emulate).
Matmul convention: x (..., M, K) times W (..., N, K) gives (..., M, N), W laid out like torch.nn.Linear.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.special import erf

from .checkpoint import ArchConfig, Checkpoint


class MatmulOps:
    """How the forward pass multiplies. `static`: against resident weights (q_proj ... lm_head); `dynamic`:
    QK^T (W = the keys) and S.V (W = the values, transposed), per KV head with the query heads of a group
    stacked along M, so the keys a group shares are one stored matrix."""

    def static(self, op: str, layer: int, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        return x @ w.T

    def dynamic(self, op: str, layer: int, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        return x @ np.swapaxes(w, -1, -2)


ExactOps = MatmulOps


@dataclass
class Trace:
    """Hidden states after each layer (the residual stream), kept when asked for, to locate where error grows."""

    hidden: list[np.ndarray] = field(default_factory=list)


# -------------------------------------------------------------------------------------------- primitives

def rms_norm(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    return (x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)) * w


def layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(axis=-1, keepdims=True)
    xc = x - mu
    return xc / np.sqrt(np.mean(xc * xc, axis=-1, keepdims=True) + eps) * w + b


def activation(name: str, x: np.ndarray) -> np.ndarray:
    if name == "silu":
        return x / (1.0 + np.exp(-x))
    if name == "gelu":
        return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0))).astype(x.dtype)
    if name == "gelu_tanh":  # GPT-2's gelu_new
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))
    if name == "relu":
        return np.maximum(x, 0)
    raise ValueError(name)


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def inverse_frequencies(c: ArchConfig) -> np.ndarray:
    """Rotary inverse frequencies theta^(-2i/hd), with the config's rope_scaling (linear or llama3)."""
    hd = c.head_dim
    inv = 1.0 / (c.rope_theta ** (np.arange(0, hd, 2, dtype=np.float64) / hd))
    rs = c.rope_scaling
    if not rs or rs["rope_type"] == "default":
        return inv
    factor = rs["factor"]
    if rs["rope_type"] == "linear":
        return inv / factor
    # llama3: long wavelengths divided by factor, short ones kept, a smooth blend between (Llama 3.1 release)
    old = rs["original_max_position_embeddings"]
    lo, hi = rs["low_freq_factor"], rs["high_freq_factor"]
    wavelen = 2 * math.pi / inv
    scaled = np.where(wavelen > old / lo, inv / factor, inv)
    smooth = (old / wavelen - lo) / (hi - lo)
    medium = (wavelen >= old / hi) & (wavelen <= old / lo)
    return np.where(medium, (1 - smooth) * scaled / factor + smooth * scaled, scaled)


def rope_tables(c: ArchConfig, T: int) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin, (T, hd), in the half-split layout of Hugging Face's rotate_half."""
    ang = np.outer(np.arange(T, dtype=np.float64), inverse_frequencies(c))
    ang = np.concatenate([ang, ang], axis=-1)
    return np.cos(ang).astype(np.float32), np.sin(ang).astype(np.float32)


def apply_rope(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """x (H, T, hd): x cos + rotate_half(x) sin, rotate_half(x) = (-x2, x1)."""
    h = x.shape[-1] // 2
    rot = np.concatenate([-x[..., h:], x[..., :h]], axis=-1)
    return x * cos + rot * sin


def causal_mask(T: int, window: int = 0) -> np.ndarray:
    """True where query i may attend to key j: j <= i (and i - j < window when a sliding window is set)."""
    i, j = np.arange(T)[:, None], np.arange(T)[None, :]
    keep = j <= i
    if window:
        keep &= (i - j) < window
    return keep


# ------------------------------------------------------------------------------------------ the forward

def _linear(ops: MatmulOps, op: str, layer: int, x: np.ndarray, w: dict, prefix: str) -> np.ndarray:
    y = ops.static(op, layer, x, w[prefix + op + ".weight"])
    b = w.get(prefix + op + ".bias")
    return y if b is None else y + b


def attention(c: ArchConfig, ops: MatmulOps, layer: int, q: np.ndarray, k: np.ndarray, v: np.ndarray,
              mask: np.ndarray) -> np.ndarray:
    """Causal grouped-query attention. q (T, H hd), k and v (T, Hkv hd) -> (T, H hd)."""
    T, H, Hkv, hd = q.shape[0], c.heads, c.kv_heads, c.head_dim
    G = H // Hkv
    # (Hkv, G*T, hd): the G query heads sharing one KV head stacked along the rows
    qg = q.reshape(T, Hkv, G, hd).transpose(1, 2, 0, 3).reshape(Hkv, G * T, hd)
    kh = k.reshape(T, Hkv, hd).transpose(1, 0, 2)
    vh = v.reshape(T, Hkv, hd).transpose(1, 0, 2)
    scores = ops.dynamic("qk_scores", layer, qg, kh) / np.float32(math.sqrt(hd))   # (Hkv, G*T, T)
    scores = scores.reshape(Hkv, G, T, T)
    scores = np.where(mask, scores, np.float32(-np.inf))
    p = softmax(scores).reshape(Hkv, G * T, T).astype(np.float32)
    out = ops.dynamic("score_v", layer, p, np.ascontiguousarray(np.swapaxes(vh, 1, 2)))  # (Hkv, G*T, hd)
    return out.reshape(Hkv, G, T, hd).transpose(2, 0, 1, 3).reshape(T, H * hd)


def forward(ck: Checkpoint, ids: np.ndarray, ops: MatmulOps | None = None, trace: Trace | None = None) -> np.ndarray:
    """Logits (T, vocab), float32, of the token ids (T,) run as one causal sequence."""
    c, w = ck.config, ck.weights
    ops = ops or MatmulOps()
    T = len(ids)
    x = w["embed"][ids].astype(np.float32)
    if c.family == "gpt2":
        x = x + w["pos_embed"][:T]
    else:
        cos, sin = rope_tables(c, T)
    mask = causal_mask(T, c.sliding_window)

    def norm(h, name):
        if c.norm == "rmsnorm":
            return rms_norm(h, w[name + ".weight"], c.norm_eps)
        return layer_norm(h, w[name + ".weight"], w[name + ".bias"], c.norm_eps)

    for i in range(c.layers):
        p = f"layers.{i}."
        h = norm(x, p + "norm_attn")
        q = _linear(ops, "q_proj", i, h, w, p)
        k = _linear(ops, "k_proj", i, h, w, p)
        v = _linear(ops, "v_proj", i, h, w, p)
        if c.family == "llama":
            q = apply_rope(q.reshape(T, c.heads, c.head_dim).transpose(1, 0, 2), cos, sin)
            q = q.transpose(1, 0, 2).reshape(T, c.q_dim)
            k = apply_rope(k.reshape(T, c.kv_heads, c.head_dim).transpose(1, 0, 2), cos, sin)
            k = k.transpose(1, 0, 2).reshape(T, c.kv_dim)
        a = attention(c, ops, i, q, k, v, mask)
        x = x + _linear(ops, "o_proj", i, a, w, p)
        h = norm(x, p + "norm_ffn")
        if c.family == "llama":
            g = activation(c.activation, _linear(ops, "ffn_gate", i, h, w, p)) * _linear(ops, "ffn_up", i, h, w, p)
        else:
            g = activation(c.activation, _linear(ops, "ffn_up", i, h, w, p))
        x = x + _linear(ops, "ffn_down", i, g, w, p)
        if trace is not None:
            trace.hidden.append(x)
    h = norm(x, "norm_final")
    head = w["embed"] if c.tied_embeddings else w["lm_head.weight"]
    return ops.static("lm_head", c.layers, h, head).astype(np.float32)


def log_probs(logits: np.ndarray) -> np.ndarray:
    """Log-softmax in float64 (the perplexity is an exp of a mean of these)."""
    z = logits.astype(np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def perplexity(logits: np.ndarray, ids: np.ndarray) -> float:
    """exp(mean negative log-likelihood) of each next token ids[1:] given the logits at positions 0..T-2."""
    lp = log_probs(logits[:-1])
    nll = -lp[np.arange(len(ids) - 1), ids[1:]]
    return float(np.exp(nll.mean()))
