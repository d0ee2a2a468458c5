"""Expand: a linked program -> the graph IR (`ir.Net`).

`expand(linked, input_shape, limits)` evaluates expressions (`evaluate`), expands defines,
blocks, repeats and named stages, in the order they are written, and produces a `Net`:
`net.graph`, one node per op, and `net.root`, the tree of `Scope`s (see `ir`). Each define
instance's scope records its define (`define_node`), the values of its arguments
(`define_args`), how each was given with its expression (`arg_exprs`) and its tensor arguments
(`tensor_args`).

Expansion is purely structural; shapes are inferred afterwards (`shapes.infer`). Resource limits
(layers, repeats, recursion depth) are enforced here, before anything large is built
(`limits.refuse_oversized`).
"""

from __future__ import annotations

import re

from . import ast as A
from . import ops
from .errors import NetdslError, NetdslLimitError, NetdslNameError, Span, closest
from .evaluate import evaluate, fmt_value, truth, whole
from .ir import (
    INIT_SCHEMES,
    DefineInfo,
    Env,
    Graph,
    Net,
    Scope,
    Value,
    check_identifier,
    check_module_name,
    deep_recursion,
)
from .limits import MAX_SCOPE_NESTING, Limits, refuse_oversized, too_many_steps
from .link import Linked, add_defaults, lookup


def expand(linked: Linked, input_shape: tuple[int, ...] | None = None, limits: Limits | None = None) -> Net:
    """Expand a linked program into a Net (structure only; run shapes, layout and cost next)."""
    limits = limits or Limits.from_env()
    with deep_recursion():
        return Expander(linked, limits).run(input_shape)


def _arg_list(spec) -> str:
    return ("one of its arguments: " + ", ".join(x.name for x in spec.args)) if spec.args else "no arguments"


def _twice_hint(name: str, value) -> str | None:
    """`conv 3x3 x64 x2`: the second `x2` reads as the output channels; `*2` is the repeat."""
    if name == "out" and isinstance(value, int) and not isinstance(value, bool):
        return f"`*{value}` repeats a layer: write `... *{value}`; `x{value}` sets the output channels"
    return None


def _layer_hint(name: str, spec, env) -> str | None:
    """`conv 3x3 x8 pool 2/2`: a layer written among another's arguments."""
    if ops.lookup(name) is None and name not in env.defines:
        return None
    what = "a layer" if ops.lookup(name) is not None else "a define"
    return f"`{name}` is {what}, not an argument of {spec.name}: write `>` (or `;`) before it"


def _shorthand_hint(name: str, spec) -> str | None:
    """`p0x1`, `x4x4`: a short form with a size where it takes one number."""
    m = re.fullmatch(r"([px])(\d+(?:x\d+)+)", name)
    if m is None:
        return None
    arg = "padding" if m.group(1) == "p" else "out"
    if arg not in spec.arg_index:
        return None
    if arg == "padding":
        return f"`p` takes one number (p1, the same on every side); write `padding={m.group(2)}` for a padding per side"
    return "`x` takes one number, the output channels (x64)"


def _exclusive_error(spec, a, other, value, other_value, sp: Span) -> NetdslNameError:
    """`conv 3x3 x64 ratio=0.5`: two arguments that say one thing (the output channels) two ways."""
    def written(arg, v):
        return f"`x{fmt_value(v)}`" if arg.name == "out" else f"`{arg.name}={fmt_value(v)}`"

    def form(arg):
        return "`x...`" if arg.name == "out" else f"`{arg.name}=...`"

    return NetdslNameError(
        f"{spec.name}: {written(other, other_value)} and {written(a, value)} both give {_what(other)}",
        span=sp, expected=f"either {form(other)} or {form(a)}, not both",
        found=f"{written(other, other_value)} and {written(a, value)}",
        hint=f"write one of them; a layer's own value replaces a `defaults {spec.name}` value of the other")


def _what(arg) -> str:
    return "the output channels" if arg.name in ("out", "ratio") else f"`{arg.name}`"


def _signature(d: A.Define) -> str:
    return f"{d.name}({', '.join(q.name + ('' if q.default is None else '=...') for q in d.params)})"



def _assigned_in(node, name: str) -> A.Assign | None:
    """The `name = ...` statement somewhere inside an AST node (a define body), if any."""
    if isinstance(node, A.Assign) and node.name == name:
        return node
    if isinstance(node, tuple):
        for child in node:
            found = _assigned_in(child, name)
            if found is not None:
                return found
    return None


# where a whole number is required and an expression gives a fraction
WHOLE_HINT = ("write `round(...)` or `int(...)` (toward zero) for a whole number; "
              "`/` gives a fraction unless it divides exactly, `//` rounds down")


def _free_names(node, out: set[str]) -> set[str]:
    """Every name a define body may read: in expressions, bare layer words and size kernels."""
    if isinstance(node, A.Name):
        out.add(node.id)
    elif isinstance(node, A.Layer):
        out.add(node.op)
    if isinstance(node, tuple):
        for child in node:
            if isinstance(child, tuple):
                _free_names(child, out)
    return out


def _check_base_params(info: DefineInfo, env: Env, span: Span) -> None:
    """A define of the base file reads the base's parameters; where the caller sees another value
    under the same name, the call would not do what it reads like: a located error."""
    d = info.node
    own = {p.name for p in d.params}
    for name in sorted(_free_names(d.body, set()) - own):
        if name in info.params and name in env.vars and env.vars[name] != info.params[name]:
            raise NetdslNameError(
                f"`{d.name}` reads the base network's parameter `{name}` = {fmt_value(info.params[name])}, "
                f"not the {fmt_value(env.vars[name])} it has here",
                span=span,
                expected=f"the same value of `{name}` here and in the base, or `{name}` passed to `{d.name}`",
                found=f"`{name}` = {fmt_value(env.vars[name])} here, {fmt_value(info.params[name])} in "
                      f"{d.span.file}",
                hint=f"a define reads the parameters of the file it is written in ({d.span.file}); "
                     f"set the base's with `extends ...({name}=...)`",
            )


class Expander:
    """Expands one linked program into a graph: every piece of state is set here."""

    def __init__(self, linked: Linked, limits: Limits):
        self.linked = linked
        self.limits = limits
        self.globals: dict[str, Value] = linked.globals  # what define bodies see besides their arguments
        self.g = Graph()
        self.count = 0  # nodes made so far (the ids of the op nodes, from 1)
        self.steps = 0  # items expanded so far (limits.Limits.max_steps)
        self.depth = 0  # define calls in progress
        self.aux: dict[str, int] = {}
        self.init = (linked.base.init if linked.base is not None else None) or "torch"
        self.frozen: list[tuple[str, Span]] = []
        self.frozen_except: list[str] = []
        self.replacements: dict[str, tuple[A.Assign, Env]] = {}  # `replace NAME = ...`, by stage name
        self.replacements_used: set[str] = set()
        self.templates: dict[str, tuple[dict, list]] = {}  # per op: its arguments at their defaults, the required ones
        self.max_steps = limits.max_steps
        self.max_layers = limits.max_layers

    # ---- graph
    def add_node(self, op: str, args: dict, arg_src: dict, span: Span, scope: Scope, inputs: list[int],
                 role: str | None = None) -> int:
        self.count += 1
        if self.count > self.max_layers:
            raise NetdslLimitError(
                f"the network expands to more than {self.limits.max_layers:,} layers",
                span=span,
                trail=scope.trail(),
                hint="raise the limit with --max-layers (or NETDSL_MAX_LAYERS) if this is intended",
            )
        nid = self.count
        self.g.add_node(nid, {"op": op, "args": args, "arg_src": arg_src, "span": span, "scope": scope,
                              "inputs": list(inputs), "role": role})
        scope.children.append(nid)
        return nid

    def open_scope(self, parent: Scope, kind: str, label: str, span: Span, **kw) -> Scope:
        """A new scope under `parent`; nesting deeper than MAX_SCOPE_NESTING is refused, located."""
        sub = Scope(kind, label, parent, span, level=parent.level + 1, **kw)
        if sub.level > MAX_SCOPE_NESTING:
            raise NetdslLimitError(
                f"define calls and blocks nested more than {MAX_SCOPE_NESTING:,} deep",
                span=span,
                trail=parent.trail(),
                hint=f"{MAX_SCOPE_NESTING:,} is a fixed bound (--max-depth counts define calls only); recursion "
                     "inside nested blocks multiplies the depth: recurse less deeply or nest fewer blocks",
            )
        parent.add(sub)
        return sub

    # ---- expressions
    def eval(self, e, env: Env) -> Value:
        if type(e) is A.Num:  # most arguments are written as numbers
            return e.value
        return evaluate(e, lookup(env.vars, env.tensors))

    def _count(self, e, env: Env, what: str) -> int:
        v = whole(self.eval(e, env))
        if isinstance(v, bool) or not isinstance(v, int):
            raise NetdslNameError(f"{what} must be a whole number, found {fmt_value(v)}", span=e.span,
                                  expected="a whole number >= 0", found=fmt_value(v),
                                  hint=WHOLE_HINT if isinstance(v, float) else None)
        if v < 0:
            raise NetdslNameError(f"{what} must be at least 0, found {v}", span=e.span,
                                  expected="a whole number >= 0", found=str(v))
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
                    hint=closest(name, spec.arg_index),
                )
            if a.name in raw and not defaults:  # a later `defaults` statement overrides an earlier one
                raise NetdslNameError(f"{spec.name}: `{a.name}` is given twice", span=sp,
                                      hint=_twice_hint(a.name, value))
            for other in spec.exclusive_of.get(a.name, ()):
                if other not in raw:
                    continue
                if defaults:  # a later `defaults` statement replaces the other way of saying it
                    del raw[other]
                else:
                    raise _exclusive_error(spec, a, spec.arg_index[other], value, raw[other][0], sp)
            raw[a.name] = (value, src, sp)

        def take_pos(value, src, sp: Span):
            while positional and positional[0] in raw:
                positional.pop(0)
            if not positional:
                layer = src.id if isinstance(src, A.Name) and ops.lookup(src.id) else None
                raise NetdslNameError(
                    f"too many positional arguments for {spec.name}",
                    span=sp,
                    expected=f"{len(spec.positional)} positional ({', '.join(spec.positional) or 'none'})",
                    hint=f"`{layer}` is read here as the value of the parameter `{layer}`; to start a {layer} layer, "
                         f"write `>` before it" if layer else f"{spec.name}: {spec.doc}",
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
                    written_as = ("x" if arg.kind == "out" else "p") + fmt_value(self.eval(arg.value, env))
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
                switches = ", ".join(a.name for a in spec.args if a.type == "bool")
                named = ", ".join(a.name for a in spec.args if a.type != "bool")
                raise NetdslNameError(
                    f"unknown name `{arg.name}` in {spec.name}",
                    span=arg.span,
                    expected=(f"an argument of {spec.name}: {named}" if named else f"nothing: {spec.name} takes "
                              "no arguments") + (f"; or a switch: {switches}" if switches else ""),
                    found=f"`{arg.name}`",
                    hint=_shorthand_hint(arg.name, spec) or _layer_hint(arg.name, spec, env)
                    or closest(arg.name, list(env.vars) + list(spec.arg_index)),
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
        dflt = env.defaults.get(spec.name)
        raw = self._collect_args(spec, dflt, None, env, defaults=True) if dflt else {}
        if written or call_args:
            mine = self._collect_args(spec, written, call_args, env)
            if spec.exclusive_of and raw:  # what the layer writes replaces the defaults that say it otherwise
                for name in mine:
                    for other in spec.exclusive_of.get(name, ()):
                        raw.pop(other, None)
            raw.update(mine)
        template = self.templates.get(spec.name)
        if template is None:
            # every argument at its default, in the order of the op's arguments (a written value
            # replaces its default in place, so the order is that of `spec.args` whatever was written)
            template = self.templates[spec.name] = (
                {a.name: a.default for a in spec.args}, [a for a in spec.args if a.required])
        args = dict(template[0])
        src: dict = {}
        if raw or template[1]:
            for a in spec.args:  # in order: the first problem is reported
                if a.name in raw:
                    value, s, sp = raw[a.name]
                    args[a.name] = self._convert(spec, a, value, sp)
                    if s is not None:
                        src[a.name] = s
                elif a.required:
                    self._missing(spec, a, span)
        if same_pad and "padding" in args and "padding" not in raw:
            args["padding"] = "same"
        if spec.validate is not None:
            try:
                spec.validate(args)
            except ops.ArgProblem as p:
                raise NetdslNameError(p.message, span=span, expected=p.expected, found=p.found) from None
        return args, src

    @staticmethod
    def _missing(spec: ops.OpSpec, a: ops.ArgSpec, span: Span):
        raise NetdslNameError(
            f"{spec.name} needs `{a.name}`" + (f" ({a.doc})" if a.doc else ""),
            span=span,
            expected=f"{spec.name}: {spec.doc}",
            found="no " + a.name,
        )

    def _convert(self, spec: ops.OpSpec, a: ops.ArgSpec, v, sp: Span):
        def bad(expected: str):
            found = fmt_value(v) if not isinstance(v, tuple) else "x".join(map(str, v))
            frac = isinstance(v, float) and "whole number" in expected
            hint = WHOLE_HINT if frac else None
            return NetdslNameError(f"{spec.name}: `{a.name}` must be {expected}, found {found}",
                                   span=sp, expected=expected, found=found, hint=hint)

        t = a.type
        if t in ("pos_int", "int", "pair", "padding", "int_or_none"):
            v = whole(v)
        if t in ("pos_int", "int", "int_or_none"):
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
            try:
                f = float(v)
            except OverflowError:  # an int too large for a float
                f = float("inf")
            need = a.problem(f)
            if need is not None:
                raise bad(need)
            return f
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
                    else f"{spec.name}: `{a.name}` must be an activation, found {fmt_value(v)}",
                    span=sp,
                    expected="one of " + ", ".join(ops.ACTIVATIONS),
                    found=f"`{v}`" if isinstance(v, str) else fmt_value(v),
                    hint=closest(v, ops.ACTIVATIONS) if isinstance(v, str) else None,
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
    def item(self, it, x: int, env: Env, scope: Scope, first: bool = False) -> int:
        """Expand one item on input `x`; `first`: it starts a chain or a branch (a tensor may stand there).
        An error raised without a trail gets the innermost scope's (`in block of stage(...) of ...`)."""
        try:
            return self._item(it, x, env, scope, first)
        except NetdslError as e:
            if not e.trail and scope.parent is not None:
                e.trail = scope.trail()
            raise

    def _item(self, it, x: int, env: Env, scope: Scope, first: bool) -> int:
        self.steps += 1
        if self.steps > self.max_steps:
            raise too_many_steps(self.limits, it.span, scope.trail())
        if type(it) is A.Layer:
            return self.layer(it.op, it.args, None, it.span, it.op_span, x, env, scope, first)
        if isinstance(it, A.Call):
            if it.flat:
                return self.flat_call(it, x, env, scope)
            return self.layer(it.name, (), it.args, it.span, it.name_span, x, env, scope, first)
        if isinstance(it, A.Named):
            return self.named(it, x, env, scope, first)
        if isinstance(it, A.Shorthand):
            spec = ops.REGISTRY["conv"]
            written = [A.Arg("pos", None, it.kernel, it.stride, it.kernel.span),
                       A.Arg("out", "out", it.out, None, it.out.span), *it.args]
            return self.emit(spec, written, None, env, it.span, x, scope, same_pad=True)
        if isinstance(it, A.Block):
            return self.block(it, x, env, scope)
        if isinstance(it, A.Group):
            return self.stmts(it.body, x, env, scope, braces=it.braces, first=first)
        if isinstance(it, A.Repeat):
            return self.repeat(it, x, env, scope, first)
        raise NetdslError("unsupported item", span=getattr(it, "span", None))

    def named(self, it: A.Named, x: int, env: Env, scope: Scope, first: bool) -> int:
        """`item @name`: a named scope around the item that binds no tensor (layout names its module)."""
        name = self.module_name(it, env)
        check_module_name(name, it.name_span)
        sub = self.open_scope(scope, "named", name, it.span, input=x, at_name=True)
        y = self.item(it.item, x, env, sub, first)
        sub.output = y
        return y

    def module_name(self, it: A.Named, env: Env) -> str:
        """The name of `item @name` with each `{expr}` replaced by its value, a whole number
        (`@"block{k}-{i + 1}"`: a repeat's index, a define's parameter, as torchvision's RegNet)."""
        if not it.parts:
            return it.name
        if len(it.parts) == 1:  # the parser's reason: an unmatched brace, an unreadable expression
            raise NetdslNameError(
                f'the module name "{it.name}" has {it.parts[0]}' if it.parts[0].startswith("an unmatched")
                else f'the module name "{it.name}": {it.parts[0]}',
                span=it.name_span,
                expected='`{` and `}` around an expression of the parameters and repeat indices: @"block{k}-{i}"',
                found=f'@"{it.name}"',
            )
        out = []
        for n, part in enumerate(it.parts):
            if n % 2 == 0:
                out.append(part)
                continue
            text, expr = part
            src = "{" + text + "}"
            try:
                v = whole(self.eval(expr, env))
            except NetdslError as e:  # the expression's own spans are of its separate reading
                raise NetdslNameError(
                    f'the module name "{it.name}": `{src}`: {e.message}',
                    span=it.name_span,
                    expected="an expression of the parameters and repeat indices in `{...}`, a whole number",
                    found=e.found,
                    hint=e.hint,
                ) from None
            if isinstance(v, bool) or not isinstance(v, int):
                raise NetdslNameError(
                    f'the module name "{it.name}": `{src}` must be a whole number, found {fmt_value(v)}',
                    span=it.name_span,
                    expected="a whole number in `{...}`",
                    found=fmt_value(v),
                )
            out.append(str(v))
        return "".join(out)

    def flat_call(self, it: A.Call, x: int, env: Env, scope: Scope) -> int:
        """`...f(64)`: a define call whose layers and blocks join the enclosing module."""
        if it.name not in env.defines:
            raise NetdslNameError(
                f"`...{it.name}(...)`: only a define call can be flattened into its parent",
                span=it.span,
                expected="`...` before a call of a define",
                found=f"`{it.name}`, " + ("a tensor" if it.name in env.tensors else "a layer"),
                hint=f"write `{it.name}(...)` without `...`",
            )
        before = len(scope.children)
        y = self.call(env.defines[it.name], it.args, it.span, x, env, scope)
        sub = scope.children[before]
        sub.flat = True
        return y

    def items(self, items, x: int, env: Env, scope: Scope, first: bool = True) -> int:
        """A chain of items (a statement's, a branch's, a define body's): each takes the previous output."""
        for i, it in enumerate(items):
            x = self.item(it, x, env, scope, first and i == 0)
        return x

    def chain(self, ch: A.Chain, x: int, env: Env, scope: Scope, first: bool = True) -> int:
        return self.items(ch.items, x, env, scope, first)

    def repeat(self, it: A.Repeat, x: int, env: Env, scope: Scope, first: bool) -> int:
        """`item * n`: n repetitions in a chain (none for 0: the input passes through); with
        `as i`, the k-th repetition (from 0) sees i = k."""
        n = self._count(it.count, env, "repeat count")
        if it.var is not None:
            self._check_index_name(it.var, env)
        if n == 0:
            return x
        before = self.count
        x = self._one_rep(it, x, env, scope, 1 if n > 1 else None, first)
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
            x = self._one_rep(it, x, env, scope, k)
        return x

    def _check_index_name(self, var: A.Name, env: Env) -> None:
        if var.id in env.tensors:
            raise NetdslNameError(f"`{var.id}` is a tensor here and cannot name a repeat index", span=var.span,
                                  hint="pick another name for the index")
        if var.id in ("true", "false"):
            raise NetdslNameError(f"`{var.id}` cannot name a repeat index", span=var.span,
                                  hint="pick another name for the index")

    def _one_rep(self, rep: A.Repeat, x: int, env: Env, scope: Scope, index: int | None, first: bool = False) -> int:
        """One repetition; `index` is 1-based (None when the repeat makes one), as Scope.index."""
        mark = len(scope.children)
        if rep.var is not None:
            env = Env({**env.vars, rep.var.id: (index or 1) - 1}, env.tensors, env.defaults, env.defines, env.in_block)
        y = self.item(rep.item, x, env, scope, first)
        for ch in scope.children[mark:]:
            if isinstance(ch, Scope) and ch.repeat is None:
                ch.repeat = rep
                if index is not None:
                    ch.index = index
        return y

    def layer(self, name: str, args: tuple[A.Arg, ...], call_args, span: Span, name_span: Span, x: int,
              env: Env, scope: Scope, first: bool = False) -> int:
        if name in env.tensors and call_args is None:
            return self.tensor(name, args, span, env, first)
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
        if name in env.vars and isinstance(env.vars[name], str) and env.vars[name] in ops.ACTIVATIONS:
            name = self._activation_layer(name, args, call_args, span, env)  # `act` with act=relu
            if name == "none":
                return x
        spec = ops.lookup(name)
        if spec is None:
            if name in ops.BLOCK_KINDS:
                raise NetdslNameError(f"`{name}` is a block: write {name}<...>", span=name_span)
            raise self.unknown_layer(name, name_span, env)
        return self.emit(spec, list(args), call_args, env, span, x, scope, same_pad=False)

    def unknown_layer(self, name: str, span: Span, env: Env) -> NetdslNameError:
        """`name` is no op, define or tensor here: say where it does exist, if anywhere."""
        expected = "a built-in layer (`netdsl ops` lists them all), a define or a tensor"
        base = self.linked.base
        if base is not None and name in base.defines and name not in env.defines:
            return NetdslNameError(
                f"unknown layer `{name}`: `{name}` is a define of the base network's file "
                f"{base.program.file}", span=span, expected=expected, found=f"`{name}`",
                hint=f"the defines of a file named by `extends` are used only by its own statements: "
                f"`include \"{base.program.file}\"` (or copy the define) to call `{name}` here")
        for info in env.defines.values():
            local = _assigned_in(info.node.body, name)
            if local is not None:
                return NetdslNameError(
                    f"unknown layer `{name}`: `{name}` is named inside define `{info.node.name}` "
                    f"(at {local.name_span}), and a name inside a define is local to it",
                    span=span, expected=expected, found=f"`{name}`",
                    hint=f"use it inside `{info.node.name}`, or name the call's output: "
                    f"`{name} = {info.node.name}(...)`")
        known = list(env.defines) + ops.all_names() + list(env.tensors)
        return NetdslNameError(f"unknown layer `{name}`", span=span, expected=expected, found=f"`{name}`",
                               hint=closest(name, known))

    def _activation_layer(self, name: str, args, call_args, span: Span, env: Env) -> str:
        """The op a parameter holding an activation stands for, written as a layer (`act`)."""
        value = env.vars[name]
        if args or call_args:
            raise NetdslNameError(
                f"`{name}` is a parameter holding the activation {value}; it takes no arguments",
                span=span,
                expected=f"`{name}` alone",
                hint=f"write `{value}` itself to give it arguments",
            )
        return "none" if value in ("none", "identity", "id") else value

    def tensor(self, name: str, args, span: Span, env: Env, first: bool) -> int:
        """A reference to a named tensor: the output of a stage, or a define's tensor argument."""
        layer = "a define" if name in env.defines else "a built-in layer" if ops.lookup(name) is not None else None
        if layer is not None:
            raise NetdslNameError(
                f"`{name}` names both a tensor and {layer}",
                span=span,
                hint=f"rename the stage or argument `{name}`: here `{name}` would silently mean its output",
            )
        if args:
            raise NetdslNameError(f"`{name}` is a tensor and takes no arguments", span=span)
        if not first:
            raise NetdslNameError(
                f"tensor `{name}` can only start a chain or a branch",
                span=span,
                hint=f"write `{name} > ...` at the start, or merge it with a block: add<... | {name}>",
            )
        return env.tensors[name]

    def emit(self, spec: ops.OpSpec, written: list[A.Arg], call_args, env: Env, span: Span, x: int,
             scope: Scope, same_pad: bool) -> int:
        """Create the node(s) of one written layer: the op, then its `bn` and `act` if asked."""
        args, src = self.op_args(spec, written, call_args, env, span, same_pad)
        if not spec.fuses:
            return self.add_node(spec.name, args, src, span, scope, (x,))
        bn = args.pop("bn", False)
        act = args.pop("act", "none")
        y = self.add_node(spec.name, args, src, span, scope, (x,))
        # a fused `bn` / `act=` is the layer written alone: `defaults bn eps=...` apply to it too
        if bn:
            bargs, bsrc = self.op_args(ops.REGISTRY["bn"], [], None, env, span, same_pad=False)
            y = self.add_node("bn", bargs, bsrc, span, scope, (y,), role="bn")
        if act != "none":
            aargs, asrc = self.op_args(ops.REGISTRY[act], [], None, env, span, same_pad=False)
            y = self.add_node(act, aargs, asrc, span, scope, (y,), role="act")
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
                        hint=closest(name, [p.name for p in d.params]),
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
        callee_vars = dict(self.globals if info.params is None else info.params)
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
        if info.params is not None and span.file != d.span.file:
            _check_base_params(info, env, span)
        bound, tensor_args, callee_vars, exprs = self.bind_call(info, call_args, span, env)
        self.depth += 1
        if self.depth > self.limits.max_depth:
            self.depth = 0
            raise NetdslLimitError(
                f"define calls nested more than {self.limits.max_depth} deep (in `{d.name}`)",
                span=span,
                trail=scope.trail(),
                hint=f"a recursive define needs a base case: does `{d.name}` always reach its `if ... then`? "
                     f"If it does, raise the limit with --max-depth (or NETDSL_MAX_DEPTH, up to {MAX_SCOPE_NESTING:,})",
            )
        shown = ", ".join(str(v) if k in tensor_args else fmt_value(v) for k, v in bound.items())
        sub = self.open_scope(scope, "define", d.name, span, call=f"{d.name}({shown})", define=d.name,
                              define_args=dict(bound), input=x)
        for k in tensor_args:
            callee_vars.pop(k, None)
        sub.define_args = {k: v for k, v in bound.items() if k not in tensor_args}
        sub.arg_exprs = {p.name: exprs[p.name] for p in d.params if p.name in sub.define_args}
        sub.tensor_args = dict(tensor_args)
        sub.define_node = d
        defines = env.defines if info.defines is None else info.defines
        denv = Env(callee_vars, dict(tensor_args), dict(info.defaults), defines, in_block=False)
        body = d.body
        while isinstance(body, A.CondBody):
            body = body.then if truth(self.eval(body.cond, denv), body.cond) else body.orelse
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
                else closest(kind, ops.BLOCK_KINDS),
            )
        bscope = self.open_scope(scope, "block", kind, it.span, input=x)
        benv = Env(env.vars, env.tensors, env.defaults, env.defines, in_block=True)
        if kind == "seq":
            y = self.items([i for branch in it.branches for i in branch], x, benv, bscope)
            bscope.output = y
            return y
        if kind == "chunk":
            return self.chunk(it, x, benv, bscope)
        outs = []
        empty = []  # branches that pass the input through: no layer, no tensor named
        many = len(it.branches) > 1
        for i, branch in enumerate(it.branches, start=1):
            target = bscope
            if many:
                target = self.open_scope(bscope, "branch", f"branch {i}", it.span, input=x)
            before = self.count
            y = self.items(branch, x, benv, target)
            if many:
                target.output = y
            outs.append(y)
            empty.append(y == x and self.count == before and not (
                isinstance(branch[0], A.Layer) and branch[0].op in env.tensors))
        self._refuse_empty(it, empty)
        if kind == "residual":
            opts, src = self._block_opts(it, env, {"droppath": 0.0})
            if opts["droppath"]:
                body_out = self.add_node("droppath", {"p": opts["droppath"]},
                                         {"p": src["droppath"]} if "droppath" in src else {}, it.span, bscope,
                                         [outs[0]])
                outs[0] = body_out
            if len(outs) > 2:
                raise NetdslNameError(
                    f"residual takes a body and at most one shortcut branch, found {len(outs)} branches",
                    span=it.span, expected="residual<body> or residual<body | shortcut>")
            if len(outs) == 1:
                # the projection is a conv (+ bn) as `defaults conv` / `defaults bn` say
                dflt = {"bias": False, "bn": False, "bn_eps": 1e-5, "bn_momentum": 0.1, "bn_affine": True}
                for op, prefix in (("conv", ""), ("bn", "bn_")):
                    for arg in env.defaults.get(op, []):
                        if prefix + str(arg.name) in dflt and arg.kind in ("kw", "flag"):
                            dflt[prefix + arg.name] = True if arg.kind == "flag" else self.eval(arg.value, env)
                sc = self.add_node("shortcut", dflt, {}, it.span, bscope, [x, outs[0]])
                y = self.add_node("add", {}, {}, it.span, bscope, [outs[0], sc])
            else:
                y = self.add_node("add", {}, {}, it.span, bscope, outs)
        else:
            spec = ops.REGISTRY[ops.MERGE_BLOCKS[kind]]
            margs, src = self._block_opts(it, env, {a.name: a.default for a in spec.args})
            if spec.name == "join":
                outs, margs["columns"] = self._flat_join(bscope, outs, many)
            y = self.add_node(spec.name, margs, src, it.span, bscope, outs)
        bscope.output = y
        return y

    def chunk(self, it: A.Block, x: int, env: Env, bscope: Scope) -> int:
        """`chunk<a | b>`: the channels split into as many equal parts as branches, branch i runs on
        part i, the outputs concatenated (ShuffleNetV2: x1, x2 = x.chunk(2, dim=1))."""
        n = len(it.branches)
        if n < 2:
            raise NetdslNameError("chunk needs two branches or more, one per part of the channels",
                                  span=it.span, expected="chunk<a | b>", found="one branch")
        self._block_opts(it, env, {})
        outs = []
        for i, branch in enumerate(it.branches):
            target = self.open_scope(bscope, "branch", f"branch {i + 1}", it.span, input=x)
            part = self.add_node("slice", {"start": 0, "stop": None, "part": i, "parts": n}, {}, it.span, target, [x])
            y = self.items(branch, part, env, target, first=False)
            target.output = y
            outs.append(y)
        y = self.add_node("concat", {}, {}, it.span, bscope, outs)
        bscope.output = y
        return y

    def _refuse_empty(self, it: A.Block, empty: list[bool]) -> None:
        """A residual's body, or every branch of a merge, that passes its input through (`id`, a
        repeat `* 0`) would merge the input with itself: a located error. (An empty shortcut or
        one empty branch among others is the identity, as meant.)"""
        hint = "`* 0` and `id` pass the input through; make the count at least 1, or drop the block"
        if it.kind == "residual" and empty[0]:
            raise NetdslNameError("the body of this residual is empty: it would add the input to itself",
                                  span=it.branches[0][0].span, hint=hint)
        if it.kind != "residual" and len(empty) > 1 and all(empty):
            raise NetdslNameError(f"every branch of this {it.kind} is empty: it would merge copies of its input",
                                  span=it.span, hint=hint)

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

    def _block_opts(self, it: A.Block, env: Env, allowed: dict) -> tuple[dict, dict]:
        """The block's options (`join(droppath=0.15)<...>`) and the expression each was written as."""
        out = dict(allowed)
        src = {}
        for ca in it.args:
            if ca.name is None or ca.name not in allowed:
                opts = ", ".join(f"{k}=..." for k in allowed) or "no options"
                raise NetdslNameError(
                    f"{it.kind} options are given by name" if ca.name is None
                    else f"{it.kind} has no option `{ca.name}`",
                    span=ca.span,
                    expected=f"{it.kind}({opts})<...>" if allowed else f"{it.kind}<...> (no options)",
                    found=f"`{ca.name}=`" if ca.name else "a value without a name",
                    hint=closest(ca.name, allowed) if ca.name else None,
                )
            v = self.eval(ca.value, env)
            if isinstance(allowed[ca.name], float):
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < 1:
                    raise NetdslNameError(f"{it.kind}: `{ca.name}` must be a probability in [0, 1)",
                                          span=ca.span, expected="0 <= p < 1", found=fmt_value(v))
                v = float(v)
            out[ca.name] = v
            src[ca.name] = ca.value
        return out, src

    # ---- statements
    def stmts(self, body: tuple, x: int, env: Env, scope: Scope, braces: bool = True, first: bool = True) -> int:
        """Statements one after another; as at the top level, each may start from a tensor, but the
        first only where the group itself stands at the start of a chain or a branch."""
        if braces:
            env = Env(env.vars, dict(env.tensors), {k: list(v) for k, v in env.defaults.items()}, env.defines,
                      env.in_block)
        for i, st in enumerate(body):
            x = self.stmt(st, x, env, scope, first or i > 0)
        return x

    def stmt(self, st, x: int, env: Env, scope: Scope, first: bool = True) -> int:
        if isinstance(st, A.Statement):
            return self.chain(st.chain, x, env, scope, first)
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
            sub = self.open_scope(scope, "named", st.name, rep[0].span if rep else st.span, aux=(st.mode == "aux"),
                                  input=x)
            cenv2 = cenv if not rep else Env(cenv.vars, env.tensors, cenv.defaults, cenv.defines, cenv.in_block)
            y = self.chain(chain, x, cenv2, sub, first)
            sub.output = y
            env.tensors[st.name] = y
            if st.mode == "aux":
                self.aux[st.name] = y
                return x
            return y
        if isinstance(st, A.Defaults):
            add_defaults(env.defaults, st)
            return x
        raise NetdslNameError(f"`{type(st).__name__.lower()}` is only allowed at the top of a file", span=st.span)

    def run(self, input_shape: tuple[int, ...] | None) -> Net:
        """Expand the whole program (the base network's statements first, when it extends one)."""
        linked = self.linked
        program = linked.program
        header = linked.header
        ext = linked.extends
        base = linked.base
        own_params = linked.params
        base_env = Env(dict(base.params), {}, base.defaults, base.defines) if base is not None else None
        base_stmts = base.stmts if base is not None else []
        base_input = base.input if base is not None else None
        base_name = base.name if base is not None else None
        own_defaults, own_defines = linked.defaults, linked.defines

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
        self.g.add_node(0, {"op": "input", "args": {}, "arg_src": {}, "span": root.span, "scope": root,
                          "inputs": [], "role": None})
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
                        hint=closest(s.scheme, INIT_SCHEMES),
                    )
                if s.args:
                    raise NetdslNameError(f"`init {s.scheme}` takes no arguments", span=s.args[0].span,
                                          expected=f"init {s.scheme}", hint="the schemes follow the reference "
                                          "implementations: torch, kaiming (ResNet), vgg, googlenet")
                self.init = s.scheme
            elif isinstance(s, A.Freeze):
                for n in s.names:
                    self.frozen.append((n, s.span))
                self.frozen_except.extend(s.except_)
            elif isinstance(s, A.Assign) and s.mode == "replace":
                self.replacements[s.name] = (s, env)

        x = x0
        if base_env is not None:
            refuse_oversized(self, base_stmts, base_env)
        refuse_oversized(self, [st for st in program.stmts if isinstance(st, (A.Statement, A.Assign))], env)
        if base_env is not None:
            for st in base_stmts:
                x = self.stmt(st, x, base_env, root)
            env.tensors.update(base_env.tensors)
            for rname, (rst, _) in self.replacements.items():
                if rname not in self.replacements_used:
                    raise NetdslNameError(
                        f"`replace {rname}`: the base network has no stage named `{rname}`",
                        span=rst.name_span,
                        expected="one of " + ", ".join(sorted(base_env.tensors)),
                        hint=closest(rname, base_env.tensors),
                    )
        elif self.replacements:
            rst = next(iter(self.replacements.values()))[0]
            raise NetdslNameError("`replace` needs a base network: add `extends NAME`", span=rst.span)
        for st in program.stmts:
            if isinstance(st, (A.Statement, A.Assign)):
                x = self.stmt(st, x, env, root)
        root.output = x
        if x == x0:
            raise NetdslNameError("the network has no layers", span=Span.point(program.file, 1, 1),
                                  hint="write at least one layer, e.g. `conv 3x3 x64`")
        net = Net(
            name=name if not (ext and not header) else (base_name or name),
            file=program.file,
            graph=self.g,
            root=root,
            input_node=x0,
            output_node=x,
            input_shape=tuple(shape),
            params=self.globals,
            aux_outputs=dict(reversed(self.aux.items())),  # in return order: the deepest first
            init=self.init,
            frozen=self.frozen,
            frozen_except=self.frozen_except,
            replaced={rname: rst.span for rname, (rst, _) in self.replacements.items()},
            sources=linked.sources,
            programs=linked.programs,
        )
        return net
