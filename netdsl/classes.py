"""Classes: the distinct class texts of the lowering, merged and named as a person would.

The lowering registers every class text it builds (a `Variant`: a define's, or an anonymous
block's) and names it in calls by a placeholder. `name_classes` then names them in order of first
use (a define's first class takes the define's name, further variants a number), merges the two
branches of a define's `if` taken by its instances into one class (`merged`: the branch chosen in
`__init__`, as torchvision's `use_res_connect`), and puts the names in place of the placeholders.
"""

from __future__ import annotations

from dataclasses import dataclass

from .codemodel import (
    Assign,
    Call,
    ClassModel,
    Comp,
    Expr,
    For,
    If,
    Kw,
    ListOf,
    Raw,
    Return,
    Star,
    Table,
    TupleOf,
    stmt_key,
)
from .names import RESERVED_PY, Names


@dataclass
class Variant:
    """One distinct class text of a family, before classes are named."""

    family: str
    model: ClassModel
    first_name: str | None  # the define's class name (None: an anonymous block)
    stem: str
    branch: int | None = None  # which branch of the define's `if` its instances take
    cond: tuple[str, str] | None = None  # that branch's condition as Python, and a word for it
    placeholder: str = ""


class NoMerge(Exception):
    """The instances of a define took both branches of its `if`, but one branch in several ways."""


def merged(family: list[Variant], name: str) -> ClassModel | None:
    """One class for the two branches of a define's `if` that its instances take: the branch
    is chosen in `__init__` and remembered for `forward` (as torchvision's `use_res_connect`)."""
    by_branch: dict[int, Variant] = {}
    for v in family:
        if v.branch is None or v.branch in by_branch:
            return None
        by_branch[v.branch] = v
    if len(by_branch) != 2:
        return None
    first, second = (by_branch[b] for b in sorted(by_branch))
    a, b = first.model, second.model
    if [p.name for p in a.params] != [p.name for p in b.params] or a.forward_args != b.forward_args:
        return None
    sequential = a.base == b.base == "nn.Sequential"  # no forward of its own: the branch is only built
    if not sequential and any(isinstance(st, For) for st in (*a.init, *b.init)):
        return None  # sub-modules added in a loop are called by nn.Sequential's forward only
    taken = {st.target.removeprefix("self.") for st in (*a.init, *b.init) if isinstance(st, Assign)}
    flag = Names(RESERVED_PY, taken).take(first.cond[1])
    init = [] if sequential else [Assign(f"self.{flag}", Raw(first.cond[0]))]
    cond = first.cond[0] if sequential else f"self.{flag}"
    # statements both branches begin and end with are written once
    ka, kb = [stmt_key(x) for x in a.init], [stmt_key(x) for x in b.init]
    head = 0
    while head < min(len(ka), len(kb)) and ka[head] == kb[head]:
        head += 1
    tail = 0
    while tail < min(len(ka), len(kb)) - head and ka[len(ka) - 1 - tail] == kb[len(kb) - 1 - tail]:
        tail += 1
    init += a.init[:head]
    if head + tail < max(len(ka), len(kb)):
        init.append(If(cond, a.init[head:len(ka) - tail], b.init[head:len(kb) - tail]))
    init += a.init[len(ka) - tail:]
    forward = [If(cond, list(a.forward), list(b.forward))]
    return ClassModel(name=name, doc=a.doc, params=a.params, init=init, forward_args=a.forward_args,
                      forward=forward, returns=a.returns, kind=a.kind,
                      base="nn.Sequential" if sequential else "nn.Module")

def name_classes(variants: list[Variant], roots: list[ClassModel], names_: Names) -> list[ClassModel]:
    """Name the registered classes in order of first use (a define's first class takes the
    define's name, further variants a number), merge a define's two `if` branches into one
    class, and put the names in place of the placeholders."""
    families: dict[str, list[Variant]] = {}
    for v in variants:
        families.setdefault(v.family, []).append(v)
    names: dict[str, str] = {}
    order: list[ClassModel] = []
    for v in variants:
        if v.placeholder in names:
            continue
        fam = families[v.family]
        if v.branch is not None:  # the family's calls share one placeholder: one class, or none
            one = merged(fam, v.first_name) if len(fam) > 1 else None
            if one is None:
                raise NoMerge(v.family)
            one.name = v.first_name
            names[v.placeholder] = v.first_name
            order.append(one)
            continue
        count = fam.index(v)
        name = v.first_name if count == 0 and v.first_name is not None else names_.take(v.stem, sep="")
        v.model.name = name
        names[v.placeholder] = name
        order.append(v.model)
    for c in [*order, *roots]:
        c.init[:] = [rename(st, names) for st in c.init]
        c.forward[:] = [rename(st, names) for st in c.forward]
    return order


def rename(c, names: dict[str, str]):
    """A statement or expression with class placeholders replaced by class names."""
    if isinstance(c, Call):
        return Call(names.get(c.func, c.func), tuple(rename(a, names) for a in c.args))
    if isinstance(c, Kw):
        return Kw(c.name, rename(c.value, names))
    if isinstance(c, Star):
        return Star(rename(c.value, names))
    if isinstance(c, Comp):
        return Comp(rename(c.elt, names), c.var, c.count)
    if isinstance(c, Table):
        return Table(rename(c.elt, names), c.vars, c.rows)
    if isinstance(c, ListOf):
        return ListOf(tuple(rename(a, names) for a in c.items))
    if isinstance(c, TupleOf):
        return TupleOf(tuple(rename(a, names) for a in c.items))
    if isinstance(c, Assign):
        return Assign(c.target, rename(c.value, names), c.comment)
    if isinstance(c, If):
        return If(c.cond, [rename(x, names) for x in c.body], [rename(x, names) for x in c.orelse])
    if isinstance(c, For):
        return For(c.var, c.iterable, [rename(x, names) for x in c.body])
    if isinstance(c, Return):
        return Return(rename(c.value, names))
    if isinstance(c, Expr):
        return Expr(rename(c.value, names))
    return c
