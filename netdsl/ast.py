"""The abstract syntax tree: plain frozen dataclasses, each with the `Span` it was parsed from.

Produced by `parse`, consumed by `ir`. No Lark object ever appears here.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import Span

# ---------------------------------------------------------------- expressions


@dataclass(frozen=True, slots=True)
class Num:
    value: int | float
    span: Span


@dataclass(frozen=True, slots=True)
class Str:
    value: str
    span: Span


@dataclass(frozen=True, slots=True)
class Name:
    id: str
    span: Span


@dataclass(frozen=True, slots=True)
class BinOp:
    op: str  # + - * / // %
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Neg:
    operand: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Compare:
    op: str  # == != < <= > >=
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class BoolOp:
    op: str  # and / or / not (right is None for not)
    left: Expr
    right: Expr | None
    span: Span


Expr = Num | Str | Name | BinOp | Neg | Compare | BoolOp

# ---------------------------------------------------------------- layer arguments


@dataclass(frozen=True, slots=True)
class Dims:
    """A literal `3x3` or `3x224x224` (a single `2` in `pool 2/2` is a Num)."""

    values: tuple[int, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Arg:
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


@dataclass(frozen=True, slots=True)
class Layer:
    """`conv 3x3/2 p1 x64` or a bare word (`relu`, a tensor name, a define without arguments)."""

    op: str
    args: tuple[Arg, ...]
    span: Span
    op_span: Span


@dataclass(frozen=True, slots=True)
class Shorthand:
    """`3x3/2:64` -- a convolution with "same" padding."""

    kernel: Dims
    stride: Expr | None
    out: Expr
    args: tuple[Arg, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class CallArg:
    name: str | None
    value: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Call:
    """`bottleneck(64, s=2)` or `linear(4*c)` (call syntax works for layers too)."""

    name: str
    args: tuple[CallArg, ...]
    span: Span
    name_span: Span


@dataclass(frozen=True, slots=True)
class Block:
    """`residual<...>`, `inception<a | b > c>`: branches of chains, merged by `kind`."""

    kind: str
    branches: tuple[tuple[Item, ...], ...]
    span: Span
    kind_span: Span
    args: tuple[CallArg, ...] = ()  # options of the merge: mean(droppath=0.15)<...>


@dataclass(frozen=True, slots=True)
class Group:
    """`( a > b )` or `{ stmt; stmt }`: a sequence used as one item."""

    body: tuple[Stmt, ...]
    span: Span
    braces: bool


@dataclass(frozen=True, slots=True)
class Repeat:
    """`item *n` or `block x3`."""

    item: Item
    count: Expr
    span: Span


Item = Layer | Shorthand | Call | Block | Group | Repeat


@dataclass(frozen=True, slots=True)
class Chain:
    items: tuple[Item, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class CondBody:
    """`if cond then chain else body` (define bodies only)."""

    cond: Expr
    then: Chain
    orelse: Chain | CondBody
    span: Span


# ---------------------------------------------------------------- statements


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    default: Expr | None
    span: Span


@dataclass(frozen=True, slots=True)
class Network:
    name: str
    params: tuple[Param, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Input:
    dims: tuple[int, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Defaults:
    op: str
    args: tuple[Arg, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Define:
    name: str
    params: tuple[Param, ...]
    body: Chain | CondBody
    span: Span
    name_span: Span


@dataclass(frozen=True, slots=True)
class Include:
    path: str
    span: Span


@dataclass(frozen=True, slots=True)
class Extends:
    target: str
    is_path: bool
    args: tuple[CallArg, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Freeze:
    names: tuple[str, ...]  # ("*",) for everything
    except_: tuple[str, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Init:
    scheme: str
    args: tuple[Arg, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Assign:
    """`name = chain`; `aux name = chain` (a train-time side output); `replace name = chain`."""

    name: str
    chain: Chain
    span: Span
    name_span: Span
    mode: str = "assign"  # assign | aux | replace


@dataclass(frozen=True, slots=True)
class Statement:
    chain: Chain
    span: Span


Stmt = Network | Input | Defaults | Define | Include | Extends | Freeze | Init | Assign | Statement


@dataclass(frozen=True, slots=True)
class Program:
    file: str
    stmts: tuple[Stmt, ...]
