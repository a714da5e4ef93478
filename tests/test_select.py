"""cost/_select.py: the branch-free selections give np.where's bits, special values included."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cimdse.cost._select import keep, mask_bits, pick

floats = arrays(np.float64, 64, elements=st.floats(allow_nan=True, allow_infinity=True))
masks = arrays(np.bool_, 64)


def _bits(x):
    return np.asarray(x, dtype=np.float64).view(np.int64)


@settings(max_examples=200, deadline=None)
@given(floats, floats, masks)
def test_pick_and_keep_are_np_where_bit_for_bit(a, b, m):
    assert np.array_equal(_bits(pick(m, a, b)), _bits(np.where(m, a, b)))
    assert np.array_equal(_bits(pick(m, a, -0.0)), _bits(np.where(m, a, -0.0)))
    assert np.array_equal(_bits(pick(m, 1.5, b)), _bits(np.where(m, 1.5, b)))
    w = mask_bits(m)
    assert np.array_equal(_bits(keep(a, w)), _bits(np.where(m, a, 0.0)))
    assert np.array_equal(_bits(keep(a, ~w)), _bits(np.where(m, 0.0, a)))
    assert np.array_equal(_bits(keep(2.0, w)), _bits(np.where(m, 2.0, 0.0)))
