"""The code model: plain data that describes a generated Python module (classes, statements and
expressions), produced by `lower` and laid out as text by `codegen`. No dependencies: a newcomer can
read what the generator consumes without reading how it is produced.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Expressions (codegen lays them out; `flat` is their one-line form).


@dataclass(frozen=True)
class Raw:
    text: str
    sym: Any = field(default=None, compare=False)  # the symbolic value it renders, when it is one


@dataclass(frozen=True)
class Kw:
    name: str
    value: Any


@dataclass(frozen=True)
class Call:
    func: str
    args: tuple = ()


@dataclass(frozen=True)
class Star:
    value: Any


@dataclass(frozen=True)
class Comp:
    """`[elt for var in range(count)]`."""

    elt: Any
    var: str
    count: int


@dataclass(frozen=True)
class Table:
    """`[elt for a, b in [(1, 2), (3, 4)]]`: the element once per row of a table."""

    elt: Any
    vars: tuple  # the names each row binds
    rows: Any  # a ListOf of the rows (each a TupleOf, or a value when one name is bound)


@dataclass(frozen=True)
class ListOf:
    items: tuple


@dataclass(frozen=True)
class TupleOf:
    items: tuple


def flat(c) -> str:
    if isinstance(c, Raw):
        return c.text
    if isinstance(c, Kw):
        return f"{c.name}={flat(c.value)}"
    if isinstance(c, Call):
        return f"{c.func}({', '.join(flat(a) for a in c.args)})"
    if isinstance(c, Star):
        return "*" + flat(c.value)
    if isinstance(c, Comp):
        return f"[{flat(c.elt)} for {c.var} in range({c.count})]"
    if isinstance(c, Table):
        return f"[{flat(c.elt)} for {', '.join(c.vars)} in {flat(c.rows)}]"
    if isinstance(c, ListOf):
        return f"[{', '.join(flat(a) for a in c.items)}]"
    if isinstance(c, TupleOf):
        return f"({', '.join(flat(a) for a in c.items)}{',' if len(c.items) == 1 else ''})"
    raise TypeError(type(c).__name__)


# Statements.


@dataclass
class Assign:
    target: str
    value: Any
    comment: str | None = None


@dataclass
class If:
    cond: str
    body: list
    orelse: list = field(default_factory=list)


@dataclass
class For:
    """`for var in iterable:` over a body (a repeat whose count is a constructor argument)."""

    var: str
    iterable: Any
    body: list


@dataclass
class Return:
    value: Any


@dataclass
class Expr:
    value: Any


@dataclass
class Param:
    name: str
    annotation: str | None = None
    default: str | None = None


@dataclass
class ClassModel:
    name: str
    doc: str
    params: list[Param]
    init: list
    forward_args: list[str]
    forward: list
    returns: str = "Tensor"
    base: str = "nn.Module"
    init_weights: list | None = None
    kind: str = "define"  # define | block | network
    super_args: bool = False  # an indexed nn.Sequential built by `super().__init__(...)` (in `init`)


@dataclass
class CodeModel:
    name: str  # network name (the factory function)
    file: str  # the .net file, as safe text
    header: list[str]  # docstring lines of the generated module
    classes: list[ClassModel]
    network: ClassModel
    helpers: list[str]  # helper snippets used: drop_path, join
    outputs: tuple[str, list[str]] | None  # (namedtuple class, fields) when the network has aux outputs
    uses_torch: bool  # `import torch` is needed
    ordered_dict: bool = False  # `from collections import OrderedDict` is needed
    replaced: tuple[str, ...] = ()  # module paths of the stages replaced in a network that extends another


def stmt_key(s) -> str:
    if isinstance(s, Assign):
        return f"{s.target}={flat(s.value)}"
    if isinstance(s, If):
        return f"if {s.cond}:[{';'.join(map(stmt_key, s.body))}]else:[{';'.join(map(stmt_key, s.orelse))}]"
    if isinstance(s, For):
        return f"for {s.var} in {flat(s.iterable)}:[{';'.join(map(stmt_key, s.body))}]"
    if isinstance(s, Return):
        return f"return {flat(s.value)}"
    if isinstance(s, Expr):
        return flat(s.value)
    raise TypeError(type(s).__name__)
