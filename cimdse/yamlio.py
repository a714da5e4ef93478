"""Reading a user's YAML file: one-line UserErrors for every failure (missing, unreadable, not UTF-8, syntax,
duplicate keys, tabs, not a mapping). Used by config.py (designs, sweeps) and tech/override.py (technology files);
it imports neither, so both can use it."""

from __future__ import annotations

from pathlib import Path

import yaml

from .errors import UserError, shown


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects a key given twice in one mapping (PyYAML silently keeps the last)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                dup = key in seen
                seen.add(key)
            except TypeError:  # unhashable key: let SafeLoader report it
                continue
            if dup:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key '{key}'", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def load_yaml(path: str | Path) -> dict:
    """Parse a YAML mapping; every failure becomes a one-line UserError naming the file."""
    where = str(path)
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError("file not found", file=where) from None
    except IsADirectoryError:
        raise UserError("is a directory; expected a YAML file", file=where) from None
    except UnicodeDecodeError:
        raise UserError("not UTF-8 text; expected a YAML file", file=where) from None
    except OSError as exc:
        raise UserError(f"cannot read file ({exc.strerror})", file=where) from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader subclass)
    except RecursionError:
        raise UserError("YAML nested too deeply", file=where) from None
    except ValueError as exc:  # e.g. an integer longer than Python's 4300-digit conversion limit
        why = "a number with more than 4300 digits" if "digits" in str(exc) else shown(str(exc), 80)
        raise UserError(f"YAML value not readable: {why}", file=where) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        if isinstance(exc, yaml.reader.ReaderError):  # a character YAML does not allow (NUL, control codes)
            at = f" at line {text[: exc.position].count(chr(10)) + 1}"
            problem = f"{exc.reason} (character {exc.character!r})"
        if "unhashable" in str(problem) or "found unacceptable key" in str(exc):
            problem = "a key must be a plain value, not a list or mapping"
        if mark and _tab_indented(text, mark.line):
            problem = f"{problem}; use spaces, not tabs, to indent YAML"
        raise UserError(f"YAML syntax error{at}: {problem}", file=where) from None
    if data is None:
        raise UserError("file is empty; expected a YAML mapping", file=where)
    if not isinstance(data, dict):
        raise UserError(f"expected a YAML mapping at the top level, got {type(data).__name__}", file=where)
    bad = [k for k in data if not isinstance(k, str)]
    if bad:
        raise UserError(f"keys must be strings, got {shown(bad[0])}", file=where)
    return data


def _tab_indented(text: str, line: int) -> bool:
    """True when a tab indents the line a YAML error points at, or the line before it (where a tab usually is)."""
    lines = text.splitlines()
    near = lines[max(line - 1, 0): line + 1]
    return any(ln[: len(ln) - len(ln.lstrip())].count("\t") for ln in near)
