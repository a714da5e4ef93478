"""Reference design points: files parse and cite their sources, `cimdse check` passes and can fail, and
docs/VALIDATION.md is what `cimdse validate` renders."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
    assert r.exit_code == 0 and "| system | metric | published | predicted | band p10 - p90 | inside | error factor |" \
        in r.output
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


# ------------------------------------------------------------------------------------------------ relative figures

def _ref(refs, name):
    return next(r for r in refs if r.name == name)


def test_relative_figures_parse(refs):
    pim = _ref(refs, "pim_gpt")
    rel = [p for p in pim.published if p.baseline]
    assert [p.metric for p in rel] == ["speedup_vs_gpu", "speedup_vs_gpu", "energy_gain_vs_gpu", "energy_gain_vs_gpu"]
    assert all(p.baseline == {"gpu": "t4", "gpus": 1, "bits": None} for p in rel)
    assert [p.workload["model"] if p.workload else None for p in rel] == [None, "gpt2", None, "gpt2"]
    assert [p.key for p in rel] == ["speedup_vs_gpu@1xt4", "speedup_vs_gpu@1xt4/gpt2", "energy_gain_vs_gpu@1xt4",
                                    "energy_gain_vs_gpu@1xt4/gpt2"]
    xf = [p for p in _ref(refs, "xformer").published if p.baseline]
    assert xf[0].baseline == {"gpu": "gtx-1060", "gpus": 1, "bits": 32} and xf[0].key == "speedup_vs_gpu@1xgtx-1060/32bit"
    # absolute figures keep their metric as key and have no baseline
    assert all(p.key == p.metric and p.baseline is None for p in _ref(refs, "isaac").published)


def test_relative_gpus_default_to_the_fewest_that_fit(tmp_path):
    text = (folder() / "pim_gpt.yaml").read_text().replace("baseline: {gpu: t4, gpus: 1}", "baseline: {gpu: t4}")
    f = tmp_path / "pim_gpt.yaml"
    f.write_text(text)
    # GPT-2 XL at 16 bits: 3.1 GB of weights + 0.6 GB of KV cache fit in 0.9 x 16 GB of one T4
    assert {p.baseline["gpus"] for p in load_reference(f).published if p.baseline} == {1}


def test_pim_gpt_speedup_and_energy_gain_by_hand(refs):
    from cimdse.cost.gpu import load_gpus
    from cimdse.reference import evaluate_reference, predict_relative

    # GPU side, T4 roofline (docs/MODEL.md 8), GPT-2 XL decode step, batch 1, prompt 512, generate 512, 16 bit:
    #   static weights read per step = (48 layers x (4 x 1600^2 + 2 x 1600 x 6400) + lm_head 50257 x 1600) x 2 B
    #                               = (48 x 30,720,000 + 80,411,200) x 2 = 3,109,942,400 B
    #   KV read per step = 48 layers x 2 (K, V) x 1600 x 768.5 tokens (512 + (512 + 1)/2, the mean context) x 2 B
    #                    = 236,083,200 B
    #   t_mem = 3,346,025,600 B / (320e9 B/s x mem_efficiency 0.69 = 220.8e9 B/s) = 15.154 ms
    #   launches: 13 kernels per layer x 48 + embedding, position embedding, final norm, lm_head = 628 x 0.58 us
    #           = 0.364 ms  -> tpot = 15.518 ms (activations and elementwise traffic, 0.2 %, left out)
    #   energy = tpot x idle 7 W + (70 - 7) W x mem_power_activity 0.236 x t_mem = 0.1086 + 0.2253 = 0.3339 J
    cal = load_gpus().calibration
    t_mem = (3_109_942_400 + 236_083_200) / (320e9 * cal["mem_efficiency"])
    tpot = t_mem + 628 * cal["kernel_overhead_us"] * 1e-6
    e_gpu = tpot * 7 + (70 - 7) * cal["mem_power_activity"] * t_mem
    assert tpot * 1e3 == pytest.approx(15.518, rel=1e-3) and e_gpu == pytest.approx(0.3339, rel=1e-3)
    # CIM side: the DRAM-PIM design's own decode step (its laws are hand-checked in tests/test_cost_extensions.py)
    pim = _ref(refs, "pim_gpt")
    cim = evaluate_reference(pim)
    speed, energy = [p for p in pim.published if p.baseline and not p.workload]
    assert speed.metric == "speedup_vs_gpu" and energy.metric == "energy_gain_vs_gpu"
    # speed-up = GPU tpot / design tpot; energy gain = GPU energy per token / design energy per token
    assert predict_relative(pim, speed) == pytest.approx(tpot * 1e3 / cim["tpot_ms"], rel=3e-3)
    assert predict_relative(pim, energy) == pytest.approx(e_gpu * 1e6 / cim["energy_per_token_uj"], rel=3e-3)


def test_encoder_speedup_is_a_first_token_ratio_at_the_baseline_precision(refs):
    from cimdse.config import load_workload
    from cimdse.cost.gpu import gpu_metrics
    from cimdse.reference import evaluate_reference, gpu_scenario, predict_relative

    xf = _ref(refs, "xformer")
    speed = next(p for p in xf.published if p.metric == "speedup_vs_gpu")
    model, sc = load_workload(xf.workload, xf.path)
    gpu = gpu_metrics("gtx-1060", 1, model, gpu_scenario(sc, 32))
    assert gpu["precision"] == "fp32" and gpu["metrics"]["tpot_ms"] == 0   # BERT: no decode; FP32 on CUDA cores
    assert predict_relative(xf, speed) == pytest.approx(gpu["metrics"]["ttft_ms"] / evaluate_reference(xf)["ttft_ms"])


def test_relative_figures_are_reported_apart(refs):
    text = render_validation(refs)
    absolute = text.split("## Geometric-mean error factor per metric")[0]
    relative = text.split("## Relative figures against a GPU")[1].split("## Calibrated constants")[0]
    assert "`speedup_vs_gpu`" not in absolute and "`speedup_vs_gpu` | 1x t4 | 41 |" in relative
    rows = validation_rows(refs)
    n_abs = sum(not r.baseline for r in rows)
    n_rel = sum(bool(r.baseline) for r in rows)
    assert n_rel >= 4 and f"All figures: {n_abs}," in text and f"Relative figures: {n_rel}," in text


def test_check_records_relative_figures(refs):
    current, drifts = check()
    assert drifts == []
    assert {"speedup_vs_gpu@1xt4", "energy_gain_vs_gpu@1xt4/gpt2"} <= set(current["pim_gpt"])


def test_validate_one_reference_file():
    r = CliRunner().invoke(main, ["validate", "--reference", str(folder() / "xformer.yaml")])
    assert r.exit_code == 0, r.output
    assert "## Relative figures against a GPU" in r.output and "1x gtx-1060, 32 bit" in r.output
    assert "Not compared: latency vs in-memory NVM accelerator" in r.output
    r = CliRunner().invoke(main, ["validate", "--reference", str(folder() / "isaac.yaml")])
    assert r.exit_code == 0 and "`peak_tops`" in r.output and "Relative figures" not in r.output


_ANY = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                 st.text(max_size=12), st.sampled_from(["t4", "gtx-1060", "h100-sxm", 32, 16, 1, 0]),
                 st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=4), st.integers(), max_size=2))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(base=st.dictionaries(st.sampled_from(["gpu", "gpus", "bits", "gpu_count"]), _ANY, max_size=4),
       workload=st.one_of(st.none(), _ANY, st.fixed_dictionaries({"model": st.sampled_from(["gpt2", "bert-base"])},
                                                                 optional={"batch": _ANY, "weight_bits": _ANY})))
def test_any_baseline_value_parses_or_is_one_user_error(tmp_path, base, workload):
    import yaml as _yaml

    item = {"metric": "speedup_vs_gpu", "value": 2, "unit": "x", "source": "fuzz", "role": "holdout",
            "baseline": base}
    if workload is not None:
        item["workload"] = workload
    doc = {"name": "fuzz", "system": "S", "citation": "c", "technology": "rram", "condition": "c",
           "workload": {"model": "gpt2", "prompt_tokens": 8, "generate_tokens": 2}, "design": {"device": "rram"},
           "published": [item]}
    f = tmp_path / "fuzz.yaml"
    f.write_text(_yaml.safe_dump(doc))
    try:
        ref = load_reference(f)
    except UserError as err:
        assert str(f) in str(err) and "\n" not in err.render()
        return
    p = ref.published[0]
    assert p.baseline["gpu"] in ("t4", "gtx-1060", "h100-sxm") and p.baseline["gpus"] >= 1
