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
from .errors import NetdslError, NetdslLimitError
from .ir import Env


@dataclass(slots=True)
class Limits:
    """Resource limits of one run (the defaults, or `from_env`; the command line sets them too)."""

    max_layers: int = 200_000
    max_repeat: int = 100_000
    max_depth: int = 64  # define calls within define calls (recursion)
    max_include_depth: int = 16

    @staticmethod
    def from_env() -> Limits:
        lim = Limits()
        for f in ("max_layers", "max_repeat", "max_depth", "max_include_depth"):
            v = os.environ.get("NETDSL_" + f.upper())
            if v and v.isdigit():
                setattr(lim, f, int(v))
        return lim


class Sizer:
    """A lower bound on the number of layers a piece of AST expands to, without building it.

    Memoised per (define, arguments), so exponential recursion (`d(n) = d(n-1) > d(n-1)`) and
    nested repeats are measured in microseconds; the expansion is refused before it starts.
    Anything unusual (an error, a tensor argument) counts as 0: the expander reports it.
    """

    def __init__(self, b):  # the expander: its bind_call, eval and limits
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


def refuse_oversized(b, stmts, env: Env) -> None:
    """Fail fast when the expansion is bound to exceed the layer limit."""
    total = 0
    sizer = Sizer(b)
    for st in stmts:
        total += sizer.stmt(st, env)
        if total > b.limits.max_layers:
            raise NetdslLimitError(
                f"the network expands to at least {total:,} layers; the limit is {b.limits.max_layers:,}",
                span=st.span,
                hint="raise the limit with --max-layers (or NETDSL_MAX_LAYERS) if this is intended",
            )

