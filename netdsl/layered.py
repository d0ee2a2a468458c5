"""A layered (Sugiyama-style) layout of one frame of a diagram, in abstract coordinates.

Coordinates are (r, c): r along the flow (down for TB, right for LR), c across it. Each node has
an extent along both axes and the cross offsets of its entry and exit (a frame's ports need not be
at its middle). The ports of the frame itself, `IN` and `OUT`, are nodes of no size on the first
and last rank. Steps: ranks by longest path; a chain of dummy nodes for every edge longer than one
rank; order within ranks by the barycentre of the predecessors (ties keep creation order, so that
branches stay in the order they are written); cross positions by alternate sweeps that pull each
node towards its neighbours while keeping the order and the gaps (the mean of a left-packed and a
right-packed placement satisfies both). Deterministic: no randomness, no dict-order dependence.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

IN, OUT = "in", "out"
RANK_GAP = 30
CROSS_GAP = 16
DUMMY = 10  # the cross extent of an edge passing a rank


@dataclass
class Node:
    r_ext: float
    c_ext: float
    entry: float  # cross offset of where edges enter, from the node's cross start
    exit: float


@dataclass
class Layout:
    pos: dict  # node (index, IN, OUT) -> (r, c) of its start corner
    routes: list  # per input edge: the points (r, c) it passes, start to end
    r_ext: float
    c_ext: float


def _ranks(ids: list, preds: dict, has_in: bool) -> dict:
    rank = {}
    for v in ids:  # ids are in topological (creation) order
        ps = [rank[p] for p in preds[v] if p in rank]
        rank[v] = 1 + max(ps) if ps else (1 if has_in and v != IN else 0)
    return rank


def _topological(nodes: list, edges: list) -> list:
    """Kahn's order, smallest creation index first (IN first, OUT last)."""
    indeg = {v: 0 for v in nodes}
    succ = {v: [] for v in nodes}
    for u, v in edges:
        indeg[v] += 1
        succ[u].append(v)
    key = {v: i for i, v in enumerate(nodes)}
    ready = [key[v] for v in nodes if indeg[v] == 0]  # a heap of creation indices
    heapq.heapify(ready)
    out = []
    while ready:
        v = nodes[heapq.heappop(ready)]
        out.append(v)
        for w in succ[v]:
            indeg[w] -= 1
            if indeg[w] == 0:
                heapq.heappush(ready, key[w])
    placed = set(out)
    return out + [v for v in nodes if v not in placed]  # a cycle cannot happen; be safe anyway


def _pack(order: list, want: dict, size: dict, main: set) -> dict:
    """Centres as near `want` as the order and gaps allow: a node of the main path where it wants
    to be and the others pushed aside; else the mean of a left and a right packing."""
    def sep(a, b):
        return (size[a] + size[b]) / 2 + (CROSS_GAP if size[a] > DUMMY and size[b] > DUMMY else CROSS_GAP / 2)

    pinned = next((i for i, v in enumerate(order) if v in main), None)
    left, right = {}, {}
    for i, v in enumerate(order):
        left[v] = want[v] if i == 0 else max(want[v], left[order[i - 1]] + sep(order[i - 1], v))
    for i in range(len(order) - 1, -1, -1):
        v = order[i]
        right[v] = want[v] if i == len(order) - 1 else min(want[v], right[order[i + 1]] - sep(v, order[i + 1]))
    if pinned is None:
        return {v: (left[v] + right[v]) / 2 for v in order}
    out = {order[pinned]: want[order[pinned]]}
    for i in range(pinned + 1, len(order)):
        out[order[i]] = max(want[order[i]], out[order[i - 1]] + sep(order[i - 1], order[i]))
    for i in range(pinned - 1, -1, -1):
        out[order[i]] = min(want[order[i]], out[order[i + 1]] - sep(order[i], order[i + 1]))
    return out


def _main_path(ids: list, preds: dict) -> set:
    """The chain that ends the frame, back from its last node while each step has one input: it
    is drawn straight, and side outputs (GoogLeNet's auxiliary classifiers) move aside."""
    main, v = set(), ids[-1]
    while True:
        main.add(v)
        if len(preds[v]) != 1:
            return main
        v = preds[v][0]


def layout(nodes: list[Node], edges: list[tuple], has_in: bool, has_out: bool) -> Layout:
    ids: list = ([IN] if has_in else []) + list(range(len(nodes))) + ([OUT] if has_out else [])
    info = {i: n for i, n in enumerate(nodes)}
    info[IN] = info[OUT] = Node(0, 0, 0, 0)
    ids = _topological(ids, edges)
    preds: dict = {v: [] for v in ids}
    for u, v in edges:
        preds[v].append(u)
    rank = _ranks(ids, preds, has_in)
    if has_out:
        rank[OUT] = max(rank.values()) + 1
    # dummy chains for long edges: ("d", edge index, step)
    chains = []
    adj: list[tuple] = []
    for k, (u, v) in enumerate(edges):
        chain = [u] + [("d", k, s) for s in range(1, rank[v] - rank[u])] + [v]
        for s, d in enumerate(chain[1:-1], start=1):
            rank[d] = rank[u] + s
            info[d] = Node(0, DUMMY, DUMMY / 2, DUMMY / 2)
        chains.append(chain)
        adj += list(zip(chain, chain[1:], strict=False))
    up: dict = {v: [] for v in rank}
    down: dict = {v: [] for v in rank}
    for a, b in adj:
        up[b].append(a)
        down[a].append(b)
    n_ranks = max(rank.values()) + 1
    layers: list[list] = [[] for _ in range(n_ranks)]
    created = {v: float(i) for i, v in enumerate(ids)}
    for k, chain in enumerate(chains):  # an edge's dummies come right after its source
        for s, d in enumerate(chain[1:-1], start=1):
            created[d] = created[chain[0]] + s / 1000 + k / 1e6
    for v in sorted(rank, key=created.get):
        layers[rank[v]].append(v)
    index: dict = {}
    for layer in layers:
        def bary(v):
            ps = [index[p] for p in up[v] if p in index]
            return sum(ps) / len(ps) if ps else -1.0
        layer.sort(key=lambda v: (bary(v), created[v]))
        for i, v in enumerate(layer):
            index[v] = i
    size = {v: info[v].c_ext for v in rank}
    centre: dict = {}
    for layer in layers:
        x = 0.0
        for v in layer:
            centre[v] = x + size[v] / 2
            x += size[v] + CROSS_GAP

    def entry(v):
        return centre[v] - size[v] / 2 + info[v].entry

    def exit_(v):
        return centre[v] - size[v] / 2 + info[v].exit

    main = _main_path(ids, preds)
    for sweep in range(7):  # down sweeps align chains; up sweeps only move sources (IN) over what they feed
        downward = sweep % 2 == 0
        for layer in (layers if downward else layers[::-1]):
            want = {}
            for v in layer:
                if downward and up[v]:
                    want[v] = sum(exit_(p) for p in up[v]) / len(up[v]) + size[v] / 2 - info[v].entry
                elif not downward and not up[v] and down[v]:
                    want[v] = sum(entry(s) for s in down[v]) / len(down[v]) + size[v] / 2 - info[v].exit
                else:
                    want[v] = centre[v]
            centre.update(_pack(layer, want, size, main))
    thick = [max((info[v].r_ext for v in layer), default=0) for layer in layers]
    starts, r = [], 0.0
    for t in thick:
        starts.append(r)
        r += t + RANK_GAP
    r_total = r - RANK_GAP
    lo = min(centre[v] - size[v] / 2 for v in rank)
    hi = max(centre[v] + size[v] / 2 for v in rank)
    pos = {v: (starts[rank[v]], centre[v] - size[v] / 2 - lo) for v in rank if not isinstance(v, tuple)}
    routes = []
    for chain in chains:
        u, v = chain[0], chain[-1]
        pts = [(starts[rank[u]] + info[u].r_ext, exit_(u) - lo)]
        for d in chain[1:-1]:
            pts += [(starts[rank[d]], centre[d] - lo), (starts[rank[d]] + thick[rank[d]], centre[d] - lo)]
        pts.append((starts[rank[v]], entry(v) - lo))
        routes.append(pts)
    return Layout(pos, routes, max(r_total, 0.0), hi - lo)
