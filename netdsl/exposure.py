"""Exposure: which network parameters the generated network class can take at any value.

The lowering writes every numeric network parameter as a variable and records, for every name it
reads in a layer argument or a define call, what became of it (`"safe"`: placed in a free argument;
`("call", define, param)`: passed on to a define's parameter; `"unsafe"`: baked in as a literal).
A parameter is free only when every place the source names it is safe; a name the lowering never
read (a repeat count, a condition) is not. The others shape the structure: the class still takes
them, as `netdsl.load` does, and refuses any value but the one it was compiled with.
"""

from __future__ import annotations

from . import ast as A
from .ir import Net


def _walk(obj, define=None):
    """Every AST node, with the define it is written in (depth first, in order; an explicit stack)."""
    stack = [(obj, define)]
    pop, push = stack.pop, stack.extend
    while stack:
        obj, define = pop()
        if isinstance(obj, A.Define):
            define = obj
        yield obj, define
        fields_ = getattr(obj, "_fields", None)  # AST nodes are NamedTuples
        if fields_ is None:
            if isinstance(obj, (tuple, list)):  # a tuple of nodes
                push([(x, define) for x in reversed(obj)])
            continue
        kids = []
        for f in fields_:
            if f == "span" or f.endswith("_span"):
                continue
            v = getattr(obj, f)
            if isinstance(v, (tuple, list)):
                kids.append((v, define))
        push(reversed(kids))


class Sources:
    """What the lowering needs of the network's source files, from their ASTs (`net.programs`, as
    parsed by the front end): the defines, every name written with the define it is written in
    (for the parameter-exposure analysis), and the parameters of a base network."""

    def __init__(self, net: Net):
        self.defines: list[A.Define] = []
        self.names: list[tuple[A.Name, A.Define | None]] = []
        # names written outside the defines of a base network's file: they read the base's own
        # parameters (define bodies read the derived network's), never a parameter of this class
        self.base_names: set = set()
        for prog in net.programs:
            for node, define in _walk(prog.stmts):
                if isinstance(node, A.Define):
                    self.defines.append(node)
                elif isinstance(node, A.Name) and define is None and prog.file != net.file:
                    self.base_names.add(node.span)
                elif isinstance(node, A.Name):
                    self.names.append((node, define))


def unsafe_params(src: Sources, records: dict, expose: set[str]) -> set[str]:
    """The network parameters that cannot be constructor arguments: a parameter is safe when every
    place the source names it was lowered into a free argument, or into a define argument that is
    itself safe in that define (`records`: what the lowering did with each name, by span)."""
    memo: dict[tuple, bool] = {}

    def status_ok(st, stack) -> bool:
        if st == "safe":
            return True
        if isinstance(st, tuple) and st[0] == "call":
            return param_ok(st[1], st[2], stack)
        return False

    def span_ok(span, stack) -> bool:
        sts = records.get(span)
        return bool(sts) and all(status_ok(s, stack) for s in sts)

    defines = {id(d): d for d in src.defines}

    def param_ok(did, pname, stack) -> bool:
        key = (did, pname)
        if key in memo:
            return memo[key]
        if key in stack:
            return False
        d = defines.get(did)
        if d is None:
            return False
        ok = True
        for n, dd in src.names:
            if dd is d and n.id == pname and not span_ok(n.span, stack | {key}):
                ok = False
                break
        memo[key] = ok
        return ok

    bad = set()
    for p in expose:
        for n, d in src.names:
            if n.id != p:
                continue
            if d is not None and any(q.name == p for q in d.params):
                continue  # a define parameter of the same name
            if not span_ok(n.span, frozenset()):
                bad.add(p)
                break
    return bad
