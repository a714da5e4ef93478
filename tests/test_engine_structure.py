"""The shape issue 17 asks of the sweep engine, checked on the source: Optuna only in its adapter, no private
attribute of Optuna or pandas, no import cycle, modules under 600 lines; and a library call that leaves its host's
state (matplotlib backend, warning filters, Optuna's log level, pyplot's figures, the garbage collector's settings)
as it found it."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "cimdse"
SOURCES = sorted(PKG.rglob("*.py"))
PRIVATE = ("._storage", "_get_trials(", "._study_id", "._trial_id", "JournalOperation", "_replay_result",
           "_from_arrays", "._backend", "._search_space", "._validate(")


def _module(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """cimdse modules imported anywhere in the file (module level and inside functions), resolved."""
    mod = _module(path)
    pkg = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("cimdse"):
                out.add(target)
                for a in node.names:  # `from . import x` may name a submodule
                    if (PKG.parent / (target + "." + a.name).replace(".", "/")).with_suffix(".py").exists():
                        out.add(f"{target}.{a.name}")
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("cimdse"))
    return out


def test_only_the_adapter_imports_optuna() -> None:
    users = []
    for p in SOURCES:
        for node in ast.walk(ast.parse(p.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(n == "optuna" or n.startswith("optuna.") for n in names):
                users.append(str(p.relative_to(ROOT)))
    assert sorted(set(users)) == ["cimdse/search/optuna_api.py"]


@pytest.mark.parametrize("pattern", PRIVATE)
def test_no_private_attribute_of_optuna_or_pandas(pattern) -> None:
    hits = [str(p.relative_to(ROOT)) for p in SOURCES if pattern in p.read_text()]
    assert not hits, f"{pattern} in {hits}"


def test_modules_stay_under_600_lines() -> None:
    long = {str(p.relative_to(ROOT)): n for p in SOURCES if (n := len(p.read_text().splitlines())) > 600}
    assert not long, long


def test_no_import_cycle() -> None:
    """Edges: every cimdse import in a module, function-local ones included; a package's __init__ counts as
    importing what it imports. A depth-first search finds any cycle."""
    graph = {_module(p): {m for m in _imports(p) if m != _module(p)} for p in SOURCES}
    # importing a.b.c runs a/__init__ and a/b/__init__ first: parents are implied, not cycle edges
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in graph.get(m, ()):
            if n.startswith(m + "."):
                continue  # a package importing its own submodule
            if state.get(n) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(n):] + [n]))
            if n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m)


SIDE_EFFECTS = """
import gc, sys, warnings
import matplotlib
matplotlib.use("svg")  # a host's choice, which the library must keep
import matplotlib.pyplot as plt
import optuna
import optuna.importance, pandas, polars, scipy.special, scipy.stats  # third-party imports add their own filters
optuna.logging.set_verbosity(optuna.logging.ERROR)
warnings.simplefilter("default")
before = (matplotlib.get_backend(), list(warnings.filters), optuna.logging.get_verbosity(), plt.get_fignums(),
          gc.get_threshold(), gc.isenabled())   # the collector: only the CLI's own process tunes it
import cimdse
from cimdse.config import load_sweep
res = cimdse.run_sweep(load_sweep(sys.argv[1]), out=sys.argv[2])
assert res.completed == 24, res.completed
after = (matplotlib.get_backend(), list(warnings.filters), optuna.logging.get_verbosity(), plt.get_fignums(),
         gc.get_threshold(), gc.isenabled())
assert after == before, (before, after)
print("unchanged")
"""


def test_run_sweep_leaves_the_host_state_alone(tmp_path) -> None:
    f = tmp_path / "s.yaml"
    f.write_text("name: s\nworkload: {model: gpt2, batch: 1, prompt_tokens: 16, generate_tokens: 4}\n"
                 "space: {device: [sram, rram], adc_bits: {low: 3, high: 8}, rows: [64, 128]}\nfixed: {chips: 1}\n"
                 "objectives: {energy_per_token_uj: minimize, sqnr_db: maximize}\n"
                 "search: {sampler: tpe, trials: 24, seed: 1, batch_size: 8}\n")
    r = subprocess.run([sys.executable, "-c", SIDE_EFFECTS, str(f), str(tmp_path / "run")], capture_output=True,
                       text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert r.returncode == 0 and "unchanged" in r.stdout, r.stderr[-3000:]
    assert {p.name for p in (tmp_path / "run").glob("*.png")} == {"pareto.png", "breakdown.png", "history.png",
                                                                 "importance.png"}


def test_docs_name_every_metric_of_the_table() -> None:
    """docs/MODEL.md defines every metric of the one table (cimdse/metrics.py), so a metric added there without
    its definition in the docs fails here."""
    from cimdse.metrics import TABLE

    text = (ROOT / "docs" / "MODEL.md").read_text()
    missing = [m.name for m in TABLE if f"`{m.name}`" not in text]
    assert not missing, missing


NO_CHILDREN = """
import multiprocessing, os, sys
from pathlib import Path
import cimdse
from cimdse.config import load_sweep
from cimdse.run.stream import stream_exhaustive
sweep = load_sweep(sys.argv[1])
res = cimdse.run_sweep(sweep, out=sys.argv[2], workers=2)
assert res.completed == 120, res.completed
run = Path(sys.argv[2] + "-chunks"); run.mkdir()
st = stream_exhaustive(sweep, run, 0, 120, workers=2, chunk=16)   # 8 chunks on a pool of 2 processes
mine = f"/proc/{os.getpid()}/task/{os.getpid()}/children"
kids = open(mine).read().split() if os.path.exists(mine) else []
cmd = [open(f"/proc/{k}/cmdline").read().replace("\\0", " ") for k in kids]
# Python's own multiprocessing resource tracker (one per process once spawn is used) is not cimdse's to stop
left = (multiprocessing.active_children(), [c for c in cmd if "resource_tracker" not in c])
assert left == ([], []), left
print("no children")
"""


def test_exhaustive_on_workers_leaves_no_process_behind(tmp_path) -> None:
    """A library leaves no process running in its caller (no fork server or pool outliving the run)."""
    f = tmp_path / "e.yaml"
    f.write_text("name: e\nworkload: {model: gpt2, batch: 1, prompt_tokens: 16, generate_tokens: 4}\n"
                 "space: {device: [sram, rram, fefet], adc_bits: [3, 4, 5, 6, 7], rows: [64, 128], tiles: [256, 512, 1024, 2048]}\n"
                 "fixed: {chips: 1}\nobjectives: {energy_per_token_uj: minimize, sqnr_db: maximize}\n"
                 "search: {sampler: exhaustive}\n")
    r = subprocess.run([sys.executable, "-c", NO_CHILDREN, str(f), str(tmp_path / "run")], capture_output=True,
                       text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert r.returncode == 0 and "no children" in r.stdout, r.stderr[-3000:]
