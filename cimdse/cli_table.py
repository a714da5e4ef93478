"""Plain-text tables for the command line: numbers with thousands separators or 4 significant digits."""

from __future__ import annotations


def fmt(x: float) -> str:
    """Human-readable number: thousands separators for integers, 4 significant digits otherwise."""
    if isinstance(x, str):
        return x
    if float(x).is_integer() and abs(x) < 1e15:
        return f"{int(x):,}"
    return f"{x:.4g}"


def table(rows: list[list], headers: list[str]) -> str:
    cells = [headers] + [[fmt(c) if not isinstance(c, str) else c for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for j, r in enumerate(cells):
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))))
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
