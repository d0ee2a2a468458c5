"""Forward: the statements of a generated class's `forward` and the names of its variables.

The lowering gives the ops of a class in order (`Op`: the tensor it makes, the tensors it reads,
how to write the call); `statements` allocates variables as a person would name them: a chain
reuses one (`x = self.conv1(x)`), a tensor still needed later keeps its own (`identity`,
`branch1`), train-only outputs are kept aside, and the network's forward ends with its outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import ops
from .codemodel import Assign, Expr, If, Raw, Return, flat
from .errors import Span
from .names import RESERVED_PY, Names, file_text


@dataclass
class Op:
    """One forward step before variables are allocated."""

    out: int
    ins: list[int]
    make: Any  # callable(list of input variable names) -> code
    stem: str
    line: Span | None = None
    aux: bool = False
    alias: bool = False
    named: bool = False  # a sub-module: its variable is named after it when its output is shared
    extra: list = field(default_factory=list)  # train-only outputs the sub-module returns too
    attr: str | None = None  # the sub-module it calls, when it is `self.<attr>(input)`


@dataclass(frozen=True)
class NetNames:
    """What `statements` needs of the network: names already taken, its train-only outputs, the
    shapes (for the comments of the network's forward), its outputs' namedtuple and whether
    FractalNet's global drop-path is drawn at the start of a training forward."""

    taken: frozenset
    aux_outputs: dict
    shape_of: Callable[[int], tuple]
    outputs_name: str | None
    sample_columns: bool


def aliases(ops_: list[Op]):
    """The tensor an op's output is (an alias op passes its input on), as a function."""
    alias = {op.out: op.ins[0] for op in ops_ if op.alias}

    def res(t):
        seen = 0
        while t in alias and seen < 100_000:
            t = alias[t]
            seen += 1
        return t

    return res


def statements(ops_: list[Op], inputs: list[tuple[int, str]], output: int, own_nodes, network: bool,
           net: NetNames) -> list:
    """The statements of `forward`: one per op, each output in a variable named after what made it,
    reused along a chain (`x = self.conv1(x)`), fresh where a tensor is still needed."""
    res = aliases(ops_)

    real = [op for op in ops_ if not op.alias]
    uses: dict[int, list[int]] = {}
    for k, op in enumerate(real):
        for t in op.ins:
            uses.setdefault(res(t), []).append(k)
    final = res(output)
    aux_out = {}
    scope_nodes = set(own_nodes)
    for name, nid in net.aux_outputs.items():
        if network or (nid in scope_nodes and nid != output):
            aux_out[res(nid)] = name
    keep = {final, *aux_out}
    names = Names(RESERVED_PY | set(net.taken))
    var: dict[int, str] = {}
    live: set[str] = set()
    for n, v in inputs:
        var[n] = names.take(v) if v not in names.taken else v
        live.add(var[n])
    stmts: list = []
    for k, op in enumerate(real):
        in_vars = []
        for t in op.ins:
            rt = res(t)
            if rt not in var:  # a tensor of an enclosing class: cannot happen for well-formed scopes
                raise AssertionError(f"tensor {rt} has no variable")
            in_vars.append(var[rt])
        code = op.make(in_vars)
        dying = []
        for t in dict.fromkeys(res(t) for t in op.ins):
            if uses.get(t, [None])[-1] == k and t not in keep:
                dying.append(t)
        for t in dying:
            live.discard(var[t])
        first = res(op.ins[0]) if op.ins else None
        main_uses = [u for u in uses.get(first, []) if not real[u].aux] if first is not None else []
        reuse = (first is not None and first in dying and not op.aux and main_uses == [k]
                 and var[first] not in live)
        main_out = [u for u in uses.get(op.out, []) if not real[u].aux]
        chain = not op.named or (network and not op.aux and len(main_out) <= 1)
        if not chain:
            target = _fresh(names, live, op.stem)
        elif network and "x" not in live:
            target = _fresh(names, live, "x")
        elif reuse:
            target = var[first]
        else:
            target = _fresh(names, live, "x" if network and op.stem == "out" else op.stem)
        live.add(target)
        var[op.out] = target
        if op.extra:
            extra_vars = []
            for t in op.extra:
                v = _fresh(names, live, _aux_name(net, t))
                live.add(v)
                var[res(t)] = v
                extra_vars.append(v)
            target = ", ".join([target, *extra_vars])
        comment = None
        if network:
            shape = net.shape_of(op.out)
            where = f"{file_text(op.line.file)}:{op.line.line}, " if op.line else ""
            comment = where + ops.fmt_shape(shape)
        if network and op.aux and op.out in aux_out and len(uses.get(op.out, [])) == 0:
            code = Raw(f"{flat(code)} if self.training else None")
        stmts.append(Assign(target, code, comment))
    out_var = var[final]
    if network and net.sample_columns:
        stmts.insert(0, If("self.training", [Expr(Raw("sample_columns(self, x.device)"))]))
    if network:
        if net.outputs_name:
            fields_ = ", ".join([out_var] + [var[t] for t in aux_out])
            stmts.append(If("self.training", [Return(Raw(f"{net.outputs_name}({fields_})"))]))
        stmts.append(Return(Raw(out_var)))
    elif aux_out:  # train-only outputs inside: returned with the output, for the network to collect
        stmts.append(Return(Raw(", ".join([out_var] + [var[t] for t in aux_out]))))
    elif stmts and isinstance(stmts[-1], Assign) and stmts[-1].target == out_var:
        last = stmts.pop()
        stmts.append(Return(last.value))
    else:
        stmts.append(Return(Raw(out_var)))
    return stmts


def _aux_name(net: NetNames, nid: int) -> str:
    return next((k for k, v in net.aux_outputs.items() if v == nid), "aux")


def _fresh(names: Names, live: set[str], stem: str) -> str:
    if stem in names.taken and stem not in live:
        return stem
    return names.take(stem)
