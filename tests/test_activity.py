"""Data-dependent input activity (cimdse/cost/activity.py, docs/MODEL.md section 15)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cimdse.cost import evaluate_arrays
from cimdse.cost.activity import input_activity, laplace_clip, skip_fraction, slice_stats
from cimdse.cost.params import defaults, to_batch

# Banner, Nahshan, Soudry, 'Post training 4-bit quantization of convolutional networks for rapid-deployment',
# NeurIPS 2019, section 4.1: MSE-optimal clipping of a Laplace(0, b) input at M = 2, 3, ..., 8 bits
BANNER_ALPHA_OVER_B = {2: 2.83, 3: 3.89, 4: 5.03, 5: 6.2, 6: 7.41, 7: 8.64, 8: 9.89}


@pytest.mark.parametrize("bits", sorted(BANNER_ALPHA_OVER_B))
def test_laplace_clip_matches_banner(bits):
    assert laplace_clip(bits) == pytest.approx(BANNER_ALPHA_OVER_B[bits], abs=0.015)


def test_three_bit_sign_magnitude_by_hand():
    # 3-bit sign-magnitude Laplace(0, 1): clip 3.89 (Banner), Q = 3 levels, step 3.89 / 3 = 1.2967.
    # P(m=1) = e^-0.648 - e^-1.945 = 0.5230 - 0.1430 = 0.3800; P(m=2) = e^-1.945 - e^-3.242 = 0.1430 - 0.0391 = 0.1039;
    # P(m=3) = e^-3.242 = 0.0391 (the clipped tail). bit 0 = P(1) + P(3) = 0.4191; bit 1 = P(2) + P(3) = 0.1430.
    rho, nz = slice_stats(0, 1, 3, 1)
    assert nz == pytest.approx([0.4191, 0.1430], abs=2e-3)
    assert rho == pytest.approx((0.4191 + 0.1430) / 2, abs=2e-3)


def test_uniform_inputs_are_half_ones():
    # every code equally likely: each bit is 1 half the time, whatever the encoding
    for enc in (0, 1):
        rho, nz = slice_stats(1, enc, 8, 1)
        assert rho == pytest.approx(0.5)
        assert np.allclose(nz, 0.5)
    # two 1-bit slices merged into a 2-bit slice: mean value 1.5 of 3, nonzero 3 of 4 codes
    rho, nz = slice_stats(1, 0, 8, 2)
    assert rho == pytest.approx(0.5) and np.allclose(nz, 0.75)


def test_slice_counts():
    a = input_activity(np.array([0, 0, 0, 0]), np.array([0, 1, 0, 1]), np.array([8, 8, 8, 1]),
                       np.array([1, 1, 3, 1]))
    # two's complement 8 bits: 8 slices; sign-magnitude: 7 magnitude slices; 8 bits by 3: 3 slices; 1 bit: 1
    assert list(a["slices"]) == [8, 7, 3, 1]


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 1), st.integers(0, 1), st.integers(1, 12), st.integers(1, 4))
def test_densities_are_probabilities(stats, enc, bits, db):
    rho, nz = slice_stats(stats, enc, bits, min(db, bits))
    assert 0.0 <= rho <= 1.0
    assert np.all((nz >= 0) & (nz <= 1))


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 12))
def test_sign_magnitude_top_bits_sparse(bits):
    # Laplace inputs: magnitude bits get sparser towards the top; two's complement sign extension keeps them dense,
    # so sign-magnitude drives fewer rows in all
    _, nz_sm = slice_stats(0, 1, bits, 1)
    rho_sm, _ = slice_stats(0, 1, bits, 1)
    rho_tc, nz_tc = slice_stats(0, 0, bits, 1)
    assert np.all(np.diff(nz_sm) <= 1e-12)
    assert rho_sm * (bits - 1) <= rho_tc * bits + 1e-12     # total row activity per vector (slices x mean)
    assert nz_tc[-1] == pytest.approx((1 - _p_zero(bits)) / 2, abs=1e-9)     # the sign bit: q < 0


def _p_zero(bits: int) -> float:
    """P(q = 0) of a Laplace(0, 1) input at `bits` bits: |x| below half a step, 1 - exp(-step / 2)."""
    return 1 - np.exp(-laplace_clip(bits) / (2 ** (bits - 1) - 1) / 2)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 1), st.integers(0, 1), st.integers(1, 16), st.integers(1, 4),
       st.integers(1, 512), st.integers(1, 512))
def test_skip_fraction_bounded_and_falls_with_rows(stats, enc, bits, db, ra1, ra2):
    a = input_activity(np.array([stats] * 2), np.array([enc] * 2), np.array([bits] * 2), np.array([db] * 2))
    lo, hi = sorted((ra1, ra2))
    f = skip_fraction(a["code"], np.array([lo, hi]))
    assert np.all((f >= 0) & (f <= 1))
    assert f[1] <= f[0] + 1e-12     # more rows per group: a slice is all-zero less often


def _run(**kw):
    return evaluate_arrays(to_batch([{**defaults(), **kw}]), "gpt2", None, breakdown=True)


@pytest.mark.parametrize("device", ["rram", "sram", "pcm"])
def test_skipping_never_adds_conversions(device):
    base = dict(device=device, input_encoding="sign_magnitude", rows_active=16, cols_per_adc=8)
    off, on = _run(**base), _run(**base, slice_skip="on")
    for ph in off["breakdown"]["energy_pj"]:
        e0, e1 = off["breakdown"]["energy_pj"][ph], on["breakdown"]["energy_pj"][ph]
        assert e1["adc"][0] < e0["adc"][0]            # the top magnitude slices are often 0 on 16 rows
        assert e1["cells"][0] == pytest.approx(e0["cells"][0])
        # the detection gates cost at most one OR per driven row and slice, far below the conversions saved
        assert sum(v[0] for v in e1.values()) < sum(v[0] for v in e0.values())


def test_uniform_stats_reproduce_flat_half_density():
    # uniform inputs, two's complement: activity 0.5 per slice, the old flat input_bit_density
    r = _run(device="rram", input_stats="uniform", rows_active=64)
    r_l = _run(device="rram", rows_active=64)
    cells_u = r["breakdown"]["energy_pj"]["decode"]["cells"][0]
    cells_l = r_l["breakdown"]["energy_pj"]["decode"]["cells"][0]
    rho_l = slice_stats(0, 0, 8, 1)[0]
    assert cells_l / cells_u == pytest.approx(rho_l / 0.5, rel=1e-9)


def test_uniform_density_from_data_file():
    # input_stats uniform reads periphery.yaml activity.input_bit_density: at p = 0.25 the activity is 0.25 and a
    # 2-bit slice is nonzero with probability 1 - 0.75^2 = 0.4375; skipping 4 such rows: 0.75^8 = 0.100113
    a = input_activity(np.array([1]), np.array([0]), np.array([8]), np.array([2]), density=0.25)
    assert a["rho"][0] == pytest.approx(0.25) and a["slices"][0] == 4
    assert skip_fraction(a["code"], np.array([4]), density=0.25)[0] == pytest.approx(0.75**8)


def test_four_bit_twos_complement_laplace_slice_by_hand():
    # 4-bit Laplace(0, 1) in one 4-bit slice (Sinangil's dac_bits 4): clip 5.03 (Banner), step 5.03 / 7 = 0.7186,
    # P(m = 0) = 1 - e^(-0.3593) = 0.3018. In two's complement the slice value is m for +m and 16 - m for -m (sign 1/2
    # each), so E[u] = sum_{m > 0} P(m) (m + 16 - m) / 2 = 8 (1 - 0.3018) = 5.586: activity 5.586 / 15 = 0.3724.
    # Uniform codes: E[u] = 7.5 of 15, activity 0.5.
    rho, nz = slice_stats(0, 0, 4, 4)
    assert rho == pytest.approx(0.3724, abs=2e-4) and nz == pytest.approx([0.6982], abs=2e-4)
    assert slice_stats(1, 0, 4, 4)[0] == pytest.approx(0.5)


def test_sinangil_is_compared_on_dense_test_data():
    # Sinangil et al., JSSC 2021, Table I: 351 TOPS/W at the average 4-bit output value 6 of 15 (610.5 at 0, 262.3
    # at 15), measured on test data, not LLM activations: its reference takes uniform input codes, whose row (DAC)
    # energy is 0.5 / 0.3724 = 1.3427x that of the laplace default (the DAC charge goes with the slice activity)
    from cimdse.config import load_workload
    from cimdse.cost.params import scenario_defaults
    from cimdse.reference import folder, load_reference

    ref = load_reference(folder() / "sinangil_7nm_sram.yaml")
    assert ref.design["input_stats"] == "uniform"
    model, sc = load_workload(ref.workload, ref.path)
    design = {**scenario_defaults(sc), **ref.design}
    dac = {}
    for stats in ("uniform", "laplace"):
        r = evaluate_arrays(to_batch([{**design, "input_stats": stats}]), model, sc, breakdown=True)
        dac[stats] = r["breakdown"]["energy_pj"]["decode"]["dac"][0]
    assert dac["uniform"] / dac["laplace"] == pytest.approx(0.5 / 0.3724, rel=5e-4)
