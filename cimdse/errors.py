"""User-facing errors: one line naming the file, the key and what was expected (exit status 2)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(Exception):
    """A mistake in the user's input; the CLI prints it as one line and exits with status 2."""

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None) -> None:
        self.file = file
        self.key = key
        self.detail = message
        super().__init__(self.render())

    def render(self) -> str:
        where = ": ".join(p for p in (self.file, self.key) if p)
        text = f"{where}: {self.detail}" if where else self.detail
        return " ".join(text.split())  # always one line

    def at(self, file: str | None = None, key: str | None = None) -> UserError:
        """Return a copy that names the file and/or key, keeping what was already known."""
        return UserError(self.detail, file=self.file or file, key=self.key or key)


def shown(value, limit: int = 40) -> str:
    """A short repr of a user's value for a one-line message (huge numbers and long texts abbreviated)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**18:
        return f"an integer of {int(value.bit_length() * 0.30103) + 1} digits"  # log10(2); str() may refuse it
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def number_hint(value) -> str:
    """For a string that reads as a number, why YAML kept it as text ('1e5' needs a dot and a signed exponent)."""
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return ""
        return " (a string: YAML 1.1 reads numbers like 1e5 as text; write 1.0e+5, or drop the quotes)"
    return ""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A ' (did you mean X?)' suffix when a close match exists, else ''."""
    match = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


def unknown(kind: str, word: str, choices: Iterable[str]) -> str:
    """Message for an unknown name, listing the valid ones."""
    choices = sorted(choices)
    shown = ", ".join(choices[:20]) + (", ..." if len(choices) > 20 else "")
    return f"unknown {kind} '{word}'{did_you_mean(word, choices)}; expected one of: {shown}"


def check_keys(d: dict, allowed, where: str, prefix: str = "") -> None:
    """Reject unknown keys with a did-you-mean suggestion."""
    for k in d:
        if k not in allowed:
            raise UserError(unknown("key", k, allowed), file=where, key=prefix + str(k))
