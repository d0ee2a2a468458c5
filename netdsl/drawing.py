"""Drawing: a block diagram of a network as SVG (written here, no Graphviz needed), DOT or Mermaid.

`drawing(report, depth, direction)` lays out the `diagram` of a checked network (frames laid out
inside out, each by `layered`) and renders it. Text is set in a monospaced font whose advance
width is known (DejaVu Sans Mono, 0.602 em), so that every box is sized to hold its text. The
output is deterministic: the same network and options give the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

from . import layered
from . import report as R
from .cost import Report
from .diagram import IN, OUT, Diagram, Item, build
from .errors import UsageError

FONT = "DejaVu Sans Mono, Menlo, Consolas, monospace"
FONT_SIZE = 11
CHAR_W = 6.7  # advance of one character at FONT_SIZE (0.602 em, rounded up)
LINE_H = 14
PAD = 7
FORMATS = ("svg", "dot", "mermaid")
DIRECTIONS = ("TB", "LR")
FILL = {"conv": "#dbe8f7", "linear": "#e6dcf5", "norm": "#fbf1cf", "pool": "#daf0dd", "activation": "#eeeeee",
        "merge": "#fde0c8", "regularization": "#f3f3f3", "reshape": "#f3f3f3", "scale": "#f3f3f3",
        "structural": "#f3f3f3", "block": "#e4eefb", "input": "#ffffff"}
STROKE = "#4d5b6b"


def text_width(text: str) -> float:
    return len(text) * CHAR_W


@dataclass
class Placed:
    """An item with its size and, for a frame, its laid-out members (positions relative to it)."""

    item: Item
    w: float
    h: float
    entry: float = 0.0  # cross offset of the entry, from the item's cross start
    exit: float = 0.0
    header_h: float = 0.0  # a frame's header band
    children: list[tuple[float, float, Placed]] = field(default_factory=list)  # (x, y, child)
    routes: list[list[tuple[float, float]]] = field(default_factory=list)  # edges, real coordinates


class _Layouter:
    def __init__(self, direction: str):
        self.lr = direction == "LR"

    def to_real(self, r: float, c: float) -> tuple[float, float]:
        return (r, c) if self.lr else (c, r)

    def abstract(self, w: float, h: float) -> tuple[float, float]:
        return (w, h) if self.lr else (h, w)

    def place(self, item: Item) -> Placed:
        lines = item.lines()
        tw = max(text_width(t) for t in lines) + 2 * PAD
        th = len(lines) * LINE_H + 2 * PAD - 4
        if not item.is_frame:
            p = Placed(item, tw, th)
            p.entry = p.exit = (p.w if not self.lr else p.h) / 2
            return p
        return self.frame(item, tw, th)

    def frame(self, item: Item, header_w: float, header_h: float) -> Placed:
        kids = [self.place(it) for it in item.items]
        nodes = []
        for k in kids:
            r_ext, c_ext = self.abstract(k.w, k.h)
            nodes.append(layered.Node(r_ext, c_ext, k.entry, k.exit))
        ports = {e for edge in item.edges for e in edge if e in (IN, OUT)}
        lay = layered.layout(nodes, item.edges, IN in ports, OUT in ports)
        r0, c0 = (0.0, header_h + PAD) if self.lr else (header_h, PAD)
        r_ext = r0 + lay.r_ext + (PAD if OUT not in ports else 0)
        c_ext = c0 + lay.c_ext + PAD
        # a header wider than the content: centre the content under it
        need = header_w if not self.lr else 0
        shift = max(0.0, (need - c_ext) / 2)
        c0 += shift
        c_ext = max(c_ext, need)
        if self.lr:
            r_ext = max(r_ext, header_w)
        w, h = self.to_real(r_ext, c_ext)
        p = Placed(item, w, h, header_h=header_h)
        for i, k in enumerate(kids):
            r, c = lay.pos[i]
            x, y = self.to_real(r0 + r, c0 + c)
            p.children.append((x, y, k))
        for pts in lay.routes:
            p.routes.append([self.to_real(r0 + r, c0 + c) for r, c in pts])
        p.entry = c0 + lay.pos[IN][1] if IN in ports else c_ext / 2
        p.exit = c0 + lay.pos[OUT][1] if OUT in ports else c_ext / 2
        if OUT in ports:  # edges leaving the frame end at its border
            for route, edge in zip(p.routes, item.edges, strict=True):
                if edge[1] == OUT:
                    route[-1] = self.to_real(r_ext, c0 + lay.pos[OUT][1])
        return p


# ------------------------------------------------------------------ SVG


def _fmt(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def _text(x: float, y: float, s: str, cls: str, anchor: str = "start") -> str:
    extra = "" if anchor == "start" else f' text-anchor="{anchor}"'
    return f'<text x="{_fmt(x)}" y="{_fmt(y)}" class="{cls}"{extra}>{escape(s)}</text>'


def _path(points: list[tuple[float, float]], lr: bool) -> str:
    """Straight through a rank, a smooth S between ranks."""
    (x0, y0), rest = points[0], points[1:]
    d = [f"M{_fmt(x0)},{_fmt(y0)}"]
    px, py = x0, y0
    for i, (x, y) in enumerate(rest):
        crossing = i % 2 == 0  # points alternate: gap crossing, then a dummy's rank
        if crossing and (x != px and y != py):
            if lr:
                mx = (px + x) / 2
                d.append(f"C{_fmt(mx)},{_fmt(py)} {_fmt(mx)},{_fmt(y)} {_fmt(x)},{_fmt(y)}")
            else:
                my = (py + y) / 2
                d.append(f"C{_fmt(px)},{_fmt(my)} {_fmt(x)},{_fmt(my)} {_fmt(x)},{_fmt(y)}")
        else:
            d.append(f"L{_fmt(x)},{_fmt(y)}")
        px, py = x, y
    return " ".join(d)


class _Svg:
    def __init__(self, lr: bool):
        self.lr = lr
        self.out: list[str] = []

    def item(self, p: Placed, x: float, y: float) -> None:
        it = p.item
        dash = ' stroke-dasharray="5,3"' if it.aux else ""
        lines = it.lines()
        if it.is_frame:
            self.out.append(f'<g class="frame" data-name="{escape(it.name)}">')
            self.out.append(f'<rect x="{_fmt(x)}" y="{_fmt(y)}" width="{_fmt(p.w)}" height="{_fmt(p.h)}" rx="6" '
                            f'class="frame"{dash}/>')
            self.out.append(f'<rect x="{_fmt(x)}" y="{_fmt(y)}" width="{_fmt(p.w)}" height="{_fmt(p.header_h)}" '
                            f'rx="6" class="header"/>')
            for i, t in enumerate(lines):
                self.out.append(_text(x + PAD, y + PAD + 9 + i * LINE_H, t, "h" if i == 0 else "f"))
            self.out.append("</g>")
            for route in p.routes:
                self.out.append(f'<path d="{_path([(x + a, y + b) for a, b in route], self.lr)}" class="e"/>')
            for cx, cy, child in p.children:
                self.item(child, x + cx, y + cy)
            return
        fill = FILL.get(it.kind, "#f3f3f3")
        stack = it.count > 1
        self.out.append(f'<g class="box" data-name="{escape(it.name)}">')
        if stack:  # a repeat: a second card behind the box
            self.out.append(f'<rect x="{_fmt(x + 3)}" y="{_fmt(y - 3)}" width="{_fmt(p.w)}" height="{_fmt(p.h)}" '
                            f'rx="4" fill="{fill}" class="b"/>')
        self.out.append(f'<rect x="{_fmt(x)}" y="{_fmt(y)}" width="{_fmt(p.w)}" height="{_fmt(p.h)}" rx="4" '
                        f'fill="{fill}" class="b"{dash}/>')
        for i, t in enumerate(lines):
            self.out.append(_text(x + p.w / 2, y + PAD + 9 + i * LINE_H, t, "t" if i == 0 else "f", "middle"))
        self.out.append("</g>")


STYLE = (f"text{{font-family:{FONT};font-size:{FONT_SIZE}px;fill:#1d2733}} .t,.h{{font-weight:bold}} "
         ".f{fill:#3c4a5a} rect.b{stroke:" + STROKE + ";stroke-width:1} "
         "rect.frame{fill:#fbfcfe;stroke:#8a9bb0;stroke-width:1} rect.header{fill:#e9eff7;stroke:none} "
         "path.e{fill:none;stroke:#6b7888;stroke-width:1.2;marker-end:url(#arrow)} "
         ".title{font-size:15px;font-weight:bold}")


def _title_lines(d: Diagram) -> list[str]:
    t = d.totals
    return [f"{d.name}",
            f"input {R._fmt_shape(d.input_shape)} -> output {R._fmt_shape(d.output_shape)}",
            f"{t.params:,} params ({R.human(t.params)}) · {t.macs:,} MACs ({R.human(t.macs)}) · "
            f"{t.layers:,} layers · depth {d.depth}"]


def svg(d: Diagram, direction: str = "TB") -> str:
    lr = direction == "LR"
    root = _Layouter(direction).frame(d.root, 0, 0)
    title = _title_lines(d)
    title_h = 18 + (len(title) - 1) * LINE_H + 2 * PAD + 6
    margin = 16
    width = max(root.w, max(text_width(t) for t in title) * 1.25) + 2 * margin
    height = root.h + title_h + 2 * margin
    s = _Svg(lr)
    body_x = margin + (width - 2 * margin - root.w) / 2
    for route in root.routes:
        s.out.append(f'<path d="{_path([(body_x + a, margin + title_h + b) for a, b in route], lr)}" class="e"/>')
    for cx, cy, child in root.children:
        s.item(child, body_x + cx, margin + title_h + cy)
    head = [_text(margin, margin + 15, title[0], "title")]
    head += [_text(margin, margin + 18 + 12 + i * LINE_H, t, "f") for i, t in enumerate(title[1:])]
    return "\n".join([
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_fmt(width)}" height="{_fmt(height)}" '
        f'viewBox="0 0 {_fmt(width)} {_fmt(height)}">',
        f"<title>{escape(d.name)}</title>",
        f"<style>{STYLE}</style>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#6b7888"/></marker></defs>',
        f'<rect width="{_fmt(width)}" height="{_fmt(height)}" fill="#ffffff"/>',
        f'<g class="titleblock">{"".join(head)}</g>',
        *s.out,
        "</svg>",
        "",
    ])


# ------------------------------------------------------------------ DOT and Mermaid


def _walk_graph(item: Item, prefix: str, emit_node, emit_frame) -> tuple[dict, dict]:
    """Emit every box and frame; returns the entry and exit node ids of each member (for edges)."""
    ids_in, ids_out = {}, {}
    for i, it in enumerate(item.items):
        nid = f"{prefix}n{i}"
        if it.is_frame:
            inner_in, inner_out = emit_frame(it, nid)
            ids_in[i], ids_out[i] = inner_in, inner_out
        else:
            emit_node(it, nid)
            ids_in[i] = ids_out[i] = [nid]
    return ids_in, ids_out


def _edges(item: Item, ids_in: dict, ids_out: dict, emit_edge) -> tuple[list, list]:
    entry, exit_ = [], []
    for a, b in item.edges:
        if a == IN:
            entry += ids_in[b]
        elif b == OUT:
            exit_ += ids_out[a]
        else:
            for u in ids_out[a]:
                for v in ids_in[b]:
                    emit_edge(u, v)
    return entry, exit_


def _label(it: Item, sep: str, quote) -> str:
    return sep.join(quote(line) for line in it.lines())


def dot(d: Diagram, direction: str = "TB") -> str:
    out = [f'digraph "{d.name}" {{', f"  rankdir={direction};",
           f'  label="{" | ".join(_title_lines(d))}"; labelloc=t; fontname="DejaVu Sans Mono";',
           '  node [shape=box, style="rounded,filled", fontname="DejaVu Sans Mono", fontsize=10];',
           '  edge [color="#6b7888"];']

    def q(s: str) -> str:
        return s.replace("\\", "\\\\").replace('"', '\\"')

    def node(it: Item, nid: str) -> None:
        style = ', style="rounded,filled,dashed"' if it.aux else ""
        out.append(f'  {nid} [label="{_label(it, chr(92) + "n", q)}", fillcolor="{FILL.get(it.kind, "#f3f3f3")}"'
                   f"{style}];")

    def edge(u: str, v: str) -> None:
        out.append(f"  {u} -> {v};")

    def frame(it: Item, nid: str) -> tuple[list, list]:
        out.append(f'  subgraph cluster_{nid} {{ label="{_label(it, " · ", q)}"; style="rounded"; color="#8a9bb0";')
        ids_in, ids_out = _walk_graph(it, nid + "_", node, frame)
        entry, exit_ = _edges(it, ids_in, ids_out, edge)
        out.append("  }")
        return entry, exit_

    ids_in, ids_out = _walk_graph(d.root, "", node, frame)
    _edges(d.root, ids_in, ids_out, edge)
    out.append("}")
    return "\n".join(out) + "\n"


def mermaid(d: Diagram, direction: str = "TB") -> str:
    out = [f"flowchart {direction}", f"  %% {' | '.join(_title_lines(d))}"]

    def q(s: str) -> str:
        return s.replace('"', "#quot;")

    def node(it: Item, nid: str) -> None:
        out.append(f'  {nid}["{_label(it, "<br/>", q)}"]')

    def edge(u: str, v: str) -> None:
        out.append(f"  {u} --> {v}")

    def frame(it: Item, nid: str) -> tuple[list, list]:
        out.append(f'  subgraph {nid}["{_label(it, " · ", q)}"]')
        out.append(f"  direction {direction}")
        ids_in, ids_out = _walk_graph(it, nid + "_", node, frame)
        entry, exit_ = _edges(it, ids_in, ids_out, edge)
        out.append("  end")
        return entry, exit_

    ids_in, ids_out = _walk_graph(d.root, "", node, frame)
    _edges(d.root, ids_in, ids_out, edge)
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------ the drawing object


class Drawing:
    """A network's block diagram; shows as SVG in a notebook (`_repr_svg_`)."""

    def __init__(self, report: Report, depth: int = 2, direction: str = "TB"):
        if direction not in DIRECTIONS:
            raise UsageError(f"direction must be one of {', '.join(DIRECTIONS)}, found {direction!r}")
        self.diagram = build(report, depth)
        self.direction = direction

    def svg(self) -> str:
        return svg(self.diagram, self.direction)

    def dot(self) -> str:
        return dot(self.diagram, self.direction)

    def mermaid(self) -> str:
        return mermaid(self.diagram, self.direction)

    def render(self, fmt: str = "svg") -> str:
        formats = {"svg": self.svg, "dot": self.dot, "mermaid": self.mermaid}
        if fmt not in formats:
            raise UsageError(f"format must be one of {', '.join(formats)}, found {fmt!r}")
        return formats[fmt]()

    def _repr_svg_(self) -> str:
        return self.svg()
