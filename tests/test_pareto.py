"""Pareto front and hypervolume: brute-force oracles, hand-worked examples and a Monte-Carlo check."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cimdse import pareto
from cimdse.pareto import (
    default_reference,
    hypervolume,
    hypervolume_history,
    pareto_mask,
    pareto_order,
    to_minimization,
)

MIN, MAX = "minimize", "maximize"


# ---------------------------------------------------------------------------------------------- oracles


def brute_mask(v: np.ndarray) -> np.ndarray:
    """O(N^2) dominance check in minimization space: row i survives unless some row j dominates it."""
    if len(v) == 0:
        return np.zeros(0, dtype=bool)
    weak = (v[:, None, :] <= v[None, :, :]).all(axis=2)  # weak[j, i]: j <= i everywhere
    strict = (v[:, None, :] < v[None, :, :]).any(axis=2)
    return ~(weak & strict).any(axis=0)


def inclusion_exclusion_hv(v: np.ndarray, ref: np.ndarray) -> float:
    """Exact hypervolume in minimization space as the union of boxes [p, ref], by inclusion-exclusion."""
    pts = [p for p in v if (p < ref).all()]
    total = 0.0
    for r in range(1, len(pts) + 1):
        for subset in itertools.combinations(pts, r):
            corner = np.max(subset, axis=0)
            total += (-1) ** (r + 1) * float(np.prod(ref - corner))
    return total


# -------------------------------------------------------------------------------------------- strategies


@st.composite
def problems(draw: st.DrawFn, max_rows: int = 40, objectives: tuple[int, ...] = (1, 2, 3, 4)):
    """(values, directions): integer grids (many ties) or floats, optional exact duplicates, mixed directions."""
    m = draw(st.sampled_from(objectives))
    n = draw(st.integers(0, max_rows))
    if draw(st.booleans()):
        elements = st.integers(-3, 3).map(float)
    else:
        # magnitudes below 1e-9 become 0: products of near-underflow spans are 0 in floating point, and no
        # metric of the tool lives there
        elements = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False).map(
            lambda x: 0.0 if abs(x) < 1e-9 else x)
    values = draw(arrays(np.float64, (n, m), elements=elements))
    if n and draw(st.booleans()):
        copies = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n))
        values = np.concatenate([values, values[copies]])
    directions = draw(st.lists(st.sampled_from([MIN, MAX]), min_size=m, max_size=m))
    return values, directions


# ---------------------------------------------------------------------------------------- to_minimization


def test_to_minimization_negates_maximized_columns_and_copies() -> None:
    values = np.array([[1.0, 2.0, 3.0]])
    out = to_minimization(values, [MIN, MAX, MAX])
    np.testing.assert_array_equal(out, [[1.0, -2.0, -3.0]])
    out[0, 0] = 99.0
    assert values[0, 0] == 1.0


@pytest.mark.parametrize(
    ("values", "directions"),
    [
        (np.ones((3, 2)), [MIN]),  # too few directions
        (np.ones(3), [MIN, MIN, MIN]),  # not 2-D
        (np.ones((3, 2)), [MIN, "max"]),  # unknown direction
    ],
)
def test_bad_shapes_and_directions_raise(values: np.ndarray, directions: list[str]) -> None:
    with pytest.raises(ValueError):
        pareto_mask(values, directions)


def test_nan_raises_everywhere() -> None:
    values = np.array([[1.0, 2.0], [np.nan, 1.0]])
    with pytest.raises(ValueError, match="NaN"):
        pareto_mask(values, [MIN, MIN])
    with pytest.raises(ValueError, match="NaN"):
        pareto_order(values, [MIN, MIN])
    with pytest.raises(ValueError, match="NaN"):
        hypervolume(values, [MIN, MIN], np.array([5.0, 5.0]))
    with pytest.raises(ValueError, match="NaN"):
        hypervolume(values[:1], [MIN, MIN], np.array([np.nan, 5.0]))
    with pytest.raises(ValueError, match="NaN"):
        hypervolume_history(values, [MIN, MIN], np.array([5.0, 5.0]))
    with pytest.raises(ValueError, match="NaN"):
        default_reference(values, [MIN, MIN])
    with pytest.raises(ValueError, match="NaN"):
        pareto_mask(np.full((5, 3), np.nan), [MIN, MIN, MIN])


# -------------------------------------------------------------------------------------------- pareto_mask


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_empty_and_single_row(m: int) -> None:
    dirs = [MIN] * m
    assert pareto_mask(np.empty((0, m)), dirs).shape == (0,)
    assert pareto_mask(np.array([]), dirs).shape == (0,)
    np.testing.assert_array_equal(pareto_mask(np.zeros((1, m)), dirs), [True])
    assert pareto_order(np.empty((0, m)), dirs).shape == (0,)


def test_duplicates_on_the_front_are_all_kept() -> None:
    values = np.array([[1.0, 2.0], [1.0, 2.0], [2.0, 1.0], [2.0, 2.0], [2.0, 1.0], [3.0, 3.0]])
    np.testing.assert_array_equal(pareto_mask(values, [MIN, MIN]), [True, True, True, False, True, False])
    values3 = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [3.0, 2.0, 1.0], [3.0, 2.0, 2.0]])
    np.testing.assert_array_equal(pareto_mask(values3, [MIN, MIN, MIN]), [True, True, True, False])


def test_ties_in_one_objective() -> None:
    # Same x: only the smallest y survives; same y: only the smallest x survives.
    values = np.array([[1.0, 5.0], [1.0, 4.0], [2.0, 4.0], [2.0, 1.0], [3.0, 1.0]])
    np.testing.assert_array_equal(pareto_mask(values, [MIN, MIN]), [False, True, False, True, False])


def test_maximize_direction() -> None:
    # (cost, accuracy): cheaper and more accurate is better.
    values = np.array([[1.0, 0.5], [2.0, 0.9], [2.0, 0.4], [3.0, 0.9]])
    np.testing.assert_array_equal(pareto_mask(values, [MIN, MAX]), [True, True, False, False])


def test_infinite_values() -> None:
    values = np.array([[np.inf, 0.0], [np.inf, 1.0], [0.0, np.inf], [-np.inf, np.inf]])
    np.testing.assert_array_equal(pareto_mask(values, [MIN, MIN]), [True, False, False, True])
    values3 = np.array([[np.inf, 0.0, 0.0], [np.inf, 1.0, 0.0], [0.0, np.inf, -np.inf]])
    np.testing.assert_array_equal(pareto_mask(values3, [MIN, MIN, MIN]), [True, False, True])


@settings(max_examples=300, deadline=None)
@given(problems())
def test_pareto_mask_matches_brute_force(problem: tuple[np.ndarray, list[str]]) -> None:
    values, directions = problem
    expected = brute_mask(to_minimization(values, directions))
    np.testing.assert_array_equal(pareto_mask(values, directions), expected)


@settings(max_examples=100, deadline=None)
@given(problems(max_rows=60, objectives=(3, 4, 5)), st.integers(1, 7))
def test_block_filter_matches_brute_force_across_block_edges(
    problem: tuple[np.ndarray, list[str]], block: int
) -> None:
    values, directions = problem
    v = to_minimization(values, directions)
    if len(v):
        np.testing.assert_array_equal(pareto._front_nd(v, block=block), brute_mask(v))


@pytest.mark.parametrize(("n", "m", "grid"), [(3000, 2, 10), (3000, 2, None), (1500, 3, 6), (1500, 3, None),
                                              (800, 4, 4), (800, 4, None)])
def test_larger_random_inputs_match_brute_force(n: int, m: int, grid: int | None) -> None:
    rng = np.random.default_rng(n * 10 + m)
    values = rng.integers(0, grid, size=(n, m)).astype(float) if grid else rng.random((n, m))
    directions = [MIN if k % 2 == 0 else MAX for k in range(m)]
    expected = brute_mask(to_minimization(values, directions))
    np.testing.assert_array_equal(pareto_mask(values, directions), expected)


# ------------------------------------------------------------------------------------------- pareto_order


@settings(max_examples=150, deadline=None)
@given(problems())
def test_pareto_order_is_the_front_sorted(problem: tuple[np.ndarray, list[str]]) -> None:
    values, directions = problem
    order = pareto_order(values, directions)
    np.testing.assert_array_equal(np.sort(order), np.flatnonzero(pareto_mask(values, directions)))
    rows = [tuple(r) for r in to_minimization(values, directions)[order]]
    assert rows == sorted(rows)  # lexicographic, best first in each objective's own sense


def test_pareto_order_example_with_maximize() -> None:
    values = np.array([[2.0, 0.9], [1.0, 0.5], [3.0, 0.95], [2.5, 0.4], [1.0, 0.5]])
    # Front: rows 0, 1, 2, 4; by cost ascending (duplicates 1 and 4 keep their index order).
    np.testing.assert_array_equal(pareto_order(values, [MIN, MAX]), [1, 4, 0, 2])
    # Maximizing the first objective sorts it descending: the front of (max, min) is rows 2 and 3.
    np.testing.assert_array_equal(pareto_order(values, [MAX, MIN]), [2, 3])


# -------------------------------------------------------------------------------------------- hypervolume


def test_hypervolume_2d_staircase() -> None:
    # Points (1,3), (2,2), (3,1) with reference (4,4): a staircase of three columns of width 1 and heights
    # 1, 2, 3 (x in [1,2): 4-3; [2,3): 4-2; [3,4): 4-1) -> 1 + 2 + 3 = 6.
    values = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]])
    assert hypervolume(values, [MIN, MIN], np.array([4.0, 4.0])) == pytest.approx(6.0)


def test_hypervolume_3d_hand_worked() -> None:
    # Two points A=(1,1,2), B=(2,2,1), reference (3,3,3). Boxes: A -> 2*2*1 = 4, B -> 1*1*2 = 2, overlap
    # [2,3]^3 -> 1, so the union is 4 + 2 - 1 = 5.
    two = np.array([[1.0, 1.0, 2.0], [2.0, 2.0, 1.0]])
    assert hypervolume(two, [MIN] * 3, np.array([3.0, 3.0, 3.0])) == pytest.approx(5.0)
    # Three points (1,2,2), (2,1,2), (2,2,1), reference (3,3,3). Each box is 2*1*1 = 2; every pair and the
    # triple overlap in [2,3]^3 (volume 1): 3*2 - 3*1 + 1 = 4. By slices: z in [1,2) only (2,2,1) -> area 1;
    # z in [2,3) the 2-D points (1,2), (2,1), (2,2) -> area 2 + 2 - 1 = 3; total 1 + 3 = 4.
    three = np.array([[1.0, 2.0, 2.0], [2.0, 1.0, 2.0], [2.0, 2.0, 1.0]])
    assert hypervolume(three, [MIN] * 3, np.array([3.0, 3.0, 3.0])) == pytest.approx(4.0)


def test_hypervolume_4d_and_1d_hand_worked() -> None:
    # One 4-D point at the origin with reference (1,2,3,4): a box of volume 24; a second point (0,0,0,3)
    # is dominated and adds nothing. In 1-D the hypervolume is the distance from the best value.
    values = np.array([[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 3.0]])
    assert hypervolume(values, [MIN] * 4, np.array([1.0, 2.0, 3.0, 4.0])) == pytest.approx(24.0)
    assert hypervolume(np.array([[3.0], [1.0]]), [MIN], np.array([5.0])) == pytest.approx(4.0)


def test_points_not_beating_the_reference_add_nothing() -> None:
    ref = np.array([4.0, 4.0])
    base = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]])
    outside = np.array([[0.0, 4.0], [4.0, 0.0], [5.0, -1.0]])  # on or past the reference in some objective
    assert hypervolume(np.concatenate([base, outside]), [MIN, MIN], ref) == pytest.approx(6.0)
    assert hypervolume(outside, [MIN, MIN], ref) == 0.0
    assert hypervolume(np.empty((0, 2)), [MIN, MIN], ref) == 0.0


def test_hypervolume_maximize_is_negation() -> None:
    rng = np.random.default_rng(1)
    values = rng.random((50, 3))
    ref = np.array([1.1, -0.1, 1.1])
    flipped = values * np.array([1.0, -1.0, 1.0])
    expected = hypervolume(flipped, [MIN, MIN, MIN], ref * np.array([1.0, -1.0, 1.0]))
    assert hypervolume(values, [MIN, MAX, MIN], ref) == pytest.approx(expected)
    assert expected > 0


def test_too_many_objectives_raises() -> None:
    with pytest.raises(NotImplementedError):
        hypervolume(np.zeros((2, 7)), [MIN] * 7, np.ones(7))


@settings(max_examples=150, deadline=None)
@given(problems(max_rows=7, objectives=(1, 2, 3, 4)))
def test_hypervolume_matches_inclusion_exclusion(problem: tuple[np.ndarray, list[str]]) -> None:
    values, directions = problem
    values = values[:9]  # keep the 2^N oracle cheap even after duplication
    if len(values) == 0:
        return
    ref = default_reference(values, directions)
    v = to_minimization(values, directions)
    expected = inclusion_exclusion_hv(v[brute_mask(v)], to_minimization(ref[None, :], directions)[0])
    assert hypervolume(values, directions, ref) == pytest.approx(expected, rel=1e-9, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(problems(max_rows=30, objectives=(2, 3, 4)), st.data())
def test_hypervolume_ignores_dominated_points(problem: tuple[np.ndarray, list[str]], data: st.DataObject) -> None:
    values, directions = problem
    if len(values) == 0:
        return
    ref = default_reference(values, directions)
    signs = np.where(np.array(directions) == MIN, 1.0, -1.0)
    # Worsen copies of random rows by a non-negative amount in every objective (their own direction).
    picks = data.draw(st.lists(st.integers(0, len(values) - 1), min_size=1, max_size=10))
    worse = values[picks] + signs * np.abs(np.random.default_rng(len(picks)).random((len(picks), len(signs))))
    base = hypervolume(values, directions, ref)
    assert hypervolume(np.concatenate([values, worse]), directions, ref) == pytest.approx(base, rel=1e-12)
    front = values[pareto_mask(values, directions)]
    assert hypervolume(front, directions, ref) == pytest.approx(base, rel=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hypervolume_3d_against_monte_carlo(seed: int) -> None:
    rng = np.random.default_rng(seed)
    # A concave front: points on the unit sphere in the positive octant (all mutually non-dominated).
    front = np.abs(rng.normal(size=(30, 3)))
    front /= np.linalg.norm(front, axis=1, keepdims=True)
    ref = np.array([1.1, 1.1, 1.1])
    exact = hypervolume(front, [MIN] * 3, ref)
    samples = rng.random((200_000, 3)) * ref  # uniform in the box [0, ref]
    covered = np.zeros(len(samples), dtype=bool)
    for p in front:
        covered |= (samples >= p).all(axis=1)
    estimate = covered.mean() * np.prod(ref)
    assert exact == pytest.approx(estimate, rel=0.02)


# -------------------------------------------------------------------------------------- default_reference


def test_default_reference_examples() -> None:
    values = np.array([[1.0, 10.0], [3.0, 20.0]])
    # minimize: worst 3, range 2 -> 3 + 0.2; maximize: worst 10, range 10 -> 10 - 1.
    np.testing.assert_allclose(default_reference(values, [MIN, MAX]), [3.2, 9.0])
    # Zero range: move by margin * max(|worst|, 1): 5 -> 5.5, 0 -> 0.1, maximize -4 -> -4.4.
    flat = np.array([[5.0, 0.0, -4.0], [5.0, 0.0, -4.0]])
    np.testing.assert_allclose(default_reference(flat, [MIN, MIN, MAX]), [5.5, 0.1, -4.4])
    with pytest.raises(ValueError):
        default_reference(np.empty((0, 2)), [MIN, MIN])


@settings(max_examples=80, deadline=None)
@given(problems(max_rows=20, objectives=(1, 2, 3)))
def test_default_reference_is_beaten_by_every_row(problem: tuple[np.ndarray, list[str]]) -> None:
    values, directions = problem
    if len(values) == 0:
        return
    ref = to_minimization(default_reference(values, directions)[None, :], directions)[0]
    assert (to_minimization(values, directions) < ref).all()
    assert hypervolume(values, directions, default_reference(values, directions)) > 0


# ------------------------------------------------------------------------------------ hypervolume_history


@settings(max_examples=80, deadline=None)
@given(problems(max_rows=25, objectives=(1, 2, 3, 4)))
def test_history_matches_prefix_hypervolumes(problem: tuple[np.ndarray, list[str]]) -> None:
    values, directions = problem
    if len(values) == 0:
        assert hypervolume_history(values, directions, np.zeros(len(directions))).shape == (0,)
        return
    # Pull the reference 30% of the way towards the mean row so that some rows fall outside it.
    signs = np.where(np.array(directions) == MIN, 1.0, -1.0)
    ref_min = to_minimization(default_reference(values, directions)[None, :], directions)[0]
    ref = (ref_min - 0.3 * (ref_min - to_minimization(values, directions).mean(axis=0))) * signs
    history = hypervolume_history(values, directions, ref)
    assert history.shape == (len(values),)
    assert (np.diff(history) >= 0).all()
    assert history[-1] == pytest.approx(hypervolume(values, directions, ref), rel=1e-12, abs=1e-12)
    prefixes = [hypervolume(values[: i + 1], directions, ref) for i in range(len(values))]
    np.testing.assert_allclose(history, prefixes, rtol=1e-12, atol=1e-12)


def test_history_example() -> None:
    values = np.array([[3.0, 1.0], [5.0, 5.0], [1.0, 3.0], [2.0, 2.0], [2.0, 2.0]])
    # (3,1) -> 1*3 = 3; (5,5) is outside; (1,3) adds the [1,3)x[3,4) strip = 2; (2,2) adds [2,3)x[2,3) = 1.
    np.testing.assert_allclose(hypervolume_history(values, [MIN, MIN], np.array([4.0, 4.0])), [3, 3, 5, 6, 6])


def test_history_random_3d_ends_at_total() -> None:
    rng = np.random.default_rng(7)
    values = rng.random((2000, 3))
    ref = np.array([1.0, 0.0, 1.0])
    history = hypervolume_history(values, [MIN, MAX, MIN], ref)
    assert (np.diff(history) >= 0).all()
    assert history[-1] == pytest.approx(hypervolume(values, [MIN, MAX, MIN], ref), rel=1e-12)
