"""Loading a transformer: a preset by name, or a local Hugging Face config.json (llama, mistral, mixtral, qwen2,
qwen2_moe, phi3, gemma, gemma2, deepseek, gpt2, opt, bert field names). Never uses the network."""

from __future__ import annotations

import json
from pathlib import Path

from .errors import UserError, shown, unknown
from .workload import MODEL_FIELDS, ModelConfig, _preset_data, preset

_HF_FAMILIES = {
    "llama": "llama", "mistral": "mistral", "mixtral": "mixtral", "gpt2": "gpt2", "opt": "opt", "bert": "bert",
    "qwen2": "qwen2", "qwen2_moe": "qwen2_moe", "phi3": "phi3", "gemma": "gemma", "gemma2": "gemma2",
    "deepseek": "deepseek",
}


def _hf_act(name: str) -> str:
    name = str(name).lower()
    if "gelu" in name:
        return "gelu"
    if name in ("silu", "swish"):
        return "silu"
    if name == "relu":
        return "relu"
    raise UserError(f"unsupported activation '{name}'; expected gelu*, silu or relu", key="hidden_act")


# cimdse field -> the config.json key it came from, per model_type ("*": shared by llama, mistral, mixtral, opt, bert)
_HF_KEYS = {
    "*": {"layers": "num_hidden_layers", "hidden": "hidden_size", "heads": "num_attention_heads",
          "kv_heads": "num_key_value_heads", "ffn_dim": "intermediate_size", "vocab": "vocab_size",
          "max_context": "max_position_embeddings", "position_rows": "max_position_embeddings",
          "activation": "hidden_act", "tied_embeddings": "tie_word_embeddings", "bias": "attention_bias",
          "head_dim": "head_dim", "experts": "num_local_experts", "experts_per_token": "num_experts_per_tok",
          "type_vocab": "type_vocab_size", "sliding_window": "sliding_window", "global_layers": "max_window_layers",
          "shared_ffn_dim": "shared_expert_intermediate_size", "attn_softcap": "attn_logit_softcapping",
          "logit_softcap": "final_logit_softcapping"},
    "qwen2_moe": {"experts": "num_experts", "ffn_dim": "moe_intermediate_size"},
    "deepseek": {"experts": "n_routed_experts", "ffn_dim": "moe_intermediate_size",
                 "shared_ffn_dim": "n_shared_experts"},
    "gemma2": {"global_layers": "layer_types"},
    "gpt2": {"layers": "n_layer", "hidden": "n_embd", "heads": "n_head", "kv_heads": "n_head", "ffn_dim": "n_inner",
             "max_context": "n_positions", "position_rows": "n_positions", "activation": "activation_function",
             "head_dim": "n_head"},
    "opt": {"kv_heads": "num_attention_heads", "ffn_dim": "ffn_dim", "activation": "activation_function",
            "bias": "enable_bias", "head_dim": "num_attention_heads"},
    "bert": {"kv_heads": "num_attention_heads", "head_dim": "num_attention_heads"},
}


def read_json_object(path: Path, missing: str = "file not found", expected: str = "a JSON file") -> dict:
    """A JSON file whose top level is an object; every way it can fail is one UserError naming the file (config.json
    of a model here, and of a checkpoint in cimdse/accuracy)."""
    where = str(path)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(missing, file=where) from None
    except IsADirectoryError:
        raise UserError(f"is a directory; expected {expected}", file=where) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read file ({exc.__class__.__name__})", file=where) from None
    except json.JSONDecodeError as exc:
        raise UserError(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", file=where) from None
    except ValueError as exc:  # e.g. an integer longer than Python's 4300-digit conversion limit
        why = "a number with more than 4300 digits" if "digits" in str(exc) else shown(str(exc), 80)
        raise UserError(f"JSON value not readable: {why}", file=where) from None
    except RecursionError:
        raise UserError("JSON nested too deeply", file=where) from None
    if not isinstance(data, dict):
        raise UserError("expected a JSON object at the top level", file=where)
    return data


def model_from_hf_config(path: str | Path) -> ModelConfig:
    """Read a local Hugging Face config.json (Llama, Mistral, Mixtral, Qwen2, Qwen2-MoE, Phi-3, Gemma, Gemma 2,
    DeepSeek-MoE, GPT-2, OPT, BERT). No network."""
    path = Path(path)
    where = str(path)
    cfg = read_json_object(path, missing="file not found; expected a preset name or a config.json path",
                           expected="a config.json file")
    mtype = str(cfg.get("model_type", "")).lower()
    if mtype not in _HF_FAMILIES:
        raise UserError(unknown("model_type", mtype, _HF_FAMILIES), file=where, key="model_type")

    def need(key: str, *alts: str):
        for k in (key, *alts):
            if k in cfg and cfg[k] is not None:
                v = cfg[k]
                if isinstance(v, bool) or not isinstance(v, int):
                    raise UserError(f"expected an integer, got {shown(v)}", file=where, key=k)
                return v
        raise UserError("missing required field", file=where, key=key)

    try:
        if mtype == "gpt2":
            d = need("n_embd")
            m = dict(family="gpt2", arch="decoder", layers=need("n_layer"), hidden=d, heads=need("n_head"),
                     ffn="mlp", activation=_hf_act(cfg.get("activation_function", "gelu_new")),
                     ffn_dim=cfg.get("n_inner") or 4 * d, vocab=need("vocab_size"),
                     max_context=need("n_positions", "n_ctx"), position="learned",
                     tied_embeddings=cfg.get("tie_word_embeddings", True), norm="layernorm", bias=True)
            m["kv_heads"] = m["heads"]
            m["position_rows"] = m["max_context"]
        elif mtype == "opt":
            d = need("hidden_size")
            if cfg.get("word_embed_proj_dim", d) != d:
                raise UserError("word_embed_proj_dim different from hidden_size is not supported",
                                file=where, key="word_embed_proj_dim")
            ctx = need("max_position_embeddings")
            m = dict(family="opt", arch="decoder", layers=need("num_hidden_layers"), hidden=d,
                     heads=need("num_attention_heads"), ffn="mlp",
                     activation=_hf_act(cfg.get("activation_function", "relu")), ffn_dim=need("ffn_dim"),
                     vocab=need("vocab_size"), max_context=ctx, position="learned", position_rows=ctx + 2,
                     tied_embeddings=cfg.get("tie_word_embeddings", True), norm="layernorm",
                     bias=cfg.get("enable_bias", True))
            m["kv_heads"] = m["heads"]
        elif mtype == "bert":
            ctx = need("max_position_embeddings")
            m = dict(family="bert", arch="encoder", layers=need("num_hidden_layers"), hidden=need("hidden_size"),
                     heads=need("num_attention_heads"), ffn="mlp", activation=_hf_act(cfg.get("hidden_act", "gelu")),
                     ffn_dim=need("intermediate_size"), vocab=need("vocab_size"), max_context=ctx,
                     position="learned", position_rows=ctx, type_vocab=cfg.get("type_vocab_size", 2),
                     pooler=True, tied_embeddings=True, norm="layernorm", bias=True)
            m["kv_heads"] = m["heads"]
        else:  # llama and its relatives: rotary, RMSNorm, gated FFN
            m = _llama_like(cfg, mtype, need, where)
        m["source"] = f"Hugging Face config {where}"
        return ModelConfig(name=path.parent.name or path.stem, **m)
    except UserError as err:  # name the config.json key the user wrote, not cimdse's field
        hf_key = _HF_KEYS.get(mtype, {}).get(err.key or "", _HF_KEYS["*"].get(err.key or "", err.key))
        raise UserError(err.detail, file=where, key=hf_key if err.key in MODEL_FIELDS else err.key) from None


def _llama_like(cfg: dict, mtype: str, need, where: str) -> dict:
    """Fields of a llama-like config.json (llama, mistral, mixtral, qwen2, qwen2_moe, phi3, gemma, gemma2, deepseek).

    Hugging Face defaults where a key is absent: tie_word_embeddings false (gemma: true), no biases (qwen2: q, k, v
    biases), hidden_act silu (gemma: gelu_pytorch_tanh)."""
    heads = need("num_attention_heads")
    gemma = mtype in ("gemma", "gemma2")
    act = cfg.get("hidden_activation") or cfg.get("hidden_act") or ("gelu" if gemma else "silu")
    m = dict(family=_HF_FAMILIES[mtype], arch="decoder", layers=need("num_hidden_layers"),
             hidden=need("hidden_size"), heads=heads, kv_heads=cfg.get("num_key_value_heads") or heads, ffn="gated",
             activation=_hf_act(act), ffn_dim=need("intermediate_size"), vocab=need("vocab_size"),
             max_context=need("max_position_embeddings"), position="rotary",
             tied_embeddings=cfg.get("tie_word_embeddings", gemma), norm="rmsnorm",
             bias=bool(cfg.get("attention_bias", False)) and mtype != "qwen2" and mtype != "qwen2_moe",
             qkv_bias=mtype in ("qwen2", "qwen2_moe"), head_dim=cfg.get("head_dim") or 0)
    if mtype == "mixtral":
        m["experts"] = need("num_local_experts")
        m["experts_per_token"] = need("num_experts_per_tok")
    elif mtype == "qwen2_moe":
        if cfg.get("mlp_only_layers") or cfg.get("decoder_sparse_step", 1) != 1:
            raise UserError("dense layers between MoE layers (mlp_only_layers, decoder_sparse_step != 1) are not "
                            "modelled; every layer must be an MoE layer", file=where, key="decoder_sparse_step")
        m.update(experts=need("num_experts"), experts_per_token=need("num_experts_per_tok"),
                 ffn_dim=need("moe_intermediate_size"),
                 shared_ffn_dim=cfg.get("shared_expert_intermediate_size") or 0)
        m["shared_expert_gate"] = m["shared_ffn_dim"] > 0  # Qwen2MoeSparseMoeBlock.shared_expert_gate
    elif mtype == "deepseek":  # DeepSeek-MoE: n_shared_experts always-active experts of moe_intermediate_size
        if cfg.get("first_k_dense_replace", 0) or cfg.get("moe_layer_freq", 1) != 1:
            raise UserError(f"first_k_dense_replace {cfg.get('first_k_dense_replace')}: dense layers before the "
                            "MoE layers are not modelled; every layer must be an MoE layer (first_k_dense_replace 0, "
                            "moe_layer_freq 1)", file=where, key="first_k_dense_replace")
        width = need("moe_intermediate_size")
        m.update(experts=need("n_routed_experts"), experts_per_token=need("num_experts_per_tok"), ffn_dim=width,
                 shared_ffn_dim=width * (cfg.get("n_shared_experts") or 0))
    # sliding-window attention: mistral, phi3, gemma2; qwen2 only with use_sliding_window, and then only the
    # layers from max_window_layers on (Qwen2Attention); gemma2 alternates windowed and full layers
    window = cfg.get("sliding_window")
    if mtype in ("qwen2", "qwen2_moe") and not cfg.get("use_sliding_window", False):
        window = None
    if window is not None:
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise UserError(f"expected a positive integer or null, got {shown(window)}", file=where,
                            key="sliding_window")
        m["sliding_window"] = window
        if mtype in ("qwen2", "qwen2_moe"):
            m["global_layers"] = min(cfg.get("max_window_layers", 0) or 0, m["layers"])
        elif mtype == "gemma2":
            types = cfg.get("layer_types")
            if isinstance(types, list):
                m["global_layers"] = sum(t != "sliding_attention" for t in types)
            else:  # Gemma2DecoderLayer: even layers (0, 2, ...) slide, odd ones attend to everything
                m["global_layers"] = m["layers"] // 2
    if mtype == "gemma2":
        m.update(norms_per_layer=4, attn_softcap=cfg.get("attn_logit_softcapping") or 0.0,
                 logit_softcap=cfg.get("final_logit_softcapping") or 0.0)
    return m


def load_model(spec: str | Path) -> ModelConfig:
    """A preset name, or the path of a local config.json."""
    spec = str(spec)
    if spec in _preset_data():
        return preset(spec)
    if spec.endswith(".json") or Path(spec).exists() or "/" in spec:
        return model_from_hf_config(spec)
    raise UserError(unknown("model", spec, _preset_data()) + " or a path to a config.json", key="model")
