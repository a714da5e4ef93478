"""Node scaling never interpolates across the planar/FinFET break (docs/MODEL.md section 17)."""

from __future__ import annotations

import numpy as np
import pytest

from cimdse.cost.timing import fo4_ps
from cimdse.tech import load_tech


def test_fo4_planar_law_at_22_nm():
    # Stillmaker-Baas delay cubics at the nominal supplies: 45 nm, 1.0 V: -501.6 + 1567 - 1619 + 566.1 = 12.5 ps;
    # 32 nm, 0.9 V: -1047*0.729 + 2982*0.81 - 2797*0.9 + 873.5 = 8.357 ps. Planar slope g = ln(12.5/8.357)/ln(45/32)
    # = 1.18100; 22 nm (0.85 V nominal): 8.357 * (22/32)^1.181 = 5.369 ps (the old log-log interpolation towards the
    # 20 nm FinFET row, 9.88 ps at 0.835 V, gave about 9.6 ps)
    t = load_tech()
    assert fo4_ps(np.array([22.0]), np.array([0.85]), t)[0] == pytest.approx(5.369, rel=2e-3)


def test_families_keep_their_rows():
    t = load_tech()
    # a FinFET node reads the FinFET rows only: 20 and 16 nm are table rows, 18 nm lies between them
    k = t.cap_factor(np.array([20.0, 18.0, 16.0]))
    assert k[1] == pytest.approx((k[0] + k[2]) / 2, rel=1e-12)
    # a planar node between 32 and 20 nm is independent of the 20 nm FinFET row: it follows k(32) (F/32)^g
    f_p, k_p, g = t._cap_planar_law
    assert f_p == 32.0
    for f in (30.0, 28.0, 22.0, 20.5):
        assert t.cap_factor(f) == pytest.approx(k_p * (f / 32.0) ** g, rel=1e-12)


def test_finfet_cap_factor_scales_the_finfet_rows_only():
    # periphery.yaml node_families.finfet_cap_factor (an uncertainty band, recorded value 1): at 1.68 a FinFET node's
    # k is 1.68x the table's (7 nm: 0.065358 -> 0.109801), a planar node's is unchanged (22 nm: planar law, 0.28910)
    import copy

    from cimdse.tech import build_tech, shipped_raw

    raw = copy.deepcopy(shipped_raw())
    raw["periphery"]["node_families"]["finfet_cap_factor"]["value"] = 1.68
    t, base = build_tech(raw), load_tech()
    assert base.cap_factor(7.0) == pytest.approx(0.065358, rel=1e-5)
    assert t.cap_factor(7.0) == pytest.approx(0.065358 * 1.68, rel=1e-5)
    assert t.cap_factor(np.array([22.0, 20.0]))[0] == base.cap_factor(np.array([22.0]))[0]
    assert t.cap_factor(np.array([20.0]))[0] == pytest.approx(0.1532 * 1.68, rel=1e-9)
