"""Codegen: the code model of `lower` -> standalone PyTorch source that reads as hand-written.

`generate(report)` returns a Python module importing only torch (and `collections` / `typing`):
a header docstring, one class per define, the network class with a straight-line `forward`
and its `_init_weights`, and a factory function named after the network. The layout is ruff's
(`ruff format` leaves it unchanged, `ruff check` finds nothing) and the output is a pure
function of the checked network: compiling twice gives the same bytes.

The file structure lives in Jinja templates (`netdsl/templates`); statements and expressions
are laid out here, wrapped the way ruff wraps them at 120 columns.
"""

from __future__ import annotations

import functools
import keyword

from . import codemodel as L
from .symbolic import literal

LINE = 120
INDENT = "    "


@functools.lru_cache(maxsize=1)
def _env():
    import jinja2

    try:  # compiled templates are cached on disk, like Python's .pyc (the first render is 30 ms faster)
        cache = jinja2.FileSystemBytecodeCache()
    except OSError:
        cache = None
    return jinja2.Environment(
        loader=jinja2.PackageLoader("netdsl", "templates"),
        bytecode_cache=cache,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


def generate(report) -> str:
    """Standalone PyTorch source of a checked network (a `cost.Report`)."""
    from .lower import lower

    return render(lower(report))


# ------------------------------------------------------------------------ layout of expressions


def _parts(code):
    """(opening text, items, closing text) of a bracketed expression, or None."""
    if isinstance(code, L.Call) and code.args:
        return code.func + "(", list(code.args), ")"
    if isinstance(code, L.ListOf) and code.items:
        return "[", list(code.items), "]"
    if isinstance(code, L.TupleOf) and len(code.items) > 1:
        return "(", list(code.items), ")"
    return None


def fmt(prefix: str, code, suffix: str, depth: int) -> list[str]:
    """Lines of `prefix + code + suffix` at `depth` levels of indentation, split like ruff."""
    pad = INDENT * depth
    one = pad + prefix + L.flat(code) + suffix
    if len(one) <= LINE:
        return [one]
    if isinstance(code, L.Kw):
        return fmt(prefix + code.name + "=", code.value, suffix, depth)
    if isinstance(code, L.Star):
        return fmt(prefix + "*", code.value, suffix, depth)
    if isinstance(code, L.Comp):
        return [pad + prefix + "[", *fmt("", code.elt, "", depth + 1),
                pad + INDENT + f"for {code.var} in range({code.count})", pad + "]" + suffix]
    if isinstance(code, L.Table):
        return [pad + prefix + "[", *fmt("", code.elt, "", depth + 1),
                *fmt(f"for {', '.join(code.vars)} in ", code.rows, "", depth + 1), pad + "]" + suffix]
    parts = _parts(code)
    if parts is None:
        return [one]  # an atom: nothing to split
    open_, items, close = parts
    head = pad + prefix + open_
    tail = pad + close + suffix
    body = pad + INDENT + ", ".join(L.flat(a) for a in items)
    if len(body) <= LINE:
        return [head, body, tail]
    if len(items) == 1:
        return [head, *fmt("", items[0], "", depth + 1), tail]
    lines = [head]
    for a in items:
        lines += fmt("", a, ",", depth + 1)
    return [*lines, tail]


def stmt_lines(s, depth: int) -> list[str]:
    pad = INDENT * depth
    if isinstance(s, L.Assign):
        name = s.target.removeprefix("self.")
        if s.target.startswith("self.") and not (name.isidentifier() and not keyword.iskeyword(name)):
            return fmt(f'self.add_module("{name}", ', s.value, ")", depth)  # an index or a quoted name
        lines = fmt(s.target + " = ", s.value, "", depth)
        if s.comment and len(lines) == 1:
            with_comment = f"{lines[0]}  # {s.comment}"
            if len(with_comment) <= LINE:
                return [with_comment]
            short = s.comment.split(", ", 1)[-1]
            if len(f"{lines[0]}  # {short}") <= LINE:
                return [f"{lines[0]}  # {short}"]
        return lines
    if isinstance(s, L.Return):
        return fmt("return ", s.value, "", depth)
    if isinstance(s, L.Expr):
        return fmt("", s.value, "", depth)
    if isinstance(s, L.For):
        out = fmt(f"for {s.var} in ", s.iterable, ":", depth)
        for b in s.body:
            out += stmt_lines(b, depth + 1)
        return out
    if isinstance(s, L.If):
        if not s.body:  # only the other branch builds something: `if not cond:`
            if not s.orelse:
                return []
            cond = s.cond if s.cond.replace(".", "").replace("_", "").isalnum() else f"({s.cond})"
            return stmt_lines(L.If(f"not {cond}", s.orelse), depth)
        out = [f"{pad}if {s.cond}:"]
        for b in s.body:
            out += stmt_lines(b, depth + 1)
        if s.orelse:
            out.append(f"{pad}else:")
            for b in s.orelse:
                out += stmt_lines(b, depth + 1)
        return out
    raise TypeError(type(s).__name__)


def _signature(name: str, params: list[L.Param], returns: str, depth: int) -> list[str]:
    items = [L.Raw("self")]
    for p in params:
        text = p.name
        if p.annotation:
            text += f": {p.annotation}"
        if p.default is not None:
            text += f" = {p.default}" if p.annotation else f"={p.default}"
        items.append(L.Raw(text))
    return fmt("def ", L.Call(name, tuple(items)), f" -> {returns}:", depth)


def _forward_signature(args: list[str], returns: str) -> list[str]:
    items = (L.Raw("self"), *(L.Raw(f"{a}: Tensor") for a in args))
    return fmt("def ", L.Call("forward", items), f" -> {returns}:", 1)


# ------------------------------------------------------------------------ the module


def _class_view(c: L.ClassModel) -> dict:
    init = []
    for s in c.init:
        init += stmt_lines(s, 2)
    forward = []
    for s in c.forward if c.base != "nn.Sequential" else ():  # nn.Sequential's forward chains the modules
        forward += stmt_lines(s, 2)
    weights = [INDENT * 2 + line for line in c.init_weights] if c.init_weights else None
    return {
        "name": c.name,
        "base": c.base,
        "doc": c.doc,
        "signature": _signature("__init__", c.params, "None", 1),
        "init": init,
        "forward_signature": _forward_signature(c.forward_args, c.returns),
        "forward": forward,
        "init_weights": weights,
        "super_args": c.super_args,
    }


def render(model: L.CodeModel) -> str:
    """The source text of a code model."""
    net = model.network
    factory = fmt("def ", L.Call(model.name, (L.Raw("weights: str | None = None"), L.Raw("**kwargs: Any"))),
                  f" -> {net.name}:", 0)
    load = "_load_weights(model, weights)"
    if model.replaced:
        load = f"_load_weights(model, weights, replaced={literal(tuple(model.replaced))})"
    outputs = None
    if model.outputs:
        name, fields = model.outputs
        outputs = fmt(f"{name} = ", L.Call("namedtuple", (L.Raw(literal(name)), L.ListOf(
            tuple(L.Raw(literal(f)) for f in fields)))), "", 0)
    text = _env().get_template("module.py.j2").render(
        header=model.header,
        uses_torch=True,  # torch.load in _load_weights
        ordered_dict=model.ordered_dict,
        helpers=model.helpers,
        outputs=outputs,
        classes=[_class_view(c) for c in model.classes],
        network=_class_view(net),
        factory=factory,
        factory_doc=f"The network of {model.file}; keyword arguments go to `{net.name}`.",
        load_weights=load,
        network_class=net.name,
    )
    return text
