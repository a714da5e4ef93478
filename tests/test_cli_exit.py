"""The `cimdse` command ends its process with os._exit after a successful command (cli.run): everything it printed
still arrives through a pipe, and a failed command keeps its exit status and message."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# block-buffered stdout, as a user's shell pipe gives it (this machine's environment may set PYTHONUNBUFFERED)
ENV = {**{k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}, "PYTHONPATH": str(ROOT)}


def _cimdse(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cimdse", *args], capture_output=True, text=True, cwd=ROOT, env=ENV,
                          timeout=120)


def test_a_successful_command_prints_everything_through_a_pipe():
    # stdout is a pipe here (block-buffered): the last lines are only there if run() flushed before os._exit
    out = _cimdse("models")
    assert out.returncode == 0, out.stderr
    from click.testing import CliRunner

    from cimdse.cli import main

    assert out.stdout == CliRunner().invoke(main, ["models"]).output


def test_a_failed_command_keeps_its_status_and_message(tmp_path):
    out = _cimdse("sweep", str(tmp_path / "missing.yaml"))
    assert out.returncode == 2
    assert out.stderr.startswith("error:") and "missing.yaml" in out.stderr
