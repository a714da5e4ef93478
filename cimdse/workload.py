"""Transformer workloads: model presets and operator tables per phase (loading a model by name or from a
Hugging Face config.json is cimdse/models.py).

Knows nothing about hardware. A phase's operator table lists what one pass must compute: prefill runs the
whole prompt; decode lists one *average* step (one new token per sequence), so per-step quantities that grow
linearly with the KV cache are exact when multiplied by the number of steps.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from functools import cache
from importlib import resources
from numbers import Integral, Real
from typing import TYPE_CHECKING

import yaml

from .errors import UserError, shown, unknown

if TYPE_CHECKING:  # numpy is imported where operator tables are built, so `cimdse models` starts fast
    import numpy as np

ARCHS = ("decoder", "encoder")
FFNS = ("mlp", "gated")
ACTIVATIONS = ("gelu", "relu", "silu")
NORMS = ("layernorm", "rmsnorm")
POSITIONS = ("learned", "rotary")

# Operator kinds. static: matmul against resident weights; dynamic: matmul of two activations (QK^T, S.V).
OP_KINDS = (
    "static_matmul", "dynamic_matmul", "softmax", "norm", "activation", "residual",
    "embedding", "kv_write", "kv_read",
)


@dataclass(frozen=True)
class ModelConfig:
    """Shape of a transformer; enough to count its parameters and operators."""

    name: str
    family: str
    arch: str
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    ffn: str
    activation: str
    ffn_dim: int
    vocab: int
    max_context: int
    position: str = "rotary"
    position_rows: int = 0
    type_vocab: int = 0
    pooler: bool = False
    tied_embeddings: bool = False
    norm: str = "rmsnorm"
    bias: bool = False
    experts: int = 1
    experts_per_token: int = 1
    head_dim: int = 0
    qkv_bias: bool = False          # biases on q, k, v only (Qwen2); `bias` puts them on every linear layer
    shared_ffn_dim: int = 0         # width of the always-active shared expert(s) of an MoE (0: none)
    shared_expert_gate: bool = False  # Qwen2-MoE: a hidden -> 1 sigmoid gate scales the shared expert's output
    sliding_window: int = 0         # keys a query attends to at most (0: the whole context)
    global_layers: int = 0          # layers that attend to the whole context despite sliding_window (Gemma 2)
    norms_per_layer: int = 2        # Gemma 2 adds a norm after attention and after the FFN (4)
    attn_softcap: float = 0.0       # Gemma 2: scores = c tanh(scores / c) before the softmax (0: none)
    logit_softcap: float = 0.0      # Gemma 2: the same on the LM head's logits
    source: str = ""

    def __post_init__(self) -> None:
        validate_model(self)

    @property
    def hd(self) -> int:
        """Dimension of one attention head."""
        return self.head_dim or self.hidden // self.heads

    @property
    def q_dim(self) -> int:
        return self.heads * self.hd

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.hd

    @property
    def n_ffn_mats(self) -> int:
        return 3 if self.ffn == "gated" else 2

    @property
    def windowed_layers(self) -> int:
        """Layers whose attention span is capped at sliding_window."""
        return self.layers - self.global_layers if self.sliding_window else 0

    def kv_spans(self, context: float) -> list[tuple[int, float]]:
        """(layers, tokens each keeps in its KV cache) at `context` tokens: a windowed layer keeps the last
        sliding_window tokens, a full-attention layer all of them. Groups with no layer are left out."""
        w = self.windowed_layers
        spans = [(self.layers - w, context), (w, min(context, self.sliding_window))]
        return [(n, t) for n, t in spans if n]

    def cached_tokens(self, context: float) -> float:
        """Mean over layers of the tokens a layer keeps in its KV cache (and attends to) at `context` tokens."""
        return sum(n * t for n, t in self.kv_spans(context)) / self.layers

    def mean_keys(self, first: int, last: int) -> float:
        """Mean over layers and over query positions first..last (1-based, the query included) of the keys
        each query attends to: position i sees min(i, sliding_window) keys in a windowed layer, i otherwise."""
        last = max(last, first)  # a decode of 0 tokens still has its one (never run) average step
        n = last - first + 1
        full = (first + last) / 2
        w = self.windowed_layers
        if not w:
            return full
        W = self.sliding_window
        # sum over i of min(i, W): positions below W contribute i, the rest W
        lo_end = min(last, W)
        below = (first + lo_end) * (lo_end - first + 1) / 2 if lo_end >= first else 0.0
        capped = (below + W * (n - max(lo_end - first + 1, 0))) / n
        return ((self.layers - w) * full + w * capped) / self.layers

    def param_counts(self) -> dict[str, int]:
        """Parameter counts by part, total, and active per token (MoE runs experts_per_token experts)."""
        d, b = self.hidden, int(self.bias)
        qkv_b = int(self.bias or self.qkv_bias)
        emb = self.vocab * d + self.position_rows * d + self.type_vocab * d
        norm_size = 2 * d if self.norm == "layernorm" else d
        if self.arch == "encoder":
            emb += norm_size  # BERT's embedding LayerNorm
        attn = (d * self.q_dim + 2 * d * self.kv_dim + self.q_dim * d + qkv_b * (self.q_dim + 2 * self.kv_dim)
                + b * d)
        one_expert = self.n_ffn_mats * d * self.ffn_dim + b * ((self.n_ffn_mats - 1) * self.ffn_dim + d)
        shared = (self.n_ffn_mats * d * self.shared_ffn_dim + b * ((self.n_ffn_mats - 1) * self.shared_ffn_dim + d)
                  if self.shared_ffn_dim else 0) + d * int(self.shared_expert_gate)
        router = d * self.experts if self.experts > 1 else 0
        per_layer_norms = self.norms_per_layer * norm_size
        final_norm = norm_size if self.arch == "decoder" else 0
        lm_head = self.vocab * d if (self.arch == "decoder" and not self.tied_embeddings) else 0
        pooler = d * d + d if self.pooler else 0
        ffn_all = self.layers * (self.experts * one_expert + router + shared)
        ffn_active = self.layers * (self.experts_per_token * one_expert + router + shared)
        common = emb + self.layers * (attn + per_layer_norms) + final_norm + lm_head + pooler
        return {
            "embedding": emb,
            "attention": self.layers * attn,
            "ffn": ffn_all,
            "norms": self.layers * per_layer_norms + final_norm,
            "lm_head": lm_head,
            "pooler": pooler,
            "total": common + ffn_all,
            "active": common + ffn_active,
            "non_embedding": common + ffn_all - emb,
        }

    def kv_bytes_per_token(self, kv_bits: int = 16) -> float:
        """KV-cache bytes one token adds: layers x (K and V) x kv_dim x bytes (before any sliding window;
        the cache of a context of T tokens is kv_bytes_per_token x cached_tokens(T))."""
        return self.layers * 2 * self.kv_dim * kv_bits / 8

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Scenario:
    """What is run: batch of sequences, prompt and generated lengths, precisions in bits."""

    batch: int = 1
    prompt_tokens: int = 512
    generate_tokens: int = 128
    weight_bits: int = 8
    act_bits: int = 8
    kv_bits: int = 0  # 0 means: same as act_bits

    def __post_init__(self) -> None:
        checks = (
            ("batch", 1, 1 << 20), ("prompt_tokens", 1, 1 << 24), ("generate_tokens", 0, 1 << 24),
            ("weight_bits", 1, 32), ("act_bits", 1, 32), ("kv_bits", 0, 32),
        )
        for key, lo, hi in checks:
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, Integral):
                raise UserError(f"expected an integer, got {shown(value)}", key=key)
            if not lo <= value <= hi:
                raise UserError(f"expected an integer in [{lo}, {hi}], got {shown(value)}", key=key)

    @property
    def kv(self) -> int:
        return self.kv_bits or self.act_bits

    def to_dict(self) -> dict:
        return asdict(self)


MAX_MODEL_DIM = 2**31 - 1  # int32: far above any real model, and keeps every count exact in float64


def validate_model(m: ModelConfig) -> None:
    """Raise UserError naming the first field that makes no sense."""
    for f in ("layers", "hidden", "heads", "kv_heads", "ffn_dim", "vocab", "max_context", "experts",
              "experts_per_token"):
        v = getattr(m, f)
        if isinstance(v, bool) or not isinstance(v, Integral) or not 1 <= v <= MAX_MODEL_DIM:
            raise UserError(f"expected an integer in [1, {MAX_MODEL_DIM}], got {shown(v)}", key=f)
    for f in ("position_rows", "type_vocab", "head_dim", "shared_ffn_dim", "sliding_window", "global_layers"):
        v = getattr(m, f)
        if isinstance(v, bool) or not isinstance(v, Integral) or not 0 <= v <= MAX_MODEL_DIM:
            raise UserError(f"expected an integer in [0, {MAX_MODEL_DIM}], got {shown(v)}", key=f)
    for f in ("norms_per_layer",):
        v = getattr(m, f)
        if isinstance(v, bool) or not isinstance(v, Integral) or v not in (2, 4):
            raise UserError(f"expected 2 or 4, got {shown(v)}", key=f)
    for f in ("attn_softcap", "logit_softcap"):
        v = getattr(m, f)
        if isinstance(v, bool) or not isinstance(v, Real) or not 0 <= v < float("inf"):
            raise UserError(f"expected a number >= 0 (0: no softcapping), got {shown(v)}", key=f)
    for f in ("pooler", "tied_embeddings", "bias", "qkv_bias", "shared_expert_gate"):
        if not isinstance(getattr(m, f), bool) and type(getattr(m, f)).__name__ != "bool_":  # numpy bool too
            raise UserError(f"expected true or false, got {shown(getattr(m, f))}", key=f)
    for f in ("name", "family", "source"):
        if not isinstance(getattr(m, f), str):
            raise UserError(f"expected a string, got {shown(getattr(m, f))}", key=f)
    for f, allowed in (("arch", ARCHS), ("ffn", FFNS), ("activation", ACTIVATIONS), ("norm", NORMS),
                       ("position", POSITIONS)):
        if getattr(m, f) not in allowed:
            raise UserError(unknown(f, getattr(m, f), allowed), key=f)
    if m.heads % m.kv_heads:
        raise UserError(f"heads ({m.heads}) must be a multiple of kv_heads ({m.kv_heads})", key="kv_heads")
    if not m.head_dim and m.hidden % m.heads:
        raise UserError(f"hidden ({m.hidden}) is not divisible by heads ({m.heads}); give head_dim",
                        key="head_dim")
    if m.global_layers > m.layers:
        raise UserError(f"global_layers ({m.global_layers}) exceeds layers ({m.layers})", key="global_layers")
    if m.shared_expert_gate and not m.shared_ffn_dim:
        raise UserError("shared_expert_gate needs a shared expert (shared_ffn_dim > 0)", key="shared_expert_gate")
    if m.experts_per_token > m.experts:
        raise UserError(f"experts_per_token ({m.experts_per_token}) exceeds experts ({m.experts})",
                        key="experts_per_token")


# ----------------------------------------------------------------------------------------------- presets

@cache
def _preset_data() -> dict:
    text = resources.files("cimdse").joinpath("data/models.yaml").read_text()
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))["models"]


def preset_names() -> list[str]:
    """Names of the built-in models (cimdse/data/models.yaml), in file order."""
    return list(_preset_data())


def preset(name: str) -> ModelConfig:
    """A built-in model by name."""
    data = _preset_data()
    if name not in data:
        raise UserError(unknown("model", name, data), key="model")
    return ModelConfig(name=name, **data[name])


MODEL_FIELDS = {f.name for f in fields(ModelConfig)}


def model_from_dict(d: dict, name: str = "custom") -> ModelConfig:
    """A model from cimdse's own field names (as in data/models.yaml)."""
    extra = set(d) - MODEL_FIELDS
    if extra:
        key = sorted(extra)[0]
        raise UserError(unknown("model field", key, MODEL_FIELDS - {"name"}), key=key)
    missing = {"family", "arch", "layers", "hidden", "heads", "kv_heads", "ffn", "activation", "ffn_dim",
               "vocab", "max_context"} - set(d)
    if missing:
        raise UserError("missing required field", key=sorted(missing)[0])
    return ModelConfig(**{"name": name, **d})


# ------------------------------------------------------------------------------------- operator tables

COLUMNS = ("name", "kind", "static", "count", "m", "k", "n", "copies", "active", "macs", "weight_elems",
           "in_elems", "out_elems", "elem_ops", "weight_bytes", "in_bytes", "out_bytes")


@dataclass(frozen=True)
class OpTable:
    """Operators of one phase as columns of equal length (numpy arrays), totals over all layers.

    count: how many times the row occurs per pass (layers, or 1); m: vectors through a matmul per
    occurrence; k x n: matrix shape; copies: distinct weight matrices stored (experts); active: matrices
    each vector passes through. macs / *_elems / *_bytes are totals for the pass (count included).
    """

    phase: str
    steps: int  # passes of this phase in a request (1 for prefill, generate_tokens for decode)
    cols: dict

    def __len__(self) -> int:
        return len(self.cols["name"])

    def select(self, **match) -> np.ndarray:
        import numpy as np

        """Boolean mask of rows whose columns equal the given values."""
        mask = np.ones(len(self), dtype=bool)
        for key, value in match.items():
            mask &= np.asarray(self.cols[key]) == value
        return mask

    def total(self, col: str, mask: np.ndarray | None = None) -> float:
        import numpy as np

        values = np.asarray(self.cols[col], dtype=float)
        return float(values[mask].sum() if mask is not None else values.sum())

    def totals(self) -> dict[str, float]:
        """Per-pass totals of the counting columns."""
        keys = ("macs", "weight_elems", "in_elems", "out_elems", "elem_ops", "weight_bytes", "in_bytes",
                "out_bytes")
        out = {k: self.total(k) for k in keys}
        out["static_macs"] = self.total("macs", self.select(kind="static_matmul"))
        out["dynamic_macs"] = self.total("macs", self.select(kind="dynamic_matmul"))
        out["kv_read_bytes"] = self.total("in_bytes", self.select(kind="kv_read"))
        out["kv_write_bytes"] = self.total("out_bytes", self.select(kind="kv_write"))
        return out

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame({c: self.cols[c] for c in COLUMNS})


def _rows_to_table(phase: str, steps: int, rows: list[dict], sc: Scenario) -> OpTable:
    import numpy as np

    cols = {c: [] for c in COLUMNS}
    for r in rows:
        for c in ("name", "kind", "static", "count", "m", "k", "n", "copies", "active", "macs", "weight_elems",
                  "in_elems", "out_elems", "elem_ops"):
            cols[c].append(r.get(c, 0))
    out = {c: np.array(cols[c]) for c in ("name", "kind", "static")}
    for c in ("count", "m", "k", "n", "copies", "active", "macs", "weight_elems", "in_elems", "out_elems",
              "elem_ops"):
        out[c] = np.asarray(cols[c], dtype=float)
    kind = out["kind"]
    w_bits = np.where(out["static"], sc.weight_bits, np.where(np.isin(kind, ("dynamic_matmul",)), sc.kv, 0))
    out["weight_bytes"] = out["weight_elems"] * np.where(kind == "embedding", sc.weight_bits, w_bits) / 8
    in_bits = np.where(kind == "kv_read", sc.kv, sc.act_bits)
    out_bits = np.where(kind == "kv_write", sc.kv, sc.act_bits)
    out["in_bytes"] = out["in_elems"] * in_bits / 8
    out["out_bytes"] = out["out_elems"] * out_bits / 8
    return OpTable(phase=phase, steps=steps, cols=out)


def _static(name: str, count: int, m: float, k: int, n: int, copies: int = 1, active: int = 1,
            bias: bool = False) -> dict:
    """A matmul against resident weights; a bias vector (n per matrix) is stored with the weights and adds one
    element op per output."""
    b = int(bias)
    return dict(name=name, kind="static_matmul", static=True, count=count, m=m, k=k, n=n, copies=copies,
                active=active, macs=count * m * k * n * active, weight_elems=count * (k + b) * n * copies,
                in_elems=count * m * k * active, out_elems=count * m * n * active,
                elem_ops=b * count * m * n * active)


def _elementwise(name: str, kind: str, count: int, elems: float, ops_per_elem: float = 1.0) -> dict:
    return dict(name=name, kind=kind, static=False, count=count, m=0, k=0, n=0, copies=0, active=0, macs=0,
                weight_elems=0, in_elems=count * elems, out_elems=count * elems,
                elem_ops=count * elems * ops_per_elem)


def _phase_rows(model: ModelConfig, sc: Scenario, phase: str) -> list[dict]:
    """Rows of one pass. prefill: the prompt (T = prompt_tokens); decode: one average step."""
    L, d, B = model.layers, model.hidden, sc.batch
    H, Hkv, hd = model.heads, model.kv_heads, model.hd
    if phase == "prefill":
        T = sc.prompt_tokens
        # keys each query attends to, on average over queries and layers: causal (T+1)/2, bidirectional T;
        # a sliding window caps each query's span (ModelConfig.mean_keys)
        keys = model.mean_keys(1, T) if model.arch == "decoder" else model.cached_tokens(T)
        kv_len_read = T          # K and V of the prompt are read once per layer
        new_tokens = T
    else:
        T = 1
        # mean context over steps 1..G (see WORKLOAD.md): step s attends to prompt + s keys, capped at the window
        keys = model.mean_keys(sc.prompt_tokens + 1, sc.prompt_tokens + sc.generate_tokens)
        kv_len_read = keys
        new_tokens = 1
    M = B * T
    E, Ek = model.experts, model.experts_per_token
    qb, b = model.bias or model.qkv_bias, model.bias
    rows = [
        _elementwise("embedding", "embedding", 1, M * d, 0),
        _static("q_proj", L, M, d, model.q_dim, bias=qb),
        _static("k_proj", L, M, d, model.kv_dim, bias=qb),
        _static("v_proj", L, M, d, model.kv_dim, bias=qb),
        _elementwise("kv_write", "kv_write", L, B * new_tokens * 2 * model.kv_dim, 0),
        _elementwise("kv_read", "kv_read", L, B * kv_len_read * 2 * model.kv_dim, 0),
    ]
    rows[0]["weight_elems"] = M * d  # table rows gathered
    for r in rows[-2:]:  # KV rows move data, they do not transform it
        if r["kind"] == "kv_write":
            r["in_elems"] = 0
        else:
            r["out_elems"] = 0
    if model.position == "learned":
        rows.append(_elementwise("position_add", "residual", 1, M * d))
    # attention: QK^T and S.V per (sequence, head): T queries x hd against `keys` keys
    qk_macs = L * B * H * T * keys * hd
    rows.append(dict(name="qk_scores", kind="dynamic_matmul", static=False, count=L, m=T, k=hd, n=keys,
                     copies=B * H, active=B * H, macs=qk_macs, weight_elems=L * B * Hkv * kv_len_read * hd,
                     in_elems=L * B * H * T * hd, out_elems=L * B * H * T * keys))
    if model.attn_softcap:  # c tanh(s / c): divide, tanh, multiply per score
        rows.append(_elementwise("attn_softcap", "softmax", L, B * H * T * keys, 3))
    rows.append(_elementwise("softmax", "softmax", L, B * H * T * keys, 5))  # max, sub, exp, sum, div
    rows.append(dict(name="score_v", kind="dynamic_matmul", static=False, count=L, m=T, k=keys, n=hd,
                     copies=B * H, active=B * H, macs=qk_macs, weight_elems=L * B * Hkv * kv_len_read * hd,
                     in_elems=L * B * H * T * keys, out_elems=L * B * H * T * hd))
    rows.append(_static("o_proj", L, M, model.q_dim, d, bias=b))
    norm_ops = 5 if model.norm == "layernorm" else 4  # mean/var or rms, scale, shift
    if model.norms_per_layer == 4:  # Gemma 2: the attention output is normalized before the residual add
        rows.append(_elementwise("norm_attn_post", "norm", L, M * d, norm_ops))
    rows.append(_elementwise("residual_attn", "residual", L, M * d))
    rows.append(_elementwise("norm_attn", "norm", L, M * d, norm_ops))
    if E > 1:
        rows.append(_static("router", L, M, d, E))
    gated = model.ffn == "gated"
    ffn_names = ("ffn_gate", "ffn_up", "ffn_down") if gated else ("ffn_up", "ffn_down")
    for nm in ffn_names[:-1]:
        rows.append(_static(nm, L, M, d, model.ffn_dim, copies=E, active=Ek, bias=b))
    rows.append(_elementwise("ffn_act", "activation", L, M * model.ffn_dim * Ek, 2 if gated else 1))
    rows.append(_static(ffn_names[-1], L, M, model.ffn_dim, d, copies=E, active=Ek, bias=b))
    if model.shared_ffn_dim:  # shared expert(s): one always-active FFN of the combined width
        fs = model.shared_ffn_dim
        for nm in ("shared_gate", "shared_up")[0 if gated else 1:]:
            rows.append(_static(nm, L, M, d, fs, bias=b))
        rows.append(_elementwise("shared_act", "activation", L, M * fs, 2 if gated else 1))
        rows.append(_static("shared_down", L, M, fs, d, bias=b))
        if model.shared_expert_gate:  # sigmoid(x . w) scales the shared output: 1 sigmoid + d products per token
            rows.append(_static("shared_expert_gate", L, M, d, 1))
            rows.append(_elementwise("shared_scale", "activation", L, M * (d + 1)))
        rows.append(_elementwise("shared_add", "residual", L, M * d))
    if model.norms_per_layer == 4:
        rows.append(_elementwise("norm_ffn_post", "norm", L, M * d, norm_ops))
    rows.append(_elementwise("residual_ffn", "residual", L, M * d))
    rows.append(_elementwise("norm_ffn", "norm", L, M * d, norm_ops))
    if model.arch == "decoder":
        rows.append(_elementwise("norm_final", "norm", 1, B * d, norm_ops))
        # logits only for the last position of each sequence (prefill) or the new token (decode)
        rows.append(_static("lm_head", 1, B, d, model.vocab))
        if model.logit_softcap:
            rows.append(_elementwise("logit_softcap", "activation", 1, B * model.vocab, 3))
    else:
        rows.append(_elementwise("norm_embed", "norm", 1, M * d, norm_ops))
        if model.pooler:
            rows.append(_static("pooler", 1, B, d, d, bias=True))
    return rows


def phases(model: ModelConfig) -> tuple[str, ...]:
    """Phases a model runs: encoders have no decode."""
    return ("prefill", "decode") if model.arch == "decoder" else ("prefill",)


def operator_table(model: ModelConfig, sc: Scenario, phase: str) -> OpTable:
    """The operators of one pass of `phase` ('prefill' or 'decode')."""
    if phase not in ("prefill", "decode"):
        raise UserError(unknown("phase", phase, ("prefill", "decode")), key="phase")
    if phase == "decode" and model.arch != "decoder":
        raise UserError(f"model '{model.name}' is an encoder and has no decode phase", key="phase")
    check_context(model, sc)
    steps = 1 if phase == "prefill" else sc.generate_tokens
    return _rows_to_table(phase, steps, _phase_rows(model, sc, phase), sc)


def fit_scenario(model: ModelConfig, sc: Scenario) -> Scenario:
    """The scenario as `model` runs it: an encoder generates nothing (generate_tokens 0, one prefill pass)."""
    if model.arch == "encoder" and sc.generate_tokens:
        return Scenario(**{**sc.to_dict(), "generate_tokens": 0})
    return sc


def check_context(model: ModelConfig, sc: Scenario) -> None:
    """Refuse a request longer than the model's context (max_position_embeddings): decoders need room for the
    prompt and every generated token, encoders for the prompt."""
    need = sc.prompt_tokens + (sc.generate_tokens if model.arch == "decoder" else 0)
    if need > model.max_context:
        what = (f"prompt_tokens + generate_tokens = {sc.prompt_tokens} + {sc.generate_tokens} = {need}"
                if model.arch == "decoder" else f"prompt_tokens = {need}")
        raise UserError(f"{what} exceeds the context of model '{model.name}' (max_context {model.max_context})",
                        key="prompt_tokens")


def workload_summary(model: ModelConfig, sc: Scenario) -> dict:
    """Per-phase totals (per pass and for the whole request batch) plus model facts."""
    p = model.param_counts()
    out = {
        "model": model.name,
        "params": p["total"],
        "active_params": p["active"],
        "kv_bytes_per_token": model.kv_bytes_per_token(sc.kv),
        "phases": {},
    }
    for ph in phases(model):
        t = operator_table(model, sc, ph)
        tot = t.totals()
        out["phases"][ph] = {"steps": t.steps, "per_pass": tot,
                             "total": {k: v * t.steps for k, v in tot.items()}}
    return out
