"""Link: a parsed program with its includes, its base network and its parameters resolved.

`link(program, sources, overrides, limits)` reads and parses every file the program includes
(transitively) or extends, gathers the defines and lexical defaults of each file, and evaluates
the network parameters (the file's defaults, the values given by `extends base(k=v)` and those
given from outside, `-D k=v`). The result, a `Linked`, is what `expand` builds the graph from.

Each file is read and parsed once per program, however often it is included (an include
diamond is linear, not exponential); the text of every file read is added to the program's
`SourceMap`. Include cycles and too-deep nesting are located errors at the `include` statement.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from . import ast as A
from . import ops, parse, sources
from .errors import NetdslLimitError, NetdslNameError, UsageError, closest
from .evaluate import evaluate, names
from .ir import DefineInfo, Value, check_identifier, deep_recursion
from .limits import Limits


@dataclass(eq=False, slots=True)
class Base:
    """The network a program extends (`extends resnet50(classes=10)`)."""

    program: A.Program
    header: A.Network | None
    defines: dict[str, DefineInfo]
    defaults: dict[str, list[A.Arg]]
    params: dict[str, Value]  # its parameters, as given by `extends` or by default
    stmts: list  # its statements to expand (A.Statement | A.Assign)
    input: tuple[int, ...] | None  # its `input` sizes
    name: str | None  # the name in its `network` header
    init: str | None  # its `init` scheme, if any


@dataclass(eq=False, slots=True)
class Linked:
    """A program ready to expand: its own defines, defaults and parameters, and its base."""

    program: A.Program
    header: A.Network | None
    extends: A.Extends | None
    defines: dict[str, DefineInfo]  # its own, those of the files it includes, then the base's
    defaults: dict[str, list[A.Arg]]  # its top-level `defaults` statements
    params: dict[str, Value]  # its network parameters, as evaluated
    globals: dict[str, Value]  # what define bodies see: the base's parameters, then its own
    base: Base | None
    sources: sources.SourceMap  # the text of every file read for it
    programs: tuple[A.Program, ...] = ()  # the AST of every file read for it, the program first


def link(program: A.Program, smap: sources.SourceMap, overrides: dict[str, str] | None = None,
         limits: Limits | None = None) -> Linked:
    """Resolve the includes, base network and parameters of `program`; files read go into `smap`."""
    limits = limits or Limits.from_env()
    with deep_recursion():
        return _Linker(smap, limits).link(program, dict(overrides or {}))


def add_defaults(table: dict[str, list[A.Arg]], st: A.Defaults) -> None:
    """Add the arguments of a `defaults OP ...` statement to a table of defaults."""
    spec = ops.lookup(st.op)
    if spec is None:
        raise NetdslNameError(
            f"defaults for unknown layer `{st.op}`",
            span=st.span,
            hint=closest(st.op, ops.all_names()),
        )
    args = table.setdefault(spec.name, [])
    for arg in st.args:
        if arg.kind in ("kw", "out", "pad", "flag"):  # a later value of the same argument replaces it
            args[:] = [a for a in args if (a.kind, a.name) != (arg.kind, arg.name)]
        args.append(arg)


def lookup(variables, tensors=()):
    """The lookup of a scope (`evaluate.names`), where the name of an activation that is no
    variable is a value: `block(16, act=hardswish)`, `network n(act=relu)`."""
    plain = names(variables, tensors)

    def look(e: A.Name) -> Value:
        if e.id not in variables and e.id in ops.ACTIVATIONS:
            return e.id
        return plain(e)

    return look


_SIZE = re.compile(r"[0-9]+(x[0-9]+)+")


def parse_override(text: str) -> Value:
    """A parameter value given from outside (`-D k=v`): true/false, a number, a size (`1x7`),
    else a string."""
    t = text.strip()
    if t in ("true", "false"):
        return t == "true"
    if _SIZE.fullmatch(t) and len(t) < 200:
        return tuple(int(x) for x in t.split("x"))
    try:
        return int(t)
    except ValueError:
        pass
    try:
        return float(t)
    except ValueError:
        return t


def _shown_path(path: str) -> str:
    """A path as messages show it: relative to the working folder when it lies below it."""
    if not os.path.isabs(path):
        return path
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


@dataclass(eq=False, slots=True)
class _Collected:
    defines: dict[str, DefineInfo]
    defaults: dict[str, list[A.Arg]]
    height: int  # the longest chain of includes below the file (0: it includes nothing)


class _Linker:
    def __init__(self, smap: sources.SourceMap, limits: Limits):
        self.smap = smap
        self.limits = limits
        self.texts: dict[str, str] = {}  # real path -> text, each file read once
        self.programs: dict[tuple[str, str], A.Program] = {}  # (real path, display name) -> AST
        self.collected: dict[tuple[str, str], _Collected] = {}  # an included file's defines

    def read(self, target: str, from_file: str, span, is_path: bool = True) -> tuple[str, str, str]:
        """The file an include/extends names: (real path, display name, text), read on first use only."""
        p = sources.included_path(target, from_file, span, is_path)
        key = os.path.realpath(p)
        text = self.texts.get(key)
        if text is None:
            name, text = sources.read_included(p, target, span, self.smap)
            self.texts[key] = text
        else:
            name = sources.display_name(p)
            self.smap.add(name, text)
        return key, name, text

    def parse(self, key: str, name: str, text: str) -> A.Program:
        """The AST of a file read by `read`, parsed on first use only."""
        prog = self.programs.get((key, name))
        if prog is None:
            prog = self.programs[(key, name)] = parse.parse(text, name, self.limits.max_layers)
        return prog

    def collect(self, program: A.Program, seen: tuple[str, ...], depth: int) -> _Collected:
        """Gather a file's defines (with includes) and its lexical defaults."""
        defines: dict[str, DefineInfo] = {}
        defaults: dict[str, list[A.Arg]] = {}
        height = 0
        for st in program.stmts:
            if isinstance(st, A.Defaults):
                add_defaults(defaults, st)
        for st in program.stmts:
            if isinstance(st, A.Include):
                if depth >= self.limits.max_include_depth:
                    raise NetdslLimitError(f"includes nested more than {self.limits.max_include_depth} deep",
                                           span=st.span)
                key, name, text = self.read(st.path, program.file, st.span)
                if key in [x if x.startswith("<") else os.path.realpath(x) for x in seen]:
                    chain = " -> ".join(_shown_path(x) for x in [*seen, key])
                    raise NetdslNameError(f"include cycle: {chain}", span=st.span,
                                          hint="a file cannot include itself, directly or through other files")
                sub = self.parse(key, name, text)
                # A file collected before without error has no cycle below it (none can reach back to
                # the files including it now); only the nesting limit depends on where it is included.
                inner = self.collected.get((key, name))
                if inner is None or (inner.height and depth + 1 + inner.height > self.limits.max_include_depth):
                    for st2 in sub.stmts:
                        if not isinstance(st2, (A.Define, A.Include, A.Defaults)):
                            raise NetdslNameError(
                                f"{name} is included for its defines, but has other statements",
                                span=st2.span, hint="use `extends` to start from another network")
                    inner = self.collected[(key, name)] = self.collect(sub, (*seen, key), depth + 1)
                height = max(height, inner.height + 1)
                defines.update(inner.defines)
        for st in program.stmts:
            if isinstance(st, A.Define):
                if st.name in defines and defines[st.name].node.span.file == st.span.file:
                    raise NetdslNameError(f"`{st.name}` is defined twice", span=st.name_span,
                                          hint=f"the first definition is at {defines[st.name].node.span}")
                if ops.lookup(st.name) is not None:
                    raise NetdslNameError(f"`{st.name}` is a built-in layer and cannot be redefined",
                                          span=st.name_span)
                check_identifier(st.name, st.name_span, "a define")
                names_ = [p.name for p in st.params]
                for p in st.params:
                    if names_.count(p.name) > 1:
                        raise NetdslNameError(f"parameter `{p.name}` appears twice", span=p.span)
                defines[st.name] = DefineInfo(st, defaults)
        return _Collected(defines, defaults, height)

    def link(self, program: A.Program, overrides: dict[str, str]) -> Linked:
        header = next((s for s in program.stmts if isinstance(s, A.Network)), None)
        ext = next((s for s in program.stmts if isinstance(s, A.Extends)), None)
        for kind in (A.Network, A.Input, A.Extends):
            found = [s for s in program.stmts if isinstance(s, kind)]
            if len(found) > 1:
                raise NetdslNameError(f"more than one `{kind.__name__.lower()}` statement", span=found[1].span)
        own = self.collect(program, (program.file,), 0)
        own_params = network_params(header, {}, overrides)
        base = self.base(ext, program, own_params) if ext is not None else None
        return Linked(
            program=program,
            header=header,
            extends=ext,
            defines={**base.defines, **own.defines} if base is not None else own.defines,
            defaults=own.defaults,
            params=own_params,
            globals={**base.params, **own_params} if base is not None else own_params,
            base=base,
            sources=self.smap,
            programs=(program, *self.programs.values()),
        )

    def base(self, ext: A.Extends, program: A.Program, own_params: dict[str, Value]) -> Base:
        key, name, text = self.read(ext.target, program.file, ext.span, is_path=ext.is_path)
        base_prog = self.parse(key, name, text)
        if any(isinstance(s, A.Extends) for s in base_prog.stmts):
            raise NetdslNameError("a network that extends another cannot itself be extended", span=ext.span)
        collected = self.collect(base_prog, (key,), 1)
        bheader = next((s for s in base_prog.stmts if isinstance(s, A.Network)), None)
        given = {}
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
                    hint=closest(ca.name, bnames),
                )
            given[ca.name] = evaluate(ca.value, lookup(own_params))
        bparams = network_params(bheader, given, {})
        bin_ = next((s for s in base_prog.stmts if isinstance(s, A.Input)), None)
        inits = [s.scheme for s in base_prog.stmts if isinstance(s, A.Init)]
        return Base(
            program=base_prog,
            header=bheader,
            defines=_lexical(collected.defines, bparams),
            defaults=collected.defaults,
            params=bparams,
            stmts=[s for s in base_prog.stmts if isinstance(s, (A.Statement, A.Assign))],
            input=bin_.dims if bin_ else None,
            name=bheader.name if bheader else None,
            init=inits[-1] if inits else None,
        )


def _lexical(defines: dict[str, DefineInfo], params: dict[str, Value]) -> dict[str, DefineInfo]:
    """A base file's defines, each bound to the base's parameters and defines (as it was written)."""
    bound: dict[str, DefineInfo] = {}
    for k, v in defines.items():
        bound[k] = DefineInfo(v.node, v.defaults, params, bound)
    return bound


def network_params(header: A.Network | None, given: dict[str, Value],
                   from_cli: dict[str, str]) -> dict[str, Value]:
    """The values of a network's parameters: from outside, else given by `extends`, else defaults."""
    values: dict[str, Value] = {}
    params = header.params if header else ()
    names_ = {p.name for p in params}
    for i, p in enumerate(params):
        if any(q.name == p.name for q in params[:i]):
            raise NetdslNameError(f"network parameter `{p.name}` appears twice", span=p.span)
    for k in from_cli:
        if k not in names_:
            have = ", ".join(sorted(names_)) or "none"
            raise UsageError(f"-D {k}: the network has no parameter `{k}` (its parameters: {have})")
    for k in given:
        if k not in names_:
            raise NetdslNameError(f"the network has no parameter `{k}`",
                                  expected=", ".join(sorted(names_)) or "none",
                                  span=header.span if header else None)
    for p in params:
        if p.name in from_cli:
            values[p.name] = parse_override(from_cli[p.name])
        elif p.name in given:
            values[p.name] = given[p.name]
        elif p.default is not None:
            values[p.name] = evaluate(p.default, lookup(dict(values)))
        else:
            raise NetdslNameError(
                f"the network parameter `{p.name}` has no value",
                span=p.span,
                expected=f"a default in the header (`{p.name}=...`) or a value from outside",
                found=f"`{p.name}` with no default, and no value given",
                hint=f"netdsl check FILE -D {p.name}=...  /  netdsl.load(FILE, {p.name}=...)",
            )
    return values
