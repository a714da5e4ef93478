"""Process-table helpers for the tests that kill a run and check what it leaves behind (reads /proc)."""

from __future__ import annotations

import time


def alive(pid: int) -> bool:
    """Whether process `pid` still runs (a zombie has ended)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def all_gone(pids, seconds: float = 10.0) -> bool:
    """Wait up to `seconds` for every process of `pids` to end; whether they all did."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.1)
    return not any(alive(p) for p in pids)
