"""cost/_pick.pick is np.where bit for bit (signed zeros, infinities, NaN, broadcasting, scalar conditions)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cimdse.cost._pick import pick

SPECIAL = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, 1e-300, -2.5, 3.0, 1e308])


def _same_bits(x, y) -> bool:
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return x.shape == y.shape and np.array_equal(x.view(np.int64), y.view(np.int64))


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(0.0, 1.0))
def test_pick_is_where_bit_for_bit(seed, share):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))
    c = rng.random(n) < share
    a = rng.choice(SPECIAL, n) * rng.choice([1.0, 1.5], n)
    b = np.where(rng.random(n) < 0.5, rng.choice(SPECIAL, n), rng.normal(size=n))
    cases = [(c, a, b), (c, 2.0, 1.0), (c, a, 0.0), (c, 1.0, b), (True, a, b), (np.bool_(False), a, b),
             (c[:, None], a[:, None], b[None, :7]), (c, (a / 1e300).astype(np.float32), b)]
    for cond, x, y in cases:
        assert _same_bits(pick(cond, x, y), np.where(cond, x, y).astype(np.float64))


def test_pick_makes_a_fresh_array():
    """The result never shares memory with its inputs (callers write into it)."""
    a, b, c = np.arange(5.0), np.ones(5), np.arange(5) % 2 == 0
    out = pick(c, a, b)
    out[:] = -1.0
    assert np.array_equal(a, np.arange(5.0)) and np.array_equal(b, np.ones(5))
