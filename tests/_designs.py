"""Batches of designs for the cost-model tests: the default design repeated, for a test to vary what it checks."""

import numpy as np

from cimdse.cost.params import PARAMS, defaults, to_batch


def default_batch(n: int) -> dict:
    """The default design n times, as the cost model's batch of numpy columns."""
    return {k: np.repeat(v, n) for k, v in to_batch([defaults()]).items()}


def every_choice_drawn(n: int, rng: np.random.Generator) -> dict:
    """default_batch(n) with every categorical parameter drawn uniformly from its choices."""
    b = default_batch(n)
    for name, p in PARAMS.items():
        if p.kind == "cat":
            b[name] = rng.integers(0, len(p.choices), n)
    return b
