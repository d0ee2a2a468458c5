"""Lowering: the checked IR -> a torch-free code model (`codemodel`), which `codegen` renders.

The code model (`CodeModel`) is what `codegen` renders to a standalone Python module: one class
per `define` (parameterised by the define's parameters and its input channels), classes for
other non-sequential blocks, a class for the network, stages as `nn.Sequential` with repeats as
list comprehensions, and straight-line `forward` methods.

Layer arguments are symbolic: the AST expression of each written argument (`arg_src`) becomes a
`Sym` over the constructor parameters, and each layer's input channels follow symbolically from
the ops' `channels` rules. Every symbolic value is checked against the concrete IR value of the
instance being lowered (falling back to the literal on any mismatch), and instances of one
define share a class only when their generated class text is identical; so the generated code
is, for every instance it serves, exactly the checked network.

`runtime.build_module(report)` renders the same model to source and executes it: what
`netdsl.load` returns is an instance of the class that `netdsl compile` writes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from . import ast as A
from . import exposure, ops, weights
from .checkpoint import replaced_paths
from .classes import NoMerge, Variant, name_classes
from .codemodel import (
    Assign,
    Call,
    ClassModel,
    CodeModel,
    Expr,
    For,
    If,
    Kw,
    ListOf,
    Param,
    Raw,
    TupleOf,
    flat,
    stmt_key,
)
from .errors import NetdslError, Span
from .evaluate import CONCRETE, evaluate
from .forward import NetNames, Op, aliases, statements
from .ir import Net, Scope
from .loops import _progression, compress
from .names import GENERATED, RESERVED_PY, Names, attr, camel, file_text, safe_text
from .symbolic import (
    AnyOf,
    Bin,
    Const,
    Not,
    Sym,
    SymbolicError,
    Var,
    _bin,
    any_of,
    as_sym,
    compare,
    literal,
    ne,
    negate,
    same_value,
)


def module_call(cls: str, items) -> Call:
    """`nn.Conv2d(...)`, or a helper class of ours (`DropPath(...)`, emitted with the code)."""
    return Call(cls if cls in ops.HELPERS else f"nn.{cls}", tuple(items))


def helpers_used(texts) -> list[str]:
    """The helpers (ops.HELPERS) the generated code names, with the helpers they need, in order."""
    text = "\n".join(texts)
    found = {h for h in ops.HELPERS if re.search(rf"\b{h}\b", text)}
    todo = list(found)
    while todo:
        for need in ops.HELPERS[todo.pop()].needs:
            if need not in found:
                found.add(need)
                todo.append(need)
    return [h for h in ops.HELPERS if h in found]


def module_level_names() -> frozenset[str]:
    """Every name generated code defines or imports at module level besides the user's classes and
    factory: Python's words, the imports, the weight loader, `x`, and each helper's top-level `def`s and
    `class`es (`Join`, `sample_columns`, `drop_path_mean`), emitted or not. Class, factory and parameter
    names are allocated around all of them."""
    defined = {m for h in ops.HELPERS.values() for m in re.findall(r"^(?:def|class)\s+(\w+)", h.source, re.M)}
    return RESERVED_PY | GENERATED | frozenset(ops.HELPERS) | frozenset(defined)


# ------------------------------------------------------------------------ lowering


@dataclass
class _Ctx:
    """The state of one class (or nn.Sequential) being lowered."""

    expr: dict  # DSL name -> Sym
    val: dict  # Var key -> concrete value
    chan: dict = field(default_factory=dict)  # node id -> channel Sym
    stride: dict = field(default_factory=dict)  # node id -> spatial stride Sym (own nodes)
    external: set = field(default_factory=set)  # node ids of the inputs of this class
    init: list = field(default_factory=list)
    fields: dict = field(default_factory=dict)  # attribute -> constructor text
    ops: list = field(default_factory=list)
    used: dict = field(default_factory=dict)  # Var key -> Var, in order of use
    taken: set = field(default_factory=set)  # member names of the namespace
    shared: dict = field(default_factory=dict)  # attribute -> the member nodes using it
    own_nodes: list = field(default_factory=list)  # every node of the scope the class is built for
    # keys of the variables a value depended on when the lowering wrote that value as a literal:
    # a network parameter among them cannot be a constructor argument (its value is baked in)
    lost: set = field(default_factory=set)
    inplace: dict = field(default_factory=dict)  # attribute -> whether its module runs in place
    reps: dict = field(default_factory=dict)  # attribute -> the repeat (A.Repeat) it is one repetition of
    symbolic_globals: bool = True  # network parameters read here are variables (False: their values)
    # (condition, value) pairs a decision written as a literal relies on (a shortcut that never
    # projects: its stride is 1 and its channels unchanged); the caller checks them in its terms
    assume: list = field(default_factory=list)

    def rely(self, cond: Sym, value) -> None:
        if not isinstance(cond, Const):
            self.assume.append((cond, value))

    def lose(self, *values) -> None:
        for v in values:
            if isinstance(v, Sym):
                self.lost.update(x.key for x in v.vars())

    def code(self, v):
        if isinstance(v, ops.ModuleCall):
            return module_call(v.cls, [self.code(x) if k is None else Kw(k, self.code(x)) for k, x in v.args])
        for var in as_sym(v).vars() if isinstance(v, Sym) else ():
            self.used.setdefault(var.key, var)
        return Raw(literal(v), v if isinstance(v, Sym) and not isinstance(v, Const) else None)


@dataclass
class _Built:
    model: ClassModel
    out_sym: Sym
    key: str


class Lowerer:
    def __init__(self, report, no_merge: frozenset[str] = frozenset()):
        self.report = report
        self.net: Net = report.net
        self.g = self.net.graph
        self.src = exposure.Sources(self.net)
        self.file = file_text(self.net.file)
        # classes are named at the end (`_name_classes`): until then a call names its class by a
        # placeholder, one per distinct class text (a "variant"), in order of first use
        self.variants: dict[tuple, Variant] = {}  # placeholder -> variant
        self.records: dict[Span, list] = {}  # Name span -> ["safe"/"unsafe"/("call", define, param)]
        self.global_names = Names(module_level_names())
        self.define_types = self._define_types()
        self.consumers = {n: list(self.g.successors(n)) for n in self.g.nodes}
        # whether each residual shortcut (by where it is written) projects, over all its instances:
        # one answer for all of them is written as a literal, never as a branch no instance takes
        self.projects: dict[Span, set[bool]] = {}
        for n in self.net.op_nodes():
            node = self.node(n)
            if node["op"] == "shortcut":
                plan = ops.shortcut_plan(node["args"], node["in_shapes"])
                self.projects.setdefault(node["span"], set()).add(plan is not None)
        aux_nodes = set(self.net.aux_outputs.values())
        self.aux_nodes = aux_nodes
        self._inputs: dict[int, tuple[list[int], list[str]]] = {}
        cands = {k for k, v in self.net.params.items()
                 if isinstance(v, (int, float)) and not isinstance(v, bool) and k.isidentifier()
                 and k not in RESERVED_PY and not k.startswith("_")}
        self.expose = cands  # lowered as variables; `exposure` then finds those that shape the structure
        # one variable per exposed network parameter, wherever it is read: a class whose body
        # reads it (a define reading `bn_size`) takes it as a keyword-only constructor argument
        self.global_vars = {k: Var(k) for k in sorted(self.expose)}
        self.global_keys = {v.key: k for k, v in self.global_vars.items()}
        # class names: the network first, then one per define (in order of first use)
        self.net_class = self.global_names.take(camel(self.net.name))
        self.factory = self._factory_name()
        self.define_class: dict[str, str] = {}
        for s in self.net.root.scopes():
            if s.kind == "define" and s.define not in self.define_class:
                self.define_class[s.define] = self.global_names.take(camel(s.define))
        self.outputs_name = self.global_names.take(self.net_class + "Outputs") if self.net.aux_outputs else None
        self.branches = self._branches_taken()
        self.sample_columns = self._joins()
        self.no_merge = no_merge
        self.ordered_dict = False  # an nn.Sequential with written names: `from collections import OrderedDict`
        self._order: list[int] | None = None  # `nodes_of`: the op nodes in depth-first order, each scope's slice
        self._slices: dict[int, tuple[int, int]] = {}

    # ---- helpers
    def _factory_name(self) -> str:
        stem = self.net.name if self.net.name.isidentifier() else "net"
        n = Names(self.global_names.reserved | self.global_names.taken)
        name = n.take(stem if n.ok(stem) else stem + "_net", sep="_")
        self.global_names.taken.add(name)
        return name

    def _define_types(self) -> dict[tuple[str, str], str | None]:
        kinds: dict[tuple[str, str], set] = {}
        for s in self.net.root.scopes():
            if s.kind == "define":
                for k, v in s.define_args.items():
                    kinds.setdefault((s.define, k), set()).add(type(v))
        out = {}
        for key, ts in kinds.items():
            if ts == {int}:
                out[key] = "int"
            elif ts <= {int, float}:
                out[key] = "float"
            elif ts == {bool}:
                out[key] = "bool"
            elif ts == {str}:
                out[key] = "str"
            else:
                out[key] = None
        return out

    def node(self, nid: int) -> dict:
        return self.g.nodes[nid]

    def _record(self, names: list[A.Name], status) -> None:
        for n in names:
            self.records.setdefault(n.span, []).append(status)

    # ---- expressions
    def to_sym(self, e, ctx: _Ctx, names: list) -> Sym:
        """An expression as a symbol over the class's parameters (`evaluate` with the symbolic
        arithmetic); the names of variables it reads are appended to `names`."""

        def lookup(n: A.Name):
            if n.span in self.src.base_names:  # a base network's parameter: its value, as expanded
                raise SymbolicError(f"{n.id} of the base network")
            if n.id in ctx.expr:
                s = ctx.expr[n.id]
                if isinstance(s, Var):
                    names.append(n)
                return s
            if n.id in ("true", "false"):
                return Const(n.id == "true")
            if n.id in self.global_vars and ctx.symbolic_globals:
                var = self.global_vars[n.id]
                ctx.val[var.key] = self.net.params[n.id]
                names.append(n)
                return var
            if n.id in self.net.params:
                return Const(self.net.params[n.id])
            raise SymbolicError(f"unknown name {n.id}")

        try:
            return as_sym(evaluate(e, lookup, SymbolicArith(ctx.val)))
        except NetdslError as err:
            raise SymbolicError(err.message) from None

    def check(self, sym: Sym, ctx: _Ctx, concrete, lenient: bool = False) -> bool:
        try:
            return same_value(sym.eval(ctx.val), concrete, lenient)
        except SymbolicError:
            return False

    def verified(self, sym, ctx: _Ctx, concrete) -> Sym:
        """The symbol when it evaluates to the concrete value here, else the literal."""
        if isinstance(sym, Sym) and self.check(sym, ctx, concrete):
            return sym
        ctx.lose(sym)
        return Const(concrete)

    # ---- the whole network
    def run(self) -> CodeModel:
        net = self.net
        root = net.root
        ctx = _Ctx(expr={}, val={})
        params = []
        param_of = {}
        for k, v in net.params.items():
            if k in self.expose:
                var = self.global_vars[k]
                ctx.expr[k] = var
                ctx.val[var.key] = v
                param_of[var.key] = k
                params.append(Param(k, type(v).__name__, literal(v)))
            elif self._nameable(k):
                params.append(Param(k, type(v).__name__, literal(v)))
        in_ch = net.input_shape[0]
        ctx.chan[net.input_node] = Const(in_ch)
        ctx.external = {net.input_node}
        built = self.build_class(root, ctx, [(net.input_node, "x")], kind="network")
        for cond, _ in ctx.assume:  # what the network's literal decisions rely on is baked in
            ctx.lose(cond)
        baked = {param_of[k] for k in ctx.lost if k in param_of}
        self.fixed = exposure.unsafe_params(self.src, self.records, self.expose) | baked
        model = built.model
        classes = name_classes(list(self.variants.values()), [model], self.global_names)
        model.name = self.net_class
        model.params = params
        model.init[:0] = self._fixed_params()
        model.doc = f"{safe_text(net.name)} as described in {self.file}."
        model.init_weights = weights.init_weights(self.net)
        if model.init_weights:
            model.init.append(Expr(Raw("self._init_weights()")))
        model.init.extend(weights.freeze(self.net))
        r = self.report
        header = self._header(r)
        outputs = (self.outputs_name, self._output_fields()) if self.outputs_name else None
        helpers = helpers_used(stmt_key(st) for c in [*classes, model] for st in (*c.init, *c.forward))
        uses_torch = any(re.search(r"\btorch\.", stmt_key(st)) for c in [*classes, model] for st in c.forward) or any(
            ops.HELPERS[h].uses_torch for h in helpers)
        return CodeModel(name=self.factory, file=self.file, header=header, classes=classes,
                         network=model, helpers=[ops.HELPERS[h].source for h in helpers], outputs=outputs,
                         uses_torch=uses_torch, ordered_dict=self.ordered_dict,
                         replaced=tuple(replaced_paths(self.net)))

    def _output_fields(self) -> list[str]:
        """The namedtuple's fields: `logits` for the main output (another name if an `aux` output has
        it: `aux logits = ...`), then the aux outputs by name."""
        aux = list(self.net.aux_outputs)
        return [Names(RESERVED_PY, aux).take("logits", sep="_"), *aux]

    def _nameable(self, k: str) -> bool:
        return k.isidentifier() and k not in RESERVED_PY and not k.startswith("_")

    def _fixed_params(self) -> list:
        """A network parameter that shapes the structure (a depth, a repeat count, a condition) is
        compiled in: the class takes it, as `netdsl.load` does, and refuses another value."""
        out = []
        for k, v in self.net.params.items():
            if (k in self.expose and k not in self.fixed) or not self._nameable(k):
                continue
            msg = f"{k}={literal(v)} is compiled into this structure; for another value: netdsl compile -D {k}=..."
            out.append(If(f"{k} != {literal(v)}", [Expr(Call("raise ValueError", (Raw(literal(msg)),)))]))
        return out

    def _header(self, r) -> list[str]:
        net = self.net
        t = r.total
        out = net.node(net.output_node)["shape"]
        lines = [f"{self.net_class}: PyTorch source generated by netdsl from {self.file}.", ""]
        frozen = t.params - t.trainable
        lines.append(f"Input {ops.fmt_shape(net.input_shape)}, output {ops.fmt_shape(out)}; "
                     f"{t.params:,} parameters" + (f" ({frozen:,} frozen)" if frozen else "")
                     + f", {t.macs:,} multiply-adds.")
        for name, at in r.aux.items():
            lines.append(f"Train-only output {safe_text(name)}: {at.params:,} parameters, {at.macs:,} multiply-adds.")
        if net.params:
            line = "Network parameters:"
            for i, (k, v) in enumerate(net.params.items()):
                item = f" {safe_text(k)[:40]}={safe_text(literal(v))[:40]}" + ("," if i < len(net.params) - 1 else ".")
                if len(line) + len(item) > 100:
                    lines.append(line)
                    line = "   "
                line += item
            lines.append(line)
        return lines

    # ---- one class
    def build_class(self, scope: Scope, ctx: _Ctx, inputs: list[tuple[int, str]], kind: str) -> _Built:
        members = [self.resolve(m) for m in scope.members]
        ctx.own_nodes = list(self.nodes_of(scope))
        ctx.taken = {self._member_name(m) for m in members} - {None}
        for m in members:
            if not isinstance(m, Scope) and self.node(m).get("name"):
                ctx.shared.setdefault(self.node(m)["name"], []).append(m)
        for m in members:
            self.member(ctx, m)
        out = self.resolve_tensor(scope)
        forward = statements(ctx.ops, inputs, out, ctx.own_nodes, kind == "network", self._names_of_net())
        model = ClassModel(name="?", doc="", params=[], init=ctx.init, forward_args=[v for _, v in inputs],
                           forward=forward, kind=kind)
        if kind == "define" and self._chain(ctx, inputs, out):
            # a chain of its sub-modules, each called once in order: an nn.Sequential (as torchvision's
            # _Transition), whose repeats with a count among its arguments are loops
            model.base = "nn.Sequential"
            model.init[:] = self._loops(ctx, model.init)
            if [getattr(st, "target", None) for st in model.init] == [f"self.{i}" for i in range(len(model.init))]:
                # indexed as torchvision's Conv2dNormActivation: super().__init__(conv, bn, act)
                model.init[:] = [Expr(Call("super().__init__", tuple(st.value for st in model.init)))]
                model.super_args = True
        if kind == "network" and self.outputs_name:
            model.returns = f"Tensor | {self.outputs_name}"
        elif kind != "network" and self.aux_inside(scope):
            model.returns = "tuple[" + ", ".join(["Tensor"] * (1 + len(self.aux_inside(scope)))) + "]"
        forward_key = [] if model.base == "nn.Sequential" else list(map(stmt_key, model.forward))
        key = "\n".join([model.base, *map(stmt_key, model.init), "--", ",".join(model.forward_args), *forward_key])
        return _Built(model, ctx.chan.get(out, Const(self.node(out)["shape"][0])), key)

    def _chain(self, ctx: _Ctx, inputs: list[tuple[int, str]], output: int) -> bool:
        """Whether the class's forward only calls each of its sub-modules once, in the order they
        are registered, each on the previous one's output."""
        if len(inputs) != 1:
            return False
        res = aliases(ctx.ops)
        prev, attrs = inputs[0][0], []
        for op in ctx.ops:
            if op.alias:
                continue
            if op.attr is None or op.aux or op.extra or [res(t) for t in op.ins] != [prev]:
                return False
            prev = op.out
            attrs.append(op.attr)
        registered = [st.target.removeprefix("self.") for st in ctx.init if isinstance(st, Assign)]
        return res(output) == prev and attrs == registered and len(set(attrs)) == len(attrs) and bool(attrs)

    def _loops(self, ctx: _Ctx, init: list) -> list:
        """Sub-modules of one repeat whose count is symbolic here (`bottleneck(c) * (n - 1)`), all
        built alike and numbered in order, as a loop: `for i in range(2, n + 1): self.add_module(...)`."""
        out: list = []
        k = 0
        while k < len(init):
            st = init[k]
            rep = ctx.reps.get(st.target.removeprefix("self.")) if isinstance(st, Assign) else None
            end = k + 1
            while rep is not None and end < len(init) and isinstance(init[end], Assign) and \
                    ctx.reps.get(init[end].target.removeprefix("self.")) is rep:
                end += 1
            loop = self._loop(ctx, rep, init[k:end]) if rep is not None else None
            out += loop if loop is not None else init[k:end]
            k = end
        return out

    def _loop(self, ctx: _Ctx, rep: A.Repeat, run: list) -> list | None:
        """The statements of one repeat's sub-modules with a loop, or None. The first repetition
        may differ (it takes the block's input channels): it stays a statement of its own."""
        used: list = []
        try:
            count = self.to_sym(rep.count, ctx, used)
        except SymbolicError:
            count = None
        if count is None or isinstance(count, Const) or not self.check(count, ctx, len(run)):
            return None
        found = [re.fullmatch(r"self\.([A-Za-z_]\w*?)(\d+)", st.target) for st in run]
        if any(f is None for f in found) or len({f.group(1) for f in found}) != 1:
            return None
        start = int(found[0].group(2))
        if [int(f.group(2)) for f in found] != list(range(start, start + len(run))):
            return None
        head = []
        if len({flat(st.value) for st in run}) != 1:
            prog = _progression([st.value for st in run], 0)
            taken = {v.name for v in ctx.used.values()} | {v.name for v in count.vars()} | set(ctx.expr)
            if prog is not None and prog[1] == len(run) and "i" not in taken:
                # arguments that step with the repetition (DenseNet's input channels): i from 0
                self._record(used, "unsafe")
                elt = prog[0].value.elt
                name = Raw(f'f"{found[0].group(1)}{{i + {start}}}"' if start else f'f"{found[0].group(1)}{{i}}"')
                return [For("i", Call("range", (ctx.code(count),)), [Expr(Call("self.add_module", (name, elt)))])]
            if len(run) < 3 or len({flat(st.value) for st in run[1:]}) != 1:
                return None
            head, run, start, count = run[:1], run[1:], start + 1, count - 1
        self._record(used, "unsafe")  # a network parameter counting repetitions shapes the structure
        taken = {v.name for v in ctx.used.values()} | {v.name for v in count.vars()} | set(ctx.expr)
        i = Names(RESERVED_PY, taken).take("i")
        name = Raw(f'f"{found[0].group(1)}{{{i}}}"')
        return [*head, For(i, Call("range", (Raw(str(start)), ctx.code(count + start))),
                           [Expr(Call("self.add_module", (name, run[0].value)))])]

    def nodes_of(self, scope: Scope) -> list[int]:
        """`scope.nodes()`, from one walk of the whole scope tree: every scope's op nodes are a slice of
        the tree's depth-first order. Walking each scope's subtree at each use cost the square of the
        nesting depth (a recursive define 900 deep: seconds)."""
        if self._order is None:
            self._order, self._slices = _depth_first_slices(self.net.root)
        where = self._slices.get(id(scope))
        return self._order[where[0]:where[1]] if where is not None else list(scope.nodes())

    def resolve(self, m):
        """A member as generated: a named stage holding a single layer or module is that layer or module."""
        from .layout import flatten_members

        seen = 0
        while isinstance(m, Scope) and not m.module and seen < 1000:
            inner = flatten_members(self.net, m)
            if len(inner) != 1:
                break
            m = inner[0]
            seen += 1
        return m

    def resolve_tensor(self, scope: Scope) -> int:
        out = scope.output
        if out is None:
            nodes = self.nodes_of(scope)
            out = nodes[-1] if nodes else scope.input
        return out

    def _member_name(self, m):
        if isinstance(m, Scope):
            return m.name
        return self.node(m).get("name")

    def ext_inputs(self, scope: Scope) -> list[int]:
        """The tensors a scope reads from outside, in order of first use."""
        nodes = self.nodes_of(scope)
        inside = set(nodes)
        ext: list[int] = []
        for n in nodes:
            for i in self.node(n)["inputs"]:
                if i not in inside and i not in ext:
                    ext.append(i)
        return ext

    def inputs_of(self, scope: Scope) -> tuple[list[int], list[str]]:
        """The forward inputs of a scope's class and their names: for a define, its chain input `x`
        first, then its tensor parameters in the define's order; else in order of first use."""
        got = self._inputs.get(id(scope))
        if got is not None:
            return got
        ext = self.ext_inputs(scope)
        names_of = self._tensor_params(scope, ext)
        if names_of:
            order = {p: i for i, p in enumerate(self._tensor_order(scope))}
            main = [n for n in ext if n == scope.input and n not in names_of]
            params = sorted((n for n in ext if n in names_of), key=lambda n: order.get(names_of[n], 0))
            rest = [n for n in ext if n not in main and n not in params]
            ext = main + params + rest
        elif scope.kind == "define" and scope.input in ext:
            ext.remove(scope.input)
            ext.insert(0, scope.input)
        taken = Names()
        names = []
        for i, n in enumerate(ext):
            stem = names_of.get(n) or ("x" if i == 0 else f"x{i}")
            names.append(taken.take(stem))
        self._inputs[id(scope)] = (ext, names)
        return ext, names

    def _tensor_order(self, scope: Scope) -> list[str]:
        d = scope.define_node
        return [p.name for p in d.params if p.name not in scope.define_args] if d else []

    # ---- members
    def member(self, ctx: _Ctx, m) -> None:
        if not isinstance(m, Scope):
            self.layer(ctx, m)
            return
        nodes = self.nodes_of(m)
        if not nodes:  # nothing of its own (an `id` body): the output is the input
            return
        if m.kind != "define" and not m.sequential and self._trivial(m):
            for mm in m.members:  # only functional layers (add, concat): no module of its own
                self.member(ctx, self.resolve(mm))
            return
        code, out_sym = self.submodule(ctx, m)
        name = m.name
        ctx.init.append(Assign(f"self.{name}", code))
        ctx.fields[name] = flat(code)
        out = self.resolve_tensor(m)
        ctx.chan[out] = out_sym
        ins = self.inputs_of(m)[0]
        aux = m.aux or any(s.aux for s in self._scope_chain(m))
        ctx.ops.append(Op(out, ins, lambda vs, name=name: Call(attr(name), tuple(Raw(v) for v in vs)),
                           stem=name, line=m.span, aux=aux, named=True, extra=self.aux_inside(m), attr=name))
        if m.repeat is not None:
            ctx.reps[name] = m.repeat

    def aux_inside(self, scope: Scope) -> list[int]:
        """Train-only outputs (`aux`) produced inside a scope: its class returns them too."""
        nodes = set(self.nodes_of(scope))
        return [n for n in self.net.aux_outputs.values() if n in nodes and n != self.resolve_tensor(scope)]

    def _trivial(self, scope: Scope) -> bool:
        for mm in scope.members:
            mm = self.resolve(mm)
            if isinstance(mm, Scope) or self.node(mm).get("name") or self.node(mm)["op"] == "shortcut":
                return False
        return bool(scope.members)

    def _scope_chain(self, m: Scope):
        s = m.parent
        while s is not None and s.kind == "named" and not s.module:
            yield s
            s = s.parent

    def _arg_syms(self, ctx: _Ctx, nid: int) -> tuple[dict, dict]:
        """Symbolic values of the written arguments that depend on parameters (checked here)."""
        node = self.node(nid)
        spec = ops.REGISTRY[node["op"]]
        syms: dict[str, Sym] = {}
        names: dict[str, list] = {}
        for name, src in (node.get("arg_src") or {}).items():
            if name not in node["args"]:
                continue
            used: list = []
            try:
                s = self.to_sym(src, ctx, used)
            except SymbolicError:
                self._record(used, "unsafe")
                continue
            if isinstance(s, Const):
                continue
            a = spec.arg_index.get(name)
            lenient = a is not None and a.type in ("float", "prob")
            if self.check(s, ctx, node["args"][name], lenient):
                syms[name] = s
                names[name] = used
            else:
                self._record(used, "unsafe")
        return syms, names

    def channels(self, ctx: _Ctx, nid: int, arg_syms: dict) -> Sym:
        node = self.node(nid)
        spec = ops.REGISTRY[node["op"]]
        ins = node["inputs"]
        in_syms = [ctx.chan.get(i) for i in ins]
        concrete = node["shape"][0]
        if any(s is None for s in in_syms):
            ctx.lose(*in_syms, *arg_syms.values())
            return Const(concrete)
        try:
            args = dict(node["args"])
            args.update(arg_syms)
            try:
                sym = spec.channels(args, in_syms, node["in_shapes"])
            except Exception:  # noqa: BLE001 - a rule that needs concrete values
                ctx.lose(*arg_syms.values())
                sym = spec.channels(dict(node["args"]), in_syms, node["in_shapes"])
            sym = as_sym(sym)
        except Exception:  # noqa: BLE001 - any rule that cannot run on symbols: the literal
            ctx.lose(*in_syms, *arg_syms.values())
            return Const(concrete)
        return self.verified(sym, ctx, concrete)

    def _inplace_ok(self, ctx: _Ctx, nid: int) -> bool:
        node = self.node(nid)
        src = node["inputs"][0]
        if src in ctx.external or src == self.net.input_node:
            return False
        if len(self.consumers.get(src, ())) != 1 or src in self.aux_nodes:
            return False
        return ops.REGISTRY[self.node(src)["op"]].inplace_target

    def ctor(self, ctx: _Ctx, nid: int, cin: Sym, cout: Sym, arg_syms: dict, arg_names: dict,
             inplace: bool = True) -> Call:
        """The module of a layer, built by its op's constructor rule over symbolic arguments."""
        node = self.node(nid)
        spec = ops.REGISTRY[node["op"]]
        low = spec.lowering
        c = ops.Ctor(node["args"], arg_syms, cin, cout, node["in_shapes"], node["shape"])
        kv = low.ctor(c)
        for name, used in arg_names.items():
            placed = name in c.used or (name == "out" and _contains(cout, arg_syms.get("out")))
            free = spec.arg_index[name].free if name in spec.arg_index else False
            self._record(used, "safe" if placed and free else "unsafe")
        if low.inplace and inplace:
            kv = [*kv, ("inplace", True)]
        items = [ctx.code(v) if k is None else Kw(k, ctx.code(v)) for k, v in kv]
        return module_call(low.module_for(node["in_shapes"][0], node.get("layout", "first")), items)

    # ---- layers
    def layer(self, ctx: _Ctx, nid: int) -> None:
        node = self.node(nid)
        op = node["op"]
        spec = ops.REGISTRY[op]
        ins = node["inputs"]
        arg_syms, arg_names = self._arg_syms(ctx, nid)
        cout = self.channels(ctx, nid, arg_syms)
        cin = ctx.chan.get(ins[0], Const(node["in_shapes"][0][0])) if ins else Const(0)
        ctx.stride[nid] = self._stride_of(ctx, nid, arg_syms)
        line = node["span"]
        if op == "shortcut":
            self.shortcut(ctx, nid, cin, cout)
        elif spec.lowering.held is not None and node.get("name"):
            # a parameter of this class itself (ConvNeXt's `layer_scale`), not a sub-module
            name = node["name"]
            c = ops.Ctor(node["args"], arg_syms, cin, cout, node["in_shapes"], node["shape"])
            shape, init = spec.lowering.held(c)
            for arg, used in arg_names.items():
                self._record(used, "safe" if arg in c.used and spec.arg_index[arg].free else "unsafe")
            size = TupleOf(tuple(ctx.code(v) for v in shape))
            ctx.init.append(Assign(f"self.{name}", Call("nn.Parameter", (Call("torch.full", (size, ctx.code(init))),))))
            ctx.fields[name] = name
            ctx.ops.append(Op(nid, list(ins), lambda vs, name=name: Raw(f"{attr(name)} * {vs[0]}"),
                              stem="out", line=line))
        elif spec.lowering.module is not None and node.get("name"):
            name = node["name"]
            inplace = ctx.inplace.get(name)  # one answer for every use of a shared module
            if inplace is None:
                inplace = ctx.inplace[name] = all(self._inplace_ok(ctx, n) for n in self._sharing(ctx, nid))
            code = self.ctor(ctx, nid, cin, cout, arg_syms, arg_names, inplace)
            if name not in ctx.fields:
                ctx.init.append(Assign(f"self.{name}", code))
                ctx.fields[name] = flat(code)
            elif ctx.fields[name] != flat(code):
                raise AssertionError(f"shared module {name} built two ways")
            ctx.ops.append(Op(nid, list(ins), lambda vs, name=name: Call(attr(name), tuple(map(Raw, vs))),
                               stem="out", line=line, attr=name))
        elif spec.lowering.inline is not None:
            for used in arg_names.values():
                self._record(used, "unsafe")
            args = node["args"]
            inline = spec.lowering.inline_for(args)
            if inline == "{0}" and len(ins) >= 1:
                ctx.ops.append(Op(nid, ins[:1], None, stem="out", line=line, alias=True))
            else:
                ctx.ops.append(Op(nid, list(ins), lambda vs, inline=inline, args=args: Raw(_inline(inline, vs, args)),
                                   stem="out", line=line))
        else:
            raise AssertionError(f"{op} node {nid} has a module but no name")
        ctx.chan[nid] = cout

    def _sharing(self, ctx: _Ctx, nid: int) -> list[int]:
        """The nodes of this class that use the same (shared, stateless) module as `nid`."""
        if not ops.REGISTRY[self.node(nid)["op"]].shared:
            return [nid]
        return ctx.shared.get(self.node(nid).get("name"), [nid])

    def _stride_of(self, ctx: _Ctx, nid: int, arg_syms: dict) -> Sym | None:
        node = self.node(nid)
        spec = ops.REGISTRY[node["op"]]
        if spec.stride_arg is None or len(node["in_shapes"][0]) != 3:
            return Const(1)
        k = spec.stride_arg
        v = node["args"].get(k)
        if v is None:  # pools: the stride defaults to the kernel
            k = "kernel"
            v = node["args"].get("kernel")
        if k in arg_syms:
            return arg_syms[k]
        if isinstance(v, tuple):
            return Const(v[0]) if v[0] == v[1] else None
        return Const(v) if isinstance(v, int) else None

    def _path_stride(self, ctx: _Ctx, start: int, end: int) -> Sym | None:
        """The product of the strides from tensor `start` to tensor `end` along first inputs."""
        s: Sym = Const(1)
        cur = end
        for _ in range(100_000):
            if cur == start:
                return s
            if cur == self.net.input_node:
                return None
            st = ctx.stride.get(cur)
            if st is None:
                st = self._stride_of(ctx, cur, {})  # inside a sub-module: the literal stride
                if st is None:
                    return None
            s = s * st
            ins = self.node(cur)["inputs"]
            if not ins:
                return None
            cur = ins[0]
        return None

    def shortcut(self, ctx: _Ctx, nid: int, cin: Sym, cout: Sym) -> None:
        node = self.node(nid)
        x, body = node["inputs"]
        args = node["args"]
        plan = ops.shortcut_plan(args, node["in_shapes"])
        stride = self._path_stride(ctx, x, body)
        ok = stride is not None and len(self.projects[node["span"]]) > 1
        if ok:
            cond = any_of(ne(stride, Const(1)), ne(cin, cout))
            ok = self.check(cond, ctx, plan is not None) and (
                plan is None or (self.check(stride, ctx, plan[1]) and self.check(cin, ctx, node["in_shapes"][0][0])
                                 and self.check(cout, ctx, plan[0])))
        if not ok and stride is not None and self.check(any_of(ne(stride, Const(1)), ne(cin, cout)), ctx,
                                                        plan is not None) and plan is None:
            # it never projects: an identity, as long as the stride is 1 and the channels unchanged
            ctx.rely(any_of(ne(stride, Const(1)), ne(cin, cout)), False)
            cond = Const(False)
        elif not ok:
            ctx.lose(stride, cin, cout)
            cond = Const(plan is not None)
            stride = Const(plan[1] if plan else 1)
            cin = Const(node["in_shapes"][0][0])
            cout = Const(plan[0] if plan else cin.value)
        if isinstance(cond, Const) and not cond.value:
            ctx.ops.append(Op(nid, [x], None, stem="identity", line=node["span"], alias=True))
            return
        name = node.get("name") or Names(RESERVED_PY, ctx.taken | set(ctx.fields)).take(
            ops.REGISTRY["shortcut"].base_name)
        low = ops.REGISTRY["shortcut"].lowering
        concrete = dict(args, stride=stride.value if isinstance(stride, Const) else plan[1] if plan else 1)
        c = ops.Ctor(concrete, {} if isinstance(stride, Const) else {"stride": stride}, cin, cout,
                     node["in_shapes"], node["shape"])
        proj = module_call(low.module, [ctx.code(v) if k is None else Kw(k, ctx.code(v)) for k, v in low.ctor(c)])
        line = node["span"]
        if isinstance(cond, Const):
            ctx.init.append(Assign(f"self.{name}", proj))
            ctx.ops.append(Op(nid, [x], lambda vs, name=name: Call(attr(name), (Raw(vs[0]),)),
                               stem="identity", line=line))
        else:
            ctx.init.append(If(ctx.code(cond).text, [Assign(f"self.{name}", proj)],
                               [Assign(f"self.{name}", Raw("None"))]))
            ctx.ops.append(Op(nid, [x], lambda vs, name=name: Raw(
                f"{vs[0]} if self.{name} is None else self.{name}({vs[0]})"), stem="identity", line=line))
        ctx.fields[name] = "shortcut"

    # ---- sub-modules
    def submodule(self, ctx: _Ctx, m: Scope) -> tuple[Call, Sym]:
        """The constructor call of a sub-module and its output channels in the caller's terms."""
        if m.kind == "define":
            return self.instance(ctx, m)
        if m.sequential:
            return self.sequential(ctx, m)
        return self.anon(ctx, m)

    def sequential(self, ctx: _Ctx, scope: Scope) -> tuple[Call, Sym]:
        items, names = [], []
        sub = _Ctx(expr=ctx.expr, val=ctx.val, chan=ctx.chan, stride=ctx.stride, external={scope.input},
                   used=ctx.used, lost=ctx.lost, assume=ctx.assume)
        for m in (self.resolve(x) for x in scope.members):
            if isinstance(m, Scope):
                if not self.nodes_of(m):
                    continue
                code, out_sym = self.submodule(sub, m)
                sub.chan[self.resolve_tensor(m)] = out_sym
                items.append(code)
                names.append(m.name)
                continue
            names.append(self.node(m)["name"])
            node = self.node(m)
            spec = ops.REGISTRY[node["op"]]
            arg_syms, arg_names = self._arg_syms(sub, m)
            cout = self.channels(sub, m, arg_syms)
            cin = sub.chan.get(node["inputs"][0], Const(node["in_shapes"][0][0]))
            sub.stride[m] = self._stride_of(sub, m, arg_syms)
            if spec.lowering.module is not None:
                items.append(self.ctor(sub, m, cin, cout, arg_syms, arg_names, self._inplace_ok(sub, m)))
            else:
                for used in arg_names.values():
                    self._record(used, "unsafe")
                items.append(Call(f"nn.{spec.lowering.seq_module}"))
            sub.chan[m] = cout
        out = self.resolve_tensor(scope)
        out_sym = sub.chan.get(out, Const(self.node(out)["shape"][0]))
        if names != [str(i) for i in range(len(names))]:  # written names (`@conv0`, `@4`): as torchvision's
            self.ordered_dict = True                        # nn.Sequential(OrderedDict([...]))
            pairs = tuple(TupleOf((Raw(literal(n)), c)) for n, c in zip(names, items, strict=True))
            return Call("nn.Sequential", (Call("OrderedDict", (ListOf(pairs),)),)), out_sym
        return Call("nn.Sequential", tuple(compress(items, self._params_of))), out_sym

    def _params_of(self, placeholder: str) -> list[str] | None:
        """The constructor parameters of a registered class, by the placeholder its calls name."""
        for v in self.variants.values():
            if v.placeholder == placeholder:
                return [p.name for p in v.model.params if p.name != "*"]
        return None

    def _tensor_params(self, scope: Scope, ext: list[int]) -> dict[int, str]:
        """Inputs of a define given as tensor arguments, by the define's parameter names."""
        if scope.kind != "define":
            return {}
        out = {nid: p for p, nid in scope.tensor_args.items() if nid in ext}
        return out if len(out) == len(scope.tensor_args) else {}

    def _channel_vars(self, scope: Scope, ext: list[int], in_names: list[str], avoid) -> list[Var]:
        names = Names(RESERVED_PY, set(avoid))
        out = []
        for n, v in zip(ext, in_names, strict=True):
            one_d = len(self.node(n)["shape"]) == 1
            kind = "features" if one_d else "channels"
            stem = f"in_{kind}" if v == "x" else f"{v}_{kind}"
            out.append(Var(names.take(stem, sep="_")))
        return out

    def instance(self, ctx: _Ctx, scope: Scope) -> tuple[Call, Sym]:
        """A define instance: the class of its structure, called with symbolic arguments."""
        d = scope.define_node
        params = [p.name for p in d.params if p.name in scope.define_args] if d else []
        if d is None or set(params) != set(scope.define_args):
            params, d = [], None
        pynames = Names(self.global_names.reserved | self.global_names.taken)
        pymap = {p: pynames.take(p, sep="_") for p in params}
        ext, in_names = self.inputs_of(scope)
        chvars = self._channel_vars(scope, ext, in_names, {*pymap.values(), *self.global_vars})
        child = _Ctx(expr={}, val={})
        pvars = {}
        for p in params:
            var = Var(pymap[p])
            pvars[p] = var
            child.expr[p] = var
            child.val[var.key] = scope.define_args[p]
        for n, var in zip(ext, chvars, strict=True):
            child.val[var.key] = self.node(n)["shape"][0]
            child.chan[n] = var
        child.external = set(ext)
        built = self.build_class(scope, child, list(zip(ext, in_names, strict=True)), kind="define")
        used_ch = [(n, v) for n, v in zip(ext, chvars, strict=True) if v.key in child.used]
        sig = [Param(v.name, "int") for _, v in used_ch]
        defaults = {p.name: p.default for p in d.params} if d else {}
        call_syms = self._call_args(ctx, scope, d, params)
        # the class's variables in the caller's terms: its input channels and its arguments
        subst = {v.key: ctx.chan.get(n, Const(self.node(n)["shape"][0])) for n, v in zip(ext, chvars, strict=True)}
        subst.update({pvars[p].key: call_syms[p][1] for p in params})
        # the network parameters its body reads: passed on by name (the caller reads them too)
        glob = [v for k, v in child.used.items() if k in self.global_keys]
        for v in glob:
            ctx.val[v.key] = child.val[v.key]
        for key in child.lost:
            if key in self.global_keys:
                ctx.lost.add(key)
            else:
                ctx.lose(subst.get(key))
        self._relay(child, ctx, subst)
        # the define's `if`: when its instances take both branches, the two classes become one that
        # takes every parameter and decides in __init__ (`classes.merged`)
        branch, cond = None, None
        if d is not None and len(self.branches.get(scope.define, ())) > 1 and scope.define not in self.no_merge:
            branch = self._branch_of(scope)
            conds = self._conds(d)
            taken = sorted(self.branches[scope.define])
            try:
                first = self.to_sym(conds[taken[0]], child, [])
                for var in first.vars():
                    child.used.setdefault(var.key, var)
                cond = (literal(first), _flag_name(first))
                for i, c in enumerate(conds):  # conditions no instance decides by: their values are baked in
                    if i != taken[0]:
                        child.lose(self.to_sym(c, child, []))
            except SymbolicError:
                branch = None
        # a parameter the class does not use (it shaped the structure, as a repeat count or a
        # condition, and this class is that structure) is no constructor argument
        if cond is None:
            params = [p for p in params if pvars[p].key in child.used]
        for p in params:
            default = _default_literal(defaults.get(p))
            sig.append(Param(pymap[p], self.define_types.get((scope.define, p)), default))
        if glob:
            sig.append(Param("*"))
            sig += [Param(v.name, _type_name(child.val[v.key])) for v in glob]
        model = built.model
        model.params = sig
        model.doc = f"The `{scope.define}` block of {self.file}:{d.span.line if d else scope.span.line}."
        key = "|".join(f"{p.name}:{p.annotation}={p.default}" for p in sig) + "\n" + built.key
        cls = self._group(key, built, scope.define, self.define_class[scope.define], branch=branch, cond=cond)
        # the call: input channels, then the define's arguments as written
        args: list = [ctx.code(ctx.chan.get(n, Const(self.node(n)["shape"][0]))) for n, _ in used_ch]
        positional = True
        for p in params:
            how, sym = call_syms[p]
            default = _default_literal(defaults.get(p))
            if how == "default" and default is not None:
                positional = False
                continue
            if how == "pos" and positional:
                args.append(ctx.code(sym))
            else:
                positional = False
                args.append(Kw(pymap[p], ctx.code(sym)))
        args += [Kw(v.name, ctx.code(v)) for v in glob]
        # the output channels in the caller's terms
        out = self.resolve_tensor(scope)
        out_sym = self.verified(_subst(built.out_sym, subst), ctx, self.node(out)["shape"][0])
        return Call(cls, tuple(args)), out_sym

    def _relay(self, child: _Ctx, ctx: _Ctx, subst: dict) -> None:
        """A class's assumptions in its caller's terms: kept when still symbolic, gone when they
        hold whatever the caller's parameters are (`16 * k == 16 * k`)."""
        for cond, value in child.assume:
            here = _subst(cond, subst)
            if not self.check(here, ctx, value):
                ctx.lose(here)
            else:
                ctx.rely(here, value)

    def _call_args(self, ctx: _Ctx, scope: Scope, d: A.Define | None, params: list[str]) -> dict:
        """For each define parameter: how it was given (pos / kw / default) and its symbol here
        (the expression written at the call, as the expander recorded it)."""
        out = {}
        for name in params:
            how, expr = scope.arg_exprs.get(name, ("default", None))
            value = scope.define_args[name]
            if how == "default":
                out[name] = ("default", Const(value))
                continue
            used: list = []
            try:
                sym = self.to_sym(expr, ctx, used)
            except SymbolicError:
                sym = None
            if sym is not None and self.check(sym, ctx, value):
                self._record(used, ("call", id(d), name))
                out[name] = (how, sym)
            else:
                self._record(used, "unsafe")
                out[name] = (how, Const(value))
        return out

    def anon(self, ctx: _Ctx, scope: Scope) -> tuple[Call, Sym]:
        """A block that is neither a define nor sequential: a class over the symbols it uses."""
        ext, in_names = self.inputs_of(scope)
        chvars = self._channel_vars(scope, ext, in_names, {s.name for s in ctx.expr.values() if isinstance(s, Var)})
        child = _Ctx(expr=ctx.expr, val=dict(ctx.val))
        for n, var in zip(ext, chvars, strict=True):
            child.val[var.key] = self.node(n)["shape"][0]
            child.chan[n] = var
        child.external = set(ext)
        built = self.build_class(scope, child, list(zip(ext, in_names, strict=True)), kind="block")
        own = {v.key for v in chvars}
        channels_of = {v.key: ctx.chan.get(n, Const(self.node(n)["shape"][0]))
                       for n, v in zip(ext, chvars, strict=True)}
        for key in child.lost:
            if key in channels_of:
                ctx.lose(channels_of[key])
            else:
                ctx.lost.add(key)
        self._relay(child, ctx, channels_of)
        used_ch = [(n, v) for n, v in zip(ext, chvars, strict=True) if v.key in child.used]
        free = [v for k, v in child.used.items() if k not in own]
        sig = [Param(v.name, "int") for _, v in used_ch] + [
            Param(v.name, _type_name(child.val.get(v.key))) for v in free]
        model = built.model
        model.params = sig
        label = scope.label if scope.kind == "named" else (
            "branch" if scope.kind == "branch" else f"{scope.label} block")
        model.doc = f"The {safe_text(label)} of {self.file}:{scope.span.line}."
        key = "|".join(f"{p.name}:{p.annotation}" for p in sig) + "\n" + built.key
        stem = camel(scope.label) if scope.kind == "named" else (
            "Branch" if scope.kind == "branch" else camel(scope.label) + "Block")
        cls = self._group(key, built, "\0" + stem, None, stem)
        args = [ctx.code(ctx.chan.get(n, Const(self.node(n)["shape"][0]))) for n, _ in used_ch]
        args += [ctx.code(v) for v in free]
        subst = {v.key: ctx.chan.get(n, Const(self.node(n)["shape"][0])) for n, v in zip(ext, chvars, strict=True)}
        out = self.resolve_tensor(scope)
        out_sym = self.verified(_subst(built.out_sym, subst), ctx, self.node(out)["shape"][0])
        return Call(cls, tuple(args)), out_sym

    def _group(self, key: str, built: _Built, family: str, first_name: str | None, stem: str | None = None,
               branch: int | None = None, cond=None) -> str:
        """Register a class text of a family (a define, or a kind of anonymous block); the call
        names it by a placeholder that `_name_classes` replaces by the class's name. The classes
        of a define whose instances take both branches of its `if` become one (`classes.merged`): their
        calls share one placeholder, so the blocks that call them are alike too."""
        variant = self.variants.get((family, key))
        if variant is None:
            placeholder = f"\0{family}" if branch is not None else f"\0{len(self.variants)}"
            variant = Variant(family, built.model, first_name, stem or first_name or "Block", branch, cond,
                               placeholder)
            self.variants[(family, key)] = variant
        return variant.placeholder

    def _branches_taken(self) -> dict[str, set[int]]:
        """For each define whose body is `if ... then ... else ...`: the branches its instances take."""
        out: dict[str, set[int]] = {}
        for s in self.net.root.scopes():
            if s.kind == "define" and s.module and isinstance(s.define_node.body, A.CondBody):
                b = self._branch_of(s)
                if b is not None:
                    out.setdefault(s.define, set()).add(b)
        return out

    def _conds(self, d: A.Define) -> list:
        conds, body = [], d.body
        while isinstance(body, A.CondBody):
            conds.append(body.cond)
            body = body.orelse
        return conds

    def _branch_of(self, scope: Scope) -> int | None:
        ctx = _Ctx(expr={k: Const(v) for k, v in scope.define_args.items()}, val={}, symbolic_globals=False)
        for i, c in enumerate(self._conds(scope.define_node)):
            try:
                v = self.to_sym(c, ctx, [])
            except SymbolicError:
                return None
            if not isinstance(v, Const):
                return None
            if v.value is True:
                return i
        return len(self._conds(scope.define_node))

    # ---- forward
    def _names_of_net(self) -> NetNames:
        # a forward's variables avoid every module-level name it may read (a helper, a class), not its input `x`
        module_level = (self.global_names.reserved - {"x"}) | self.global_names.taken
        return NetNames(taken=frozenset(module_level), aux_outputs=self.net.aux_outputs,
                        shape_of=lambda n: self.node(n)["shape"], outputs_name=self.outputs_name,
                        sample_columns=self.sample_columns)

    def _joins(self) -> bool:
        """Whether the network has FractalNet joins with global drop-path over several columns."""
        for n in self.net.op_nodes():
            a = self.node(n)["args"]
            if self.node(n)["op"] == "join" and a.get("global_droppath") and max(a.get("columns") or (0,)) > 0:
                return True
        return False

# ------------------------------------------------------------------------ small helpers


def _depth_first_slices(root: Scope) -> tuple[list[int], dict[int, tuple[int, int]]]:
    """The op nodes under `root` in order (as `Scope.nodes`), and for each scope (by id) the slice of
    that list that holds its own nodes; one walk with an explicit stack."""
    order: list[int] = []
    slices: dict[int, tuple[int, int]] = {}
    stack: list = [root]
    while stack:
        x = stack.pop()
        if isinstance(x, tuple):  # leaving a scope
            slices[id(x[0])] = (x[1], len(order))
        elif isinstance(x, Scope):
            stack.append((x, len(order)))
            stack.extend(reversed(x.children))
        else:
            order.append(x)
    return order, slices


_WORDS = {"==": "is", "!=": "is_not", "<": "lt", "<=": "le", ">": "gt", ">=": "ge", "and": "and", "or": "or",
          "not": "not"}


def _flag_name(cond: Sym) -> str:
    """An attribute name that says a condition: `t == 1` -> t_is_1 (else `first_case`)."""
    words = []
    for tok in re.findall(r"[A-Za-z_][A-Za-z0-9_]*|\d+|==|!=|<=|>=|<|>", literal(cond)):
        words.append(_WORDS.get(tok, tok))
    name = "_".join(words)
    return name if name.isidentifier() and len(name) <= 32 and not re.search(r"[()+*/%-]", literal(cond)) \
        else "first_case"


class SymbolicArith:
    """`evaluate`'s arithmetic over symbols: the language's rules (exact division, errors) decided
    with the values the variables have in the instance being lowered (`val`)."""

    def __init__(self, val: dict):
        self.val = val

    def _value(self, v):
        return v.eval(self.val) if isinstance(v, Sym) else v

    def add(self, a, b):
        return _bin("+", a, b)

    def sub(self, a, b):
        return _bin("-", a, b)

    def mul(self, a, b):
        return _bin("*", a, b)

    def truediv(self, a, b):
        return _bin("/", a, b)

    def floordiv(self, a, b):
        return _bin("//", a, b)

    def mod(self, a, b):
        return _bin("%", a, b)

    def neg(self, a):
        return -as_sym(a)

    def exact_div(self, a, b) -> bool:
        return CONCRETE.exact_div(self._value(a), self._value(b))

    def is_number(self, v) -> bool:
        return CONCRETE.is_number(self._value(v))

    def is_zero(self, v) -> bool:
        return self._value(v) == 0

    def too_large(self, v) -> bool:
        return CONCRETE.too_large(self._value(v))

    def call(self, name: str, args: list):
        """An integer helper of constants is its value; of a class's parameters, it has no symbol
        (the lowering then writes the literal)."""
        if any(isinstance(a, Sym) and a.vars() for a in args):
            raise SymbolicError(f"{name}(...) of a parameter")
        return Const(CONCRETE.call(name, [self._value(a) for a in args]))

    def compare(self, op: str, a, b):
        return compare(op, a, b)

    def logic(self, op: str, left, right, e):
        return negate(left) if op == "not" else compare(op, left, right())


def _contains(big: Sym, small) -> bool:
    if small is None:
        return False
    keys = {v.key for v in big.vars()} if isinstance(big, Sym) else set()
    return bool(keys) and all(v.key in keys for v in small.vars())


def _subst(sym: Sym, mapping: dict) -> Sym:
    if isinstance(sym, Var):
        return mapping.get(sym.key, sym)
    if isinstance(sym, Bin):
        left, right = _subst(sym.left, mapping), _subst(sym.right, mapping)
        return ne(left, right) if sym.op == "!=" else _bin(sym.op, left, right)
    if isinstance(sym, AnyOf):
        return any_of(*(_subst(i, mapping) for i in sym.items))
    if isinstance(sym, Not):
        return negate(_subst(sym.operand, mapping))
    return sym


def _default_literal(e) -> str | None:
    if isinstance(e, A.Num):
        return literal(e.value)
    if isinstance(e, A.Str):
        return literal(e.value)
    if isinstance(e, A.Name) and e.id in ("true", "false"):
        return literal(e.id == "true")
    if isinstance(e, A.Neg) and isinstance(e.operand, A.Num):
        return literal(-e.operand.value)
    return None


def _type_name(v) -> str | None:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float, str)):
        return type(v).__name__
    return None


def _inline(fmt: str, vs: list[str], args: dict) -> str:
    return fmt.format(*vs, all=", ".join(vs), sum=" + ".join(vs), prod=" * ".join(vs), n=len(vs), a=args)


# ------------------------------------------------------------------------ entry points


def lower(report) -> CodeModel:
    """The code model of a checked network (torch-free)."""
    no_merge: frozenset[str] = frozenset()
    while True:
        try:
            return Lowerer(report, no_merge=no_merge).run()
        except NoMerge as e:  # that define keeps a class per way its instances take
            no_merge |= {e.args[0]}
