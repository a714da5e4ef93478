"""`sampler: auto` (exhaustive within the time budget, else screening plus a guided sampler) and screening
(`search.screen`: quasi-random designs scored first, the best added to the study as finished trials)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import yaml
from _small_sweep import sweep, write_small

from cimdse.config import load_sweep
from cimdse.errors import UserError
from cimdse.pareto import pareto_mask
from cimdse.search import optuna_api as oa
from cimdse.search.auto import OUTPUT_ROWS_PER_S, choose, resolve
from cimdse.search.screen import nondominated_best, screen, unit_to_values

SIZE = 3 * 3 * 6 * 3   # the small sweep: devices x rows x ADC widths x tiles = 162 designs
OBJS = [("energy_per_token_uj", "minimize"), ("sqnr_db", "maximize")]


def small(tmp_path, sampler="auto", trials=24, name="a", extra="", search=""):
    f = write_small(tmp_path, sampler, trials, name, batch=8, extra=extra)
    if search:   # more search keys, inside the flow mapping
        f.write_text(f.read_text().replace("batch_size: 8}", f"batch_size: 8, {search}}}"))
    return f


def test_default_sampler_is_auto(tmp_path):
    f = small(tmp_path)
    f.write_text(f.read_text().replace("sampler: auto, ", ""))
    assert load_sweep(f).search.sampler == "auto"


def test_auto_enumerates_a_space_that_fits_the_budget(tmp_path):
    # 162 designs at an assumed 1,000 designs/s on 2 cores: 162 / 2,000 + 162 / 100,000 = 0.0826 s <= 60 s
    sw = load_sweep(small(tmp_path, search="designs_per_s: 1000"))
    c = choose(sw, cores=2)
    assert c["sampler"] == "exhaustive" and c["designs"] == SIZE
    assert c["estimate_s"] == pytest.approx(float(f"{SIZE / 2000 + SIZE / OUTPUT_ROWS_PER_S:.3g}"))
    assert "within the 60 s budget" in c["reason"]


def test_auto_guides_a_space_over_the_budget(tmp_path):
    # 162 designs at 10 designs/s on 1 core: 16.2 s > the 10 s budget -> NSGA-II (two objectives) with screening
    sw = load_sweep(small(tmp_path, search="designs_per_s: 10, budget_s: 10"))
    c = choose(sw, cores=1)
    assert c["sampler"] == "nsga2" and "more than the 10 s budget" in c["reason"]
    # screen a quarter of the budget's designs (10/s x 10 s / 4 = 25), raised to 10,000, capped at the space size
    assert c["screen"] == SIZE


def test_auto_guides_a_continuous_space(tmp_path):
    sw = load_sweep(small(tmp_path, extra="  clock_ghz: {low: 0.5, high: 2.0}", search="designs_per_s: 1000000"))
    c = choose(sw, cores=2)
    assert c["sampler"] == "nsga2" and c["designs"] is None and "continuous" in c["reason"]
    assert c["screen"] == 1_000_000   # 1e6 designs/s x 60 s / 4 = 1.5e7, capped at SCREEN_MAX


def test_auto_run_records_choice_and_summary_says_it(tmp_path):
    out = tmp_path / "run"
    r = sweep(small(tmp_path, search="designs_per_s: 1000"), "--out", out, "--quiet", "--no-plots")
    assert r.exit_code == 0, r.output
    assert "[auto: exhaustive (162 designs" in r.output
    rec = yaml.safe_load((out / "run.yaml").read_text())
    assert rec["search"]["sampler"] == "exhaustive" and rec["search"]["auto"]["reason"].startswith("162 designs")
    assert len(pd.read_csv(out / "trials.csv")) == SIZE


def test_resume_keeps_the_recorded_choice(tmp_path):
    """A resumed auto run takes its choice from run.yaml, not from a new measurement."""
    f = small(tmp_path, extra="  clock_ghz: {low: 0.5, high: 2.0}", search="designs_per_s: 100000, screen: 2000")
    out = tmp_path / "run"
    assert sweep(f, "--out", out, "--quiet", "--no-plots").exit_code == 0
    first = (out / "trials.csv").read_bytes()
    rec = yaml.safe_load((out / "run.yaml").read_text())
    rec["search"]["auto"]["reason"] = "recorded"
    (out / "run.yaml").write_text(yaml.safe_dump(rec))
    sw = resolve(load_sweep(f), cores=2, run_dir=out)
    assert sw.search.auto["reason"] == "recorded" and sw.search.screen == 2000
    assert sweep(f, "--out", out, "--quiet", "--no-plots").exit_code == 0   # nothing left to do: same trials
    assert (out / "trials.csv").read_bytes() == first


def test_unit_cube_maps_to_values(tmp_path):
    sw = load_sweep(small(tmp_path))
    sw = dataclasses.replace(sw, space=(
        *sw.space[:2],
        dataclasses.replace(sw.space[2]),  # adc_bits {low: 4, high: 9}: 6 integers
        dataclasses.replace(sw.space[3], choices=(), low=256, high=4096, log=True, is_int=True)))
    u = np.array([[0.0, 0.0, 0.0, 0.0], [0.5, 0.5, 0.5, 0.5], [0.999, 0.999, 0.999, 0.999]])
    cols = unit_to_values(sw, u)
    assert list(cols["device"]) == ["sram", "rram", "fefet"]        # a third of [0, 1) per choice
    assert list(cols["rows"]) == [64, 128, 256]
    # adc_bits: 4 + u x 5, rounded: 4, 6.5 -> 6 (round half to even), 8.995 -> 9
    assert list(cols["adc_bits"]) == [4, 6, 9]
    # log range 256..4096: 256 x 16^u -> 256, 256 x 4 = 1024, 256 x 16^0.999 = 256 x 15.956 = 4084.7 -> 4085
    assert list(cols["tiles"]) == [256, 1024, 4085]


def test_nondominated_best_peels_layers():
    # minimize both; layer 0 = rows 0, 1 (1,3) and (2,2); layer 1 = row 2 (3,3); layer 2 = row 3 (4,4)
    v = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 3.0], [4.0, 4.0]])
    assert list(nondominated_best(v, ["minimize", "minimize"], None)) == [0, 1]
    assert list(nondominated_best(v, ["minimize", "minimize"], 3)) == [0, 1, 2]
    assert list(nondominated_best(v, ["minimize", "minimize"], 1)) == [0]


def test_screen_keeps_the_front_of_what_it_scored(tmp_path):
    sw = load_sweep(small(tmp_path))
    s = screen(sw, n=500, seed=4)
    assert s.drawn == 500 and s.params and s.scored.feasible.all()
    # the kept designs are the feasible front of all 162 designs the 500 draws can reach at most, so none of them
    # is dominated by another kept one, and every kept design is distinct
    signs = np.array([1.0, -1.0])
    assert pareto_mask(s.scored.objectives * signs, ["minimize", "minimize"]).all()
    assert len({tuple(sorted(p.items())) for p in s.params}) == len(s.params)
    assert list(s.index) == sorted(s.index)
    again = screen(sw, n=500, seed=4)
    assert again.params == s.params   # seeded: the same designs


def test_screened_run_marks_origin_and_budget(tmp_path):
    out = tmp_path / "run"
    f = small(tmp_path, sampler="tpe", trials=20, search="screen: 300")
    r = sweep(f, "--out", out, "--quiet", "--no-plots")
    assert r.exit_code == 0, r.output
    df = pd.read_csv(out / "trials.csv")
    kept = screen(load_sweep(f))
    assert list(df["origin"]) == ["screen"] * len(kept.params) + ["sampler"] * 20   # screened first, on top
    assert (df["origin"] == "screen").sum() == len(kept.params) >= 1
    rec = yaml.safe_load((out / "run.yaml").read_text())
    assert rec["search"]["screen"] == 300 and "tpe, 300 designs screened" in r.output


def test_genetic_sampler_sees_screened_trials_as_first_population(tmp_path):
    sw = load_sweep(small(tmp_path, sampler="nsga2", search="screen: 200"))
    study = oa.open_study(sw, tmp_path, None, oa.make_sampler(sw, None))
    s = screen(sw)
    n = oa.add_screened(study, oa.distributions(sw), s.params, s.scored.objectives, s.scored.violations,
                        [{} for _ in s.params])
    assert n == len(s.params) and len(oa.screened_trials(study)) == n
    pop = study.sampler.get_population(study, 0)
    assert {t.number for t in pop} == set(range(n))   # no sampler trial yet: generation 0 is the screened ones


@pytest.mark.parametrize("search, key", [("screen: -1", "search.screen"), ("screen: 1.5", "search.screen"),
                                         ("screen_keep: 0", "search.screen_keep"), ("budget_s: 0", "search.budget_s"),
                                         ("designs_per_s: fast", "search.designs_per_s")])
def test_bad_search_keys(tmp_path, search, key):
    with pytest.raises(UserError) as e:
        load_sweep(small(tmp_path, search=search))
    assert e.value.key == key


def test_screening_is_refused_for_exhaustive(tmp_path):
    with pytest.raises(UserError, match="exhaustive one scores every design"):
        load_sweep(small(tmp_path, sampler="exhaustive", search="screen: 100"))


def test_workers_screen_once(tmp_path):
    """With --workers 2 the parent screens before the workers start: the screened designs appear once, and the
    budget of sampler trials is the same as in one process."""
    out = tmp_path / "run"
    f = small(tmp_path, sampler="random", trials=16, search="screen: 300")
    r = sweep(f, "--out", out, "--quiet", "--no-plots", "--workers", "2")
    assert r.exit_code == 0, r.output
    df = pd.read_csv(out / "trials.csv")
    kept = len(screen(load_sweep(f)).params)
    assert (df["origin"] == "screen").sum() == kept and (df["origin"] == "sampler").sum() == 16
