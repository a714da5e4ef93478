"""A design's numbers never depend on the batch around it: the cost model's speed-ups (chunks filled into
whole-batch arrays, per-workload and per-device tables, column-major per-shape arrays, parts skipped when no design
of a chunk needs them) must give every design, bit for bit, what it gets when evaluated alone.

(benchmarks/cost_equivalence.py compares whole batches bit for bit with another checkout, e.g. main.)"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from cimdse.cost import evaluate_arrays, model

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from cost_equivalence import SCENARIOS, every_param_batch, flatten  # noqa: E402


def _rows(res: dict, i: slice) -> dict:
    return {k: v[i] for k, v in flatten(res).items()}


@pytest.mark.parametrize("model_name", ["llama-2-7b", "qwen1.5-moe-a2.7b", "bert-large"])
def test_chunked_batch_equals_designs_alone(model_name, monkeypatch):
    b = every_param_batch(23, seed=5)
    b["adc_range_sigma"][:] = 0.0          # (the clipped-ADC error path is slow; it reads no cost-model value)
    monkeypatch.setattr(model, "CHUNK_DESIGNS", 5)   # 23 designs: chunks of 5, 5, 5, 5, 3
    with np.errstate(all="ignore"):
        whole = flatten(evaluate_arrays(b, model_name, SCENARIOS[1], breakdown=True))
        for i in (0, 4, 5, 17, 22):        # first and last of chunks, and the short last chunk
            alone = _rows(evaluate_arrays({k: v[i:i + 1] for k, v in b.items()}, model_name, SCENARIOS[1],
                                          breakdown=True), slice(0, 1))
            assert set(alone) == set(whole)
            for k, v in alone.items():
                assert v.dtype == whole[k].dtype, k
                if v.dtype == object:
                    assert v[0] == whole[k][i], k
                else:
                    assert np.array_equal(v, whole[k][i:i + 1], equal_nan=True), k
