"""Branch-free elementwise selection for per-design arrays (the same bits as np.where).

np.where copies each element through a branch on its condition; where the condition changes irregularly from design
to design (a categorical choice drawn per design: analog or digital, attention in CIM, differential weights) the
branch is mispredicted about half the time and np.where runs several times slower than one arithmetic pass. These
select on the values' 64-bit patterns instead: the same bits as np.where (NaN, inf and -0.0 kept as they are).
"""

from __future__ import annotations

import numpy as np

_BOOL = np.dtype(np.bool_)
WHERE_BELOW = 1024   # designs below which mask_bits keeps the mask itself: keep/pick_bits then call np.where


def mask_bits(mask: np.ndarray) -> np.ndarray:
    """Per design, a 64-bit word of all ones where the boolean `mask` is set and of zeros elsewhere, for `keep` and
    `pick_bits` (a mask that selects several values: made once; combined with ~, & and | like the mask). A batch of
    fewer than WHERE_BELOW designs gets the mask back: there np.where's mispredictions cost less than the extra calls
    of the bitwise way (the same numbers either way)."""
    mask = np.asarray(mask, dtype=bool)
    if mask.size < WHERE_BELOW:
        return mask
    return np.negative(mask.view(np.int8)).astype(np.int64)   # (-1 as int8, sign-extended: all ones)


def keep(x, bits: np.ndarray) -> np.ndarray:
    """np.where(mask, x, 0.0) for bits = mask_bits(mask) (~bits: np.where(mask, 0.0, x)): the bits of x ANDed with
    the word. x: float64, an array or a scalar. One fresh array."""
    if bits.dtype is _BOOL:   # (a small batch: mask_bits gave the mask)
        return np.where(bits, x, 0.0)
    return np.bitwise_and(np.asarray(x, dtype=np.float64).view(np.int64), bits).view(np.float64)


def pick_bits(bits: np.ndarray, x, y) -> np.ndarray:
    """np.where(mask, x, y) for bits = mask_bits(mask), by bits as `keep`: y ^ ((x ^ y) & bits) on the values' 64-bit
    patterns (a mask that selects several values: its word made once; `select` takes the mask). x, y: float64, arrays
    or scalars. One fresh array."""
    if bits.dtype is _BOOL:   # (a small batch: mask_bits gave the mask)
        return np.where(bits, x, y)
    yi = np.asarray(y, dtype=np.float64).view(np.int64)
    out = np.bitwise_xor(np.asarray(x, dtype=np.float64).view(np.int64), yi)
    if out.shape != np.shape(bits):   # (x and y scalars: the words' shape)
        out = np.broadcast_to(out, np.shape(bits))
        return np.bitwise_xor(np.bitwise_and(out, bits), yi).view(np.float64)
    np.bitwise_and(out, bits, out=out)   # (in place: one temporary, not three)
    return np.bitwise_xor(out, yi, out=out).view(np.float64)


def select(cond, a, b) -> np.ndarray:
    """np.where(cond, a, b) as float64, the same bits: pick_bits on cond's mask words (np.where itself below
    WHERE_BELOW designs, see mask_bits). cond: booleans, an array or a scalar; a, b: numbers or arrays."""
    return np.asarray(pick_bits(mask_bits(cond), a, b), dtype=np.float64)
