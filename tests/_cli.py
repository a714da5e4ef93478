"""Helpers shared by CLI tests: the one-line error check."""

from __future__ import annotations


def one_line_error(r) -> str:
    """The single `error: ...` line of a CliRunner result that exited with status 2."""
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), r.output
    return lines[0]
