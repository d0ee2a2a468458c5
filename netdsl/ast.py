"""The abstract syntax tree: immutable records (NamedTuples), each with the `Span` it was parsed from.

Produced by `parse`, consumed by `ir`. No Lark object ever appears here. (NamedTuples rather than
dataclasses: the same fields and immutability, and ten times cheaper to define at import time, which
every `netdsl check` pays.)
"""

from __future__ import annotations

from typing import NamedTuple

from .errors import Span

# ---------------------------------------------------------------- expressions


class Num(NamedTuple):
    value: int | float
    span: Span


class Str(NamedTuple):
    value: str
    span: Span


class Name(NamedTuple):
    id: str
    span: Span


class BinOp(NamedTuple):
    op: str  # + - * / // %
    left: Expr
    right: Expr
    span: Span


class Neg(NamedTuple):
    operand: Expr
    span: Span


class Compare(NamedTuple):
    op: str  # == != < <= > >=
    left: Expr
    right: Expr
    span: Span


class BoolOp(NamedTuple):
    op: str  # and / or / not (right is None for not)
    left: Expr
    right: Expr | None
    span: Span


class Func(NamedTuple):
    """`min(a, b)`, `divisible(c * 1.1, 8)`: one of the integer helpers (evaluate.FUNCTIONS)."""

    name: str
    args: tuple[Expr, ...]
    span: Span
    name_span: Span


Expr = Num | Str | Name | BinOp | Neg | Compare | BoolOp | Func

# ---------------------------------------------------------------- layer arguments


class Dims(NamedTuple):
    """A literal `3x3` or `3x224x224` (a single `2` in `pool 2/2` is a Num)."""

    values: tuple[int, ...]
    span: Span


class Arg(NamedTuple):
    """One argument of a layer.

    kind is one of:
      pos      positional value (`4096`, `3x3`, `0.5`, `classes`), with an optional `/stride`
      out      `x64`  (output channels)
      pad      `p1`   (padding)
      kw       `name=value`
      flag     a bare word (`ceil`, `bn`): a boolean switch or a variable, decided later
    """

    kind: str
    name: str | None
    value: Expr | Dims | None
    stride: Expr | None
    span: Span


# ---------------------------------------------------------------- items (things in a chain)


class Layer(NamedTuple):
    """`conv 3x3/2 p1 x64` or a bare word (`relu`, a tensor name, a define without arguments)."""

    op: str
    args: tuple[Arg, ...]
    span: Span
    op_span: Span


class Shorthand(NamedTuple):
    """`3x3/2:64` -- a convolution with "same" padding."""

    kernel: Dims | Name  # `k:64` with a size parameter k
    stride: Expr | None
    out: Expr
    args: tuple[Arg, ...]
    span: Span


class CallArg(NamedTuple):
    name: str | None
    value: Expr
    span: Span


class Call(NamedTuple):
    """`bottleneck(64, s=2)` or `linear(4*c)` (call syntax works for layers too)."""

    name: str
    args: tuple[CallArg, ...]
    span: Span
    name_span: Span
    flat: bool = False  # `...f(64)`: the define's layers join the enclosing module (no module of its own)


class Block(NamedTuple):
    """`residual<...>`, `inception<a | b > c>`: branches of chains, merged by `kind`."""

    kind: str
    branches: tuple[tuple[Item, ...], ...]
    span: Span
    kind_span: Span
    args: tuple[CallArg, ...] = ()  # options of the merge: mean(droppath=0.15)<...>


class Group(NamedTuple):
    """`( a > b )` or `{ stmt; stmt }`: a sequence used as one item."""

    body: tuple[Stmt, ...]
    span: Span
    braces: bool


class Repeat(NamedTuple):
    """`item *n` or `block x3`; `item *n as i`: the body sees `i`, the index of its repetition (0-based)."""

    item: Item
    count: Expr
    span: Span
    var: Name | None = None


class Named(NamedTuple):
    """`item @name`: the item's module name in its parent (`@conv0`, `@4`, `@"block1-0"`);
    `parts` alternate literal text and (text, expression) pairs of `{expr}` (`@"block{k}-{i + 1}"`), read by the
    parser, or hold the reason (a str) when a brace is unmatched or an expression unreadable."""

    item: Item
    name: str
    name_span: Span
    span: Span
    parts: list  # filled by the parser once the whole file is read


Item = Layer | Shorthand | Call | Block | Group | Repeat | Named


class Chain(NamedTuple):
    items: tuple[Item, ...]
    span: Span


class CondBody(NamedTuple):
    """`if cond then chain else body` (define bodies only)."""

    cond: Expr
    then: Chain
    orelse: Chain | CondBody
    span: Span


# ---------------------------------------------------------------- statements


class Param(NamedTuple):
    name: str
    default: Expr | None
    span: Span


class Network(NamedTuple):
    name: str
    params: tuple[Param, ...]
    span: Span


class Input(NamedTuple):
    dims: tuple[int, ...]
    span: Span


class Defaults(NamedTuple):
    op: str
    args: tuple[Arg, ...]
    span: Span


class Define(NamedTuple):
    name: str
    params: tuple[Param, ...]
    body: Chain | CondBody
    span: Span
    name_span: Span


class Include(NamedTuple):
    path: str
    span: Span


class Extends(NamedTuple):
    target: str
    is_path: bool
    args: tuple[CallArg, ...]
    span: Span


class Freeze(NamedTuple):
    names: tuple[str, ...]  # ("*",) for everything
    except_: tuple[str, ...]
    span: Span


class Init(NamedTuple):
    scheme: str
    args: tuple[Arg, ...]
    span: Span


class Assign(NamedTuple):
    """`name = chain`; `aux name = chain` (a train-time side output); `replace name = chain`."""

    name: str
    chain: Chain
    span: Span
    name_span: Span
    mode: str = "assign"  # assign | aux | replace


class Assert(NamedTuple):
    """`assert macs < 4G`: a budget on an analysed figure (checked after the cost analysis)."""

    metric: str
    args: tuple[CallArg, ...]  # memory(batch=32, dtype=bf16, optimizer=adamw)
    op: str  # < <= > >= == !=
    limit: str  # as written: 4G, 16GiB, 2.5e9
    span: Span  # from the metric to the end of the limit
    metric_span: Span
    limit_span: Span


class Statement(NamedTuple):
    chain: Chain
    span: Span


Stmt = Network | Input | Defaults | Define | Include | Extends | Freeze | Init | Assign | Assert | Statement


class Program(NamedTuple):
    file: str
    stmts: tuple[Stmt, ...]
