"""Limits: the resource limits of one run, and a lower bound on the layers an expansion makes.

`Limits` holds the limits (layers, repeat count, define recursion, include nesting); the command
line and the environment (`NETDSL_MAX_LAYERS`, ...) set them. `refuse_oversized` measures what the
statements of a network will expand to before anything is built, so that an expansion bound to
exceed the layer limit fails at once instead of after minutes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from . import ast as A
from .errors import NetdslError, NetdslLimitError, UsageError
from .evaluate import whole
from .ir import Env

# Scopes (define instances, blocks, branches, named stages) nested inside one another, whatever
# `max_depth` allows: every depth-first pass over the scope tree stays far below the recursion
# limit of `ir.deep_recursion`, and the error comes at the expansion, located.
MAX_SCOPE_NESTING = 2_000

# Work of an expansion: items expanded (layers, define calls, blocks, repeats, `id`), allowed per
# layer of `max_layers`. Layer-free work (`id`, define calls that make no layers) is bounded too.
STEPS_PER_LAYER = 8


@dataclass(slots=True)
class Limits:
    """Resource limits of one run (the defaults, or `from_env`; the command line sets them too)."""

    max_layers: int = 200_000
    max_repeat: int = 100_000
    max_depth: int = 64  # define calls within define calls (recursion)
    max_include_depth: int = 16

    @property
    def max_steps(self) -> int:
        return STEPS_PER_LAYER * self.max_layers + 1_000

    @staticmethod
    def from_env() -> Limits:
        lim = Limits()
        for f in ("max_layers", "max_repeat", "max_depth", "max_include_depth"):
            name = "NETDSL_" + f.upper()
            v = os.environ.get(name)
            if v is None or v == "":
                continue
            if not v.strip().isdigit() or int(v) < 1:
                raise UsageError(f"{name}={v[:40]!s}: expected a whole number >= 1")
            lim.set(f, int(v), name + "=")
        return lim

    def set(self, field: str, value: int, given_as: str) -> None:
        if field == "max_depth" and value > MAX_SCOPE_NESTING:
            raise UsageError(f"{given_as}{value}: define calls nest at most {MAX_SCOPE_NESTING:,} deep "
                             "(blocks included: a fixed bound of the passes that walk the network)")
        setattr(self, field, value)


def too_many_steps(limits: Limits, span, trail=()) -> NetdslLimitError:
    return NetdslLimitError(
        f"the expansion takes more than {limits.max_steps:,} steps (define calls, blocks, repeats and layers)",
        span=span,
        trail=trail,
        hint=f"the limit is {STEPS_PER_LAYER} steps per layer allowed; raise it with --max-layers "
             "(or NETDSL_MAX_LAYERS) if this is intended",
    )


def too_many_layers(limits: Limits, total: int, span, trail=()) -> NetdslLimitError:
    return NetdslLimitError(
        f"the network expands to at least {total:,} layers; the limit is {limits.max_layers:,}",
        span=span,
        trail=trail,
        hint="raise the limit with --max-layers (or NETDSL_MAX_LAYERS) if this is intended",
    )


def expr_names(e) -> set[str]:
    """The names an expression reads (iteratively: expressions may nest deeply)."""
    out: set[str] = set()
    stack = [e]
    while stack:
        x = stack.pop()
        if isinstance(x, A.Name):
            out.add(x.id)
        elif isinstance(x, (A.BinOp, A.Compare, A.BoolOp)):
            stack += [c for c in (x.left, x.right) if c is not None]
        elif isinstance(x, A.Neg):
            stack.append(x.operand)
        elif isinstance(x, A.Func):
            stack += x.args
    return out


def _walk_items(body):
    """Every item of a define body (conditions' chains, blocks, groups, repeats), with the
    conditions and repeat counts met on the way: yields ("item", item) and ("count", expr)."""
    stack = [body]
    while stack:
        x = stack.pop()
        if isinstance(x, A.CondBody):
            yield "count", x.cond
            stack += [x.then, x.orelse]
        elif isinstance(x, A.Chain):
            stack += x.items
        elif isinstance(x, (A.Statement, A.Assign)):
            stack.append(x.chain)
        elif isinstance(x, A.Group):
            stack += x.body
        elif isinstance(x, A.Named):
            stack.append(x.item)
        elif isinstance(x, A.Block):
            stack += [i for br in x.branches for i in br]
        elif isinstance(x, A.Repeat):
            yield "count", x.count
            stack.append(x.item)
        elif isinstance(x, (A.Call, A.Layer)):
            yield "item", x


def relevant_params(defines: dict) -> dict[str, frozenset[str]]:
    """For each define, the parameters whose values can change how many items its expansion makes:
    those read by a condition or a repeat count, or passed (in an expression) to such a parameter
    of another define or of its own default. The others (channels, strides, ...) leave the count
    alone, so the Sizer measures a call once per value of its relevant parameters: recursion such as
    `f(n - 1, 2 * k) > f(n - 1, 2 * k + 1)` is measured in n steps, not 2**n."""
    params = {name: [p.name for p in info.node.params] for name, info in defines.items()}
    rel: dict[str, set[str]] = {name: set() for name in defines}
    edges: list[tuple[str, str, str, set[str]]] = []  # (define, callee, callee's parameter, names passed)
    for name, info in defines.items():
        own = set(params[name])
        for p in info.node.params:
            if p.default is not None:
                edges.append((name, name, p.name, expr_names(p.default) & own))
        for kind, x in _walk_items(info.node.body):
            if kind == "count":
                rel[name] |= expr_names(x) & own
            elif isinstance(x, A.Call) and x.name in defines:
                callee = params[x.name]
                for i, ca in enumerate(x.args):
                    target = ca.name if ca.name is not None else (callee[i] if i < len(callee) else None)
                    if target is not None:
                        edges.append((name, x.name, target, expr_names(ca.value) & own))
    changed = True
    while changed:
        changed = False
        for name, callee, target, used in edges:
            if target in rel[callee] and not used <= rel[name]:
                rel[name] |= used
                changed = True
    return {name: frozenset(v) for name, v in rel.items()}


class Sizer:
    """Lower bounds on the layers and the steps a piece of AST expands to, without building it.

    Memoised per (define, arguments), so exponential recursion (`d(n) = d(n-1) > d(n-1)`) and
    nested repeats are measured in microseconds. Every subtotal is checked as soon as it is known,
    and the Sizer's own work is counted: recursion with distinct arguments at every call
    (`f(n - 1, 2 * k) > f(n - 1, 2 * k + 1)`) is refused after at most `max_steps` visits, as the
    expansion would be. Anything unusual (an error) counts as nothing: the expander reports it.
    """

    def __init__(self, b):  # the expander: its bind_call, eval and limits
        self.b = b
        self.limits: Limits = b.limits
        self.memo: dict[tuple, tuple[int, int]] = {}
        self.relevant: dict[int, dict[str, frozenset[str]]] = {}  # per defines table (id)
        self.depth = 0
        self.work = 0
        self.nesting = 0
        self.span = None  # the statement measured, where a limit error points
        self.max_layers = self.limits.max_layers
        self.max_steps = self.limits.max_steps

    def check(self, layers: int, steps: int) -> tuple[int, int]:
        if layers > self.max_layers:
            raise too_many_layers(self.limits, layers, self.span)
        if steps > self.max_steps:
            raise too_many_steps(self.limits, self.span)
        return layers, steps

    def stmts(self, body, env: Env) -> tuple[int, int]:
        env = Env(env.vars, dict(env.tensors), env.defaults, env.defines)  # the group's stage names stay inside
        layers = steps = 0
        for st in body:
            a, b = self.stmt(st, env)
            layers, steps = self.check(layers + a, steps + b)
        return layers, steps

    def stmt(self, st, env: Env) -> tuple[int, int]:
        if not isinstance(st, (A.Statement, A.Assign)):
            return 0, 0
        size = self.items(st.chain.items, env)
        if isinstance(st, A.Assign):
            env.tensors[st.name] = -1  # a tensor for the statements after it (`f(a, 40)`)
        return size

    def items(self, items, env: Env) -> tuple[int, int]:
        layers = steps = 0
        tensors, defines = env.tensors, env.defines
        max_layers, max_steps = self.max_layers, self.max_steps
        for it in items:
            if type(it) is A.Layer and it.op not in defines and self.nesting < MAX_SCOPE_NESTING:
                # what `item` gives a layer word that calls no define: one step, one layer or none
                self.work += 1
                if self.work > max_steps:
                    raise too_many_steps(self.limits, self.span)
                if it.op not in tensors and it.op not in ("id", "identity"):
                    layers += 1
                steps += 1
            else:
                a, b = self.item(it, env)
                layers += a
                steps += b
            if layers > max_layers:
                raise too_many_layers(self.limits, layers, self.span)
            if steps > max_steps:
                raise too_many_steps(self.limits, self.span)
        return layers, steps

    def item(self, it, env: Env) -> tuple[int, int]:
        """(layers, steps) of one item: the item itself is one step."""
        self.work += 1
        if self.work > self.max_steps:
            raise too_many_steps(self.limits, self.span)
        if self.nesting >= MAX_SCOPE_NESTING:
            return 0, 1  # the expander refuses this nesting, located
        self.nesting += 1
        try:
            layers, steps = self._inner(it, env)
        except NetdslLimitError:
            raise
        except (NetdslError, TypeError):
            return 0, 1
        finally:
            self.nesting -= 1
        return self.check(layers, steps + 1)

    def _inner(self, it, env: Env) -> tuple[int, int]:
        if isinstance(it, A.Repeat):
            n = whole(self.b.eval(it.count, env))
            if not (isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= self.limits.max_repeat):
                return 0, 0  # a bad count is the expander's to report
            if it.var is None:
                layers, steps = self.item(it.item, env)
                return layers * n, steps * n
            return self.indexed(it, n, env)
        if isinstance(it, A.Block):
            return self.items([i for br in it.branches for i in br], env)
        if isinstance(it, A.Group):
            return self.stmts(it.body, env)
        if isinstance(it, A.Named):
            return self.item(it.item, env)
        if isinstance(it, A.Shorthand):
            return 1, 0
        name = it.op if isinstance(it, A.Layer) else it.name
        if name in env.tensors or name in ("id", "identity"):
            return 0, 0
        info = env.defines.get(name)
        if info is None:
            return 1, 0
        return self.call(info, () if isinstance(it, A.Layer) else it.args, it.span, env)

    def indexed(self, it: A.Repeat, n: int, env: Env) -> tuple[int, int]:
        """A repeat whose body sees its index: each repetition is measured with its own index."""
        layers = steps = 0
        for k in range(n):
            sub = Env({**env.vars, it.var.id: k}, env.tensors, env.defaults, env.defines)
            a, b = self.item(it.item, sub)
            layers, steps = self.check(layers + a, steps + b)
        return layers, steps

    def call(self, info, args, span, env: Env) -> tuple[int, int]:
        bound, tensors, callee, _ = self.b.bind_call(info, args, span, env)
        table = self.relevant.get(id(env.defines))
        if table is None:
            table = self.relevant[id(env.defines)] = relevant_params(env.defines)
        rel = table.get(info.node.name, frozenset())
        key = (id(info.node), tuple(sorted((k, repr(v)) for k, v in bound.items() if k in rel and k not in tensors)))
        if key in self.memo:
            return self.memo[key]
        if self.depth >= self.limits.max_depth:
            return 0, 0
        self.depth += 1
        self.memo[key] = (0, 0)  # a cycle in progress counts as nothing
        for k in tensors:
            callee.pop(k, None)
        denv = Env(callee, dict.fromkeys(tensors, -1), {}, env.defines)
        body = info.node.body
        while isinstance(body, A.CondBody):
            c = self.b.eval(body.cond, denv)
            body = body.then if c is True else body.orelse
        try:
            self.memo[key] = self.items(body.items, denv)
        finally:
            self.depth -= 1
        return self.memo[key]


def refuse_oversized(b, stmts, env: Env) -> None:
    """Fail fast when the expansion is bound to exceed the layer or the step limit."""
    sizer = Sizer(b)
    env = Env(env.vars, dict(env.tensors), env.defaults, env.defines)
    layers = steps = 0
    for st in stmts:
        sizer.span = st.span
        a, c = sizer.stmt(st, env)
        layers, steps = sizer.check(layers + a, steps + c)
