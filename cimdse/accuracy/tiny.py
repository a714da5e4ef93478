"""Write a tiny Hugging Face checkpoint folder (config.json, safetensors, tokenizer.json) for tests and benchmarks.

The weights are random (seeded) with unit-variance-preserving scales, and the output head is then fitted by a few
hundred steps of softmax regression on the bundled text, so the model predicts that text far better than chance:
its perplexity is a meaningful baseline that a design's non-idealities visibly degrade. The tokenizer is a
byte-level BPE trained with `tokenizers` on the same text. Deterministic for a given seed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .checkpoint import ArchConfig, expected_tensors

# Written for this project (no third-party text), varied enough for a BPE tokenizer and a next-token fit.
TEXT = """\
A compute-in-memory accelerator keeps the weights of a neural network inside its memory arrays and multiplies
them by the inputs where they are stored. Each word line carries one input, each bit line adds the currents of
its cells, and an analog-to-digital converter reads the sum at the bottom of the column. The energy that a
conventional processor spends moving weights from memory to its arithmetic units is saved, which matters most
when a large language model generates text one token at a time and every weight is read once per token.
The price is precision. A cell holds only a few bits, so a weight of eight bits is cut into slices stored in
neighbouring columns and added back together after conversion. The inputs are applied one bit or a few bits at
a time, so a matrix product becomes many small partial sums. Every partial sum passes through a converter with a
limited number of levels, and when the converter has fewer levels than the sum can take, the result is rounded.
The cells themselves are not exact either: programming leaves each conductance a little above or below its
target, and reading it adds noise of its own. All of these errors add up across the rows of an array, across the
arrays of a layer and across the layers of the model.
Whether a model still works on such a chip depends on how large these errors are compared with the signal they
disturb. A designer can buy precision with more converter bits, with fewer rows active at once, with more cells
per weight, or with a device that holds its state more faithfully. Each of these choices costs area, energy or
time. The useful question is therefore not whether the hardware is exact, but whether the model's predictions
survive: does the next word it guesses stay the same, and does its perplexity on ordinary text stay close to the
value measured in floating point?
To answer it, one runs the model twice over the same text: once exactly, and once with every matrix product
disturbed as the chip would disturb it. The ratio of the signal in the output logits to the difference between
the two runs is the logit signal-to-noise ratio, and the increase in perplexity tells how much of the model's
knowledge is lost. Small models run quickly enough in plain numpy that the emulation can follow every slice,
every partial sum and every conversion exactly, and compare the result with the closed-form prediction.
The river ran past the old mill and the children walked along the bank until the evening light turned the water
gold. Their grandmother told them stories of the winter when the river froze and the mill wheel stood still for
three months, and of the spring flood that carried the bridge away. They listened, counted the boats, and went
home when the first stars came out over the hills.
"""

FIT_TOKENS = 512  # tokens of TEXT the head is fitted on (the first ones, which tests and benchmarks score)

ARCH_DEFAULTS = {
    "llama": dict(layers=2, hidden=64, heads=4, kv_heads=2, ffn_dim=128),
    "mistral": dict(layers=2, hidden=64, heads=4, kv_heads=2, ffn_dim=128),
    "qwen2": dict(layers=2, hidden=64, heads=4, kv_heads=2, ffn_dim=128),
    "gpt2": dict(layers=2, hidden=64, heads=4, kv_heads=4, ffn_dim=256),
}


def train_tokenizer(vocab: int = 384, text: str = TEXT, bos: bool = True):
    """A byte-level BPE tokenizer trained on `text` (deterministic), with a <s> token prepended when bos."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=["<s>"], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(text.splitlines(), trainer)
    if bos:
        tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 0)])
    return tok


def hf_config(arch: str, layers: int, hidden: int, heads: int, kv_heads: int, ffn_dim: int, vocab: int,
              max_positions: int = 1024, tied: bool | None = None, rope_theta: float = 10000.0) -> dict:
    """A config.json mapping as Hugging Face writes it for `arch`."""
    if arch == "gpt2":
        return {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "n_layer": layers, "n_embd": hidden,
                "n_head": heads, "n_inner": ffn_dim, "vocab_size": vocab, "n_positions": max_positions,
                "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new",
                "tie_word_embeddings": True if tied is None else tied}
    cls = {"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM", "qwen2": "Qwen2ForCausalLM"}[arch]
    cfg = {"model_type": arch, "architectures": [cls], "num_hidden_layers": layers, "hidden_size": hidden,
           "num_attention_heads": heads, "num_key_value_heads": kv_heads, "intermediate_size": ffn_dim,
           "vocab_size": vocab, "max_position_embeddings": max_positions, "rms_norm_eps": 1e-6,
           "hidden_act": "silu", "rope_theta": rope_theta, "tie_word_embeddings": bool(tied),
           "torch_dtype": "float32"}
    if arch == "mistral":
        cfg["sliding_window"] = max_positions
    return cfg


def _random_weights(c: ArchConfig, rng: np.random.Generator, outlier_channels: int, outlier_gain: float) -> dict:
    """Stored name -> array in the checkpoint's own layout. Linear weights ~ N(0, 1/fan_in)."""
    out = {}
    for canon, (src, shape, transposed) in expected_tensors(c).items():
        if canon in ("embed", "pos_embed"):  # 1/sqrt(d): unit-scale logits when the head is tied
            arr = rng.standard_normal(shape) / np.sqrt(c.hidden)
        elif canon.endswith(".bias"):
            arr = 0.02 * rng.standard_normal(shape)
        elif "norm" in canon:  # gains near 1; a few outlier channels, as in trained LLMs' residual streams
            arr = 1.0 + 0.1 * rng.standard_normal(shape)
            if outlier_channels and "norm_final" not in canon:
                arr[rng.choice(shape[0], outlier_channels, replace=False)] *= outlier_gain
        else:
            fan_in = shape[0] if transposed else shape[-1]
            arr = rng.standard_normal(shape) / np.sqrt(fan_in)
        out[src] = arr.astype(np.float32)
    return out


def _fit_head(ck, ids: np.ndarray, steps: int = 200, lr: float = 0.5) -> np.ndarray:
    """Fit the output head (V, d) to predict ids[1:] from the final normed hidden states (softmax regression,
    full-batch gradient descent with momentum, small L2 penalty)."""
    from .forward import forward

    class Capture:  # records the lm_head input instead of multiplying
        h = None

        def static(self, op, layer, x, w):
            if op == "lm_head":
                Capture.h = x
            return x @ w.T

        def dynamic(self, op, layer, x, w):
            return x @ np.swapaxes(w, -1, -2)

    forward(ck, ids, Capture())
    H = Capture.h[:-1].astype(np.float64)
    y = ids[1:]
    V = ck.config.vocab
    W = np.zeros((V, H.shape[1]))
    mom = np.zeros_like(W)
    onehot = np.zeros((len(y), V))
    onehot[np.arange(len(y)), y] = 1.0
    for _ in range(steps):
        z = H @ W.T
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        grad = (p - onehot).T @ H / len(y) + 1e-3 * W
        mom = 0.9 * mom + grad
        W -= lr * mom
    return W.astype(np.float32)


def write_tiny_checkpoint(folder: str | Path, arch: str = "llama", *, seed: int = 0, shards: int = 1,
                          vocab: int = 384, tied: bool | None = None, fit_head: bool = True,
                          outlier_channels: int = 0, outlier_gain: float = 1.0, **sizes) -> Path:
    """Write a tiny `arch` checkpoint into `folder` (created); return the folder.

    sizes: layers, hidden, heads, kv_heads, ffn_dim (defaults: ARCH_DEFAULTS). shards > 1 writes
    model-0000i-of-0000n.safetensors and model.safetensors.index.json. fit_head fits the output head to the
    bundled TEXT (untied heads only). outlier_channels: that many hidden channels get outlier_gain times the
    normal gain in every pre-attention and pre-FFN norm."""
    from safetensors.numpy import save_file

    from .checkpoint import load_checkpoint, read_config

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    dims = {**ARCH_DEFAULTS[arch], **sizes}
    tok = train_tokenizer(vocab, bos=arch != "gpt2")
    tok.save(str(folder / "tokenizer.json"))
    cfg = hf_config(arch, vocab=tok.get_vocab_size(), tied=tied, **dims)
    (folder / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    c = read_config(folder / "config.json")
    rng = np.random.default_rng(seed)
    tensors = _random_weights(c, rng, outlier_channels, outlier_gain)
    _save(folder, tensors, shards, save_file)
    if fit_head and not c.tied_embeddings:
        ck = load_checkpoint(folder)
        ids = np.asarray(tok.encode(TEXT).ids[: min(FIT_TOKENS, c.max_positions)], dtype=np.int64)
        tensors["lm_head.weight"] = _fit_head(ck, ids)
        _save(folder, tensors, shards, save_file)
    return folder


def _save(folder: Path, tensors: dict, shards: int, save_file) -> None:
    names = sorted(tensors)
    if shards <= 1:
        save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
        return
    weight_map, total = {}, 0
    for s in range(shards):
        part = names[s::shards]
        fname = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        save_file({n: tensors[n] for n in part}, str(folder / fname), metadata={"format": "pt"})
        weight_map.update({n: fname for n in part})
        total += sum(tensors[n].nbytes for n in part)
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")
