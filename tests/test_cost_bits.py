"""Selections by bits in the cost model (cost/_select.mask_bits, keep, pick_bits): the bits of np.where, every value."""

from __future__ import annotations

import numpy as np

from cimdse.cost._select import WHERE_BELOW, keep, mask_bits, pick_bits
from cimdse.cost._util import distinct
from cimdse.cost.activity import conversions_kept, input_activity, skip_fraction
from cimdse.cost.model import circuits
from cimdse.cost.params import defaults, to_batch
from cimdse.cost.timing import fmax_ghz
from cimdse.tech import load_tech


def _specials(n: int, seed: int) -> np.ndarray:
    """n floats with NaN, +-inf, +-0.0, subnormals and ordinary values mixed in."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n) * 10.0 ** rng.integers(-300, 300, n)
    x[::7], x[1::11], x[2::13], x[3::5], x[4::17] = np.nan, np.inf, -np.inf, -0.0, 5e-324
    return x


def test_keep_and_select_give_the_bits_of_np_where():
    for n in (3001, 301):   # words of bits (a large batch), the mask itself (a small one: np.where)
        x, y = _specials(n, 1), _specials(n, 2)
        mask = np.random.default_rng(3).random(n) < 0.5
        bits = mask_bits(mask)
        if n >= WHERE_BELOW:
            assert bits.dtype == np.int64 and set(np.unique(bits).tolist()) == {-1, 0}
        for a, b in ((x, y), (x, 1.0), (2.5, y), (-0.0, x), (np.float64(3.0), 0.0), (4.0, -1.0)):
            got, want = pick_bits(bits, a, b), np.where(mask, a, b)
            assert got.dtype == want.dtype and got.shape == want.shape and got.tobytes() == want.tobytes()
        for a in (x, 7.0, -0.0):
            assert keep(a, bits).tobytes() == np.where(mask, a, 0.0).tobytes()
            assert keep(a, ~bits).tobytes() == np.where(mask, 0.0, a).tobytes()
        other = np.random.default_rng(4).random(n) < 0.5    # masks combine as the masks do
        assert pick_bits(bits & ~mask_bits(other), x, y).tobytes() == np.where(mask & ~other, x, y).tobytes()


def test_distinct_counts_whole_numbers_as_the_sorted_path_finds_them():
    x = np.random.default_rng(4).choice([7.0, 14.0, 22.0, 28.0, 45.0, 65.0, 130.0], 5000)
    values, index = distinct(x)                                      # whole numbers: counted
    assert values.tolist() == np.unique(x).tolist() and values.take(index).tobytes() == x.tobytes()
    half = x + 0.5                                                   # not whole: sorted
    values, index = distinct(half)
    assert values.tolist() == np.unique(half).tolist() and values.take(index).tobytes() == half.tobytes()


def test_fmax_per_supply_is_the_law_per_design():
    # every design at its node's nominal supply (vdd 0): f_max from the per-node table of nodes.py; a few set
    # supplies: the law once per supply (timing.fmax_at_supplies); many: per design. The numbers of the law per design
    tech = load_tech()
    rng = np.random.default_rng(6)
    n = 3000
    b = {k: np.repeat(v, n) for k, v in to_batch([defaults()]).items()}
    b["node_nm"] = rng.choice([7.0, 14.0, 22.0, 28.0, 45.0, 65.0], n)
    for vdd in (np.zeros(n), rng.choice([0.0, 0.7, 0.9], n), rng.choice([0.0, 0.55, 0.7, 0.8, 0.9, 1.0], n),
                rng.uniform(0.5, 1.1, n)):
        c = circuits({**b, "vdd": vdd}, tech)
        assert c["fmax_ghz"].tobytes() == fmax_ghz(c["vdd"], b["node_nm"], tech).tobytes()


def test_conversions_kept_grouped_equal_per_design():
    # (code, rows active) pairs grouped by counting (few distinct) or sorting (many): the numbers of per design
    tech = load_tech()
    rng = np.random.default_rng(5)
    n = 3000
    act = input_activity(rng.integers(0, 2, n), rng.integers(0, 2, n), rng.integers(1, 9, n).astype(float),
                         rng.integers(1, 5, n).astype(float), tech)
    density = tech.periphery["activity"]["input_bit_density"]
    for ra in (rng.choice([8.0, 64.0, 512.0, 1000.0], n), rng.integers(1, 5000, n).astype(float)):
        skip = rng.integers(0, 2, n)
        got = conversions_kept(skip, act["code"], ra, tech)
        on = skip == 1
        want = np.ones(n)
        want[on] = 1.0 - skip_fraction(act["code"][on], ra[on], density)
        assert got.tobytes() == want.tobytes()
