"""The search loop hands its own scores of the run's trials to the outputs (LoopResult.scored) instead of having
them scored again: they must be the bits a fresh score of the same designs gives, in trial order; when the loop did
not score every trial (a resumed run) it hands none."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _small_sweep import write_small

from cimdse.config import load_sweep
from cimdse.search.loop import run_optuna
from cimdse.search.scoring import score


def _same_bits(a, b, what: str) -> None:
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape, what
    if a.dtype.kind == "f":
        assert np.array_equal(a.view(np.uint64 if a.itemsize == 8 else np.uint32),
                              b.view(np.uint64 if b.itemsize == 8 else np.uint32)), what
    else:
        assert (a == b).all(), what


QUICKSTART = Path(__file__).resolve().parents[1] / "sweeps" / "quickstart.yaml"


@pytest.mark.parametrize("sampler", ["nsga2", "random", "tpe", "quickstart"])
def test_the_loops_scores_are_a_fresh_scores_bits(tmp_path, sampler):
    # batches of 7: the loop scores the designs 7 at a time, the fresh score all at once; the quickstart's space
    # (5 devices, 1-2 bits per cell, ADC widths and column sharing) in batches of 25, 300 NSGA-II trials
    if sampler == "quickstart":
        sw = load_sweep(str(QUICKSTART), overrides={"sampler": "nsga2", "trials": 300})
    else:
        sw = load_sweep(write_small(tmp_path, sampler, 60, f"ls-{sampler}", 7))
    (tmp_path / "run").mkdir()
    res = run_optuna(sw, tmp_path / "run")
    assert res.scored is not None and len(res.numbers) == sw.search.trials
    fresh = score(sw, res.params)
    for k, v in fresh.batch.items():
        _same_bits(res.scored.batch[k], v, k)
    for k, v in res.scored.metrics.items():
        _same_bits(v, fresh.metrics[k], k)
    for name in ("objectives", "violations", "feasible", "violation_text"):
        _same_bits(getattr(res.scored, name), getattr(fresh, name), name)


def test_a_resumed_run_hands_no_scores(tmp_path):
    sw = load_sweep(write_small(tmp_path, "nsga2", 30, "ls-resume", 10))
    run = Path(tmp_path / "run")
    run.mkdir()
    assert run_optuna(sw, run).scored is not None
    more = load_sweep(write_small(tmp_path, "nsga2", 50, "ls-resume", 10))
    res = run_optuna(more, run)   # trials 0-29 were scored by the first run, not this one
    assert len(res.numbers) == 50 and res.scored is None
