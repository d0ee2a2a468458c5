"""IR: the types every stage after parsing shares, and small helpers.

* `Net` -- a network as expanded (`expand`): `net.graph`, a `Graph` (the part of networkx's
  DiGraph interface the stages use, without its per-node cost) whose nodes are ops.
  Node attributes: `op` (registry name), `args` (evaluated arguments), `arg_src` (the AST
  expression of each written argument, for generated classes), `span` (where it was written),
  `scope` (the block instance it belongs to), `inputs` (ordered predecessor ids; edges mirror
  them). Later stages add `shape`, `in_shapes` (`shapes`), `name`, `path`, `trainable`
  (`layout`), `params`, `macs` (`cost`). `net.sources` holds the text of every file the program
  was read from.
* `Scope` -- the tree of block instances under `net.root`: network, define instances, blocks,
  branches and named stages, so that every node knows which block instance and repeat it came
  from. `expand` records what each instance was made of; `layout` decides its module and names.
* `DefineInfo`, `Env` -- the environment expansion reads: the defines and defaults that `link`
  gathered from a file and its includes, and the values and tensors in scope.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field

from . import ast as A
from .errors import NetdslNameError, Span
from .names import RESERVED
from .sources import SourceMap

# Weight initialisation schemes `init NAME` may name (applied by the PyTorch back end).
INIT_SCHEMES = ("torch", "kaiming", "vgg", "googlenet")

Value = int | float | bool | str

# ------------------------------------------------------------------------ the graph and its scopes


class NodeMap(dict):
    """`graph.nodes`: node id -> attribute dict, in creation order; `nodes(data="span")` as networkx's."""

    __slots__ = ()

    def __call__(self, data=False, default=None):
        if data is False:
            return list(self)
        if data is True:
            return list(self.items())
        return [(n, d.get(data, default)) for n, d in self.items()]


class Graph:
    """The op graph: one attribute dict per node; the edges are the nodes' `inputs` (in order).

    Only the nodes are stored: an edge adds nothing to what `inputs` says, and the successors
    (who reads a node's output: `successors`, `out_degree`) are indexed on first use and then kept
    up to date, so that a stage that never asks (shapes, layout, cost) pays nothing for them.
    Successors come in the order networkx gives (edges in creation order, each pair once)."""

    __slots__ = ("nodes", "_succ")

    def __init__(self):
        self.nodes: NodeMap = NodeMap()
        self._succ: dict[int, dict[int, None]] | None = None

    def add_node(self, nid: int, attrs: dict) -> None:
        """A new node with its attribute dict (kept, not copied); `attrs["inputs"]` are its edges."""
        self.nodes[nid] = attrs
        succ = self._succ
        if succ is not None:
            succ[nid] = {}
            for i in attrs["inputs"]:
                succ[i][nid] = None

    def remove_node(self, nid: int) -> None:
        """Drop a node that no other node reads (expand merges a branch's unused last join away)."""
        attrs = self.nodes.pop(nid)
        succ = self._succ
        if succ is not None:
            for i in attrs["inputs"]:
                if i in succ:
                    succ[i].pop(nid, None)
            del succ[nid]

    def _index(self) -> dict[int, dict[int, None]]:
        succ = self._succ
        if succ is None:
            succ = self._succ = {n: {} for n in self.nodes}
            for n, attrs in self.nodes.items():
                for i in attrs["inputs"]:
                    succ[i][n] = None
        return succ

    def successors(self, nid: int):
        return iter(self._index()[nid])

    def out_degree(self, nid: int) -> int:
        return len(self._index()[nid])

    def predecessors(self, nid: int):
        return iter(dict.fromkeys(self.nodes[nid]["inputs"]))

    def in_degree(self, nid: int) -> int:
        return len(set(self.nodes[nid]["inputs"]))

    def number_of_nodes(self) -> int:
        return len(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    def __iter__(self):
        return iter(self.nodes)

    def __contains__(self, nid) -> bool:
        return nid in self.nodes


@dataclass(eq=False, slots=True)
class Scope:
    """A block instance in the expansion hierarchy."""

    kind: str  # network | define | block | branch | named
    label: str  # define / block kind / stage name / "branch 2"
    parent: Scope | None
    span: Span
    index: int | None = None  # 1-based position among repeats
    repeat: A.Repeat | None = None  # the repeat (`x n`, `* n`) it is one repetition of
    level: int = 0  # how deeply it nests: the network is 0 (limited by limits.MAX_SCOPE_NESTING)
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
    output: int | None = None  # None when a join block merged it away (see expand.Expander._flat_join)
    inline: bool = False  # inside a join block: no module of its own, its layers join the enclosing one
    at_name: bool = False  # a named scope from `item @name`: names a module, binds no tensor
    flat: bool = False  # a define call written `...f(...)`: no module of its own, its layers join the enclosing one
    # set by layout.assign_names
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
        """This scope and every scope below it, depth first, in order (an explicit stack: scopes nest
        as deeply as the limits allow)."""
        stack: list[Scope] = [self]
        while stack:
            s = stack.pop()
            yield s
            stack.extend(ch for ch in reversed(s.children) if isinstance(ch, Scope))

    def nodes(self) -> Iterable[int]:
        """The op nodes below this scope, in order."""
        stack: list = list(reversed(self.children))
        while stack:
            ch = stack.pop()
            if isinstance(ch, Scope):
                stack.extend(reversed(ch.children))
            else:
                yield ch


@dataclass(eq=False, slots=True)
class Net:
    name: str
    file: str
    graph: Graph
    root: Scope
    input_node: int
    output_node: int
    input_shape: tuple[int, ...]
    params: dict  # network parameters, as evaluated
    # train-only outputs (`aux name = ...`) in the order a training forward returns them after the
    # main output: the last declared (deepest) first, as torchvision's GoogLeNetOutputs(logits,
    # aux_logits2, aux_logits1)
    aux_outputs: dict[str, int] = field(default_factory=dict)
    init: str = "torch"
    frozen: list[tuple[str, Span]] = field(default_factory=list)
    frozen_except: list[str] = field(default_factory=list)
    # stages of the base network that this one replaces (`replace NAME = ...`), with where each was
    # written: a checkpoint of the base need not fit them (see `checkpoint`)
    replaced: dict[str, Span] = field(default_factory=dict)
    sources: SourceMap = field(default_factory=SourceMap)  # the text of every file read, by display name
    programs: tuple = ()  # the AST of every file it was built from (ast.Program), its own first

    def node(self, nid: int) -> dict:
        return self.graph.nodes[nid]

    def op_nodes(self) -> list[int]:
        """Every op node in creation (= topological) order, the input excluded."""
        return [n for n in self.graph.nodes if n != self.input_node]


# ------------------------------------------------------------------------ the environment of expansion


@dataclass(eq=False, slots=True)
class DefineInfo:
    node: A.Define
    defaults: dict[str, list[A.Arg]]  # the lexical defaults of the file it was written in
    # the network parameters its body reads: those of the base network for a define written in a
    # base file (or a file it includes); None: the program's own (`Linked.globals`)
    params: dict[str, Value] | None = None
    defines: dict[str, DefineInfo] | None = None  # the defines its body calls, for the same (None: the caller's)


@dataclass(eq=False, slots=True)
class Env:
    vars: dict[str, Value]
    tensors: dict[str, int]
    defaults: dict[str, list[A.Arg]]
    defines: dict[str, DefineInfo]
    in_block: bool = False


# ------------------------------------------------------------------------ shared helpers


# Names that cannot be attributes of a generated nn.Module.


def check_identifier(name: str, span: Span, what: str = "a layer") -> None:
    if not name.isidentifier() or name in RESERVED or name.startswith("_"):
        raise NetdslNameError(
            f"`{name}` cannot name {what}: it is reserved in generated PyTorch code",
            span=span,
            hint="pick another name (e.g. `" + name.strip("_") + "_1`)",
        )


def check_module_name(name: str, span: Span) -> None:
    """A module name written `@name`: a Python name, an index (`@0`) or a quoted name (`@"block1-0"`)."""
    if name.isdigit():
        return
    bad = None
    if not name:
        bad = "is empty"
    elif "." in name:
        bad = "contains `.` (PyTorch separates module paths with dots)"
    elif name.isidentifier() and (name in RESERVED or name.startswith("_")):
        bad = "is reserved in generated PyTorch code (an nn.Module attribute or a Python word)"
    if bad is not None:
        raise NetdslNameError(
            f"the module name `{name}` {bad}",
            span=span,
            expected="a name like @conv1, an index like @0, or a quoted name like @\"block1-0\"",
            found=f"@{name}" if name.isidentifier() else f'@"{name}"',
            hint="pick another name; PyTorch keys are paths of module names joined by `.`",
        )


@contextmanager
def deep_recursion(limit: int = 20_000):
    """Room for the recursion of deeply nested defines and expressions (restored afterwards)."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, limit))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


@contextmanager
def gc_paused():
    """Cyclic garbage collection off while a pass builds many small objects that all stay alive
    (the IR, the code model): a collection would only rescan them, and a full one costs time in
    proportion to everything alive (on 10,000-layer networks a third of the front end's time)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
