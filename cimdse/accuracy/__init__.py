"""Measure a local checkpoint's accuracy on a design: numpy forward pass, exact and with the design's non-idealities.

Modules: checkpoint (load config.json, safetensors, tokenizer.json), forward (numpy float32 forward, perplexity),
emulate (bit-exact CIM matmul), measure (noise injection, measurement, measure_designs), tiny (test checkpoints).
Nothing heavy is imported here: `safetensors` and `tokenizers` are the optional `accuracy` extra.
"""

from __future__ import annotations


def measure_designs(checkpoint, text, designs, tokens: int = 128, mode: str = "inject", seed: int = 0):
    """One row per design: reference and measured perplexity, measured and predicted logit SQNR (a DataFrame)."""
    from .measure import measure_designs as run

    return run(checkpoint, text, designs, tokens=tokens, mode=mode, seed=seed)
