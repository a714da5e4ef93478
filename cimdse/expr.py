"""Arithmetic over metric and parameter names in constraints and objectives (`area_mm2 / chips_used`,
`tokens_per_s / area_mm2`): parsed with Python's `ast` and only + - * /, unary minus, parentheses, numbers and
names accepted (nothing is evaluated as Python); evaluated on whole numpy columns at once."""

from __future__ import annotations

import ast
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

_OPS = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.divide}
_SYMBOLS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
MAX_LENGTH = 500          # characters: an expression is one line of a sweep file


class ExprError(ValueError):
    """An expression that does not parse or names something unknown (the message is one line)."""


@dataclass(frozen=True)
class Expr:
    """A parsed expression: `text` (normalized: the CSV column it fills), the names it reads, and its tree."""

    text: str
    names: tuple
    tree: ast.AST

    @property
    def is_name(self) -> bool:
        """True for a bare name (a metric column as it is)."""
        return isinstance(self.tree, ast.Name)

    def evaluate(self, columns: Mapping[str, object]) -> np.ndarray:
        """The expression on equal-length columns (float arrays; x / 0 gives inf or nan, never an exception)."""
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return np.asarray(_eval(self.tree, columns), dtype=float)


def _eval(node: ast.AST, cols: Mapping[str, object]):
    if isinstance(node, ast.BinOp):
        return _OPS[type(node.op)](_eval(node.left, cols), _eval(node.right, cols))
    if isinstance(node, ast.UnaryOp):
        v = _eval(node.operand, cols)
        return np.negative(v) if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.Name):
        return np.asarray(cols[node.id], dtype=float)
    return float(node.value)  # type: ignore[attr-defined]  # a number: the only other node _check lets through


def _check(node: ast.AST, known, names: list, cat: set) -> str:
    """Refuse any node but numbers, names, + - * / and unary +/-; returns the node's normalized text."""
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        left, right = _check(node.left, known, names, cat), _check(node.right, known, names, cat)
        if isinstance(node.left, ast.BinOp) and _weaker(node.left.op, node.op, False):
            left = f"({left})"
        if isinstance(node.right, ast.BinOp) and _weaker(node.right.op, node.op, True):
            right = f"({right})"
        return f"{left} {_SYMBOLS[type(node.op)]} {right}"
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = _check(node.operand, known, names, cat)
        inner = f"({inner})" if isinstance(node.operand, ast.BinOp) else inner
        return ("-" if isinstance(node.op, ast.USub) else "+") + inner
    if isinstance(node, ast.Name):
        if node.id in cat:
            raise ExprError(f"'{node.id}' is a categorical parameter (a choice, not a number); an expression reads "
                            "numeric metrics and parameters")
        if node.id not in known:
            from .errors import unknown

            raise ExprError(unknown("metric or parameter", node.id, known))
        names.append(node.id)
        return node.id
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        if not math.isfinite(node.value):
            raise ExprError(f"number {node.value} is not finite")
        return repr(node.value)
    what = {ast.Pow: "'**'", ast.FloorDiv: "'//'", ast.Mod: "'%'"}.get(type(getattr(node, "op", None)))
    raise ExprError(f"{what or ast.unparse(node)!s} is not allowed; use numbers, metric and parameter names, "
                    "+ - * / and parentheses")


def _weaker(inner: ast.operator, outer: ast.operator, right: bool) -> bool:
    """Whether a sub-expression with operator `inner` needs parentheses under `outer` (on its right side:
    a - (b - c), a / (b * c))."""
    rank = {ast.Add: 1, ast.Sub: 1, ast.Mult: 2, ast.Div: 2}
    r_in, r_out = rank[type(inner)], rank[type(outer)]
    return r_in < r_out or (right and r_in == r_out and isinstance(outer, (ast.Sub, ast.Div)))


def parse_expr(text: str, known) -> Expr:
    """Parse `text` as arithmetic over the names in `known`; ExprError with a one-line reason otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise ExprError("empty expression; expected a metric name or arithmetic like 'area_mm2 / chips_used'")
    if len(text) > MAX_LENGTH:
        raise ExprError(f"expression longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise ExprError(f"cannot parse '{text.strip()}'; expected arithmetic (+ - * / and parentheses) over metric "
                        "and parameter names and numbers") from None
    names: list = []
    from .cost.params import PARAMS

    categorical = {k for k, p in PARAMS.items() if p.kind == "cat"}
    try:
        norm = _check(tree, known, names, categorical)
    except RecursionError:
        raise ExprError("expression nested too deeply") from None
    return Expr(norm, tuple(dict.fromkeys(names)), tree)

