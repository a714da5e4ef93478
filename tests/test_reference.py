"""Reference design points: files parse and cite their sources, `cimdse check` passes and can fail, and
docs/VALIDATION.md is what `cimdse validate` renders."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from cimdse.cli import main
from cimdse.errors import UserError
from cimdse.reference import (
    FACTOR_AIM,
    RECORDED,
    TECHNOLOGIES,
    check,
    folder,
    load_reference,
    load_references,
    read_survey,
    render_recorded,
    render_validation,
    validation_rows,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def refs():
    return load_references()


def test_reference_files_parse_and_cite(refs):
    assert len(refs) >= 12
    for r in refs:
        assert r.citation.strip() and r.system.strip() and r.condition.strip(), r.name
        assert r.published, r.name
        for p in r.published:
            assert p.source.strip() and p.unit.strip(), (r.name, p.metric)
            if p.role == "not_compared":
                assert p.note.strip(), (r.name, p.metric)   # says why it is not compared


def test_every_technology_is_covered(refs):
    assert {r.technology for r in refs} == set(TECHNOLOGIES)


def test_every_figure_off_by_more_than_2x_says_why(refs):
    for row in validation_rows(refs):
        if row.factor > FACTOR_AIM:
            assert row.why_off.strip(), (row.reference, row.metric, row.factor)


def test_holdout_figures_exist_apart_from_calibration(refs):
    roles = [row.role for row in validation_rows(refs)]
    assert roles.count("holdout") >= 10 and "calibration" in roles


def test_survey_references_exist(refs):
    names = {r.name for r in refs}
    for s in read_survey():
        assert s.get("reference", "") in names | {""}, s
        assert s.get("reference") or s.get("note"), s      # not modelled -> says why


def test_cimdse_check_passes():
    r = CliRunner().invoke(main, ["check"])
    assert r.exit_code == 0, r.output
    assert "DRIFT" not in r.output


def test_perturbed_constant_makes_check_fail(monkeypatch):
    import cimdse.cost.model as model
    from cimdse.tech import load_tech

    tech = load_tech()
    per = {**tech.periphery, "adc": {**tech.periphery["adc"]}}
    per["adc"]["linear_fj_per_bit"] *= 1.01          # 1 % more ADC energy
    monkeypatch.setattr(model, "load_tech", lambda: dataclasses.replace(tech, periphery=per))
    r = CliRunner().invoke(main, ["check"])
    assert r.exit_code == 1, r.output
    assert "DRIFT" in r.output and "tops_per_w" in r.output


def test_update_then_check_on_a_copy(tmp_path):
    for p in folder().glob("*.yaml"):
        shutil.copy(p, tmp_path / p.name)
    (tmp_path / RECORDED).unlink()
    current, drifts = check(where=tmp_path)
    assert drifts and all(d.metric == "(not recorded)" for d in drifts)
    (tmp_path / RECORDED).write_text(render_recorded(current))
    assert check(where=tmp_path)[1] == []
    # a recorded value edited by hand is drift, reported per metric
    text = (tmp_path / RECORDED).read_text().replace("  isaac:\n    area_mm2: ", "  isaac:\n    area_mm2: 1")
    (tmp_path / RECORDED).write_text(text)
    drifts = check(where=tmp_path)[1]
    assert [(d.reference, d.metric) for d in drifts] == [("isaac", "area_mm2")]


def test_tolerance_is_relative(tmp_path):
    for p in folder().glob("*.yaml"):
        shutil.copy(p, tmp_path / p.name)
    current, _ = check(where=tmp_path)
    bumped = {n: {k: v * (1 + 1e-8) for k, v in m.items()} for n, m in current.items()}
    (tmp_path / RECORDED).write_text(render_recorded(bumped))
    assert check(rtol=1e-6, where=tmp_path)[1] == []
    assert check(rtol=1e-10, where=tmp_path)[1]


def test_validation_doc_is_current():
    doc = (ROOT / "docs" / "VALIDATION.md").read_text(encoding="utf-8")
    assert doc == render_validation(), "docs/VALIDATION.md is stale: run `cimdse validate --write docs/VALIDATION.md`"


def test_validate_prints_table_and_writes(tmp_path):
    r = CliRunner().invoke(main, ["validate"])
    assert r.exit_code == 0 and "| system | metric | published | predicted | error factor |" in r.output
    out = tmp_path / "V.md"
    r = CliRunner().invoke(main, ["validate", "--write", str(out)])
    assert r.exit_code == 0 and out.read_text() == render_validation()


def test_error_factor_is_symmetric():
    from cimdse.reference import Row

    # published 2, predicted 1 and published 1, predicted 2 are both off by 2x
    assert Row("a", "A", "peak_tops", 2.0, 1.0, "holdout", "").factor == 2.0
    assert Row("a", "A", "peak_tops", 1.0, 2.0, "holdout", "").factor == 2.0


def test_bad_reference_files_are_user_errors(tmp_path):
    good = (folder() / "isaac.yaml").read_text()
    f = tmp_path / "isaac.yaml"
    f.write_text(good.replace("citation:", "cite:"))
    with pytest.raises(UserError, match="unknown key 'cite'"):
        load_reference(f)
    f.write_text(good.replace("  device: rram", "  device: rrram"))
    with pytest.raises(UserError, match="device"):
        load_reference(f)
    f.write_text(good.replace("role: holdout", "role: tuned", 1))
    with pytest.raises(UserError, match="role"):
        load_reference(f)
    f.write_text(good.replace("metric: peak_tops", "metric: peak_flops", 1))
    with pytest.raises(UserError, match="not a cimdse metric"):
        load_reference(f)
    g = tmp_path / "other.yaml"
    g.write_text(good)
    with pytest.raises(UserError, match="must equal the file name"):
        load_reference(g)


def test_check_rejects_negative_tolerance():
    r = CliRunner().invoke(main, ["check", "--rtol", "-1"])
    assert r.exit_code == 2 and "--rtol" in r.output
