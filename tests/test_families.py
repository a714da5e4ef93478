"""Model families beyond Llama/GPT-2/BERT: Qwen2 (QKV biases), Qwen2-MoE and DeepSeek (shared experts), Phi-3,
Gemma and Gemma 2 (head_dim apart from hidden/heads, GeGLU, softcaps, alternating sliding windows), and the
context-length check."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from cimdse.cli import main
from cimdse.cost.gpu import memory_need_bytes
from cimdse.errors import UserError
from cimdse.models import model_from_hf_config
from cimdse.workload import Scenario, operator_table, preset

NEW = ["qwen2-7b", "qwen1.5-moe-a2.7b", "phi-3-mini", "gemma-2b", "gemma-2-2b"]


def test_published_totals_exactly():
    # Qwen2-7B (Qwen2 report Table 1; the 7,615,616,512 of the checkpoint): embeddings 152064 x 3584 twice (untied)
    # = 1,089,994,752; per layer q,o 3584^2 each, k,v 3584 x 512 each, q/k/v biases 3584 + 2 x 512, gated FFN
    # 3 x 3584 x 18944, two RMSNorms 2 x 3584: 233,057,792 x 28 = 6,525,618,176; final norm 3584.
    assert preset("qwen2-7b").param_counts()["total"] == 7_615_616_512
    # Gemma-2B: embeddings 256000 x 2048 (tied) = 524,288,000; per layer q,o 2048 x 2048, k,v 2048 x 256 (one KV
    # head of 256), FFN 3 x 2048 x 16384, norms 2 x 2048: 110,104,576 x 18 = 1,981,882,368; final norm 2048.
    assert preset("gemma-2b").param_counts()["total"] == 2_506_172_416
    # Phi-3-mini: embeddings and LM head 32064 x 3072 each = 197,001,216; per layer 4 x 3072^2 + 3 x 3072 x 8192
    # + 2 x 3072 = 113,252,352 x 32 = 3,624,075,264; final norm 3072.
    assert preset("phi-3-mini").param_counts()["total"] == 3_821_079_552


def test_moe_and_gemma2_totals():
    p = preset("qwen1.5-moe-a2.7b").param_counts()
    # per layer: attention 4 x 2048^2 + 3 x 2048 biases = 16,783,360; router 2048 x 60; 60 experts of
    # 3 x 2048 x 1408 = 8,650,752; shared expert 3 x 2048 x 5632 = 34,603,008 and its gate 2048; norms 4096
    # -> 570,560,512 x 24 + untied embeddings 2 x 151936 x 2048 + final norm 2048 (published: 14.3B, 2.7B active)
    assert p["total"] == 570_560_512 * 24 + 2 * 151936 * 2048 + 2048 == 14_315_784_192
    # active: 4 of the 60 experts: 86,118,400 per layer
    assert p["active"] == 86_118_400 * 24 + 2 * 151936 * 2048 + 2048 == 2_689_173_504
    # Gemma-2-2B: per layer q,o 2304 x 2048, k,v 2304 x 1024, FFN 3 x 2304 x 9216, FOUR norms 4 x 2304
    assert preset("gemma-2-2b").param_counts()["total"] == 26 * 77_865_984 + 256000 * 2304 + 2304 == 2_614_341_888


@pytest.mark.parametrize("name", NEW)
def test_hf_import_matches_preset(hf_dir, name):
    imported = model_from_hf_config(hf_dir / name / "config.json")
    ref = preset(name)
    assert imported.param_counts() == ref.param_counts()
    for f in ("sliding_window", "global_layers", "qkv_bias", "shared_ffn_dim", "shared_expert_gate", "head_dim",
              "norms_per_layer", "attn_softcap", "logit_softcap", "activation", "tied_embeddings"):
        assert getattr(imported, f) == getattr(ref, f), f
    sc = Scenario(batch=2, prompt_tokens=33, generate_tokens=5)
    for ph in ("prefill", "decode"):
        assert operator_table(imported, sc, ph).totals() == operator_table(ref, sc, ph).totals()


def test_qkv_bias_rows():
    m, sc = preset("qwen2-7b"), Scenario(batch=1, prompt_tokens=10, generate_tokens=2)
    t = operator_table(m, sc, "prefill")
    row = {str(n): i for i, n in enumerate(t.cols["name"])}
    # q_proj stores 3584 x 3584 weights plus 3584 biases per layer; one add per output: 10 tokens x 3584 x 28
    assert t.cols["weight_elems"][row["q_proj"]] == 28 * (3584 + 1) * 3584
    assert t.cols["elem_ops"][row["q_proj"]] == 28 * 10 * 3584
    assert t.cols["elem_ops"][row["k_proj"]] == 28 * 10 * 512
    assert t.cols["elem_ops"][row["o_proj"]] == 0          # Qwen2's o_proj has no bias
    assert t.cols["weight_elems"][row["o_proj"]] == 28 * 3584 * 3584


def test_bias_adds_of_gpt2_by_hand():
    m, sc = preset("gpt2"), Scenario(batch=1, prompt_tokens=7, generate_tokens=1)
    t = operator_table(m, sc, "prefill")
    st = t.select(kind="static_matmul")
    # biases on q, k, v, o (d each), ffn_up (4d) and ffn_down (d): 9d adds per token and layer; lm_head none
    assert t.total("elem_ops", st) == 12 * 7 * 9 * 768


def test_sliding_window_keys_by_hand():
    m = preset("mistral-7b")  # window 4096 in every layer
    assert m.mean_keys(1, 10) == 5.5                    # below the window: causal (T + 1) / 2
    # window 4 over positions 1..10: 1 + 2 + 3 + 4 + 6 x 4 = 34 keys over 10 queries
    small = type(m)(**{**m.to_dict(), "sliding_window": 4})
    assert small.mean_keys(1, 10) == pytest.approx(3.4)
    # decode after a 6000-token prompt: every step attends to the last 4096 tokens only
    t = operator_table(m, Scenario(prompt_tokens=6000, generate_tokens=8), "decode")
    assert t.cols["n"][t.select(name="qk_scores")][0] == 4096
    # its KV cache holds 4096 tokens, not 6008: the GPU memory need is the same at 6000 and 12000 prompt tokens
    a = memory_need_bytes(m, Scenario(prompt_tokens=6000, generate_tokens=8))[1]
    b = memory_need_bytes(m, Scenario(prompt_tokens=12000, generate_tokens=8))[1]
    assert a == b == 4096 * m.kv_bytes_per_token(8)


def test_gemma2_alternating_layers():
    m = preset("gemma-2-2b")
    assert (m.windowed_layers, m.global_layers) == (13, 13)
    # decode steps 6001..6002: global layers see 6001.5 keys on average, windowed ones 4096
    t = operator_table(m, Scenario(prompt_tokens=6000, generate_tokens=2), "decode")
    assert t.cols["n"][t.select(name="qk_scores")][0] == pytest.approx((6001.5 + 4096) / 2)
    assert m.cached_tokens(8000) == (8000 + 4096) / 2
    # softcapping: 3 extra ops per score (attention) and per logit (LM head); four norms per layer
    names = set(map(str, t.cols["name"]))
    assert {"attn_softcap", "logit_softcap", "norm_attn_post", "norm_ffn_post"} <= names
    cap = t.select(name="logit_softcap")
    assert t.total("elem_ops", cap) == 3 * 256000


def test_shared_expert_macs_equal_active_weights():
    m, sc = preset("qwen1.5-moe-a2.7b"), Scenario(batch=1, prompt_tokens=16, generate_tokens=4)
    t = operator_table(m, sc, "decode")
    p = m.param_counts()
    # one decode token multiplies every active weight once: active params minus the embedding table, the norms
    # and the q/k/v biases (adds, not MACs)
    biases = 24 * 3 * 2048
    assert t.totals()["static_macs"] == p["active"] - p["embedding"] - p["norms"] - biases
    assert {"shared_gate", "shared_up", "shared_down", "shared_expert_gate"} <= set(map(str, t.cols["name"]))


def test_cost_model_and_gpu_price_new_families():
    from cimdse import evaluate, gpu_metrics

    sc = Scenario(prompt_tokens=64, generate_tokens=8)
    for name in NEW:
        r = evaluate({"device": "rram", "rows": 256, "cols": 256}, model=name, scenario=sc)
        assert np.isfinite(r["tpot_ms"][0]) and r["tpot_ms"][0] > 0, name
        g = gpu_metrics("h100-sxm", None, preset(name), sc)["metrics"]
        assert np.isfinite(g["tpot_ms"]) and g["tpot_ms"] > 0, name


def test_context_limit_names_both_numbers():
    with pytest.raises(UserError, match=r"4000 \+ 128 = 4128 exceeds the context .*max_context 4096"):
        operator_table(preset("phi-3-mini"), Scenario(prompt_tokens=4000, generate_tokens=128), "prefill")
    operator_table(preset("phi-3-mini"), Scenario(prompt_tokens=3968, generate_tokens=128), "prefill")
    r = CliRunner().invoke(main, ["workload", "llama-2-7b", "--prompt-tokens", "32768"])
    assert r.exit_code == 2 and "32768 + 128 = 32896" in r.stderr and "4096" in r.stderr
    assert len(r.stderr.splitlines()) == 1


def test_deepseek_shared_experts(tmp_path):
    cfg = {"model_type": "deepseek", "hidden_size": 2048, "num_hidden_layers": 28, "num_attention_heads": 16,
           "num_key_value_heads": 16, "intermediate_size": 10944, "moe_intermediate_size": 1408,
           "n_routed_experts": 64, "n_shared_experts": 2, "num_experts_per_tok": 6, "vocab_size": 102400,
           "max_position_embeddings": 4096, "first_k_dense_replace": 0, "moe_layer_freq": 1}
    f = tmp_path / "config.json"
    f.write_text(json.dumps(cfg))
    m = model_from_hf_config(f)
    assert (m.experts, m.experts_per_token, m.ffn_dim, m.shared_ffn_dim) == (64, 6, 1408, 2 * 1408)
    f.write_text(json.dumps({**cfg, "first_k_dense_replace": 1}))
    with pytest.raises(UserError, match="first_k_dense_replace 1: dense layers"):
        model_from_hf_config(f)


def test_qwen2_window_only_when_used_and_only_above_max_window_layers(hf_dir, tmp_path):
    cfg = json.loads((hf_dir / "qwen2-7b" / "config.json").read_text())
    assert model_from_hf_config(hf_dir / "qwen2-7b" / "config.json").sliding_window == 0   # use_sliding_window false
    f = tmp_path / "config.json"
    f.write_text(json.dumps({**cfg, "use_sliding_window": True, "sliding_window": 4096, "max_window_layers": 21}))
    m = model_from_hf_config(f)
    # Hugging Face's Qwen2: layers from max_window_layers on use the window, the first 21 attend to everything
    assert (m.sliding_window, m.global_layers, m.windowed_layers) == (4096, 21, 7)


def test_gemma2_layer_types_list(hf_dir, tmp_path):
    cfg = json.loads((hf_dir / "gemma-2-2b" / "config.json").read_text())
    types = ["sliding_attention", "sliding_attention", "full_attention"] * 8 + ["full_attention"] * 2
    f = tmp_path / "config.json"
    f.write_text(json.dumps({**cfg, "layer_types": types}))
    m = model_from_hf_config(f)
    assert (m.global_layers, m.windowed_layers) == (10, 16)
