"""Keep glibc from returning freed numpy temporaries to the OS between operations (a large speed-up).

Every numpy operation on a large batch allocates a fresh output array. With glibc's default thresholds,
arrays above 128 KiB are mmap-ed and unmapped one by one, or the heap top is trimmed after each free, so each
new temporary is page-faulted in again; on the cost model this doubled the time per design (see
benchmarks/results.md). Raising the mmap and trim thresholds keeps freed memory in the process for reuse.
It changes no result, only where memory comes from. Opt out with CIMDSE_NO_MALLOPT=1; other C libraries are
left alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from functools import lru_cache

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024      # glibc's maximum on 64-bit (4 * 1 MiB * sizeof(long))
TRIM_THRESHOLD_BYTES = 512 * 1024 * 1024


@lru_cache(maxsize=1)
def tune_allocator() -> bool:
    """Raise glibc's mmap/trim thresholds once per process; True if applied."""
    if not sys.platform.startswith("linux") or os.environ.get("CIMDSE_NO_MALLOPT"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl or another libc without mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    ok = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
    ok = (mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1) and ok
    return ok
