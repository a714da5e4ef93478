"""Load a local Hugging Face checkpoint folder (config.json, safetensors weights, tokenizer.json). No network.

Architectures: the llama family (model_type llama, mistral, qwen2) and gpt2. Every weight is returned as float32
in one canonical layout, (out_features, in_features) like torch.nn.Linear, under names that follow the
workload's operator names (q_proj, k_proj, v_proj, o_proj, ffn_gate, ffn_up, ffn_down, lm_head), so the forward
pass and the error model speak of the same matrices. Every failure is a one-line UserError naming the file.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UserError, shown, unknown

ARCHITECTURES = ("llama", "mistral", "qwen2", "gpt2")
CONFIG = "config.json"
SINGLE = "model.safetensors"
INDEX = "model.safetensors.index.json"
TOKENIZER = "tokenizer.json"
ROPE_TYPES = ("default", "linear", "llama3")


def require_packages() -> None:
    """Raise a one-line UserError when the optional `accuracy` extra (safetensors, tokenizers) is missing."""
    missing = []
    for mod in ("safetensors", "tokenizers"):
        try:
            __import__(mod)
        except ImportError:
            missing.append(mod)
    if missing:
        raise UserError(f"needs the Python package(s) {', '.join(missing)}: pip install -e '.[accuracy]' "
                        "(or pip install safetensors tokenizers)", key="cimdse accuracy")


@dataclass(frozen=True)
class ArchConfig:
    """What the numpy forward pass needs to know about a checkpoint's architecture (from config.json)."""

    model_type: str
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn_dim: int
    vocab: int
    max_positions: int
    norm: str                   # rmsnorm (llama family) or layernorm (gpt2)
    norm_eps: float
    activation: str             # silu, gelu, gelu_tanh, relu
    tied_embeddings: bool
    rope_theta: float = 10000.0
    rope_scaling: dict = field(default_factory=dict)
    sliding_window: int = 0     # 0 = full causal attention

    @property
    def family(self) -> str:
        """gpt2 or llama (mistral and qwen2 are llama-shaped)."""
        return "gpt2" if self.model_type == "gpt2" else "llama"

    @property
    def q_dim(self) -> int:
        return self.heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    def static_matmuls(self) -> tuple[str, ...]:
        """Names of the static matmuls of one layer, in the order the forward pass runs them."""
        ffn = ("ffn_gate", "ffn_up", "ffn_down") if self.family == "llama" else ("ffn_up", "ffn_down")
        return ("q_proj", "k_proj", "v_proj", "o_proj", *ffn)


@dataclass
class Checkpoint:
    """A loaded checkpoint: architecture, float32 weights by canonical name, and the tokenizer."""

    path: Path
    config: ArchConfig
    weights: dict[str, np.ndarray]
    tokenizer: object  # tokenizers.Tokenizer

    @property
    def name(self) -> str:
        return self.path.name


# ------------------------------------------------------------------------------------------------- config

def _read_json(path: Path) -> dict:
    from ..models import read_json_object

    return read_json_object(path)


def _int(cfg: dict, where: str, *keys: str, default: int | None = None, low: int = 1) -> int:
    """The first of `keys` present in cfg, as a positive integer."""
    for k in keys:
        if cfg.get(k) is not None:
            v = cfg[k]
            if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= 2**31 - 1:
                raise UserError(f"expected an integer >= {low}, got {shown(v)}", file=where, key=k)
            return v
    if default is None:
        raise UserError("missing required field", file=where, key=keys[0])
    return default


def _float(cfg: dict, where: str, key: str, default: float) -> float:
    v = cfg.get(key, default)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
        raise UserError(f"expected a positive number, got {shown(v)}", file=where, key=key)
    return float(v)


def _activation(name, where: str, key: str) -> str:
    name = str(name).lower()
    if name in ("silu", "swish"):
        return "silu"
    if name in ("gelu_new", "gelu_pytorch_tanh", "gelu_fast", "gelu_tanh"):
        return "gelu_tanh"
    if name == "gelu":
        return "gelu"
    if name == "relu":
        return "relu"
    raise UserError(f"unsupported activation {shown(name)}; expected silu, gelu, gelu_new or relu", file=where,
                    key=key)


def _rope_scaling(cfg: dict, where: str) -> dict:
    rs = cfg.get("rope_scaling")
    if rs is None:
        return {}
    if not isinstance(rs, dict):
        raise UserError(f"expected a mapping or null, got {shown(rs)}", file=where, key="rope_scaling")
    kind = str(rs.get("rope_type", rs.get("type", "default")))
    if kind not in ROPE_TYPES:
        raise UserError(unknown("rope_scaling type", kind, ROPE_TYPES), file=where, key="rope_scaling.rope_type")
    out = {"rope_type": kind}
    for k, dflt in (("factor", 1.0), ("low_freq_factor", 1.0), ("high_freq_factor", 4.0),
                    ("original_max_position_embeddings", 8192)):
        out[k] = _float(rs, where + ": rope_scaling", k, dflt)
    if kind == "llama3" and out["high_freq_factor"] <= out["low_freq_factor"]:
        raise UserError("expected high_freq_factor > low_freq_factor", file=where, key="rope_scaling")
    return out


def read_config(path: str | Path) -> ArchConfig:
    """An ArchConfig from a checkpoint's config.json (llama, mistral, qwen2 or gpt2)."""
    path = Path(path)
    where = str(path)
    cfg = _read_json(path)
    mtype = str(cfg.get("model_type", "")).lower()
    if mtype not in ARCHITECTURES:
        raise UserError(unknown("model_type", mtype, ARCHITECTURES), file=where, key="model_type")
    if mtype == "gpt2":
        d = _int(cfg, where, "n_embd")
        heads = _int(cfg, where, "n_head")
        if d % heads:
            raise UserError(f"n_embd ({d}) is not divisible by n_head ({heads})", file=where, key="n_head")
        ac = ArchConfig(model_type=mtype, layers=_int(cfg, where, "n_layer"), hidden=d, heads=heads, kv_heads=heads,
                        head_dim=d // heads, ffn_dim=_int(cfg, where, "n_inner", default=4 * d),
                        vocab=_int(cfg, where, "vocab_size"), max_positions=_int(cfg, where, "n_positions", "n_ctx"),
                        norm="layernorm", norm_eps=_float(cfg, where, "layer_norm_epsilon", 1e-5),
                        activation=_activation(cfg.get("activation_function", "gelu_new"), where,
                                               "activation_function"),
                        tied_embeddings=bool(cfg.get("tie_word_embeddings", True)))
    else:
        d = _int(cfg, where, "hidden_size")
        heads = _int(cfg, where, "num_attention_heads")
        kv = _int(cfg, where, "num_key_value_heads", default=heads)
        if heads % kv:
            raise UserError(f"num_attention_heads ({heads}) is not a multiple of num_key_value_heads ({kv})",
                            file=where, key="num_key_value_heads")
        if cfg.get("head_dim") is None and d % heads:
            raise UserError(f"hidden_size ({d}) is not divisible by num_attention_heads ({heads})", file=where,
                            key="num_attention_heads")
        hd = _int(cfg, where, "head_dim", default=d // heads)
        if hd % 2:
            raise UserError(f"expected an even head dimension for rotary embeddings, got {hd}", file=where,
                            key="head_dim")
        if float(cfg.get("partial_rotary_factor", 1.0) or 1.0) != 1.0:
            raise UserError("partial rotary embeddings are not supported; expected 1.0", file=where,
                            key="partial_rotary_factor")
        window = cfg.get("sliding_window") if (mtype == "mistral" or cfg.get("use_sliding_window")) else None
        ac = ArchConfig(model_type=mtype, layers=_int(cfg, where, "num_hidden_layers"), hidden=d, heads=heads,
                        kv_heads=kv, head_dim=hd, ffn_dim=_int(cfg, where, "intermediate_size"),
                        vocab=_int(cfg, where, "vocab_size"),
                        max_positions=_int(cfg, where, "max_position_embeddings", default=2**31 - 1),
                        norm="rmsnorm", norm_eps=_float(cfg, where, "rms_norm_eps", 1e-6),
                        activation=_activation(cfg.get("hidden_act", "silu"), where, "hidden_act"),
                        tied_embeddings=bool(cfg.get("tie_word_embeddings", False)),
                        rope_theta=_float(cfg, where, "rope_theta", 10000.0), rope_scaling=_rope_scaling(cfg, where),
                        sliding_window=_int({"sliding_window": window}, where, "sliding_window", default=0))
        if mtype == "llama" and cfg.get("mlp_bias"):
            raise UserError("mlp_bias is not supported; expected false", file=where, key="mlp_bias")
    return ac


# -------------------------------------------------------------------------------------- tensor names/shapes

def expected_tensors(c: ArchConfig) -> dict[str, tuple[str, tuple[int, ...], bool]]:
    """canonical name -> (name in the checkpoint, shape in the checkpoint, transposed on load).

    GPT-2 stores its linear layers as Conv1D, (in, out); they are transposed to (out, in) on load. Its fused
    c_attn (d, 3d) is split into q_proj, k_proj and v_proj after loading (see _split_gpt2_qkv)."""
    d, f, V = c.hidden, c.ffn_dim, c.vocab
    out: dict[str, tuple[str, tuple[int, ...], bool]] = {}
    if c.family == "gpt2":
        out["embed"] = ("wte.weight", (V, d), False)
        out["pos_embed"] = ("wpe.weight", (c.max_positions, d), False)
        for i in range(c.layers):
            p = f"h.{i}."
            for nm, src, shape, t in (
                    ("norm_attn.weight", "ln_1.weight", (d,), False), ("norm_attn.bias", "ln_1.bias", (d,), False),
                    ("qkv_proj.weight", "attn.c_attn.weight", (d, 3 * d), True),
                    ("qkv_proj.bias", "attn.c_attn.bias", (3 * d,), False),
                    ("o_proj.weight", "attn.c_proj.weight", (d, d), True), ("o_proj.bias", "attn.c_proj.bias", (d,), False),
                    ("norm_ffn.weight", "ln_2.weight", (d,), False), ("norm_ffn.bias", "ln_2.bias", (d,), False),
                    ("ffn_up.weight", "mlp.c_fc.weight", (d, f), True), ("ffn_up.bias", "mlp.c_fc.bias", (f,), False),
                    ("ffn_down.weight", "mlp.c_proj.weight", (f, d), True),
                    ("ffn_down.bias", "mlp.c_proj.bias", (d,), False)):
                out[f"layers.{i}.{nm}"] = (p + src, shape, t)
        out["norm_final.weight"] = ("ln_f.weight", (d,), False)
        out["norm_final.bias"] = ("ln_f.bias", (d,), False)
        if not c.tied_embeddings:
            out["lm_head.weight"] = ("lm_head.weight", (V, d), False)
        return out
    out["embed"] = ("model.embed_tokens.weight", (V, d), False)
    qkv_bias = c.model_type == "qwen2"
    for i in range(c.layers):
        p = f"model.layers.{i}."
        specs = [("norm_attn.weight", "input_layernorm.weight", (d,)),
                 ("q_proj.weight", "self_attn.q_proj.weight", (c.q_dim, d)),
                 ("k_proj.weight", "self_attn.k_proj.weight", (c.kv_dim, d)),
                 ("v_proj.weight", "self_attn.v_proj.weight", (c.kv_dim, d)),
                 ("o_proj.weight", "self_attn.o_proj.weight", (d, c.q_dim)),
                 ("norm_ffn.weight", "post_attention_layernorm.weight", (d,)),
                 ("ffn_gate.weight", "mlp.gate_proj.weight", (f, d)),
                 ("ffn_up.weight", "mlp.up_proj.weight", (f, d)),
                 ("ffn_down.weight", "mlp.down_proj.weight", (d, f))]
        if qkv_bias:
            specs += [("q_proj.bias", "self_attn.q_proj.bias", (c.q_dim,)),
                      ("k_proj.bias", "self_attn.k_proj.bias", (c.kv_dim,)),
                      ("v_proj.bias", "self_attn.v_proj.bias", (c.kv_dim,))]
        for nm, src, shape in specs:
            out[f"layers.{i}.{nm}"] = (p + src, shape, False)
    out["norm_final.weight"] = ("model.norm.weight", (d,), False)
    if not c.tied_embeddings:
        out["lm_head.weight"] = ("lm_head.weight", (V, d), False)
    return out


OPTIONAL_BIASES = ("self_attn.q_proj.bias", "self_attn.k_proj.bias", "self_attn.v_proj.bias", "self_attn.o_proj.bias")


# ------------------------------------------------------------------------------------------ safetensors

def _weight_files(folder: Path) -> list[Path]:
    """The safetensors files of a checkpoint: model.safetensors, or the shards its index names."""
    single, index = folder / SINGLE, folder / INDEX
    if index.is_file():
        data = _read_json(index)
        wm = data.get("weight_map")
        if not isinstance(wm, dict) or not wm or not all(isinstance(v, str) for v in wm.values()):
            raise UserError("expected a non-empty 'weight_map' of tensor name -> file name", file=str(index),
                            key="weight_map")
        files = []
        for name in dict.fromkeys(wm.values()):
            p = folder / name
            if Path(name).name != name or not p.is_file():
                raise UserError(f"shard {shown(name)} named in the index is not a file in {folder}", file=str(index),
                                key="weight_map")
            files.append(p)
        return files
    if single.is_file():
        return [single]
    extra = " (only PyTorch .bin weights found; convert them to safetensors)" if any(folder.glob("*.bin")) else ""
    raise UserError(f"no {SINGLE} and no {INDEX}{extra}", file=str(folder))


def _header(path: Path) -> dict:
    """The JSON header of a safetensors file (8-byte little-endian length, then JSON; the format's spec:
    github.com/huggingface/safetensors, README 'Format'). Used for dtypes numpy lacks (bfloat16)."""
    with path.open("rb") as fh:
        n = struct.unpack("<Q", fh.read(8))[0]
        return json.loads(fh.read(n)), 8 + n


def _read_bf16(path: Path, name: str) -> np.ndarray:
    """A bfloat16 tensor as float32: the 16 stored bits are the high half of a float32."""
    header, start = _header(path)
    meta = header[name]
    b0, b1 = meta["data_offsets"]
    raw = np.fromfile(path, dtype="<u2", count=(b1 - b0) // 2, offset=start + b0)
    return (raw.astype(np.uint32) << 16).view(np.float32).reshape(meta["shape"])


def load_tensors(folder: Path, wanted: dict[str, tuple[str, tuple[int, ...], bool]]) -> dict[str, np.ndarray]:
    """Read the wanted tensors (canonical -> (stored name, shape, transpose)) as float32, checking shapes."""
    from safetensors import SafetensorError, safe_open

    by_stored = {src: (canon, shape, t) for canon, (src, shape, t) in wanted.items()}
    bias_sizes = {nm: wanted[k][1][0] for nm in ("q_proj", "k_proj", "v_proj", "o_proj")
                  if (k := f"layers.0.{nm}.weight") in wanted}  # llama family only
    found: dict[str, np.ndarray] = {}
    for path in _weight_files(folder):
        where = str(path)
        try:
            with safe_open(str(path), framework="np") as fh:
                for key in fh.keys():
                    stored = key.removeprefix("transformer.")  # GPT2LMHeadModel saves under "transformer."
                    optional = stored.split(".", 3)[-1] in OPTIONAL_BIASES and bool(bias_sizes)
                    if stored not in by_stored and not optional:
                        continue
                    sl = fh.get_slice(key)
                    shape = tuple(sl.get_shape())
                    if stored in by_stored:
                        canon, want, transpose = by_stored[stored]
                    else:  # a llama attention_bias=true checkpoint: biases of q, k, v and o
                        proj = stored.split(".")[-2]
                        canon, transpose = f"layers.{stored.split('.')[2]}.{proj}.bias", False
                        want = (bias_sizes[proj],)
                    if shape != want:
                        raise UserError(f"tensor {key} has shape {list(shape)}, config.json implies {list(want)}",
                                        file=where)
                    arr = _tensor(fh, sl, key, path)
                    found[canon] = np.ascontiguousarray(arr.T) if transpose else arr
        except SafetensorError as exc:
            raise UserError(f"not a readable safetensors file ({' '.join(str(exc).split())})", file=where) from None
        except (OSError, ValueError, KeyError, struct.error) as exc:
            raise UserError(f"cannot read tensors ({exc.__class__.__name__}: {shown(str(exc), 80)})",
                            file=where) from None
    missing = [src for canon, (src, _, _) in wanted.items() if canon not in found]
    if missing:
        raise UserError(f"tensor {missing[0]} is missing ({len(missing)} missing in all)", file=str(folder))
    return found


def _tensor(fh, sl, key: str, path: Path) -> np.ndarray:
    if sl.get_dtype() == "BF16":
        arr = _read_bf16(path, key)
    else:
        arr = fh.get_tensor(key)
    if arr.dtype.kind != "f":
        raise UserError(f"tensor {key} has dtype {arr.dtype}; expected floating point", file=str(path))
    arr = arr.astype(np.float32, copy=False)
    if not np.isfinite(arr).all():
        raise UserError(f"tensor {key} holds NaN or infinite values", file=str(path))
    return arr


def _split_gpt2_qkv(w: dict[str, np.ndarray], c: ArchConfig) -> None:
    """GPT-2's fused c_attn, (3d, d) after transposing, into q_proj, k_proj, v_proj (in that order)."""
    d = c.hidden
    for i in range(c.layers):
        p = f"layers.{i}."
        W, b = w.pop(p + "qkv_proj.weight"), w.pop(p + "qkv_proj.bias")
        for j, nm in enumerate(("q_proj", "k_proj", "v_proj")):
            w[p + nm + ".weight"] = np.ascontiguousarray(W[j * d:(j + 1) * d])
            w[p + nm + ".bias"] = b[j * d:(j + 1) * d]


# ---------------------------------------------------------------------------------------------- tokenizer

def load_tokenizer(folder: Path):
    from tokenizers import Tokenizer

    path = folder / TOKENIZER
    if not path.is_file():
        raise UserError("file not found (the fast-tokenizer file of the checkpoint)", file=str(path))
    try:
        return Tokenizer.from_file(str(path))
    except Exception as exc:  # noqa: BLE001 (tokenizers raises plain Exception subclasses from Rust)
        raise UserError(f"not a readable tokenizer ({shown(' '.join(str(exc).split()), 100)})",
                        file=str(path)) from None


def load_checkpoint(folder: str | Path) -> Checkpoint:
    """Load config.json, the safetensors weights (single or sharded) and tokenizer.json of a local folder."""
    require_packages()
    folder = Path(folder)
    if not folder.exists():
        raise UserError("checkpoint folder not found", file=str(folder))
    if not folder.is_dir():
        raise UserError("expected a checkpoint folder (config.json, *.safetensors, tokenizer.json)", file=str(folder))
    config = read_config(folder / CONFIG)
    weights = load_tensors(folder, expected_tensors(config))
    if config.family == "gpt2":
        _split_gpt2_qkv(weights, config)
    tok = load_tokenizer(folder)
    n_tok = tok.get_vocab_size(with_added_tokens=True)
    if n_tok > config.vocab:
        raise UserError(f"tokenizer has {n_tok} tokens, more than vocab_size {config.vocab} in config.json",
                        file=str(folder / TOKENIZER))
    return Checkpoint(path=folder, config=config, weights=weights, tokenizer=tok)


def tokenize(ck: Checkpoint, text_path: str | Path, tokens: int) -> np.ndarray:
    """The first `tokens` token ids of a UTF-8 text file (at least 2, to score one next-token prediction)."""
    path = Path(text_path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError("file not found", file=str(path), key="--text") from None
    except IsADirectoryError:
        raise UserError("is a directory; expected a text file", file=str(path), key="--text") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read as UTF-8 text ({exc.__class__.__name__})", file=str(path), key="--text") from None
    limit = min(tokens, ck.config.max_positions) if ck.config.family == "gpt2" else tokens
    ids = np.asarray(ck.tokenizer.encode(text).ids[:limit], dtype=np.int64)
    if len(ids) < 2:
        raise UserError(f"the text gives {len(ids)} token(s); perplexity needs at least 2", file=str(path),
                        key="--text")
    if ids.max() >= ck.config.vocab:
        raise UserError(f"token id {int(ids.max())} is outside vocab_size {ck.config.vocab}", file=str(path),
                        key="--text")
    return ids
