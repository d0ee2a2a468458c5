"""Symbolic integer expressions for generated code.

`lower` turns each layer argument written in a `define` (e.g. `4*c`) into a `Sym` over the
generated class's constructor parameters, propagates input channels through the ops' `channels`
rules with them, and prints them as Python (`4 * c`). A `Sym` evaluates under any instance's
argument values (`eval`), which is how `lower` checks that an expression reproduces the concrete
value of every instance it serves.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

_KEYS = itertools.count(1)


class SymbolicError(Exception):
    """An expression that cannot be written symbolically (the literal is used instead)."""


class Sym:
    """A small expression over constructor parameters; folds constants as it is built."""

    prec = 9

    def __add__(self, o):
        return _bin("+", self, o)

    def __radd__(self, o):
        return _bin("+", o, self)

    def __sub__(self, o):
        return _bin("-", self, o)

    def __rsub__(self, o):
        return _bin("-", o, self)

    def __mul__(self, o):
        return _bin("*", self, o)

    def __rmul__(self, o):
        return _bin("*", o, self)

    def __floordiv__(self, o):
        return _bin("//", self, o)

    def __rfloordiv__(self, o):
        return _bin("//", o, self)

    def __truediv__(self, o):
        return _bin("/", self, o)

    def __rtruediv__(self, o):
        return _bin("/", o, self)

    def __mod__(self, o):
        return _bin("%", self, o)

    def __neg__(self):
        return _bin("*", Const(-1), self) if not isinstance(self, Const) else Const(-self.value)

    def __bool__(self):  # a rule that branches on a symbol cannot be followed symbolically
        raise SymbolicError("truth value of a symbol")

    def vars(self):
        return iter(())


@dataclass(frozen=True, eq=True)
class Const(Sym):
    value: Any
    prec = 9

    def render(self) -> str:
        return literal(self.value)

    def eval(self, env: dict):
        return self.value

    def __bool__(self):
        raise SymbolicError("truth value of a symbol")


@dataclass(frozen=True, eq=True)
class Var(Sym):
    name: str
    key: int = field(default_factory=lambda: next(_KEYS))
    prec = 9

    def render(self) -> str:
        return self.name

    def eval(self, env: dict):
        try:
            return env[self.key]
        except KeyError:
            raise SymbolicError(f"unbound {self.name}") from None

    def vars(self):
        yield self

    def __bool__(self):
        raise SymbolicError("truth value of a symbol")


_PREC = {"+": 1, "-": 1, "*": 2, "/": 2, "//": 2, "%": 2, "!=": 0.5, "==": 0.5, "<": 0.5, "<=": 0.5, ">": 0.5,
         ">=": 0.5, "and": 0.3, "or": 0.2}
_APPLY = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": lambda a, b: a / b,
          "//": lambda a, b: a // b, "%": lambda a, b: a % b, "!=": lambda a, b: a != b,
          "==": lambda a, b: a == b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
          ">=": lambda a, b: a >= b, "and": lambda a, b: a and b, "or": lambda a, b: a or b}


@dataclass(frozen=True, eq=True)
class Bin(Sym):
    op: str
    left: Sym
    right: Sym

    @property
    def prec(self):  # noqa: D401 - a property standing in for the class attribute
        return _PREC[self.op]

    def render(self) -> str:
        p = self.prec
        lt = self.left.render()
        rt = self.right.render()
        if self.left.prec < p or (isinstance(self.left, Const) and _negative(self.left.value) and p > 1):
            lt = f"({lt})"
        if self.right.prec <= p or (isinstance(self.right, Const) and _negative(self.right.value)):
            rt = f"({rt})"
        return f"{lt} {self.op} {rt}"

    def eval(self, env: dict):
        try:
            return _APPLY[self.op](self.left.eval(env), self.right.eval(env))
        except (ArithmeticError, TypeError, ValueError) as e:
            raise SymbolicError(str(e)) from None

    def vars(self):
        yield from self.left.vars()
        yield from self.right.vars()

    def __bool__(self):
        raise SymbolicError("truth value of a symbol")


@dataclass(frozen=True, eq=True)
class AnyOf(Sym):
    """`a or b or ...` over conditions."""

    items: tuple
    prec = 0.2

    def render(self) -> str:
        return " or ".join(f"({i.render()})" if i.prec <= self.prec else i.render() for i in self.items)

    def eval(self, env: dict):
        return any(i.eval(env) for i in self.items)

    def vars(self):
        for i in self.items:
            yield from i.vars()

    def __bool__(self):
        raise SymbolicError("truth value of a symbol")


def _negative(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and (v < 0 or math.copysign(1, v) < 0)


def as_sym(v) -> Sym:
    if isinstance(v, Sym):
        return v
    if isinstance(v, (bool, int, float, str)) or v is None:
        return Const(v)
    raise SymbolicError(f"not a value: {v!r}")


def _bin(op: str, a, b) -> Sym:
    a, b = as_sym(a), as_sym(b)
    if isinstance(a, Const) and isinstance(b, Const):
        try:
            return Const(_APPLY[op](a.value, b.value))
        except (ArithmeticError, TypeError, ValueError) as e:
            raise SymbolicError(str(e)) from None
    if op == "+" and _is(b, 0):
        return a
    if op == "+" and _is(a, 0):
        return b
    if op == "-" and _is(b, 0):
        return a
    if op == "*" and _is(b, 1):
        return a
    if op == "*" and _is(a, 1):
        return b
    if op == "//" and _is(b, 1):
        return a
    if op in ("+", "-"):
        return _sum(a, op, b)
    return Bin(op, a, b)


def _terms(s: Sym, k: int = 1):
    """A sum as (coefficient, term) pairs (term None for the constant); None if not integer-linear."""
    if isinstance(s, Const):
        return [(k * s.value, None)] if type(s.value) is int else None
    if isinstance(s, Bin) and s.op in ("+", "-"):
        a = _terms(s.left, k)
        b = _terms(s.right, k if s.op == "+" else -k)
        return None if a is None or b is None else a + b
    if isinstance(s, Bin) and s.op == "*" and isinstance(s.left, Const) and type(s.left.value) is int:
        return _terms(s.right, k * s.left.value)
    return [(k, s)]


def _sum(a: Sym, op: str, b: Sym) -> Sym:
    """a + b or a - b with like terms collected: c // 2 + c // 2 -> 2 * (c // 2)."""
    terms = _terms(Bin(op, a, b))
    if terms is None:
        return Bin(op, a, b)
    coef: dict = {}
    order: list = []
    const = 0
    for c, t in terms:
        if t is None:
            const += c
            continue
        key = next((o for o in order if o == t), None)
        if key is None:
            order.append(t)
            coef[len(order) - 1] = c
        else:
            coef[order.index(key)] += c
    out: Sym | None = None
    for i, t in enumerate(order):
        c = coef[i]
        if c == 0:
            continue
        term = t if abs(c) == 1 else Bin("*", Const(abs(c)), t)
        if out is None:
            out = term if c > 0 else (Bin("*", Const(c), t) if abs(c) != 1 else Bin("*", Const(-1), t))
        else:
            out = Bin("+" if c > 0 else "-", out, term)
    if out is None:
        return Const(const)
    if const:
        out = Bin("+" if const > 0 else "-", out, Const(abs(const)))
    return out


def _is(s: Sym, v) -> bool:
    return isinstance(s, Const) and type(s.value) is int and s.value == v


def ne(a: Sym, b: Sym) -> Sym:
    a, b = as_sym(a), as_sym(b)
    if a == b:
        return Const(False)
    if isinstance(a, Const) and isinstance(b, Const):
        return Const(a.value != b.value)
    return Bin("!=", a, b)


@dataclass(frozen=True, eq=True)
class Not(Sym):
    operand: Sym
    prec = 0.4

    def render(self) -> str:
        inner = self.operand.render()
        return f"not ({inner})" if self.operand.prec < 0.5 else f"not {inner}"

    def eval(self, env: dict):
        return not self.operand.eval(env)

    def vars(self):
        yield from self.operand.vars()

    def __bool__(self):
        raise SymbolicError("truth value of a symbol")


def compare(op: str, a, b) -> Sym:
    """`a op b` for op in == != < <= > >= and / or, folded when both sides are known."""
    return ne(a, b) if op == "!=" else _bin(op, a, b)


def negate(a) -> Sym:
    a = as_sym(a)
    return Const(not a.value) if isinstance(a, Const) else Not(a)


def any_of(*items: Sym) -> Sym:
    out = []
    for i in items:
        if isinstance(i, Const):
            if i.value:
                return Const(True)
            continue
        out.append(i)
    if not out:
        return Const(False)
    return out[0] if len(out) == 1 else AnyOf(tuple(out))


def literal(v) -> str:
    """Python source for a plain value (numbers, booleans, strings, tuples): never pasted text."""
    if isinstance(v, Sym):
        return v.render()
    if v is None or isinstance(v, bool):
        return repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return 'float("nan")'
        if math.isinf(v):
            return 'float("inf")' if v > 0 else '-float("inf")'
        return repr(v)
    if isinstance(v, str):
        return _quote(v)
    if isinstance(v, (tuple, list)):
        inner = ", ".join(literal(x) for x in v)
        if isinstance(v, list):
            return f"[{inner}]"
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    raise TypeError(f"no literal for {type(v).__name__}")


def _quote(s: str) -> str:
    """repr() with double quotes where possible (ruff format's preference)."""
    r = repr(s)
    if r.startswith("'") and '"' not in s:
        r = '"' + r[1:-1].replace("\\'", "'") + '"'
    return r


def same_value(a, b, lenient: bool = False) -> bool:
    """Equality that also compares types (2 is not 2.0, True is not 1) unless lenient (float args)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b and (lenient or type(a) is type(b))
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(same_value(x, y, lenient) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b
