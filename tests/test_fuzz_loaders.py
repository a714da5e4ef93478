"""Fuzzing the loaders with hypothesis-generated documents: a valid result or one UserError line, nothing else.

Three kinds of documents: valid files with one subtree replaced by random data (reaches the deep validation),
random YAML/JSON data, and valid text with random characters inserted, deleted or replaced (reaches the parsers).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from cimdse.config import load_design_file, load_sweep
from cimdse.errors import UserError
from cimdse.models import load_model
from cimdse.workload import ModelConfig

QUICK = yaml.safe_load((Path(__file__).parent.parent / "sweeps" / "quickstart.yaml").read_text())
LLAMA = json.loads((Path(__file__).parent / "data" / "hf" / "llama-2-7b" / "config.json").read_text())
DESIGN = {"design": {"device": "rram", "rows": 256, "adc_bits": 6, "vdd": 0.8},
          "workload": {"model": "gpt2", "batch": 2, "prompt_tokens": 64}}
WORDS = ["space", "fixed", "rows", "tiles", "device", "sram", "low", "high", "step", "log", "minimize", "maximize",
         "area_mm2", "sqnr_db", "tpe", "exhaustive", "model", "gpt2", "model_type", "llama", "hidden_size",
         "num_hidden_layers", "é", "", " ", "1e5", "-", "0"]
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.sampled_from([0, 1, -1, 2**63, 10**400]),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(WORDS), st.text(max_size=12))
DATA = st.recursive(SCALARS, lambda kids: st.one_of(
    st.lists(kids, max_size=4), st.dictionaries(st.one_of(st.sampled_from(WORDS), st.text(max_size=8)), kids,
                                                max_size=4)), max_leaves=12)
FOLDER = Path(tempfile.mkdtemp(prefix="cimdse-fuzz-"))


def mutate_tree(doc, draw):
    """Replace one randomly chosen subtree (or a new key) of doc with random data."""
    doc = json.loads(json.dumps(doc))
    node = doc
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys or draw(st.booleans()):
            break
        k = draw(st.sampled_from(keys))
        if not isinstance(node[k], (dict, list)) or draw(st.booleans()):
            break
        node = node[k]
    if isinstance(node, dict):
        key = draw(st.one_of(st.sampled_from(list(node) or ["x"]), st.sampled_from(WORDS)))
        node[key] = draw(DATA)
    elif node:
        node[draw(st.integers(0, len(node) - 1))] = draw(DATA)
    return doc


def mutate_text(text: str, draw) -> str:
    """Insert, delete or replace a few characters."""
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "delete", "replace"]))
        ch = draw(st.sampled_from(list("{}[]:,'\"-#!&*|>%@`\t\n ") + ["é", "\x00", "\ufeff", "9" * 30]))
        text = (text[:i] + ch + text[i:] if op == "insert" else
                text[:i] + text[i + 1:] if op == "delete" else text[:i] + ch + text[i + 1:])
    return text


def dump(doc, kind: str) -> str:
    if kind == "json":
        return json.dumps(doc, allow_nan=True)
    try:
        return yaml.safe_dump(doc, allow_unicode=True)
    except (yaml.YAMLError, OverflowError, ValueError):  # not representable; write it as JSON, which YAML reads
        return json.dumps(doc, allow_nan=True)


def only_valid_or_one_line(loader, text: str, name: str):
    path = FOLDER / name
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        got = loader(path)
        event("valid")
        return got
    except UserError as err:
        event("UserError")
        line = err.render()
        assert line and "\n" not in line and "\r" not in line, line
        assert len(line) < 2000, line
        return None


@st.composite
def document(draw, base, kind: str) -> str:
    """A mutated valid file, random data, or valid text with a few characters changed."""
    how = draw(st.sampled_from(["tree", "data", "text"]))
    event(f"document: {how}")
    if how == "data":
        return dump(draw(DATA), kind)
    if how == "tree":
        return dump(mutate_tree(base, draw), kind)
    return mutate_text(dump(base, kind), draw)


FUZZ = settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(document(QUICK, "yaml"))
def test_fuzz_load_sweep(text):
    sw = only_valid_or_one_line(load_sweep, text, "sweep.yaml")
    if sw is not None:
        assert sw.space and sw.objectives and sw.search.trials >= 1


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document(DESIGN, "yaml"))
def test_fuzz_load_design_file(text):
    got = only_valid_or_one_line(load_design_file, text, "design.yaml")
    if got is not None:
        design, wl = got
        assert isinstance(design, dict) and (wl is None or isinstance(wl, dict))


@FUZZ
@given(document(LLAMA, "json"))
def test_fuzz_load_model_config_json(text):
    m = only_valid_or_one_line(load_model, text, "config.json")
    if m is not None:
        assert isinstance(m, ModelConfig) and m.param_counts()["total"] > 0
