"""`cimdse sweep --verify`: measure every front design on a local checkpoint (cimdse.accuracy) after the search.

`prepare_verify` checks the options and loads the checkpoint and text before the search starts, so that bad input
costs no search and writes nothing; `verify_front` adds the measured columns to the front (pareto.csv) and returns
what run.yaml records about the measurement.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..cost.params import PARAMS
from ..errors import UserError

VERIFY_COLUMNS = ("measured_ppl", "measured_logit_sqnr_db")
VERIFY_MODE = "inject"   # noise injected per matmul at the analytic model's NSR (docs/ACCURACY.md)
VERIFY_SEED = 0


@dataclass(frozen=True)
class Verify:
    """A checked --verify request: the checkpoint (loaded once, kept for after the search), the text, the tokens."""

    checkpoint: Path
    text: Path
    tokens: int                              # tokens asked for (--verify-tokens)
    ck: object = field(repr=False, compare=False)        # cimdse.accuracy.checkpoint.Checkpoint
    scored_tokens: int = 0                   # tokens actually scored (fewer when the text or context is shorter)


def prepare_verify(checkpoint: str | Path | None, text: str | Path | None, tokens: int = 128) -> Verify | None:
    """None without --verify; otherwise the loaded checkpoint and checked text (UserError on any bad input)."""
    if checkpoint is None:
        if text is not None:
            raise UserError("the text that --verify scores; give --verify CHECKPOINT too", key="--text")
        return None
    if text is None:
        raise UserError("needs --text FILE (the UTF-8 text to score the checkpoint on)", key="--verify")
    if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 2:
        raise UserError(f"expected at least 2 tokens, got {tokens!r}", key="--verify-tokens")
    from ..accuracy.checkpoint import load_checkpoint, require_packages, tokenize

    try:
        require_packages()
    except UserError as err:
        raise UserError(err.detail, key="--verify") from None
    ck = load_checkpoint(checkpoint)
    ids = tokenize(ck, text, tokens)
    return Verify(Path(checkpoint), Path(text), tokens, ck, int(len(ids)))


def front_designs(front) -> list[dict]:
    """Each front row's design parameters as plain Python values."""
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
            for row in front[list(PARAMS)].to_dict("records")]


def verify_front(front, v: Verify):
    """(front with measured_ppl and measured_logit_sqnr_db, run.yaml's `verify` record); one measurement per row."""
    from ..accuracy import measure_designs

    m = measure_designs(v.ck, v.text, front_designs(front), tokens=v.tokens, mode=VERIFY_MODE, seed=VERIFY_SEED)
    out = front.copy()
    for col in VERIFY_COLUMNS:
        out[col] = m[col].to_numpy(dtype=float)
    record = {"checkpoint": str(v.checkpoint), "text": str(v.text), "tokens": v.scored_tokens,
              "mode": VERIFY_MODE, "seed": VERIFY_SEED, "designs": int(len(out)),
              "reference_ppl": float(m["reference_ppl"].iloc[0]) if len(m) else None,
              "columns": list(VERIFY_COLUMNS)}
    return out, record
