"""`cimdse sweep --verify CHECKPOINT --text FILE`: every front design measured on a real (tiny) checkpoint after the
search; bad input gives one line, exit 2 and no run folder."""

from __future__ import annotations

import json
import math
import sys

import pandas as pd
import pytest
import yaml
from _cli import one_line_error
from _small_sweep import sweep, write_small
from click.testing import CliRunner

from cimdse.cli import main
from cimdse.cost.params import PARAMS

pytest.importorskip("safetensors")
pytest.importorskip("tokenizers")




def test_verify_adds_measured_columns_per_front_design(tiny_checkpoint, text_file, tmp_path):
    ck = tiny_checkpoint("llama")
    f = write_small(tmp_path, "tpe", 24, "verify", 8)
    r = sweep(f, "--out", tmp_path / "run", "--verify", ck, "--text", text_file, "--verify-tokens", 48)
    assert r.exit_code == 0, r.output
    assert "measured_ppl" in r.output   # the printed front table shows the measurement
    front = pd.read_csv(tmp_path / "run" / "pareto.csv")
    assert len(front) >= 2
    for col in ("measured_ppl", "measured_logit_sqnr_db"):
        assert col in front and front[col].notna().all() and len(front[col]) == len(front)
        assert front[col].map(math.isfinite).all()
    assert (front["measured_ppl"] > 1).all()   # a perplexity is at least 1 (exp of a non-negative loss)
    assert "measured_ppl" not in pd.read_csv(tmp_path / "run" / "trials.csv")   # only the front is measured
    assert (tmp_path / "run" / "verify.png").stat().st_size > 10_000
    rec = yaml.safe_load((tmp_path / "run" / "run.yaml").read_text())["verify"]
    assert rec["checkpoint"] == str(ck) and rec["text"] == str(text_file) and rec["tokens"] == 48
    assert rec["designs"] == len(front) and rec["mode"] == "inject" and rec["reference_ppl"] > 1

    # each row is what `cimdse accuracy` measures for that design on its own (same checkpoint, tokens, seed)
    for _, row in front.iloc[[0, -1]].iterrows():
        sets = [a for k in PARAMS for a in ("--set", f"{k}={row[k]}")]
        a = CliRunner().invoke(main, ["accuracy", str(ck), "--text", str(text_file), "--tokens", "48", "--json", *sets])
        assert a.exit_code == 0, a.output
        out = json.loads(a.output)
        assert out["design_ppl"] == pytest.approx(row["measured_ppl"], rel=1e-6)
        assert out["logit_sqnr_db"] == pytest.approx(row["measured_logit_sqnr_db"], rel=1e-6, abs=1e-6)
        assert out["reference_ppl"] == pytest.approx(rec["reference_ppl"], rel=1e-9)


def test_verify_with_collect_measures_an_existing_study(tiny_checkpoint, text_file, tmp_path):
    f = write_small(tmp_path, "random", 16, "collect", 8)
    assert sweep(f, "--out", tmp_path / "run", "--no-plots").exit_code == 0
    assert "measured_ppl" not in pd.read_csv(tmp_path / "run" / "pareto.csv")
    r = sweep(f, "--out", tmp_path / "run", "--no-plots", "--collect", "--verify", tiny_checkpoint("gpt2"),
              "--text", text_file, "--verify-tokens", 32, "--quiet")
    assert r.exit_code == 0, r.output
    front = pd.read_csv(tmp_path / "run" / "pareto.csv")
    assert front["measured_logit_sqnr_db"].map(math.isfinite).all() and len(front) >= 1
    assert not (tmp_path / "run" / "verify.png").exists()   # --no-plots


@pytest.mark.parametrize("args, expect", [
    (["--verify", "{ck}"], "--verify: needs --text"),
    (["--text", "{text}"], "--text: the text that --verify scores"),
    (["--verify", "{tmp}/nope", "--text", "{text}"], "checkpoint folder not found"),
    (["--verify", "{ck}", "--text", "{tmp}/missing.txt"], "file not found"),
    (["--verify", "{ck}", "--text", "{text}", "--verify-tokens", "1"], "at least 2 tokens"),
    (["--verify", "{ck}", "--text", "{text}", "--sampler", "exhaustive", "--shard", "1/2"], "shard"),
])
def test_bad_verify_input_one_line_exit_2_nothing_written(tiny_checkpoint, text_file, tmp_path, args, expect):
    f = write_small(tmp_path, "tpe", 8, "bad", 8)
    subs = {"ck": str(tiny_checkpoint("llama")), "text": str(text_file), "tmp": str(tmp_path)}
    line = one_line_error(sweep(f, "--out", tmp_path / "run", *[a.format(**subs) for a in args]))
    assert expect in line, line
    assert not (tmp_path / "run").exists()


def test_verify_without_the_accuracy_extra_names_the_install(monkeypatch, tiny_checkpoint, text_file, tmp_path):
    ck = tiny_checkpoint("llama")
    monkeypatch.setitem(sys.modules, "tokenizers", None)   # import tokenizers now raises ImportError
    f = write_small(tmp_path, "tpe", 8, "nopkg", 8)
    line = one_line_error(sweep(f, "--out", tmp_path / "run", "--verify", ck, "--text", text_file))
    assert "tokenizers" in line and "pip install -e '.[accuracy]'" in line and "--verify" in line
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("status, rows, skipped", [("interrupted", 2, "run interrupted"),
                                                  ("complete", 0, "empty front")])
def test_verify_is_skipped_and_recorded_when_there_is_nothing_to_measure(tiny_checkpoint, text_file, tmp_path,
                                                                         status, rows, skipped):
    from cimdse.config import load_sweep
    from cimdse.results import run_record
    from cimdse.run.outputs import write_outputs
    from cimdse.run.verify import prepare_verify
    from cimdse.search.scoring import score

    sw = load_sweep(write_small(tmp_path, "tpe", 8, "skip", 8))
    designs = [{"device": "sram", "rows": 128, "adc_bits": 6, "tiles": 1024},
               {"device": "fefet", "rows": 128, "adc_bits": 4, "tiles": 1024}][:rows]
    v = prepare_verify(tiny_checkpoint("llama"), text_file, 16)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    _, front = write_outputs(sw, run_dir, run_record(sw), score(sw, designs) if designs else None,
                             list(range(rows)), status, plots=False, verify=v)
    assert "measured_ppl" not in front
    rec = yaml.safe_load((run_dir / "run.yaml").read_text())
    assert rec["verify"]["skipped"] == skipped and rec["verify"]["designs"] == 0 and rec["status"] == status
