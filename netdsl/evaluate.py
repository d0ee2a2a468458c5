"""Evaluate: the one evaluator of the language's expressions (`Num`, `Str`, `Name`, `BinOp`, `Neg`,
`Compare`, `BoolOp`, `Func`).

    evaluate(expr, lookup, arith=CONCRETE)

`lookup(name_node)` gives the value of a name, or raises the located error (`names(...)` makes
the lookup of the expander's environments). `arith` does the arithmetic; the rules of the language
are here, whatever the arithmetic:

* `a / b` of whole numbers that divide exactly is a whole number (`arith.floordiv`), anything
  else a fraction (`arith.truediv`); `arith.exact_div(a, b)` decides.
* `/`, `//` and `%` by zero are errors, and so is a whole-number result beyond 10^30.
* operands of arithmetic must be numbers (not truth values or strings); operands of `and`, `or`,
  `not` and an `if` must be truth values.
* the integer helpers (`FUNCTIONS`: min, max, round, floor, ceil, int, divisible) take numbers;
  `arith.call(name, args)` applies one. `whole(v)` is how a value is read where a whole number is
  required: a float that lands on an integer (`32 * 0.25`) is that integer.

`CONCRETE` computes with Python numbers. Another arithmetic (e.g. symbolic expressions over a
define's parameters) plugs in by providing the same methods; see `ConcreteArith`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping
from typing import NamedTuple

from . import ast as A
from .errors import NetdslLimitError, NetdslNameError, closest
from .ir import Value

Lookup = Callable[[A.Name], Value]

MAX_WHOLE = 10**30  # the largest whole number an expression may produce


def divisible(v, d):
    """torchvision's `_make_divisible(v, d)`: `v` rounded to the nearest multiple of `d`, at least
    `d`, and never more than 10% below `v` (MobileNetV2/V3, EfficientNet, RegNet widths)."""
    new_v = max(d, int(v + d / 2) // d * d)
    if new_v < 0.9 * v:
        new_v += d
    return new_v


class Function(NamedTuple):
    arity: tuple[int, int | None]  # the fewest and the most arguments (None: any number)
    fn: Callable
    signature: str
    doc: str


FUNCTIONS = {
    "min": Function((2, None), min, "min(a, b, ...)", "the smallest of its arguments"),
    "max": Function((2, None), max, "max(a, b, ...)", "the largest of its arguments"),
    "round": Function((1, 1), round, "round(x)", "the nearest whole number (halves to even, as Python)"),
    "floor": Function((1, 1), math.floor, "floor(x)", "the whole number at or below"),
    "ceil": Function((1, 1), math.ceil, "ceil(x)", "the whole number at or above"),
    "int": Function((1, 1), int, "int(x)", "the whole number toward zero"),
    "divisible": Function((2, 2), divisible, "divisible(v, d)", "torchvision's _make_divisible(v, d)"),
}


def whole(v):
    """A value where a whole number is required: a float that lands on an integer is that integer
    (`32 * 0.25` is 8); anything else is returned as it is, for the caller's error."""
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


class ConcreteArith:
    """Python numbers. An arithmetic provides the operations below; `is_number`, `is_zero` and
    `too_large` tell the evaluator when to raise its errors, `compare` may raise TypeError for values
    that cannot be compared."""

    __slots__ = ()

    def add(self, a, b):
        return a + b

    def sub(self, a, b):
        return a - b

    def mul(self, a, b):
        return a * b

    def truediv(self, a, b):
        return a / b

    def floordiv(self, a, b):
        return a // b

    def mod(self, a, b):
        return a % b

    def neg(self, a):
        return -a

    def exact_div(self, a, b) -> bool:
        """Whether `a / b` is the whole number `a // b`."""
        return isinstance(a, int) and isinstance(b, int) and a % b == 0

    def is_number(self, v) -> bool:
        return not isinstance(v, bool) and isinstance(v, (int, float))

    def is_zero(self, v) -> bool:
        return v == 0

    def too_large(self, v) -> bool:
        return isinstance(v, int) and abs(v) > MAX_WHOLE

    def call(self, name: str, args: list):
        """An integer helper (FUNCTIONS) on numbers; ValueError or OverflowError for inf and nan."""
        return FUNCTIONS[name].fn(*args)

    def compare(self, op: str, a, b) -> bool:
        # every comparison is made, so that values of different kinds are an error for `==` too
        return {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]

    def logic(self, op: str, left, right: Callable[[], Value] | None, e) -> bool:
        """`not left`, `left and right()`, `left or right()`: `right` is evaluated only when needed."""
        left = truth(left, e.left)
        if op == "not":
            return not left
        if op == "and":
            return left and truth(right(), e.right)
        return left or truth(right(), e.right)


CONCRETE = ConcreteArith()

_BINARY = {"+": "add", "-": "sub", "*": "mul", "//": "floordiv", "%": "mod"}


def evaluate(e, lookup: Lookup, arith=CONCRETE) -> Value:
    """The value of expression `e`, or a located NetdslError."""
    if isinstance(e, A.Num):
        return e.value
    if isinstance(e, A.Str):
        return e.value
    if isinstance(e, A.Dims):  # a size: `1x7` is the value (1, 7)
        return e.values
    if isinstance(e, A.Name):
        return lookup(e)
    if isinstance(e, A.Neg):
        return arith.neg(_number(evaluate(e.operand, lookup, arith), e.operand, arith))
    if isinstance(e, A.BinOp):
        a = _number(evaluate(e.left, lookup, arith), e.left, arith)
        b = _number(evaluate(e.right, lookup, arith), e.right, arith)
        op = e.op
        if op in ("+", "-", "*"):
            r = getattr(arith, _BINARY[op])(a, b)
        else:
            if arith.is_zero(b):
                raise NetdslNameError("division by zero", span=e.span, found=f"{src_text(e)}")
            if op == "/":
                r = arith.floordiv(a, b) if arith.exact_div(a, b) else arith.truediv(a, b)
            else:
                r = getattr(arith, _BINARY[op])(a, b)
        if arith.too_large(r):
            raise NetdslLimitError("number larger than 10^30", span=e.span)
        return r
    if isinstance(e, A.Func):
        return _call(e, lookup, arith)
    if isinstance(e, A.Compare):
        a = evaluate(e.left, lookup, arith)
        b = evaluate(e.right, lookup, arith)
        try:
            return arith.compare(e.op, a, b)
        except TypeError:
            raise NetdslNameError(f"cannot compare {fmt_value(a)} with {fmt_value(b)}", span=e.span) from None
    if isinstance(e, A.BoolOp):
        left = evaluate(e.left, lookup, arith)
        right = None if e.op == "not" else (lambda: evaluate(e.right, lookup, arith))
        return arith.logic(e.op, left, right, e)
    raise NetdslNameError("not a value here", span=getattr(e, "span", None))


def _call(e: A.Func, lookup: Lookup, arith):
    f = FUNCTIONS.get(e.name)
    if f is None:
        raise NetdslNameError(f"unknown function `{e.name}`", span=e.name_span,
                              expected="one of " + ", ".join(FUNCTIONS), found=f"`{e.name}`",
                              hint=closest(e.name, FUNCTIONS) or "a define or a layer is not a value: "
                              "functions in expressions are the integer helpers")
    lo, hi = f.arity
    if not lo <= len(e.args) <= (hi or len(e.args)):
        want = f"{lo}" if lo == hi else f"at least {lo}"
        raise NetdslNameError(f"`{e.name}` takes {want} argument{'s' if lo > 1 else ''}, found {len(e.args)}",
                              span=e.span, expected=f.signature, found=f"{len(e.args)} arguments")
    args = [_number(evaluate(a, lookup, arith), a, arith) for a in e.args]
    d = args[-1]
    if e.name == "divisible" and isinstance(d, (int, float)) and not (isinstance(whole(d), int) and d >= 1):
        raise NetdslNameError("divisible: the divisor must be a whole number >= 1", span=e.args[1].span,
                              expected="divisible(v, d) with d >= 1", found=fmt_value(d))
    try:
        r = arith.call(e.name, args)
    except (OverflowError, ValueError):
        raise NetdslNameError(f"`{e.name}` of a value that is not finite", span=e.span) from None
    if arith.too_large(r):
        raise NetdslLimitError("number larger than 10^30", span=e.span)
    return r


def _number(v, e, arith):
    if not arith.is_number(v):
        raise NetdslNameError(f"expected a number, found {fmt_value(v)}", span=e.span,
                              expected="a number", found=fmt_value(v))
    return v


def truth(v, e) -> bool:
    """`v`, the value of expression `e`, as a condition: true or false, else a located error."""
    if not isinstance(v, bool):
        raise NetdslNameError(f"expected true or false, found {fmt_value(v)}", span=e.span)
    return v


def names(variables: Mapping[str, Value], tensors: Collection[str] = ()) -> Lookup:
    """The lookup of a scope: its variables, then `true` / `false`; a tensor or an unknown name is
    an error (listing the variables, with the nearest as a hint)."""

    def lookup(e: A.Name) -> Value:
        if e.id in variables:
            return variables[e.id]
        if e.id in ("true", "false"):
            return e.id == "true"
        if e.id in tensors:
            raise NetdslNameError(f"`{e.id}` is a tensor, not a number", span=e.span,
                                  hint="tensors can only start a chain or a branch")
        raise NetdslNameError(
            f"unknown name `{e.id}`",
            span=e.span,
            expected=("a number or a parameter: " + ", ".join(sorted(variables))) if variables
            else "a number (no parameters are in scope here)",
            found=f"`{e.id}`",
            hint=closest(e.id, variables),
        )

    return lookup


def fmt_value(v) -> str:
    """A value as the language writes it: true, 3, 0.5, "same"."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, tuple):
        return "x".join(map(str, v))
    return f'"{v}"' if isinstance(v, str) else str(v)


def src_text(e) -> str:
    """Re-print an AST expression (for messages and call descriptions)."""
    if isinstance(e, A.Num):
        return str(e.value)
    if isinstance(e, A.Name):
        return e.id
    if isinstance(e, A.Str):
        return f'"{e.value}"'
    if isinstance(e, A.Dims):
        return "x".join(map(str, e.values))
    if isinstance(e, A.BinOp):
        return f"{src_text(e.left)}{e.op}{src_text(e.right)}"
    if isinstance(e, A.Neg):
        return f"-{src_text(e.operand)}"
    if isinstance(e, A.Func):
        return f"{e.name}({', '.join(map(src_text, e.args))})"
    return "..."
