"""cost/_select.py: the branch-free selections give np.where's bits, special values included."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cimdse.cost._select import WHERE_BELOW, keep, mask_bits, select

floats = arrays(np.float64, 64, elements=st.floats(allow_nan=True, allow_infinity=True))
masks = arrays(np.bool_, 64)


def _bits(x):
    return np.asarray(x, dtype=np.float64).view(np.int64)


@settings(max_examples=200, deadline=None)
@given(floats, floats, masks)
def test_select_and_keep_are_np_where_bit_for_bit(a, b, m):
    # (arrays tiled past WHERE_BELOW: the bitwise path, not np.where's)
    reps = WHERE_BELOW // len(m) + 1
    a, b, m = np.tile(a, reps), np.tile(b, reps), np.tile(m, reps)
    assert np.array_equal(_bits(select(m, a, b)), _bits(np.where(m, a, b)))
    assert np.array_equal(_bits(select(m, a, -0.0)), _bits(np.where(m, a, -0.0)))
    assert np.array_equal(_bits(select(m, 1.5, b)), _bits(np.where(m, 1.5, b)))
    w = mask_bits(m)
    assert np.array_equal(_bits(keep(a, w)), _bits(np.where(m, a, 0.0)))
    assert np.array_equal(_bits(keep(a, ~w)), _bits(np.where(m, 0.0, a)))
    assert np.array_equal(_bits(keep(2.0, w)), _bits(np.where(m, 2.0, 0.0)))


def test_select_is_np_where_on_either_side_of_its_size():
    """select: np.where below WHERE_BELOW elements, bit words from there on; np.where's bits either way (float64
    results, integer arguments converted, scalar conditions broadcast)."""
    rng = np.random.default_rng(2)
    for n in (1, WHERE_BELOW - 1, WHERE_BELOW, 3 * WHERE_BELOW):
        m = rng.random(n) < 0.5
        a = rng.choice([0.0, -0.0, np.inf, np.nan, 2.5], n)
        b = rng.normal(size=n)
        for cond, x, y in ((m, a, b), (m, a, 0.0), (m, 2.0, 1.0), (True, a, b), (m, np.arange(n), 7)):
            got = select(cond, x, y)
            assert got.dtype == np.float64
            assert np.array_equal(_bits(got), _bits(np.where(cond, x, y)))
