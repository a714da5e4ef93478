"""Accuracy cost of attention-token pruning (kv_keep, token_select: cam): the law of cost/pruning.py against hand-worked
numbers and a Monte-Carlo of the distribution it assumes, its place in the error model, and the exact top-k
selector of the checkpoint emulation."""

import math

import numpy as np
import pytest

from cimdse.accuracy.emulate import keep_top
from cimdse.cost import evaluate_arrays
from cimdse.cost.errmodel import matmul_nsr
from cimdse.cost.params import to_batch
from cimdse.cost.pruning import attention_spread, prune_nsr, selection_correlation


def test_prune_nsr_hand_worked():
    # n = 640 keys: s = sqrt(ln 640 / 2) = sqrt(6.4615 / 2) = 1.7974. Keep f = 0.2: t = Phi^-1(0.8) = 0.8416.
    # Dropped mass m = Phi(t - s) = Phi(-0.9558) = 0.16958; dropped share of sum p^2 Phi(t - 2s) = Phi(-2.7532)
    # = 0.002951. NSR = (0.16958 / 0.83042)^2 (1 - 0.002951) + 0.002951 = 0.041703 * 0.997049 + 0.002951 = 0.04453
    # (13.5 dB): MagicPIG (Chen et al., ICLR 2025, Sec. 3) reports about 15-20 % relative error of exact top-20 %
    # attention in LLMs, sqrt(0.04453) = 21 %.
    assert attention_spread(640) == pytest.approx(1.7974, abs=1e-4)
    assert prune_nsr(0.2, 640) == pytest.approx(0.04453, rel=2e-3)
    # a selector blind to the logits (rho = 0) keeps a random half: m = Q(t) = 1/2 of the mass and of sum p^2,
    # NSR = (1/2 / 1/2)^2 1/2 + 1/2 = 1, (1 - f) / f in general
    assert prune_nsr(0.5, 640, 0.0) == pytest.approx(1.0)
    assert prune_nsr(0.2, 640, 0.0) == pytest.approx(4.0)
    assert prune_nsr(0.5, 1.0) == 0.0    # one key: nothing to prune
    assert prune_nsr(1.0, 640) == 0.0


def test_selection_correlation_hand_worked():
    # h = 64 bits, d = 128: rho = 1 / sqrt(1 + pi^2 128 / 256) = 1 / sqrt(5.9348) = 0.41048
    assert selection_correlation(64, 128) == pytest.approx(0.41048, rel=1e-4)
    assert selection_correlation(1e9, 128) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("n,f,rho", [(640, 0.2, 1.0), (640, 0.5, 1.0), (4096, 0.2, 1.0), (640, 0.2, 0.6),
                                     (4096, 0.5, 0.6), (64, 0.2, 1.0)])
def test_prune_nsr_matches_monte_carlo(n, f, rho):
    # the law's own assumptions sampled: log-normal probabilities exp(s z), a selector on rho z + sqrt(1 - rho^2) w,
    # zero-mean unit-variance values; the closed form replaces E[ratio] by the ratio of expectations (within 1.5 dB)
    rng = np.random.default_rng(7)
    s = float(attention_spread(n))
    err = sig = 0.0
    for _ in range(300):
        z = rng.standard_normal(n)
        p = np.exp(s * z)
        p /= p.sum()
        y = rho * z + math.sqrt(1 - rho * rho) * rng.standard_normal(n)
        kept = np.argsort(-y)[:max(1, round(f * n))]
        q = np.zeros(n)
        q[kept] = p[kept]
        q /= q.sum()
        v = rng.standard_normal((n, 32))
        err += float(np.sum((q @ v - p @ v) ** 2))
        sig += float(np.sum((p @ v) ** 2))
    assert 10 * math.log10(float(prune_nsr(f, n, rho)) / (err / sig)) == pytest.approx(0.0, abs=1.5)


def test_prune_nsr_monotone():
    keep = np.array([0.01, 0.05, 0.1, 0.2, 0.5, 0.9, 1.0])
    v = prune_nsr(keep, 2048)
    assert np.all(np.diff(v) < 0) and v[-1] == 0.0
    assert np.all(prune_nsr(keep[:-1], 2048, 0.5) > v[:-1])   # a worse selector loses more


def test_matmul_nsr_carries_the_pruning_term():
    d = {"device": "sram", "compute": "digital", "kv_keep": 0.2}
    nsr = matmul_nsr(d, "llama-2-7b")
    full = matmul_nsr({**d, "kv_keep": 1.0}, "llama-2-7b")
    assert full["score_v"]["kv_prune"][0] == 0.0 and nsr["q_proj"]["kv_prune"][0] == 0.0
    # no scenario: keys = max_context / 2 = 4096 / 2; llama-2-7b's head dimension 128
    assert nsr["score_v"]["kv_prune"][0] == pytest.approx(float(prune_nsr(0.2, 2048)))
    cam = matmul_nsr({**d, "token_select": "cam", "cam_hash_bits": 64}, "llama-2-7b")
    assert cam["score_v"]["kv_prune"][0] == pytest.approx(float(prune_nsr(0.2, 2048, selection_correlation(64, 128))))


def test_pruning_costs_equivalent_bits_in_the_cost_model():
    # the search can no longer prune keys for free: fewer kept keys, fewer equivalent bits
    keeps = [1.0, 0.5, 0.2, 0.05]
    b = to_batch([{"device": "sram", "compute": "digital", "kv_keep": k} for k in keeps])
    r = evaluate_arrays(b, "llama-2-7b")
    assert np.all(np.diff(r["equivalent_bits"]) < 0) and np.all(np.diff(r["energy_per_token_uj"]) < 0)
    cam = to_batch([{"device": "sram", "compute": "digital", "kv_keep": 0.2, "token_select": "cam",
                     "cam_hash_bits": h} for h in (16, 256, 4096)])
    assert np.all(np.diff(evaluate_arrays(cam, "llama-2-7b")["equivalent_bits"]) > 0)   # longer signatures select better


def test_keep_top_hand_row():
    # 4 causal keys (the 5th masked to 0), keep 0.5: ceil(2) = 2 largest, renormalized: 0.5/0.8, 0.3/0.8
    p = np.array([[0.5, 0.3, 0.15, 0.05, 0.0], [1.0, 0.0, 0.0, 0.0, 0.0]], dtype=np.float32)
    out = keep_top(p, 0.5)
    assert out[0] == pytest.approx([0.625, 0.375, 0.0, 0.0, 0.0])
    assert out[1] == pytest.approx([1.0, 0.0, 0.0, 0.0, 0.0])     # at least one key
