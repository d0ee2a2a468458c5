"""Loops: runs of sub-modules in an `nn.Sequential` written as loops, so that depth stays data.

`compress` turns the constructor calls of a stage, in order, into
* identical calls: `*[Bottleneck(256, 64) for _ in range(2)]`;
* calls whose arguments step by constants or by one of their arguments (DenseNet's input channels):
  `*[DenseLayer(c + i * k, k) for i in range(6)]`;
* other calls of one class (a per-block table, MobileNetV2's Table 2): a loop over the rows of the
  arguments that differ, bound to the names of the parameters they are given to.
It works on the code model alone (`codemodel`), after the lowering has checked every call.
"""

from __future__ import annotations

import re

from .codemodel import Call, Comp, Kw, ListOf, Raw, Star, Table, TupleOf, flat
from .symbolic import Bin, Const, Sym, SymbolicError, literal


def compress(items: list, params_of=lambda func: None) -> list:
    """Runs of identical modules as `*[M(...) for _ in range(n)]`; progressions `*[M(a + k * i) ...]`;
    other runs of one class as a loop over a table of their arguments (`params_of(class)`: the
    names of its constructor parameters)."""
    out: list = []
    keys = [flat(it) for it in items]  # each item's text once: every scan below is linear
    i = 0
    while i < len(items):
        j = i + 1
        while j < len(items) and keys[j] == keys[i]:
            j += 1
        n = j - i
        if n >= 2:  # identical modules: a loop for a class of ours, PyTorch's own as they are
            if isinstance(items[i], Call) and not items[i].func.startswith("nn."):
                out.append(Star(Comp(items[i], "_", n)))
            else:
                out += items[i:j]
            i = j
            continue
        prog = _progression(items, i) or _table(items, i, params_of, keys)
        if prog is not None:
            code, n = prog
            out.append(code)
            i += n
            continue
        out.append(items[i])
        i += 1
    return out


def _int_of(c) -> int | None:
    if isinstance(c, Raw) and re.fullmatch(r"-?\d+", c.text):
        return int(c.text)
    return None


def _sym_of(c) -> Sym | None:
    """The value an argument renders: a symbol, or an integer literal."""
    if isinstance(c, Raw) and c.sym is not None:
        return c.sym
    n = _int_of(c)
    return Const(n) if n is not None else None


_PROBES = ({}, {})  # two fixed pseudo-random assignments per variable key, filled lazily


def _probe(sym: Sym, which: int):
    env = _PROBES[which]
    for v in sym.vars():
        env.setdefault(v.key, 1009 + 7919 * ((v.key * 31 + which * 17) % 97))
    try:
        return sym.eval(env)
    except (SymbolicError, ArithmeticError):
        return None


def _step(x, y, others: list) -> Sym | None:
    """A symbol s with y = x + s (checked under two assignments of the variables), else None."""
    if isinstance(x, Const) and isinstance(y, Const):
        return Const(y.value - x.value) if isinstance(x.value, int) and isinstance(y.value, int) else None
    diffs = []
    for w in (0, 1):
        a, b = _probe(x, w), _probe(y, w)
        if not isinstance(a, int) or not isinstance(b, int):
            return None
        diffs.append(b - a)
    if diffs[0] == diffs[1]:
        return Const(diffs[0])
    for cand in others:
        if [_probe(cand, 0), _probe(cand, 1)] == diffs:
            return cand
    return None


def _progression(items: list, i: int):
    """Three or more calls of one class whose arguments step by constants or by one of their
    arguments (DenseNet's input channels: `DenseLayer(c + i * k, k) for i in range(6)`)."""
    first = items[i]
    if not isinstance(first, Call) or first.func.startswith("nn."):
        return None

    def vals(c):
        return [a.value if isinstance(a, Kw) else a for a in c.args]

    j = i + 1
    steps = None
    while j < len(items) and isinstance(items[j], Call) and _shape(items[j]) == _shape(first):
        a, b = vals(items[j - 1]), vals(items[j])
        others = [s for s in map(_sym_of, b) if s is not None and not isinstance(s, Const)]
        st = []
        for x, y in zip(a, b, strict=True):
            if flat(x) == flat(y):
                st.append(Const(0))
                continue
            sx, sy = _sym_of(x), _sym_of(y)
            step = _step(sx, sy, others) if sx is not None and sy is not None else None
            if step is None:
                st = None
                break
            st.append(step)
        if st is None or (steps is not None and [literal(s) for s in st] != [literal(s) for s in steps]) or all(
                isinstance(s, Const) and s.value == 0 for s in st):
            break
        steps = st
        j += 1
    n = j - i
    if n < 3 or steps is None:
        return None
    new_args = []
    for a, st in zip(first.args, steps, strict=True):
        v = a.value if isinstance(a, Kw) else a
        if isinstance(st, Const) and isinstance(_sym_of(v), Const):
            if st.value:
                v = Raw(f"{_int_of(v)} + {st.value} * i" if st.value > 0 else f"{_int_of(v)} - {-st.value} * i")
        elif not (isinstance(st, Const) and st.value == 0):
            step = f"({literal(st)})" if isinstance(st, Bin) else literal(st)
            v = Raw(f"{literal(_sym_of(v))} + i * {step}")
        new_args.append(Kw(a.name, v) if isinstance(a, Kw) else v)
    return Star(Comp(Call(first.func, tuple(new_args)), "i", n)), n


def _shape(c) -> tuple:
    return (c.func, tuple((a.name if isinstance(a, Kw) else None) for a in c.args))


def _table(items: list, i: int, params_of, keys: list[str]):
    """Three or more calls of one class with other arguments (MobileNetV2's rows of Table 2) as
    `*[Block(cin, t, c) for cin, t, c in [(32, 1, 16), ...]]`: the arguments that differ become a
    table, bound to the names of the parameters they are given to."""
    first = items[i]
    if not isinstance(first, Call) or first.func.startswith("nn."):
        return None
    j = i + 1  # (a repetition of the previous call ends the table: it is a run of its own)
    while j < len(items) and isinstance(items[j], Call) and _shape(items[j]) == _shape(first) \
            and keys[j] != keys[j - 1]:
        j += 1
    names = params_of(first.func)
    if j - i < 3 or names is None:
        return None
    run = items[i:j]
    args = [[a.value if isinstance(a, Kw) else a for a in c.args] for c in run]
    varying = [k for k in range(len(first.args)) if len({flat(row[k]) for row in args}) > 1]
    cols = []
    for k in varying:
        a = first.args[k]
        cols.append(a.name if isinstance(a, Kw) else names[k] if k < len(names) else None)
    fixed = " ".join(flat(a) for k, a in enumerate(first.args) if k not in varying)
    if None in cols or len(set(cols)) != len(cols) or any(re.search(rf"\b{c}\b", fixed) for c in cols):
        return None
    elt_args = []
    for k, a in enumerate(first.args):
        if k in varying:
            v = Raw(cols[varying.index(k)])
            a = Kw(a.name, v) if isinstance(a, Kw) else v
        elt_args.append(a)
    rows = ListOf(tuple(TupleOf(tuple(row[k] for k in varying)) if len(varying) > 1 else row[varying[0]]
                        for row in args))
    return Star(Table(Call(first.func, tuple(elt_args)), tuple(cols), rows)), j - i
