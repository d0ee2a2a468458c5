"""IR: the graph of a network, and its construction from the AST (expansion).

`build(program)` evaluates parameters and expressions, expands defines, blocks, repeats and
includes, and produces a `Net`:

* `net.graph` -- a networkx DiGraph whose nodes are ops. Node attributes: `op` (registry name),
  `args` (evaluated arguments), `arg_src` (the AST expression of each written argument, for
  generated classes), `span` (where it was written), `scope` (the block instance it belongs
  to), `inputs` (ordered predecessor ids; edges mirror them). Later passes add `shape`,
  `params`, `macs`, `name` and `path`.
* `net.root` -- the tree of `Scope`s: network, define instances, blocks, branches and named
  stages, so that every node knows which block instance and repeat it came from.

Expansion is purely structural; shapes are inferred afterwards (`shapes.infer`). Resource limits
(layers, repeats, recursion depth) are enforced here, before anything large is built.
"""

from __future__ import annotations

import builtins
import difflib
import keyword
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field

import networkx as nx

from . import ast as A
from . import ops
from .errors import (
    NetdslError,
    NetdslLimitError,
    NetdslNameError,
    Span,
    UsageError,
)

# Weight initialisation schemes `init NAME` may name (applied by the PyTorch back end).
INIT_SCHEMES = ("torch", "kaiming", "vgg", "googlenet")

# ------------------------------------------------------------------------ limits


@dataclass
class Limits:
    max_layers: int = 200_000
    max_repeat: int = 100_000
    max_depth: int = 64  # define calls within define calls (recursion)
    max_include_depth: int = 16

    @staticmethod
    def from_env() -> Limits:
        import os

        lim = Limits()
        for f in ("max_layers", "max_repeat", "max_depth", "max_include_depth"):
            v = os.environ.get("NETDSL_" + f.upper())
            if v and v.isdigit():
                setattr(lim, f, int(v))
        return lim


# ------------------------------------------------------------------------ IR types


@dataclass(eq=False)
class Scope:
    """A block instance in the expansion hierarchy."""

    kind: str  # network | define | block | branch | named
    label: str  # define / block kind / stage name / "branch 2"
    parent: Scope | None
    span: Span
    index: int | None = None  # 1-based position among repeats
    call: str | None = None  # how the define was called, e.g. "bottleneck(128, s=2)"
    define: str | None = None
    define_args: dict = field(default_factory=dict)  # values of the non-tensor arguments
    # how each define parameter got its value: {param: (how, expression)} with how one of
    # "pos" / "kw" (the expression as written at the call, in the caller's names) or "default"
    # (the default expression of the define, in the define's own names)
    arg_exprs: dict = field(default_factory=dict)
    tensor_args: dict = field(default_factory=dict)  # tensor parameters: {param: node id}
    define_node: A.Define | None = None  # the define this instance expands
    aux: bool = False
    children: list = field(default_factory=list)  # Scope | node id, in order
    input: int | None = None
    output: int | None = None  # None when a join block merged it away (see _Builder._flat_join)
    inline: bool = False  # inside a join block: no module of its own, its layers join the enclosing one
    # set by assign_names
    name: str | None = None
    path: str = ""
    module: bool = False
    sequential: bool = False
    members: list = field(default_factory=list)  # namespace members of a module scope, in order
    collapsed_to: Scope | int | None = None  # a named stage of one layer or block is that member

    def add(self, child) -> None:
        self.children.append(child)

    def describe(self) -> str:
        if self.kind == "define":
            text = self.call or self.label
        elif self.kind == "branch":
            return self.label
        else:
            text = self.label
        if self.index is not None:
            text += f" #{self.index}"
        return text

    def trail(self) -> tuple[str, ...]:
        parts = []
        s: Scope | None = self
        while s is not None and s.kind != "network":
            parts.append(s.describe())
            s = s.parent
        if len(parts) > 6:  # deep recursion: the innermost and outermost steps tell the story
            parts = [*parts[:3], f"... ({len(parts) - 5} more)", *parts[-2:]]
        return (" of ".join(parts),) if parts else ()

    def scopes(self) -> Iterable[Scope]:
        yield self
        for ch in self.children:
            if isinstance(ch, Scope):
                yield from ch.scopes()

    def nodes(self) -> Iterable[int]:
        for ch in self.children:
            if isinstance(ch, Scope):
                yield from ch.nodes()
            else:
                yield ch


@dataclass(eq=False)
class Net:
    name: str
    file: str
    graph: nx.DiGraph
    root: Scope
    input_node: int
    output_node: int
    input_shape: tuple[int, ...]
    params: dict  # network parameters, as evaluated
    aux_outputs: dict[str, int] = field(default_factory=dict)
    init: str = "torch"
    frozen: list[tuple[str, Span]] = field(default_factory=list)
    frozen_except: list[str] = field(default_factory=list)

    def node(self, nid: int) -> dict:
        return self.graph.nodes[nid]

    def op_nodes(self) -> list[int]:
        """Every op node in creation (= topological) order, the input excluded."""
        return [n for n in self.graph.nodes if n != self.input_node]


# ------------------------------------------------------------------------ values & environment


Value = int | float | bool | str


@dataclass(eq=False)
class DefineInfo:
    node: A.Define
    defaults: dict[str, list[A.Arg]]  # the lexical defaults of the file it was written in


@dataclass(eq=False)
class Env:
    vars: dict[str, Value]
    tensors: dict[str, int]
    defaults: dict[str, list[A.Arg]]
    defines: dict[str, DefineInfo]
    in_block: bool = False


def _closest(name: str, names: Iterable[str]) -> str | None:
    m = difflib.get_close_matches(name, list(names), n=1, cutoff=0.6)
    return f"did you mean `{m[0]}`?" if m else None


def _fmt_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return f'"{v}"' if isinstance(v, str) else str(v)


def _arg_list(spec) -> str:
    return ("one of its arguments: " + ", ".join(x.name for x in spec.args)) if spec.args else "no arguments"


def _signature(d: A.Define) -> str:
    return f"{d.name}({', '.join(q.name + ('' if q.default is None else '=...') for q in d.params)})"


def _src_text(e) -> str:
    """Re-print an AST expression (for call descriptions)."""
    if isinstance(e, A.Num):
        return str(e.value)
    if isinstance(e, A.Name):
        return e.id
    if isinstance(e, A.Str):
        return f'"{e.value}"'
    if isinstance(e, A.BinOp):
        return f"{_src_text(e.left)}{e.op}{_src_text(e.right)}"
    if isinstance(e, A.Neg):
        return f"-{_src_text(e.operand)}"
    return "..."


# Names that cannot be attributes of a generated nn.Module.
RESERVED = frozenset(
    set(keyword.kwlist) | set(dir(builtins))
    | {"forward", "training", "to", "cuda", "cpu", "eval", "train", "parameters", "buffers", "modules",
       "children", "state_dict", "load_state_dict", "apply", "type", "float", "double", "half", "bfloat16",
       "zero_grad", "register_buffer", "register_parameter", "add_module", "named_modules",
       "named_parameters", "named_children", "named_buffers", "extra_repr", "requires_grad_", "share_memory",
       "dump_patches", "call_super_init", "self", "torch", "nn", "x", "out", "identity", "F"}
)


def check_identifier(name: str, span: Span, what: str = "a layer") -> None:
    if not name.isidentifier() or name in RESERVED or name.startswith("_"):
        raise NetdslNameError(
            f"`{name}` cannot name {what}: it is reserved in generated PyTorch code",
            span=span,
            hint="pick another name (e.g. `" + name.strip("_") + "_1`)",
        )


# ------------------------------------------------------------------------ the expander


class _Builder:
    def __init__(self, file: str, limits: Limits):
        self.file = file
        self.limits = limits
        self.g = nx.DiGraph()
        self.count = 0
        self.depth = 0
        self.aux: dict[str, int] = {}
        self.init = "torch"
        self.frozen: list[tuple[str, Span]] = []
        self.frozen_except: list[str] = []
        self.replacements: dict[str, tuple[A.Assign, Env]] = {}
        self.errors: list[NetdslError] = []

    # ---- graph
    def add_node(self, op: str, args: dict, arg_src: dict, span: Span, scope: Scope, inputs: list[int],
                 role: str | None = None) -> int:
        self.count += 1
        if self.count > self.limits.max_layers:
            raise NetdslLimitError(
                f"the network expands to more than {self.limits.max_layers:,} layers",
                span=span,
                trail=scope.trail(),
                hint="raise the limit with --max-layers (or NETDSL_MAX_LAYERS) if this is intended",
            )
        nid = self.count
        self.g.add_node(nid, op=op, args=args, arg_src=arg_src, span=span, scope=scope, inputs=list(inputs),
                        role=role)
        for i in inputs:
            self.g.add_edge(i, nid)
        scope.add(nid)
        return nid

    # ---- expressions
    def eval(self, e, env: Env) -> Value:
        if isinstance(e, A.Num):
            return e.value
        if isinstance(e, A.Str):
            return e.value
        if isinstance(e, A.Name):
            if e.id in env.vars:
                return env.vars[e.id]
            if e.id in ("true", "false"):
                return e.id == "true"
            if e.id in env.tensors:
                raise NetdslNameError(f"`{e.id}` is a tensor, not a number", span=e.span,
                                      hint="tensors can only start a chain or a branch")
            raise NetdslNameError(
                f"unknown name `{e.id}`",
                span=e.span,
                expected=("a number or a parameter: " + ", ".join(sorted(env.vars))) if env.vars
                else "a number (no parameters are in scope here)",
                found=f"`{e.id}`",
                hint=_closest(e.id, env.vars),
            )
        if isinstance(e, A.Neg):
            v = self._num(self.eval(e.operand, env), e.operand)
            return -v
        if isinstance(e, A.BinOp):
            a = self._num(self.eval(e.left, env), e.left)
            b = self._num(self.eval(e.right, env), e.right)
            if e.op == "+":
                r = a + b
            elif e.op == "-":
                r = a - b
            elif e.op == "*":
                r = a * b
            else:
                if b == 0:
                    raise NetdslNameError("division by zero", span=e.span, found=f"{_src_text(e)}")
                if e.op == "/":
                    r = a // b if isinstance(a, int) and isinstance(b, int) and a % b == 0 else a / b
                elif e.op == "//":
                    r = a // b
                else:
                    r = a % b
            if isinstance(r, int) and abs(r) > 10**30:
                raise NetdslLimitError("number larger than 10^30", span=e.span)
            return r
        if isinstance(e, A.Compare):
            a = self.eval(e.left, env)
            b = self.eval(e.right, env)
            try:
                return {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[e.op]
            except TypeError:
                raise NetdslNameError(f"cannot compare {_fmt_value(a)} with {_fmt_value(b)}", span=e.span) from None
        if isinstance(e, A.BoolOp):
            if e.op == "not":
                return not self._bool(self.eval(e.left, env), e.left)
            left = self._bool(self.eval(e.left, env), e.left)
            if e.op == "and":
                return left and self._bool(self.eval(e.right, env), e.right)
            return left or self._bool(self.eval(e.right, env), e.right)
        raise NetdslNameError("not a value here", span=getattr(e, "span", None))

    def _num(self, v, e) -> int | float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise NetdslNameError(f"expected a number, found {_fmt_value(v)}", span=e.span,
                                  expected="a number", found=_fmt_value(v))
        return v

    def _bool(self, v, e) -> bool:
        if not isinstance(v, bool):
            raise NetdslNameError(f"expected true or false, found {_fmt_value(v)}", span=e.span)
        return v

    def _count(self, e, env: Env, what: str) -> int:
        v = self.eval(e, env)
        if isinstance(v, bool) or not isinstance(v, int):
            raise NetdslNameError(f"{what} must be a whole number, found {_fmt_value(v)}", span=e.span,
                                  expected="a whole number >= 1", found=_fmt_value(v))
        if v < 1:
            raise NetdslNameError(f"{what} must be at least 1, found {v}", span=e.span,
                                  expected="a whole number >= 1", found=str(v))
        if v > self.limits.max_repeat:
            raise NetdslLimitError(
                f"{what} {v:,} is over the limit of {self.limits.max_repeat:,}",
                span=e.span,
                hint="raise it with --max-repeat (or NETDSL_MAX_REPEAT) if this is intended",
            )
        return v

    # ---- arguments of an op
    def _collect_args(self, spec: ops.OpSpec, written, call_args, env: Env, defaults: bool = False) -> dict:
        """Map written arguments to names: {name: (value, source expression, span)}."""
        raw: dict[str, tuple[object, object, Span]] = {}
        positional = list(spec.positional)

        def put(name: str, value, src, sp: Span):
            a = spec.arg_index.get(name)
            if a is None:
                raise NetdslNameError(
                    f"{spec.name} has no argument `{name}`",
                    span=sp,
                    expected=_arg_list(spec),
                    found=f"`{name}`",
                    hint=_closest(name, spec.arg_index),
                )
            if a.name in raw and not defaults:  # a later `defaults` statement overrides an earlier one
                raise NetdslNameError(f"{spec.name}: `{a.name}` is given twice", span=sp)
            raw[a.name] = (value, src, sp)

        def take_pos(value, src, sp: Span):
            while positional and positional[0] in raw:
                positional.pop(0)
            if not positional:
                raise NetdslNameError(
                    f"too many positional arguments for {spec.name}",
                    span=sp,
                    expected=f"{len(spec.positional)} positional ({', '.join(spec.positional) or 'none'})",
                    hint=f"{spec.name}: {spec.doc}",
                )
            put(positional.pop(0), value, src, sp)

        def word(e):
            # a bare word that is no variable is an enum value (act=relu, padding="same")
            return e.id if isinstance(e, A.Name) and e.id not in env.vars and e.id not in ("true", "false") else None

        for arg in written:
            if arg.kind == "pos":
                if isinstance(arg.value, A.Dims):
                    take_pos(arg.value.values, None, arg.span)
                else:
                    take_pos(self.eval(arg.value, env), arg.value, arg.span)
                if arg.stride is not None:
                    if "stride" not in spec.arg_index:
                        raise NetdslNameError(f"{spec.name} takes no stride", span=arg.stride.span,
                                              hint=f"{spec.name}: {spec.doc}")
                    put("stride", self.eval(arg.stride, env), arg.stride, arg.stride.span)
            elif arg.kind in ("out", "pad"):
                if arg.name not in spec.arg_index:  # `x64` / `p1` written for a layer without them
                    what = "output channels" if arg.kind == "out" else "padding"
                    written_as = ("x" if arg.kind == "out" else "p") + _fmt_value(self.eval(arg.value, env))
                    raise NetdslNameError(
                        f"{spec.name} takes no {what}",
                        span=arg.span,
                        expected=_arg_list(spec),
                        found=f"`{written_as}`",
                        hint=f"{spec.name}: {spec.doc}",
                    )
                put(arg.name, self.eval(arg.value, env), arg.value, arg.span)
            elif arg.kind == "kw":
                if isinstance(arg.value, A.Dims):
                    put(arg.name, arg.value.values, None, arg.span)
                else:
                    w = word(arg.value)
                    put(arg.name, w if w is not None else self.eval(arg.value, env),
                        None if w is not None else arg.value, arg.span)
            elif arg.name in env.vars:  # a variable used positionally: linear classes
                take_pos(env.vars[arg.name], arg.value, arg.span)
            elif arg.name in spec.arg_index and spec.arg_index[arg.name].type == "bool":
                put(arg.name, True, None, arg.span)
            elif "act" in spec.arg_index and arg.name in ops.ACTIVATIONS:
                put("act", arg.name, None, arg.span)
            elif arg.name in spec.arg_index:  # e.g. `act` or `groups` without a value
                a = spec.arg_index[arg.name]
                raise NetdslNameError(
                    f"{spec.name}: `{arg.name}` needs a value",
                    span=arg.span,
                    expected=f"`{arg.name}=...`" + (f" ({a.doc})" if a.doc else ""),
                    found=f"`{arg.name}` alone",
                    hint=f"{spec.name}: {spec.doc}",
                )
            else:
                switches = ", ".join(a.name for a in spec.args if a.type == "bool") or "none"
                raise NetdslNameError(
                    f"unknown name `{arg.name}` in {spec.name}",
                    span=arg.span,
                    expected=f"a parameter, or a switch of {spec.name}: {switches}",
                    found=f"`{arg.name}`",
                    hint=_closest(arg.name, list(env.vars) + list(spec.arg_index)),
                )
        for ca in call_args or ():
            if ca.name is None:
                take_pos(self.eval(ca.value, env), ca.value, ca.span)
            else:
                w = word(ca.value)
                put(ca.name, w if w is not None else self.eval(ca.value, env),
                    None if w is not None else ca.value, ca.span)
        return raw

    def op_args(self, spec: ops.OpSpec, written: list[A.Arg], call_args: tuple[A.CallArg, ...] | None,
                env: Env, span: Span, same_pad: bool) -> tuple[dict, dict]:
        raw = self._collect_args(spec, env.defaults.get(spec.name, []), None, env, defaults=True)
        raw.update(self._collect_args(spec, written, call_args, env))
        args: dict = {}
        src: dict = {}
        for a in spec.args:
            if a.name in raw:
                value, s, sp = raw[a.name]
                args[a.name] = self._convert(spec, a, value, sp)
                if s is not None:
                    src[a.name] = s
            elif a.required:
                raise NetdslNameError(
                    f"{spec.name} needs `{a.name}`" + (f" ({a.doc})" if a.doc else ""),
                    span=span,
                    expected=f"{spec.name}: {spec.doc}",
                    found="no " + a.name,
                )
            else:
                args[a.name] = a.default
        if "padding" in args and "padding" not in raw and same_pad:
            args["padding"] = "same"
        if spec.name == "conv" and args.get("ratio") is not None and args["ratio"] <= 0:
            raise NetdslNameError("conv: `ratio` must be positive", span=span, found=str(args["ratio"]))
        if spec.name == "conv" and args.get("out") is None and args.get("ratio") is None:
            raise NetdslNameError(
                "conv needs its output channels",
                span=span,
                expected="e.g. `conv 3x3 x64` or `3x3:64`",
                found="no channels",
            )
        return args, src

    def _convert(self, spec: ops.OpSpec, a: ops.ArgSpec, v, sp: Span):
        def bad(expected: str):
            found = _fmt_value(v) if not isinstance(v, tuple) else "x".join(map(str, v))
            frac = isinstance(v, float) and "whole number" in expected
            hint = "`/` gives a fraction unless it divides exactly; `//` rounds down" if frac else None
            return NetdslNameError(f"{spec.name}: `{a.name}` must be {expected}, found {found}",
                                   span=sp, expected=expected, found=found, hint=hint)

        t = a.type
        if t in ("pos_int", "int"):
            if isinstance(v, bool) or not isinstance(v, int):
                raise bad("a whole number")
            if t == "pos_int" and v < 1:
                raise bad("a whole number >= 1")
            return v
        if t in ("pair", "padding"):
            if t == "padding" and v == "same":
                return v
            if isinstance(v, tuple):
                if len(v) != 2:
                    raise bad("one size or two (3 or 3x3)")
                lo = 0 if t == "padding" else 1
                if any(x < lo for x in v):
                    raise bad(f"sizes >= {lo}")
                return v if v[0] != v[1] else v[0]
            if isinstance(v, bool) or not isinstance(v, int):
                raise bad("a whole number or a size like 3x3" + (' or "same"' if t == "padding" else ""))
            if v < (0 if t == "padding" else 1):
                raise bad("a whole number >= " + ("0" if t == "padding" else "1"))
            return v
        if t == "float":
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise bad("a number")
            return float(v)
        if t == "bool":
            if not isinstance(v, bool):
                raise bad("true or false")
            return v
        if t == "act":
            if v is True:
                raise bad("an activation name")
            if v not in ops.ACTIVATIONS:
                raise NetdslNameError(
                    f"{spec.name}: unknown activation `{v}`" if isinstance(v, str)
                    else f"{spec.name}: `{a.name}` must be an activation, found {_fmt_value(v)}",
                    span=sp,
                    expected="one of " + ", ".join(ops.ACTIVATIONS),
                    found=f"`{v}`" if isinstance(v, str) else _fmt_value(v),
                    hint=_closest(v, ops.ACTIVATIONS) if isinstance(v, str) else None,
                )
            return "none" if v in ("none", "identity", "id") else ("silu" if v == "swish" else v)
        if t == "dims":
            if isinstance(v, int) and not isinstance(v, bool):
                return (v,)
            if not isinstance(v, tuple):
                raise bad("sizes like 0x1x0x1")
            return v
        return v

    # ---- items
    def item(self, it, x: int, env: Env, scope: Scope) -> int:
        if isinstance(it, A.Layer):
            return self.layer(it.op, it.args, None, it.span, it.op_span, x, env, scope)
        if isinstance(it, A.Call):
            return self.layer(it.name, (), it.args, it.span, it.name_span, x, env, scope)
        if isinstance(it, A.Shorthand):
            spec = ops.REGISTRY["conv"]
            written = [A.Arg("pos", None, it.kernel, it.stride, it.kernel.span),
                       A.Arg("out", "out", it.out, None, it.out.span), *it.args]
            return self.emit(spec, written, None, env, it.span, x, scope, same_pad=True)
        if isinstance(it, A.Block):
            return self.block(it, x, env, scope)
        if isinstance(it, A.Group):
            return self.stmts(it.body, x, env, scope, braces=it.braces)
        if isinstance(it, A.Repeat):
            return self.repeat(it, x, env, scope)
        raise NetdslError("unsupported item", span=getattr(it, "span", None))

    def chain(self, ch: A.Chain, x: int, env: Env, scope: Scope) -> int:
        for i, it in enumerate(ch.items):
            if i > 0 and isinstance(it, A.Layer) and it.op in env.tensors and not it.args:
                raise NetdslNameError(
                    f"tensor `{it.op}` can only start a chain or a branch",
                    span=it.span,
                    hint=f"write `{it.op} > ...` at the start, or merge it with a block: add<... | {it.op}>",
                )
            x = self.item(it, x, env, scope)
        return x

    def repeat(self, it: A.Repeat, x: int, env: Env, scope: Scope) -> int:
        n = self._count(it.count, env, "repeat count")
        before = self.count
        x = self._one_rep(it.item, x, env, scope, 1 if n > 1 else None)
        per = self.count - before
        if per * (n - 1) + self.count > self.limits.max_layers:
            raise NetdslLimitError(
                f"repeating this {n:,} times makes {per * n + before:,} layers; the limit is "
                f"{self.limits.max_layers:,}",
                span=it.span,
                trail=scope.trail(),
                hint="raise the limit with --max-layers (or NETDSL_MAX_LAYERS) if this is intended",
            )
        for k in range(2, n + 1):
            x = self._one_rep(it.item, x, env, scope, k)
        return x

    def _one_rep(self, item, x: int, env: Env, scope: Scope, index: int | None) -> int:
        mark = len(scope.children)
        y = self.item(item, x, env, scope)
        if index is not None:
            for ch in scope.children[mark:]:
                if isinstance(ch, Scope) and ch.index is None:
                    ch.index = index
        return y

    def layer(self, name: str, args: tuple[A.Arg, ...], call_args, span: Span, name_span: Span, x: int,
              env: Env, scope: Scope) -> int:
        if name in env.tensors and call_args is None:
            if args:
                raise NetdslNameError(f"`{name}` is a tensor and takes no arguments", span=span)
            return env.tensors[name]
        if name in env.defines:
            if args:
                raise NetdslNameError(
                    f"`{name}` is a define: pass its arguments in parentheses",
                    span=span,
                    expected=f"{name}(...)",
                )
            return self.call(env.defines[name], call_args or (), span, x, env, scope)
        if name in ("id", "identity") and not args and not call_args:
            return x  # a zero-parameter identity branch: no node at all
        spec = ops.lookup(name)
        if spec is None:
            if name in ops.BLOCK_KINDS:
                raise NetdslNameError(f"`{name}` is a block: write {name}<...>", span=name_span)
            known = list(env.defines) + ops.all_names() + list(env.tensors)
            raise NetdslNameError(
                f"unknown layer `{name}`",
                span=name_span,
                expected="a built-in layer (conv, pool, bn, relu, linear, dropout, flatten, ...), a define or a tensor",
                found=f"`{name}`",
                hint=_closest(name, known),
            )
        return self.emit(spec, list(args), call_args, env, span, x, scope, same_pad=env.in_block)

    def emit(self, spec: ops.OpSpec, written: list[A.Arg], call_args, env: Env, span: Span, x: int,
             scope: Scope, same_pad: bool) -> int:
        """Create the node(s) of one written layer: the op, then its `bn` and `act` if asked."""
        args, src = self.op_args(spec, written, call_args, env, span, same_pad)
        bn = args.pop("bn", False) if spec.name in ("conv", "dw", "linear") else False
        act = args.pop("act", "none") if spec.name in ("conv", "dw", "linear") else "none"
        y = self.add_node(spec.name, args, src, span, scope, [x])
        if bn:
            y = self.add_node("bn", {"eps": 1e-5, "momentum": 0.1, "affine": True}, {}, span, scope, [y], role="bn")
        if act != "none":
            aspec = ops.REGISTRY[act]
            y = self.add_node(act, {a.name: a.default for a in aspec.args}, {}, span, scope, [y], role="act")
        return y

    def bind_call(self, info: DefineInfo, call_args: tuple[A.CallArg, ...], span: Span, env: Env):
        """Bind a define call's arguments: (values, tensor arguments, the callee's variables, and for
        each parameter how it was given with its expression, as `Scope.arg_exprs` records)."""
        d = info.node
        bound: dict[str, Value] = {}
        tensor_args: dict[str, int] = {}
        exprs: dict[str, tuple[str, A.Expr]] = {}
        pos = [p.name for p in d.params]
        for ca in call_args:
            if ca.name is None:
                if not pos:
                    raise NetdslNameError(
                        f"{d.name} takes {len(d.params)} argument{'s' if len(d.params) != 1 else ''}, "
                        f"more were given",
                        span=ca.span,
                        expected=f"{d.name}({', '.join(p.name for p in d.params)})",
                    )
                name = pos.pop(0)
            else:
                name = ca.name
                if name not in {p.name for p in d.params}:
                    raise NetdslNameError(
                        f"{d.name} has no parameter `{name}`",
                        span=ca.span,
                        expected=f"{d.name}({', '.join(p.name for p in d.params)})",
                        found=f"`{name}`",
                        hint=_closest(name, [p.name for p in d.params]),
                    )
                if name in pos:
                    pos.remove(name)
            if name in bound:
                raise NetdslNameError(f"{d.name}: `{name}` given twice", span=ca.span)
            exprs[name] = ("pos" if ca.name is None else "kw", ca.value)
            if isinstance(ca.value, A.Name) and ca.value.id in env.tensors and ca.value.id not in env.vars:
                tensor_args[name] = env.tensors[ca.value.id]  # a cell taking several inputs
                bound[name] = ca.value.id
                continue
            bound[name] = self.eval(ca.value, env)
        callee_vars = dict(self.globals)
        for p in d.params:
            if p.name not in bound:
                if p.default is None:
                    raise NetdslNameError(
                        f"{d.name} needs `{p.name}`",
                        span=span,
                        expected=_signature(d),
                        found=f"no value for `{p.name}`",
                    )
                tmp = dict(callee_vars)
                tmp.update(bound)
                bound[p.name] = self.eval(p.default, Env(tmp, {}, {}, env.defines))
                exprs[p.name] = ("default", p.default)
        callee_vars.update(bound)
        return bound, tensor_args, callee_vars, exprs

    def call(self, info: DefineInfo, call_args: tuple[A.CallArg, ...], span: Span, x: int, env: Env,
             scope: Scope) -> int:
        d = info.node
        bound, tensor_args, callee_vars, exprs = self.bind_call(info, call_args, span, env)
        self.depth += 1
        if self.depth > self.limits.max_depth:
            self.depth = 0
            raise NetdslLimitError(
                f"define calls nested more than {self.limits.max_depth} deep (in `{d.name}`)",
                span=span,
                trail=scope.trail(),
                hint=f"a recursive define needs a base case: does `{d.name}` always reach its `if ... then`?",
            )
        shown = ", ".join(str(v) if k in tensor_args else _fmt_value(v) for k, v in bound.items())
        sub = Scope("define", d.name, scope, span, call=f"{d.name}({shown})", define=d.name,
                    define_args=dict(bound), input=x)
        scope.add(sub)
        for k in tensor_args:
            callee_vars.pop(k, None)
        sub.define_args = {k: v for k, v in bound.items() if k not in tensor_args}
        sub.arg_exprs = {p.name: exprs[p.name] for p in d.params if p.name in sub.define_args}
        sub.tensor_args = dict(tensor_args)
        sub.define_node = d
        denv = Env(callee_vars, dict(tensor_args), dict(info.defaults), env.defines, in_block=False)
        body = d.body
        while isinstance(body, A.CondBody):
            body = body.then if self._bool(self.eval(body.cond, denv), body.cond) else body.orelse
        y = self.chain(body, x, denv, sub)
        sub.output = y
        self.depth -= 1
        return y

    def block(self, it: A.Block, x: int, env: Env, scope: Scope) -> int:
        kind = it.kind
        if kind not in ops.BLOCK_KINDS:
            raise NetdslNameError(
                f"unknown block kind `{kind}`",
                span=it.kind_span,
                expected="one of " + ", ".join(ops.BLOCK_KINDS),
                found=f"`{kind}`",
                hint=f"`{kind}` is a layer: write it without `<...>`" if ops.lookup(kind) is not None
                else _closest(kind, ops.BLOCK_KINDS),
            )
        bscope = Scope("block", kind, scope, it.span, input=x)
        scope.add(bscope)
        benv = Env(env.vars, env.tensors, env.defaults, env.defines, in_block=True)
        if kind == "seq":
            y = x
            for branch in it.branches:
                for item in branch:
                    y = self.item(item, y, benv, bscope)
            bscope.output = y
            return y
        outs = []
        many = len(it.branches) > 1
        for i, branch in enumerate(it.branches, start=1):
            target = bscope
            if many:
                target = Scope("branch", f"branch {i}", bscope, it.span, input=x)
                bscope.add(target)
            y = x
            for item in branch:
                y = self.item(item, y, benv, target)
            if many:
                target.output = y
            outs.append(y)
        if kind == "residual":
            opts = self._block_opts(it, env, {"droppath": 0.0})
            if opts["droppath"]:
                body_out = self.add_node("droppath", {"p": opts["droppath"]}, {}, it.span, bscope, [outs[0]])
                outs[0] = body_out
            if len(outs) > 2:
                raise NetdslNameError(
                    f"residual takes a body and at most one shortcut branch, found {len(outs)} branches",
                    span=it.span, expected="residual<body> or residual<body | shortcut>")
            if len(outs) == 1:
                dflt = {"bias": False, "bn": False}
                for arg in env.defaults.get("conv", []):
                    if arg.name in dflt and arg.kind in ("kw", "flag"):
                        dflt[arg.name] = True if arg.kind == "flag" else self.eval(arg.value, env)
                sc = self.add_node("shortcut", dflt, {}, it.span, bscope, [x, outs[0]])
                y = self.add_node("add", {}, {}, it.span, bscope, [outs[0], sc])
            else:
                y = self.add_node("add", {}, {}, it.span, bscope, outs)
        else:
            spec = ops.REGISTRY[ops.MERGE_BLOCKS[kind]]
            margs = self._block_opts(it, env, {a.name: a.default for a in spec.args})
            if spec.name == "join":
                outs, margs["columns"] = self._flat_join(bscope, outs, many)
            y = self.add_node(spec.name, margs, {}, it.span, bscope, outs)
        bscope.output = y
        return y

    def _flat_join(self, bscope: Scope, outs: list[int], many: bool) -> tuple[list[int], tuple[int, ...]]:
        """FractalNet's join merges every column reaching it. A branch that ends in a join of its
        own (the last join of a recursive expansion, unnamed and unused) is merged into this one,
        so that f_{C+1} = join<conv | f_C > f_C> gives flat means over 2, 3, ... columns. Returns
        the inputs and the column of each (0 = the first branch). Branch i occupies the columns
        from the sum of the widths of the branches before it; the joins nested inside it are
        renumbered by that offset, so that every join of the expansion numbers columns alike
        (global drop-path keeps one column everywhere). The block's scopes are inlined: the
        whole expansion is one module."""
        g = self.g
        branch_scopes = [s for s in bscope.children if isinstance(s, Scope)] if many else [bscope]
        inputs: list[int] = []
        columns: list[int] = []
        offset = 0
        for out, bs in zip(outs, branch_scopes, strict=True):
            inner = [n for n in bs.nodes() if g.nodes[n]["op"] == "join"]
            width = 1
            for n in inner:
                a = g.nodes[n]["args"]
                width = max(width, 1 + max(a["columns"], default=0))
                a["columns"] = tuple(c + offset for c in a["columns"])
            scopes = list(bs.scopes())
            if out in inner and g.out_degree(out) == 0 and not any(
                    s.kind == "named" and s.output == out for s in scopes):
                node = g.nodes[out]
                inputs += node["inputs"]
                columns += node["args"]["columns"]
                node["scope"].children.remove(out)
                g.remove_node(out)
                for s in scopes:
                    if s.output == out:
                        s.output = None
            else:
                inputs.append(out)
                columns.append(offset)
            offset += width
        for s in bscope.scopes():
            if s is not bscope:
                s.inline = True
        return inputs, tuple(columns)

    def _block_opts(self, it: A.Block, env: Env, allowed: dict) -> dict:
        out = dict(allowed)
        for ca in it.args:
            if ca.name is None or ca.name not in allowed:
                opts = ", ".join(f"{k}=..." for k in allowed) or "no options"
                raise NetdslNameError(
                    f"{it.kind} options are given by name" if ca.name is None
                    else f"{it.kind} has no option `{ca.name}`",
                    span=ca.span,
                    expected=f"{it.kind}({opts})<...>" if allowed else f"{it.kind}<...> (no options)",
                    found=f"`{ca.name}=`" if ca.name else "a value without a name",
                    hint=_closest(ca.name, allowed) if ca.name else None,
                )
            v = self.eval(ca.value, env)
            if isinstance(allowed[ca.name], float):
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < 1:
                    raise NetdslNameError(f"{it.kind}: `{ca.name}` must be a probability in [0, 1)",
                                          span=ca.span, expected="0 <= p < 1", found=_fmt_value(v))
                v = float(v)
            out[ca.name] = v
        return out

    # ---- statements
    def stmts(self, body: tuple, x: int, env: Env, scope: Scope, braces: bool = True) -> int:
        if braces:
            env = Env(env.vars, dict(env.tensors), {k: list(v) for k, v in env.defaults.items()}, env.defines,
                      env.in_block)
        for st in body:
            x = self.stmt(st, x, env, scope)
        return x

    def stmt(self, st, x: int, env: Env, scope: Scope) -> int:
        if isinstance(st, A.Statement):
            return self.chain(st.chain, x, env, scope)
        if isinstance(st, A.Assign):
            if st.mode == "replace":
                return x  # handled where the replaced stage is expanded
            rep = self.replacements.get(st.name) if scope.kind == "network" else None
            chain, cenv = (rep[0].chain, rep[1]) if rep else (st.chain, env)
            if rep:
                self.replacements_used.add(st.name)
            check_identifier(st.name, st.name_span, "a stage or tensor")
            if st.name in env.tensors:
                raise NetdslNameError(
                    f"`{st.name}` is already defined",
                    span=st.name_span,
                    hint="names of stages and tensors must be unique; use `replace` in a file that extends another",
                )
            sub = Scope("named", st.name, scope, rep[0].span if rep else st.span, aux=(st.mode == "aux"), input=x)
            scope.add(sub)
            cenv2 = cenv if not rep else Env(cenv.vars, env.tensors, cenv.defaults, cenv.defines, cenv.in_block)
            y = self.chain(chain, x, cenv2, sub)
            sub.output = y
            env.tensors[st.name] = y
            if st.mode == "aux":
                self.aux[st.name] = y
                return x
            return y
        if isinstance(st, A.Defaults):
            self.add_defaults(env.defaults, st)
            return x
        raise NetdslNameError(f"`{type(st).__name__.lower()}` is only allowed at the top of a file", span=st.span)

    def add_defaults(self, table: dict, st: A.Defaults) -> None:
        spec = ops.lookup(st.op)
        if spec is None:
            raise NetdslNameError(
                f"defaults for unknown layer `{st.op}`",
                span=st.span,
                hint=_closest(st.op, ops.all_names()),
            )
        table.setdefault(spec.name, []).extend(st.args)


# ------------------------------------------------------------------------ the whole program


def _parse_override(text: str) -> Value:
    t = text.strip()
    if t in ("true", "false"):
        return t == "true"
    try:
        return int(t)
    except ValueError:
        pass
    try:
        return float(t)
    except ValueError:
        return t


def build(program: A.Program, overrides: dict[str, str] | None = None,
          input_shape: tuple[int, ...] | None = None, limits: Limits | None = None) -> Net:
    """Expand a parsed program into a Net (structure only; run shapes/cost passes next)."""
    from . import parse as P
    from . import sources

    limits = limits or Limits.from_env()
    overrides = dict(overrides or {})
    b = _Builder(program.file, limits)
    b.replacements_used = set()
    old_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old_limit, 20_000))
    try:
        return _build(b, program, overrides, input_shape, limits, P, sources)
    finally:
        sys.setrecursionlimit(old_limit)


def _shown_path(path: str) -> str:
    """A path as messages show it: relative to the working folder when it lies below it."""
    if not os.path.isabs(path):
        return path
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


def _collect(program: A.Program, b: _Builder, limits: Limits, P, sources, seen: tuple[str, ...], depth: int):
    """Gather a file's defines (with includes) and its lexical defaults."""
    defines: dict[str, DefineInfo] = {}
    defaults: dict[str, list[A.Arg]] = {}
    for st in program.stmts:
        if isinstance(st, A.Defaults):
            b.add_defaults(defaults, st)
    for st in program.stmts:
        if isinstance(st, A.Include):
            if depth >= limits.max_include_depth:
                raise NetdslLimitError(f"includes nested more than {limits.max_include_depth} deep", span=st.span)
            path, name, text = sources.read_included(st.path, program.file, st.span)
            key = str(path.resolve())
            if key in [x if x.startswith("<") else os.path.realpath(x) for x in seen]:
                chain = " -> ".join(_shown_path(x) for x in [*seen, key])
                raise NetdslNameError(f"include cycle: {chain}", span=st.span,
                                      hint="a file cannot include itself, directly or through other files")
            sub = P.parse(text, name)
            for st2 in sub.stmts:
                if not isinstance(st2, (A.Define, A.Include, A.Defaults)):
                    raise NetdslNameError(
                        f"{name} is included for its defines, but has other statements",
                        span=st2.span, hint="use `extends` to start from another network")
            inner, _ = _collect(sub, b, limits, P, sources, (*seen, key), depth + 1)
            defines.update(inner)
    for st in program.stmts:
        if isinstance(st, A.Define):
            if st.name in defines and defines[st.name].node.span.file == st.span.file:
                raise NetdslNameError(f"`{st.name}` is defined twice", span=st.name_span,
                                      hint=f"the first definition is at {defines[st.name].node.span}")
            if ops.lookup(st.name) is not None:
                raise NetdslNameError(f"`{st.name}` is a built-in layer and cannot be redefined", span=st.name_span)
            check_identifier(st.name, st.name_span, "a define")
            names = [p.name for p in st.params]
            for p in st.params:
                if names.count(p.name) > 1:
                    raise NetdslNameError(f"parameter `{p.name}` appears twice", span=p.span)
            defines[st.name] = DefineInfo(st, defaults)
    return defines, defaults


def _network_params(header: A.Network | None, given: dict[str, Value], b: _Builder, file: str,
                    from_cli: dict[str, str]) -> dict[str, Value]:
    values: dict[str, Value] = {}
    params = header.params if header else ()
    names = {p.name for p in params}
    for i, p in enumerate(params):
        if any(q.name == p.name for q in params[:i]):
            raise NetdslNameError(f"network parameter `{p.name}` appears twice", span=p.span)
    for k in from_cli:
        if k not in names:
            have = ", ".join(sorted(names)) or "none"
            raise UsageError(f"-D {k}: the network has no parameter `{k}` (its parameters: {have})")
    for k in given:
        if k not in names:
            raise NetdslNameError(f"the network has no parameter `{k}`",
                                  expected=", ".join(sorted(names)) or "none",
                                  span=header.span if header else None)
    for p in params:
        if p.name in from_cli:
            values[p.name] = _parse_override(from_cli[p.name])
        elif p.name in given:
            values[p.name] = given[p.name]
        elif p.default is not None:
            values[p.name] = b.eval(p.default, Env(dict(values), {}, {}, {}))
        else:
            raise NetdslNameError(
                f"the network parameter `{p.name}` has no value",
                span=p.span,
                expected=f"a default in the header (`{p.name}=...`) or a value from outside",
                found=f"`{p.name}` with no default, and no value given",
                hint=f"netdsl check FILE -D {p.name}=...  /  netdsl.load(FILE, {p.name}=...)",
            )
    return values



class _Sizer:
    """A lower bound on the number of layers a piece of AST expands to, without building it.

    Memoised per (define, arguments), so exponential recursion (`d(n) = d(n-1) > d(n-1)`) and
    nested repeats are measured in microseconds; the expansion is refused before it starts.
    Anything unusual (an error, a tensor argument) counts as 0: the expander reports it.
    """

    def __init__(self, b: _Builder):
        self.b = b
        self.memo: dict[tuple, int] = {}
        self.depth = 0

    def stmts(self, body, env: Env) -> int:
        return sum(self.stmt(st, env) for st in body)

    def stmt(self, st, env: Env) -> int:
        if isinstance(st, (A.Statement, A.Assign)):
            return self.chain(st.chain, env)
        return 0

    def chain(self, ch: A.Chain, env: Env) -> int:
        return sum(self.item(it, env) for it in ch.items)

    def item(self, it, env: Env) -> int:
        try:
            if isinstance(it, A.Repeat):
                n = self.b.eval(it.count, env)
                ok = isinstance(n, int) and not isinstance(n, bool) and 0 < n <= self.b.limits.max_repeat
                return n * self.item(it.item, env) if ok else 0  # a bad count is the expander's to report
            if isinstance(it, A.Block):
                return 1 + sum(self.item(i, env) for br in it.branches for i in br)
            if isinstance(it, A.Group):
                return self.stmts(it.body, env)
            if isinstance(it, A.Shorthand):
                return 1
            name = it.op if isinstance(it, A.Layer) else it.name
            if name in env.tensors or name in ("id", "identity"):
                return 0
            info = env.defines.get(name)
            if info is None:
                return 1
            args = () if isinstance(it, A.Layer) else it.args
            bound, tensors, callee, _ = self.b.bind_call(info, args, it.span, env)
            if tensors:
                return 0
            key = (name, tuple(sorted((k, repr(v)) for k, v in bound.items())))
            if key not in self.memo:
                if self.depth >= self.b.limits.max_depth:
                    return 0
                self.depth += 1
                self.memo[key] = 0  # a cycle in progress counts as nothing
                denv = Env(callee, {}, {}, env.defines)
                body = info.node.body
                while isinstance(body, A.CondBody):
                    c = self.b.eval(body.cond, denv)
                    body = body.then if c is True else body.orelse
                self.memo[key] = self.chain(body, denv)
                self.depth -= 1
            return self.memo[key]
        except (NetdslError, TypeError, RecursionError):
            return 0


def _refuse_oversized(b: _Builder, stmts, env: Env) -> None:
    """Fail fast when the expansion is bound to exceed the layer limit."""
    total = 0
    sizer = _Sizer(b)
    for st in stmts:
        total += sizer.stmt(st, env)
        if total > b.limits.max_layers:
            raise NetdslLimitError(
                f"the network expands to at least {total:,} layers; the limit is {b.limits.max_layers:,}",
                span=st.span,
                hint="raise the limit with --max-layers (or NETDSL_MAX_LAYERS) if this is intended",
            )


def _build(b: _Builder, program: A.Program, overrides, input_shape, limits, P, sources) -> Net:
    header = next((s for s in program.stmts if isinstance(s, A.Network)), None)
    ext = next((s for s in program.stmts if isinstance(s, A.Extends)), None)
    for kind in (A.Network, A.Input, A.Extends):
        found = [s for s in program.stmts if isinstance(s, kind)]
        if len(found) > 1:
            raise NetdslNameError(f"more than one `{kind.__name__.lower()}` statement", span=found[1].span)
    own_defines, own_defaults = _collect(program, b, limits, P, sources, (program.file,), 0)
    own_params = _network_params(header, {}, b, program.file, overrides)
    b.globals = own_params

    # The statements to expand, each with the file context (defines, defaults) it was written in.
    base_stmts: list = []
    base_input = None
    base_name = None
    base_env = None
    if ext is not None:
        path, name, text = sources.read_included(ext.target, program.file, ext.span, is_path=ext.is_path)
        base_prog = P.parse(text, name)
        if any(isinstance(s, A.Extends) for s in base_prog.stmts):
            raise NetdslNameError("a network that extends another cannot itself be extended", span=ext.span)
        bdefines, bdefaults = _collect(base_prog, b, limits, P, sources, (str(path.resolve()),), 1)
        bheader = next((s for s in base_prog.stmts if isinstance(s, A.Network)), None)
        given = {}
        penv = Env(dict(own_params), {}, {}, {})
        bnames = [p.name for p in bheader.params] if bheader else []
        for ca in ext.args:
            if ca.name is None:
                raise NetdslNameError("pass the base network's parameters by name: extends net(classes=3)",
                                      span=ca.span)
            if ca.name not in bnames:
                raise NetdslNameError(
                    f"the base network has no parameter `{ca.name}`",
                    span=ca.span,
                    expected=", ".join(bnames) or "no parameters",
                    found=f"`{ca.name}`",
                    hint=_closest(ca.name, bnames),
                )
            given[ca.name] = b.eval(ca.value, penv)
        bparams = _network_params(bheader, given, b, name, {})
        b.globals = {**bparams, **own_params}
        base_env = Env(dict(bparams), {}, bdefaults, bdefines)
        base_stmts = [s for s in base_prog.stmts if isinstance(s, (A.Statement, A.Assign))]
        bin_ = next((s for s in base_prog.stmts if isinstance(s, A.Input)), None)
        base_input = bin_.dims if bin_ else None
        base_name = bheader.name if bheader else None
        for s in base_prog.stmts:
            if isinstance(s, A.Init):
                b.init = s.scheme

    own_input = next((s for s in program.stmts if isinstance(s, A.Input)), None)
    shape = input_shape or (own_input.dims if own_input else None) or base_input or (3, 224, 224)
    if len(shape) not in (1, 3):
        raise NetdslNameError(
            f"the input has {len(shape)} sizes",
            span=own_input.span if own_input else None,
            expected="C x H x W like 3x224x224, or a feature count like 512",
            found="x".join(map(str, shape)),
        )
    if any(d < 1 for d in shape):
        raise NetdslNameError("input sizes must be at least 1", span=own_input.span if own_input else None,
                              expected="sizes >= 1", found="x".join(map(str, shape)))
    stem = program.file.rsplit("/", 1)[-1].removesuffix(".net")
    name = header.name if header else ("net" if stem.startswith("<") else stem or "net")
    if not name.isidentifier():
        name = "".join(ch if ch.isalnum() else "_" for ch in name).strip("_") or "net"
        if name[0].isdigit():
            name = "net_" + name
    root = Scope("network", name, None, Span(program.file, 1, 1, 1, 1))
    x0 = 0
    b.g.add_node(0, op="input", args={}, arg_src={}, span=root.span, scope=root, inputs=[], role=None)
    root.input = x0
    env = Env(dict(own_params), {}, dict(own_defaults), own_defines)

    for s in program.stmts:
        if isinstance(s, A.Init):
            if s.scheme not in INIT_SCHEMES:
                raise NetdslNameError(
                    f"unknown weight initialisation `{s.scheme}`",
                    span=s.span,
                    expected="one of " + ", ".join(INIT_SCHEMES),
                    found=f"`{s.scheme}`",
                    hint=_closest(s.scheme, INIT_SCHEMES),
                )
            if s.args:
                raise NetdslNameError(f"`init {s.scheme}` takes no arguments", span=s.args[0].span,
                                      expected=f"init {s.scheme}", hint="the schemes follow the reference "
                                      "implementations: torch, kaiming (ResNet), vgg, googlenet")
            b.init = s.scheme
        elif isinstance(s, A.Freeze):
            for n in s.names:
                b.frozen.append((n, s.span))
            b.frozen_except.extend(s.except_)
        elif isinstance(s, A.Assign) and s.mode == "replace":
            b.replacements[s.name] = (s, env)

    x = x0
    if base_env is not None:
        _refuse_oversized(b, base_stmts, base_env)
    _refuse_oversized(b, [st for st in program.stmts if isinstance(st, (A.Statement, A.Assign))], env)
    if base_env is not None:
        for st in base_stmts:
            x = b.stmt(st, x, base_env, root)
        env.tensors.update(base_env.tensors)
        for rname, (rst, _) in b.replacements.items():
            if rname not in b.replacements_used:
                raise NetdslNameError(
                    f"`replace {rname}`: the base network has no stage named `{rname}`",
                    span=rst.name_span,
                    expected="one of " + ", ".join(sorted(base_env.tensors)),
                    hint=_closest(rname, base_env.tensors),
                )
    elif b.replacements:
        rst = next(iter(b.replacements.values()))[0]
        raise NetdslNameError("`replace` needs a base network: add `extends NAME`", span=rst.span)
    for st in program.stmts:
        if isinstance(st, (A.Statement, A.Assign)):
            x = b.stmt(st, x, env, root)
    root.output = x
    if x == x0:
        raise NetdslNameError("the network has no layers", span=Span.point(program.file, 1, 1),
                              hint="write at least one layer, e.g. `conv 3x3 x64`")
    net = Net(
        name=name if not (ext and not header) else (base_name or name),
        file=program.file,
        graph=b.g,
        root=root,
        input_node=x0,
        output_node=x,
        input_shape=tuple(shape),
        params=b.globals,
        aux_outputs=dict(b.aux),
        init=b.init,
        frozen=b.frozen,
        frozen_except=b.frozen_except,
    )
    return net


# ------------------------------------------------------------------------ names


def _has_module(net: Net, nid: int) -> bool:
    node = net.node(nid)
    if node["op"] == "shortcut":  # a module only when it projects
        shape = node.get("shape")
        return shape is not None and ops.shortcut_plan(node["args"], node["in_shapes"]) is not None
    return ops.REGISTRY[node["op"]].lowering.module is not None


def _chain_like(net: Net, scope: Scope, members: list) -> bool:
    """True when the members run one after another (each takes the previous output)."""
    cur = scope.input
    for m in members:
        if isinstance(m, Scope):
            if m.input != cur or m.kind == "branch":
                return False
            cur = m.output
        else:
            n = net.node(m)
            spec = ops.REGISTRY[n["op"]]
            if n["inputs"] != [cur] or (spec.lowering.module is None and spec.lowering.seq_module is None):
                return False
            cur = m
    return cur == scope.output


class NameAllocator:
    """Unique attribute names within one module: explicit names first, then stems + counters."""

    def __init__(self, taken: Iterable[str] = ()):
        self.taken = set(taken)
        self.next: dict[str, int] = {}  # next counter to try per stem (names are only ever added)

    def take(self, name: str) -> str:
        self.taken.add(name)
        return name

    def fresh(self, stem: str, numbered: bool, total: int) -> str:
        if not numbered and total == 1 and stem not in self.taken and stem not in RESERVED:
            return self.take(stem)
        k = self.next.get(stem, 1)
        while f"{stem}{k}" in self.taken or f"{stem}{k}" in RESERVED:
            k += 1
        self.next[stem] = k + 1
        return self.take(f"{stem}{k}")


def _flatten_members(net: Net, scope: Scope) -> list:
    """Members of a module's namespace: nodes and sub-module scopes, through flattened blocks."""
    out: list = []
    for ch in scope.children:
        if isinstance(ch, Scope) and not ch.module and ch.name is None:
            out.extend(_flatten_members(net, ch))
        else:
            out.append(ch)
    return out


def _decide(net: Net, scope: Scope) -> None:
    """Decide, top-down, which scopes become modules, and collapse single-member names."""
    child_scopes = [c for c in scope.children if isinstance(c, Scope)]
    # a define whose only sub-scope is one block: that block's layers live in the define's class
    sole_scope = child_scopes[0] if len(child_scopes) == 1 else None
    for ch in scope.children:
        if not isinstance(ch, Scope):
            continue
        if ch.inline:  # inside a join block (FractalNet): its layers belong to the enclosing module
            ch.module = False
            _decide(net, ch)
            continue
        if ch.kind == "define":
            ch.module = True
        elif ch.kind == "block":
            ch.module = not (scope.kind == "define" and sole_scope is ch)
        elif ch.kind in ("named", "branch"):
            ch.module = True
        _decide(net, ch)
        if ch.kind in ("named", "branch"):
            members = _flatten_members(net, ch)
            if not members:
                ch.module = False
            ch.sequential = ch.module and _chain_like(net, ch, members)


def _collapse(net: Net, scope: Scope):
    """A named stage or branch made of a single node or module is that node or module."""
    if scope.kind not in ("named", "branch") or not scope.module:
        return None
    members = _flatten_members(net, scope)
    if len(members) == 1:
        only = members[0]
        if isinstance(only, Scope) or _has_module(net, only):
            return only
    return None


def _name_module(net: Net, m: Scope) -> None:
    members = _flatten_members(net, m)
    m.members = members
    if m.sequential:
        for i, mem in enumerate(members):
            _set_name(net, m, mem, str(i))
        return
    explicit: dict[int, str] = {}
    for mem in members:
        if isinstance(mem, Scope) and mem.kind == "named":
            explicit[id(mem)] = mem.label
    alloc = NameAllocator(explicit.values())
    # count stems so that lone layers keep a bare name (fc, maxpool)
    stems: dict[str, int] = {}
    shared: dict[tuple, str] = {}

    def stem_of(mem) -> tuple[str, bool]:
        if isinstance(mem, Scope):
            if mem.kind == "define":
                return mem.label, False
            if mem.kind == "branch":
                return "branch" + mem.label.split()[-1], False
            return mem.label, False
        spec = ops.REGISTRY[net.node(mem)["op"]]
        return spec.base_name, spec.numbered

    for mem in members:
        if id(mem) in explicit:
            continue
        if isinstance(mem, Scope) or _has_module(net, mem):
            stem = stem_of(mem)[0]
            if not isinstance(mem, Scope) and ops.REGISTRY[net.node(mem)["op"]].shared:
                key = (net.node(mem)["op"], tuple(sorted(net.node(mem)["args"].items())))
                if key in shared:
                    continue
                shared[key] = ""
            stems[stem] = stems.get(stem, 0) + 1
    shared.clear()
    for mem in members:
        if id(mem) in explicit:
            _set_name(net, m, mem, explicit[id(mem)])
            continue
        if not isinstance(mem, Scope) and not _has_module(net, mem):
            continue
        stem, numbered = stem_of(mem)
        if isinstance(mem, Scope) and mem.kind == "branch":
            _set_name(net, m, mem, alloc.take(stem) if stem not in alloc.taken else alloc.fresh(stem, True, 2))
            continue
        if not isinstance(mem, Scope) and ops.REGISTRY[net.node(mem)["op"]].shared:
            key = (net.node(mem)["op"], tuple(sorted(net.node(mem)["args"].items())))
            if key not in shared:
                shared[key] = alloc.fresh(stem, numbered, stems[stem])
            _set_name(net, m, mem, shared[key])
            continue
        _set_name(net, m, mem, alloc.fresh(stem, numbered, stems[stem]))


def _set_name(net: Net, parent: Scope, mem, name: str) -> None:
    prefix = parent.path + "." if parent.path else ""
    if isinstance(mem, Scope):
        target = _collapse(net, mem) or mem
        if target is not mem:
            mem.name = name
            mem.path = prefix + name
            mem.module = False
            mem.collapsed_to = target
            _set_name(net, parent, target, name)
            return
        mem.name = name
        mem.path = prefix + name
        _name_module(net, mem)
    else:
        node = net.node(mem)
        node["name"] = name
        node["path"] = prefix + name


def assign_names(net: Net) -> None:
    """Give every module and layer its attribute name and dotted path (state_dict prefix)."""
    root = net.root
    root.module = True
    _decide(net, root)
    for nid in net.op_nodes():
        net.node(nid).setdefault("name", None)
        net.node(nid).setdefault("path", None)
    _name_module(net, root)
    _apply_freeze(net)


def _apply_freeze(net: Net) -> None:
    for nid in net.op_nodes():
        net.node(nid)["trainable"] = True
    if not net.frozen:
        return
    paths = {}
    for s in net.root.scopes():
        if s.path:
            paths[s.path] = s
    for nid in net.op_nodes():
        p = net.node(nid).get("path")
        if p:
            paths[p] = nid

    def covered(prefix: str, nid: int) -> bool:
        n = net.node(nid)
        p = n.get("path") or ""
        scope = n["scope"]
        while not p and scope is not None:
            p = scope.path
            scope = scope.parent
        return prefix == "*" or p == prefix or p.startswith(prefix + ".")

    for name, span in net.frozen:
        if name != "*" and name not in paths:
            raise NetdslNameError(
                f"freeze: no layer or stage named `{name}`",
                span=span,
                expected="a stage name such as " + ", ".join(sorted(k for k in paths if "." not in k)[:10]),
                found=f"`{name}`",
                hint=_closest(name, paths),
            )
    for name in net.frozen_except:
        if name not in paths:
            raise NetdslNameError(f"freeze ... except: no layer or stage named `{name}`",
                                  span=net.frozen[0][1], hint=_closest(name, paths))
    for nid in net.op_nodes():
        if any(covered(name, nid) for name, _ in net.frozen) and not any(
                covered(name, nid) for name in net.frozen_except):
            net.node(nid)["trainable"] = False
