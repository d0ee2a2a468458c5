"""Diagram: the block structure of a checked network, as boxes and frames to draw.

Built from the IR's `Scope` tree, not from the op graph alone: down to `depth`, named stages and
define instances are levels (a level within the depth is a frame holding its members; one at the
depth is a single box with its totals); blocks and branches (`residual<...>`, `inception<...>`)
are not levels: their layers sit in the enclosing frame, the branches side by side, joined by the
merge. Consecutive instances of the same define call that feed one another (`bottleneck(64) x3`)
are one item with a count; expanded, the frame shows the first instance. Edges come from the op
graph, mapped onto the items of each frame; a frame's members take what enters it from its entry
port `IN` and hand what leaves it to its exit port `OUT`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import ops
from . import report as R
from .cost import Report, Totals, scope_totals
from .ir import Net, Scope

IN, OUT = "in", "out"  # the ports of a frame, as edge ends


@dataclass
class Item:
    """A box (a layer, or a block drawn collapsed) or a frame (an expanded block) of the diagram."""

    name: str  # module path, or the op / block name
    op: str  # `conv 3x3/1 x64`, `bottleneck(64)`, `stage`
    kind: str  # the op's kind (conv, pool, ...) or `block`
    shape: tuple[int, ...] | None
    params: int
    macs: int
    nodes: frozenset  # op nodes it stands for (every instance of a repeat)
    count: int = 1  # repeats collapsed into it
    aux: bool = False  # a train-time side output
    items: list[Item] | None = None  # a frame's members; None for a box
    edges: list[tuple] = field(default_factory=list)  # a frame's edges: (src, dst), indices or IN / OUT

    @property
    def is_frame(self) -> bool:
        return self.items is not None

    def lines(self) -> list[str]:
        """The text of a box (or of a frame's header), first line the title."""
        op = f"{self.op} ×{self.count}" if self.count > 1 else self.op
        title = self.name if self.name != self.op else op
        out = [title + (" (train only)" if self.aux else "")]
        if op != title:
            out.append(op)
        figures = []
        if self.shape:
            figures.append(R._fmt_shape(self.shape))
        cost = [f"{R.human(n)} {what}" for n, what in ((self.params, "params"), (self.macs, "MACs")) if n]
        if cost:
            figures.append(", ".join(cost))
        if self.is_frame:
            if self.count > 1:
                figures.append(f"all {self.count}; inside: the first")
            return [" · ".join([out[0], *out[1:]]), " · ".join(figures)] if figures else [" · ".join(out)]
        return out + figures


@dataclass
class Diagram:
    name: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    totals: Totals
    root: Item
    depth: int


def _transparent(scope: Scope) -> bool:
    return scope.kind in ("block", "branch") or scope.inline


def _target(mem):
    """A named stage of one layer or block is that layer or block (as in the report)."""
    while isinstance(mem, Scope) and mem.collapsed_to is not None:
        mem = mem.collapsed_to
    return mem


def _members(scope: Scope) -> list:
    """The levels and layers directly in a scope, through blocks and branches."""
    out = []
    for ch in scope.children:
        if isinstance(ch, Scope) and _transparent(ch):
            out.extend(_members(ch))
        else:
            out.append(_target(ch))
    return out


def _clear_aux(items: list[Item]) -> None:
    for it in items:
        it.aux = False
        _clear_aux(it.items or [])


def _repeats(net: Net, members: list) -> list[list]:
    """Group consecutive instances of one define call that feed one another."""
    groups: list[list] = []
    for m in members:
        prev = groups[-1][-1] if groups else None
        if (isinstance(m, Scope) and isinstance(prev, Scope) and m.kind == prev.kind == "define"
                and m.call == prev.call and m.input == prev.output and prev.output is not None):
            groups[-1].append(m)
        else:
            groups.append([m])
    return groups


class _Builder:
    def __init__(self, report: Report, depth: int):
        self.net = report.net
        self.depth = depth

    def node_item(self, nid: int) -> Item:
        n = self.net.node(nid)
        spec = ops.REGISTRY[n["op"]]
        op = spec.text(n["args"], n["in_shapes"]) if n.get("shape") else spec.name
        leaf = (n.get("path") or "").rsplit(".", 1)[-1]
        name = leaf if leaf and not leaf.isdigit() else op  # `0` in a sequential stage says nothing
        return Item(name, op, spec.kind, n.get("shape"), n["params"], n["macs"], frozenset([nid]),
                    aux=n.get("aux", False))

    def scope_item(self, group: list[Scope], level: int) -> Item:
        first, last = group[0], group[-1]
        nodes = frozenset(n for s in group for n in s.nodes())
        t = Totals()
        for s in group:
            t.params += scope_totals(self.net, s).params
            t.macs += scope_totals(self.net, s).macs
        shape = self.net.node(last.output).get("shape") if last.output is not None else None
        name = first.path or first.label
        op = R._scope_op(first)
        aux = any(self.net.node(n).get("aux") for n in nodes)
        item = Item(name, op, "block", shape, t.params, t.macs, nodes, len(group), aux)
        if level < self.depth:
            item.items, item.edges = self.frame(first, level + 1, frozenset(first.nodes()))
            if aux:  # the frame says it once
                _clear_aux(item.items)
        return item

    def frame(self, scope: Scope, level: int, inside: frozenset) -> tuple[list[Item], list[tuple]]:
        items = []
        for group in _repeats(self.net, _members(scope)):
            if isinstance(group[0], Scope):
                items.append(self.scope_item(group, level))
            else:
                items.extend(self.node_item(n) for n in group)
        return items, self.edges(items, inside, scope.output)

    def edges(self, items: list[Item], inside: frozenset, output: int | None) -> list[tuple]:
        where = {n: i for i, it in enumerate(items) for n in it.nodes}
        g = self.net.graph
        out: set[tuple] = set()
        for i, it in enumerate(items):
            for n in it.nodes:
                for p in self.net.node(n)["inputs"]:
                    j = where.get(p) if p in inside else None
                    if j is None:
                        out.add((IN, i))
                    elif j != i:
                        out.add((j, i))
                if n == output or any(s not in inside for s in g.successors(n)):
                    out.add((i, OUT))
        return sorted(out, key=lambda e: tuple((0, x, "") if isinstance(x, int) else (1, 0, x) for x in e))


def build(report: Report, depth: int = 2) -> Diagram:
    """The diagram of a checked network, levels expanded down to `depth` (at least 1)."""
    net = report.net
    b = _Builder(report, max(depth, 1))
    items, edges = b.frame(net.root, 1, frozenset(net.root.nodes()))
    items.insert(0, Item("input", "input", "input", net.input_shape, 0, 0, frozenset([net.input_node])))
    edges = [((a + 1 if a != IN else 0), (c + 1 if c != OUT else OUT)) for a, c in edges]
    edges = sorted({(a, c) for a, c in edges if c != OUT and a != c}, key=lambda e: (e[0], e[1]))
    t = report.total
    root = Item(net.name, "network", "block", net.node(net.output_node)["shape"], t.params, t.macs,
                frozenset(net.root.nodes()), items=items, edges=edges)
    return Diagram(net.name, net.input_shape, net.node(net.output_node)["shape"], t, root, depth)
