"""The error model's batch path (ADC term per configuration of slices, sorted pair sums, clipping table only for
clipped designs) gives every design the numbers it gets alone: a design's result never depends on its batch."""

import numpy as np

from cimdse.cost import evaluate_arrays
from cimdse.cost.errmodel import matmul_nsr
from cimdse.cost.params import PARAMS, defaults, to_batch
from cimdse.workload import Scenario

SC = Scenario(prompt_tokens=512, generate_tokens=128)


def _random_designs(n: int, seed: int = 7) -> dict:
    """n designs with every categorical parameter, the array geometry, precisions, ADC and its range varied."""
    rng = np.random.default_rng(seed)
    b = {k: np.repeat(v, n) for k, v in to_batch([defaults()]).items()}
    for name, p in PARAMS.items():
        if p.kind == "cat":
            b[name] = rng.integers(0, len(p.choices), n)
    b["rows"] = 2.0 ** rng.integers(6, 11, n)
    b["rows_active"] = np.where(rng.random(n) < 0.5, 0.0, b["rows"] / 2.0 ** rng.integers(0, 4, n))
    b["bits_per_cell"] = rng.integers(1, 4, n).astype(float)
    b["adc_bits"] = rng.integers(3, 11, n).astype(float)
    b["weight_bits"] = rng.integers(2, 9, n).astype(float)
    b["input_bits"] = rng.integers(2, 9, n).astype(float)
    b["dac_bits"] = rng.integers(1, 5, n).astype(float)
    # a third clip the partial sums at a random range (the clipping table path)
    b["adc_range_sigma"] = np.where(rng.random(n) < 0.3, np.round(rng.uniform(0.5, 6.0, n), 3), 0.0)
    return b


def test_batch_equals_one_design_at_a_time():
    n = 120
    b = _random_designs(n)
    whole = evaluate_arrays(b, "llama-2-7b", SC)
    nsr = matmul_nsr(b, "llama-2-7b", SC)
    assert np.any(nsr["q_proj"]["adc"] > 0)
    for i in range(n):
        one = {k: v[i:i + 1] for k, v in b.items()}
        alone = evaluate_arrays(one, "llama-2-7b", SC)
        for m in ("equivalent_bits", "logit_sqnr_db"):
            np.testing.assert_allclose(alone[m], whole[m][i:i + 1], rtol=1e-12, err_msg=f"design {i}, {m}")
        nsr_one = matmul_nsr(one, "llama-2-7b", SC)
        for kind in ("q_proj", "ffn_down", "qk_scores", "score_v"):
            np.testing.assert_allclose(nsr_one[kind]["adc"], nsr[kind]["adc"][i:i + 1], rtol=1e-12,
                                       err_msg=f"design {i}, {kind}")
