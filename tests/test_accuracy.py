"""`cimdse accuracy`: checkpoint loading (real safetensors and tokenizers files), the numpy forward pass checked by
hand and against an independent loop implementation, and the CLI with its one-line errors."""

from __future__ import annotations

import json
import math
import shutil
import struct
import sys

import numpy as np
import pytest
from _cli import one_line_error
from click.testing import CliRunner

from cimdse.accuracy.checkpoint import ArchConfig, Checkpoint, load_checkpoint
from cimdse.accuracy.forward import apply_rope, forward, inverse_frequencies, perplexity
from cimdse.accuracy.tiny import TEXT
from cimdse.cli import main

safetensors_numpy = pytest.importorskip("safetensors.numpy")


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])




# ------------------------------------------------------------------------------------------------ loading

@pytest.mark.parametrize("arch", ["llama", "gpt2", "qwen2", "mistral"])
def test_tiny_checkpoints_load_and_predict_their_text(tiny_checkpoint, arch):
    ck = load_checkpoint(tiny_checkpoint(arch))
    c = ck.config
    assert c.model_type == arch and c.layers == 2 and c.hidden == 64
    for nm in c.static_matmuls():
        w = ck.weights[f"layers.1.{nm}.weight"]
        assert w.dtype == np.float32 and w.ndim == 2
    assert ck.weights["layers.0.q_proj.weight"].shape == (c.q_dim, c.hidden)
    assert ck.weights["layers.0.k_proj.weight"].shape == (c.kv_dim, c.hidden)
    assert ("layers.0.q_proj.bias" in ck.weights) == (arch in ("qwen2", "gpt2"))
    ids = np.asarray(ck.tokenizer.encode(TEXT).ids[:64])
    ppl = perplexity(forward(ck, ids), ids)
    assert math.isfinite(ppl) and ppl > 1
    if not c.tied_embeddings:  # the fitted head predicts the text far better than chance (vocab 384)
        assert ppl < 10


def test_sharded_checkpoint_equals_single_file(tiny_checkpoint):
    one = load_checkpoint(tiny_checkpoint("qwen2", seed=3))
    three = tiny_checkpoint("qwen2", seed=3, shards=3)
    assert len(list(three.glob("model-*-of-00003.safetensors"))) == 3
    assert not (three / "model.safetensors").exists()
    sharded = load_checkpoint(three)
    assert sharded.weights.keys() == one.weights.keys()
    for k in one.weights:
        np.testing.assert_array_equal(one.weights[k], sharded.weights[k])


def _write_bf16(path, tensors: dict) -> None:
    """A safetensors file of BF16 tensors, written from the format's spec (8-byte header length, JSON header,
    data): the high 16 bits of each float32."""
    header, blobs, off = {}, [], 0
    for name, arr in tensors.items():
        raw = (np.ascontiguousarray(arr, dtype=np.float32).view(np.uint32) >> 16).astype("<u2").tobytes()
        header[name] = {"dtype": "BF16", "shape": list(arr.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def test_bfloat16_weights_load_as_their_float32_values(tiny_checkpoint, tmp_path):
    src = tiny_checkpoint("llama")
    dst = tmp_path / "bf16"
    shutil.copytree(src, dst)
    tensors = safetensors_numpy.load_file(str(src / "model.safetensors"))
    _write_bf16(dst / "model.safetensors", tensors)
    ck = load_checkpoint(dst)
    w = tensors["model.layers.0.self_attn.q_proj.weight"]
    want = ((w.view(np.uint32) >> 16) << 16).view(np.float32)   # truncated to bfloat16
    np.testing.assert_array_equal(ck.weights["layers.0.q_proj.weight"], want)
    assert np.abs(want - w).max() <= np.abs(w).max() * 2.0**-7   # bfloat16 keeps 8 significant bits


# ------------------------------------------------------------------------------------------------ forward

def _arch(**kw) -> ArchConfig:
    base = dict(model_type="llama", layers=1, hidden=2, heads=1, kv_heads=1, head_dim=2, ffn_dim=1, vocab=2,
                max_positions=16, norm="rmsnorm", norm_eps=0.0, activation="silu", tied_embeddings=False)
    return ArchConfig(**{**base, **kw})


def test_forward_by_hand_uniform_attention_and_rmsnorm():
    """1 layer, hidden 2, one head. q_proj = 0, so every score is 0 and attention averages the values of the
    tokens so far; v_proj, o_proj and the head are identities; the FFN is zero; norms have gain 1, eps 0.
    Tokens [0, 1] with embeddings e0 = [3, 4], e1 = [1, 0]:
      h0 = rms(e0) = [3, 4] / sqrt(12.5) = [0.84853, 1.13137];  h1 = rms(e1) = [1, 0] / sqrt(0.5) = [1.41421, 0]
      attention: t0 -> h0; t1 -> (h0 + h1) / 2 = [1.13137, 0.56569]
      x0 = e0 + h0 = [3.84853, 5.13137] (parallel to e0) -> logits rms(x0) = [0.84853, 1.13137]
      x1 = e1 + [1.131371, 0.565685] = [2.131371, 0.565685]; rms = sqrt((4.542742 + 0.320000) / 2) = 1.559285
         -> logits [2.131371, 0.565685] / 1.559285 = [1.366890, 0.362785]"""
    eye, zero = np.eye(2, dtype=np.float32), np.zeros((2, 2), np.float32)
    w = {"embed": np.array([[3, 4], [1, 0]], np.float32), "layers.0.norm_attn.weight": np.ones(2, np.float32),
         "layers.0.q_proj.weight": zero, "layers.0.k_proj.weight": eye, "layers.0.v_proj.weight": eye,
         "layers.0.o_proj.weight": eye, "layers.0.norm_ffn.weight": np.ones(2, np.float32),
         "layers.0.ffn_gate.weight": np.zeros((1, 2), np.float32), "layers.0.ffn_up.weight": np.zeros((1, 2), np.float32),
         "layers.0.ffn_down.weight": np.zeros((2, 1), np.float32), "norm_final.weight": np.ones(2, np.float32),
         "lm_head.weight": eye}
    ck = Checkpoint(path=None, config=_arch(), weights=w, tokenizer=None)
    logits = forward(ck, np.array([0, 1]))
    np.testing.assert_allclose(logits, [[0.84853, 1.13137], [1.36689, 0.362785]], atol=5e-6)
    # perplexity of token 1 after token 0: logits [0.84853, 1.13137] -> p(1) = 1 / (1 + e^-0.28284) = 0.57024
    assert perplexity(logits, np.array([0, 1])) == pytest.approx(1 / 0.57024, rel=1e-4)


def test_rope_by_hand():
    """theta 10000, head_dim 4: inverse frequencies 10000^(-0/4) = 1 and 10000^(-2/4) = 0.01. At position 1 the
    pair (x0, x2) turns by 1 rad and (x1, x3) by 0.01 rad (Hugging Face's half-split layout)."""
    c = _arch(hidden=4, head_dim=4)
    np.testing.assert_allclose(inverse_frequencies(c), [1.0, 0.01])
    from cimdse.accuracy.forward import rope_tables

    cos, sin = rope_tables(c, 2)
    x = np.array([[[1.0, 0.0, 0.0, 1.0]] * 2], np.float32)          # (heads 1, T 2, hd 4)
    out = apply_rope(x, cos, sin)
    np.testing.assert_allclose(out[0, 0], [1, 0, 0, 1], atol=1e-7)     # position 0: unchanged
    # (x0, x2) = (1, 0) -> (cos 1, sin 1); (x1, x3) = (0, 1) -> (-sin 0.01, cos 0.01)
    np.testing.assert_allclose(out[0, 1], [math.cos(1), -math.sin(0.01), math.sin(1), math.cos(0.01)], atol=1e-6)


def test_llama3_rope_scaling_by_hand():
    """llama3 scaling (factor 8, low 1, high 4, original context 8192): wavelengths 2 pi / f below 8192/4 = 2048
    keep f, above 8192 divide it by 8, between blend. hd 4, theta 10000: f = 1 (wavelength 6.3: kept) and
    f = 0.01 (628: kept); theta 1e8: f = 1e-4 (wavelength 62832 > 8192: f / 8 = 1.25e-5)."""
    rs = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
          "original_max_position_embeddings": 8192.0}
    np.testing.assert_allclose(inverse_frequencies(_arch(hidden=4, head_dim=4, rope_scaling=rs)), [1.0, 0.01])
    np.testing.assert_allclose(inverse_frequencies(_arch(hidden=4, head_dim=4, rope_scaling=rs, rope_theta=1e8)),
                               [1.0, 1.25e-5])


def _naive_logits(folder, ids) -> np.ndarray:
    """An independent implementation with per-token, per-head loops, reading the raw safetensors (Hugging Face
    names and layouts: Linear (out, in), GPT-2 Conv1D (in, out) with a fused c_attn)."""
    cfg = json.loads((folder / "config.json").read_text())
    t = {k: v.astype(np.float64) for k, v in safetensors_numpy.load_file(str(folder / "model.safetensors")).items()}
    T = len(ids)
    if cfg["model_type"] == "gpt2":
        d, H, L = cfg["n_embd"], cfg["n_head"], cfg["n_layer"]
        hd, G = d // H, 1

        def ln(x, p):
            return (x - x.mean()) / math.sqrt(((x - x.mean()) ** 2).mean() + 1e-5) * t[p + ".weight"] + t[p + ".bias"]

        x = [t["wte.weight"][i] + t["wpe.weight"][p] for p, i in enumerate(ids)]
    else:
        d, H, L = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"]
        hd, G = d // H, H // cfg["num_key_value_heads"]

        def ln(x, p):
            return x / math.sqrt((x * x).mean() + cfg["rms_norm_eps"]) * t[p + ".weight"]

        x = [t["model.embed_tokens.weight"][i] for i in ids]

    def rot(v, pos):  # rotate pairs (i, i + hd/2) by pos * theta^(-2i/hd)
        out = v.copy()
        for i in range(hd // 2):
            a = pos * cfg["rope_theta"] ** (-2 * i / hd)
            out[i] = v[i] * math.cos(a) - v[i + hd // 2] * math.sin(a)
            out[i + hd // 2] = v[i + hd // 2] * math.cos(a) + v[i] * math.sin(a)
        return out

    for layer in range(L):
        if cfg["model_type"] == "gpt2":
            p = f"h.{layer}."
            hs = [ln(v, p + "ln_1") for v in x]
            qkv = [h @ t[p + "attn.c_attn.weight"] + t[p + "attn.c_attn.bias"] for h in hs]
            q, k, v = [[r[j * d:(j + 1) * d] for r in qkv] for j in range(3)]
        else:
            p = f"model.layers.{layer}."
            hs = [ln(v, p + "input_layernorm") for v in x]

            def lin(h, nm, p=p):
                return t[p + nm + ".weight"] @ h + t.get(p + nm + ".bias", 0.0)

            q = [lin(h, "self_attn.q_proj") for h in hs]
            k = [lin(h, "self_attn.k_proj") for h in hs]
            v = [lin(h, "self_attn.v_proj") for h in hs]
        att = []
        for i in range(T):
            out = np.zeros(H * hd)
            for h in range(H):
                kvh = h // G
                qi = q[i][h * hd:(h + 1) * hd]
                ks = [k[j][kvh * hd:(kvh + 1) * hd] for j in range(i + 1)]
                if cfg["model_type"] != "gpt2":
                    qi = rot(qi, i)
                    ks = [rot(kk, j) for j, kk in enumerate(ks)]
                s = np.array([qi @ kk / math.sqrt(hd) for kk in ks])
                e = np.exp(s - s.max())
                out[h * hd:(h + 1) * hd] = sum(e[j] / e.sum() * v[j][kvh * hd:(kvh + 1) * hd] for j in range(i + 1))
            att.append(out)
        if cfg["model_type"] == "gpt2":
            x = [x[i] + att[i] @ t[p + "attn.c_proj.weight"] + t[p + "attn.c_proj.bias"] for i in range(T)]
            for i in range(T):
                h = ln(x[i], p + "ln_2") @ t[p + "mlp.c_fc.weight"] + t[p + "mlp.c_fc.bias"]
                g = 0.5 * h * (1 + np.tanh(math.sqrt(2 / math.pi) * (h + 0.044715 * h**3)))
                x[i] = x[i] + g @ t[p + "mlp.c_proj.weight"] + t[p + "mlp.c_proj.bias"]
        else:
            x = [x[i] + t[p + "self_attn.o_proj.weight"] @ att[i] for i in range(T)]
            for i in range(T):
                h = ln(x[i], p + "post_attention_layernorm")
                gt = t[p + "mlp.gate_proj.weight"] @ h
                x[i] = x[i] + t[p + "mlp.down_proj.weight"] @ (gt / (1 + np.exp(-gt)) * (t[p + "mlp.up_proj.weight"] @ h))
    if cfg["model_type"] == "gpt2":
        return np.array([ln(v, "ln_f") @ t["wte.weight"].T for v in x])
    head = t["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else t["lm_head.weight"]
    return np.array([head @ ln(v, "model.norm") for v in x])


@pytest.mark.parametrize("arch", ["llama", "qwen2", "gpt2"])
def test_forward_matches_an_independent_loop_implementation(tiny_checkpoint, arch):
    folder = tiny_checkpoint(arch, layers=1)
    ck = load_checkpoint(folder)
    ids = np.asarray(ck.tokenizer.encode(TEXT).ids[:7])
    np.testing.assert_allclose(forward(ck, ids), _naive_logits(folder, ids), rtol=2e-4, atol=2e-4)


# ------------------------------------------------------------------------------------------------ CLI

def test_cli_text_and_json(tiny_checkpoint, text_file):
    folder = tiny_checkpoint("llama")
    r = run("accuracy", folder, "--text", text_file, "--tokens", 48, "--set", "device=sram", "--set", "bits_per_cell=1",
            "--set", "adc_bits=6", "--set", "rows_active=16")
    assert r.exit_code == 0, r.output
    for s in ("reference perplexity", "design perplexity", "logit SQNR measured", "logit SQNR predicted", "ffn_down",
              "lm_head", "design: device=sram, bits_per_cell=1, adc_bits=6, rows_active=16"):
        assert s in r.output, s
    r = run("accuracy", folder, "--text", text_file, "--tokens", 48, "--set", "adc_bits=6", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert {"reference_ppl", "design_ppl", "logit_sqnr_db", "per_layer", "predicted_logit_sqnr_db"} <= set(out)
    assert out["tokens"] == 48 and out["mode"] == "inject" and out["design"]["adc_bits"] == 6
    assert len(out["per_layer"]) == 2 + 1 and out["per_layer"][-1]["layer"] == "lm_head"
    assert set(out["per_layer"][0]["matmuls"]) == {"q_proj", "k_proj", "v_proj", "o_proj", "ffn_gate", "ffn_up",
                                                   "ffn_down", "qk_scores", "score_v"}


def test_cli_design_file_and_exact(tiny_checkpoint, text_file, tmp_path):
    f = tmp_path / "d.yaml"
    f.write_text("design: {device: fefet, bits_per_cell: 1, adc_bits: 5, rows_active: 16}\nworkload: {model: gpt2}\n")
    r = run("accuracy", tiny_checkpoint("gpt2"), f, "--text", text_file, "--tokens", 32, "--exact", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["mode"] == "exact" and out["design"]["device"] == "fefet" and out["design"]["rows_active"] == 16


def _copy(tiny_checkpoint, tmp_path, arch="llama", **kw):
    dst = tmp_path / "ck"
    shutil.copytree(tiny_checkpoint(arch, **kw), dst)
    return dst


def test_bad_checkpoints_one_line_exit_2(tiny_checkpoint, text_file, tmp_path):
    def check(folder, *expect, extra=()):
        line = one_line_error(run("accuracy", folder, "--text", text_file, "--tokens", 16, *extra))
        for e in expect:
            assert e in line, line
        return line

    check(tmp_path / "missing", "checkpoint folder not found")
    check(text_file, "expected a checkpoint folder")
    ck = _copy(tiny_checkpoint, tmp_path)
    (ck / "config.json").unlink()
    check(ck, "config.json", "file not found")
    shutil.rmtree(ck)

    ck = _copy(tiny_checkpoint, tmp_path)
    cfg = json.loads((ck / "config.json").read_text())
    (ck / "config.json").write_text(json.dumps({**cfg, "model_type": "t5"}))
    check(ck, "model_type", "unknown model_type 't5'", "expected one of: gpt2, llama, mistral, qwen2")
    (ck / "config.json").write_text("{not json")
    check(ck, "config.json", "invalid JSON at line 1")
    (ck / "config.json").write_text(json.dumps({**cfg, "hidden_size": 32}))      # weights are 64 wide
    check(ck, "model.safetensors", "has shape [384, 64], config.json implies [384, 32]")
    (ck / "config.json").write_text(json.dumps({**cfg, "num_hidden_layers": 3}))
    check(ck, "tensor model.layers.2.", "is missing")
    (ck / "config.json").write_text(json.dumps({**cfg, "num_key_value_heads": 3}))
    check(ck, "num_key_value_heads", "not a multiple")
    (ck / "config.json").write_text(json.dumps(cfg))

    data = (ck / "model.safetensors").read_bytes()
    (ck / "model.safetensors").write_bytes(data[: len(data) // 2])              # truncated
    check(ck, "model.safetensors", "not a readable safetensors file")
    (ck / "model.safetensors").write_bytes(data[:5])
    check(ck, "model.safetensors", "not a readable safetensors file")
    (ck / "model.safetensors").unlink()
    check(ck, "no model.safetensors and no model.safetensors.index.json")
    (ck / "model.safetensors").write_bytes(data)

    (ck / "tokenizer.json").write_text("{}")
    check(ck, "tokenizer.json", "not a readable tokenizer")
    (ck / "tokenizer.json").unlink()
    check(ck, "tokenizer.json", "file not found")


def test_bad_shards_and_inputs_one_line_exit_2(tiny_checkpoint, text_file, tmp_path):
    ck = _copy(tiny_checkpoint, tmp_path, "qwen2", shards=2)
    (ck / "model-00002-of-00002.safetensors").unlink()
    line = one_line_error(run("accuracy", ck, "--text", text_file))
    assert "model.safetensors.index.json" in line and "model-00002-of-00002.safetensors" in line
    good = tiny_checkpoint("llama")
    short = tmp_path / "short.txt"
    short.write_text("")
    cases = [
        (["--text", tmp_path / "none.txt"], "none.txt: --text: file not found"),
        (["--text", short], "perplexity needs at least 2"),
        (["--text", text_file, "--tokens", 1], "--tokens: expected at least 2 tokens"),
        (["--text", text_file, "--set", "adc_bits=0"], "adc_bits"),
        (["--text", text_file, "--set", "rows_active=512"], "rows_active"),
        (["--text", text_file, tmp_path / "missing.yaml"], "missing.yaml: file not found"),
    ]
    for args, expect in cases:
        pos = [a for a in args if str(a).endswith(".yaml")]
        opts = [a for a in args if not str(a).endswith(".yaml")]
        line = one_line_error(run("accuracy", good, *pos, *opts))
        assert expect in line, (args, line)


def test_missing_packages_one_line(monkeypatch, tiny_checkpoint, text_file):
    monkeypatch.setitem(sys.modules, "tokenizers", None)   # import tokenizers now raises ImportError
    line = one_line_error(run("accuracy", tiny_checkpoint("llama"), "--text", text_file))
    assert "tokenizers" in line and "pip install -e '.[accuracy]'" in line


def test_accuracy_is_registered_without_heavy_imports():
    import subprocess

    code = ("import sys, cimdse.cli; print('safetensors' in sys.modules, 'tokenizers' in sys.modules, "
            "'cimdse.accuracy.forward' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "False"]
    assert "accuracy" in run("--help").output
