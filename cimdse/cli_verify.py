"""The --verify options of `cimdse sweep` (measure the front on a checkpoint, docs/ACCURACY.md), declared here so
that cli.py stays short; only click is imported at module level."""

from __future__ import annotations

import shlex

import click


def verify_options(f):
    """Add --verify CHECKPOINT, --text FILE and --verify-tokens N to a click command (keyword arguments verify_ck,
    verify_text, verify_tokens)."""
    f = click.option("--verify-tokens", "verify_tokens", type=int, default=128, show_default=True,
                     help="With --verify: tokens of the text scored.")(f)
    f = click.option("--text", "verify_text", default=None, type=click.Path(),
                     help="With --verify: the UTF-8 text to score.")(f)
    return click.option("--verify", "verify_ck", default=None, type=click.Path(), metavar="CHECKPOINT",
                        help="After the search, measure every front design on this local checkpoint "
                             "(docs/ACCURACY.md).")(f)


def verify_resume(verify_ck=None, verify_text=None, verify_tokens=128) -> str:
    """The --verify part of the resume command ('' without --verify)."""
    if verify_ck is None:
        return ""
    return " " + shlex.join(["--verify", str(verify_ck), "--text", str(verify_text), "--verify-tokens",
                             str(verify_tokens)])


def verify_request(verify_ck=None, verify_text=None, verify_tokens=128):
    """The checked request (cimdse.run.verify.prepare_verify; None without --verify): UserError on bad input."""
    from .run.verify import prepare_verify

    return prepare_verify(verify_ck, verify_text, verify_tokens)
