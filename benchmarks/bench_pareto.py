"""Time pareto_mask on 1,000,000 x 2 and 100,000 x 3 random rows, and hypervolume on the 2-D front."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from cimdse.pareto import default_reference, hypervolume, pareto_mask


def timed(label: str, fn: Callable[..., Any], *args: Any) -> Any:
    """Run fn(*args) once, print its wall time, and return its result."""
    start = time.perf_counter()
    result = fn(*args)
    print(f"{label:<44s} {time.perf_counter() - start:8.3f} s")
    return result


def measure() -> list[tuple[str, float, str, str]]:
    """(what, seconds, unit, target) rows for non-dominated sorting and hypervolume."""
    rng = np.random.default_rng(0)
    two, dirs2 = rng.random((1_000_000, 2)), ["minimize", "maximize"]
    three, dirs3 = rng.random((100_000, 3)), ["minimize", "maximize", "minimize"]
    rows = []
    t = time.perf_counter()
    mask2 = pareto_mask(two, dirs2)
    rows.append(("pareto_mask, 1,000,000 rows x 2 objectives", time.perf_counter() - t, "s", "< 2"))
    t = time.perf_counter()
    pareto_mask(three, dirs3)
    rows.append(("pareto_mask, 100,000 rows x 3 objectives", time.perf_counter() - t, "s", ""))
    t = time.perf_counter()
    hypervolume(two[mask2], dirs2, default_reference(two, dirs2))
    rows.append(("hypervolume of the 2-D front of 1,000,000 rows", time.perf_counter() - t, "s", ""))
    return rows


def main() -> None:
    """Print the benchmark figures (no assertions)."""
    rng = np.random.default_rng(0)
    two = rng.random((1_000_000, 2))
    dirs2 = ["minimize", "maximize"]
    mask2 = timed("pareto_mask 1,000,000 x 2", pareto_mask, two, dirs2)
    print(f"  front size: {int(mask2.sum())}")
    three = rng.random((100_000, 3))
    dirs3 = ["minimize", "maximize", "minimize"]
    mask3 = timed("pareto_mask 100,000 x 3", pareto_mask, three, dirs3)
    print(f"  front size: {int(mask3.sum())}")
    front2 = two[mask2]
    ref2 = default_reference(two, dirs2)
    hv = timed(f"hypervolume on the 2-D front ({len(front2)} points)", hypervolume, front2, dirs2, ref2)
    print(f"  hypervolume: {hv:.6f}")
    ref3 = default_reference(three, dirs3)
    hv3 = timed(f"hypervolume on the 3-D front ({int(mask3.sum())} points)", hypervolume, three[mask3], dirs3, ref3)
    print(f"  hypervolume: {hv3:.6f}")
    hv_all = timed("hypervolume on all 1,000,000 x 2 rows", hypervolume, two, dirs2, ref2)
    print(f"  hypervolume: {hv_all:.6f}")


if __name__ == "__main__":
    main()
