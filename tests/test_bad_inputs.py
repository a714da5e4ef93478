"""The bad-input corpus (tests/bad_inputs/, listed in INDEX.yaml) through the real CLI.

Every malformed file must give exactly one line on stderr naming the file, the key and what was expected, exit
status 2, no traceback, and leave every file on disk as it was (no results folder, an existing run untouched).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from cimdse.cli import main

CORPUS = Path(__file__).parent / "bad_inputs"
INDEX = yaml.safe_load((CORPUS / "INDEX.yaml").read_text(encoding="utf-8"))
OPTIONS = yaml.safe_load((CORPUS / "OPTIONS.yaml").read_text(encoding="utf-8"))
ROOT = Path(__file__).parent.parent


def snapshot(folder: Path) -> dict:
    """Every file under folder with its size, modification time and hash."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            st = p.stat()
            out[str(p.relative_to(folder))] = (st.st_size, st.st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
        else:
            out[str(p.relative_to(folder))] = "dir"
    return out


def args_for(cmd: str, path: Path, out: Path) -> list[str]:
    return {"sweep": ["sweep", str(path), "--out", str(out)], "eval": ["eval", str(path)],
            "workload": ["workload", str(path)], "reference": ["validate", "--reference", str(path)],
            "tech": ["eval", "--model", "gpt2", "--tech", str(path)]}[cmd]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A working folder holding a finished run that a bad input must not touch."""
    run = tmp_path / "out"
    run.mkdir()
    (run / "trials.csv").write_text("trial,rows\n0,64\n")
    (run / "run.yaml").write_text("name: earlier\nfingerprint: abc\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def check_one_line(stderr: str, stdout: str, path: Path, key: str, expect: str) -> None:
    assert "Traceback" not in stderr + stdout
    assert stdout == "", stdout
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    line = lines[0]
    assert line.startswith("error: ") and str(path) in line, line
    assert key in line, (key, line)
    assert expect in line, (expect, line)


def run_cli(cmd: str, path: Path, key: str, expect: str, workdir: Path) -> None:
    before = snapshot(workdir)
    r = CliRunner().invoke(main, args_for(cmd, path, workdir / "out"))
    assert r.exit_code == 2, (r.output, r.exception)
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    check_one_line(r.stderr, r.stdout, path, key, expect)
    assert snapshot(workdir) == before
    assert not (workdir / "results").exists()


def test_corpus_is_large_and_indexed():
    files = {str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*")
             if p.is_file() and p.name not in ("INDEX.yaml", "OPTIONS.yaml")}
    assert files == set(INDEX), files ^ set(INDEX)
    assert len(INDEX) >= 40


@pytest.mark.parametrize("name", sorted(INDEX))
def test_bad_input(name, workdir):
    cmd, key, expect = INDEX[name]
    run_cli(cmd, CORPUS / name, key, expect, workdir)


@pytest.mark.parametrize("cmd,name", [("sweep", "nope.yaml"), ("eval", "nope.yaml"), ("workload", "nope/config.json")])
def test_missing_file(cmd, name, workdir):
    run_cli(cmd, workdir / name, "", "not found", workdir)


@pytest.mark.parametrize("cmd,name", [("sweep", "dir.yaml"), ("eval", "dir.yaml"), ("workload", "config.json")])
def test_folder_in_place_of_file(cmd, name, workdir):
    (workdir / name).mkdir()
    run_cli(cmd, workdir / name, "", "is a directory", workdir)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads files whatever their mode")
@pytest.mark.parametrize("cmd,name", [("sweep", "locked.yaml"), ("eval", "locked.yaml"), ("workload", "config.json")])
def test_unreadable_file(cmd, name, workdir):
    src = CORPUS / ("hf/wrong_type.json" if name.endswith(".json") else "designs/wrong_type.yaml")
    f = workdir / name
    shutil.copy(src, f)
    f.chmod(0)
    try:
        run_cli(cmd, f, "", "cannot read file", workdir)
    finally:
        f.chmod(0o644)


@pytest.mark.parametrize("name", ["sweeps/deep_nesting.yaml", "sweeps/huge_integer_literal.yaml",
                                  "sweeps/model_json_bad.yaml", "hf/int_beyond_int64.json"])
def test_real_process_prints_one_line(name, tmp_path):
    """Through a real interpreter (no CliRunner): the exit status and stderr a user sees, and no traceback."""
    cmd, key, expect = INDEX[name]
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    path = CORPUS / name
    r = subprocess.run([sys.executable, "-m", "cimdse", *args_for(cmd, path, tmp_path / "out")], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 2, r.stderr
    check_one_line(r.stderr, r.stdout, path, key, expect)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args,key,expect", OPTIONS, ids=[" ".join(map(str, a[0])) for a in OPTIONS])
def test_bad_option(args, key, expect, workdir):
    """A bad command-line option: one line naming the option, exit 2, nothing written."""
    before = snapshot(workdir)
    r = CliRunner().invoke(main, [str(a) for a in args])
    assert r.exit_code == 2, (r.output, r.exception)
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert "Traceback" not in r.output and r.stdout == "", r.output
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert key in lines[0] and expect in lines[0], (key, expect, lines[0])
    assert snapshot(workdir) == before
