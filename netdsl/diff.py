"""Diff: two analysed networks side by side, aligned by module path and block structure.

The rows of both reports (the module tree of `netdsl check`) are aligned level by level: rows with
the same module path pair up, in order (a longest common subsequence of the paths, so that an
inserted or removed stage does not shift everything after it); where paths differ between two
matched ones, the rows pair up by position as long as both sides have one (a renamed or rewritten
block is "changed"), and the rest are "added" (only in B) or "removed" (only in A). A paired row is
"changed" when its op, output shape, params or MACs differ. Per row: output shape, params, MACs and
forward activation memory; totals add trainable params, activations and the training-memory
estimate (a whole-network figure: a peak is not a sum of per-layer parts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from difflib import SequenceMatcher

from . import report as R
from .cost import DTYPE_BYTES, Report

SAME, CHANGED, ADDED, REMOVED = "same", "changed", "added", "removed"
MARKS = {SAME: " ", CHANGED: "~", ADDED: "+", REMOVED: "-"}


@dataclass
class Side:
    """One network of a diff: its report and how it was asked for (-D values, input)."""

    report: Report
    overrides: dict[str, str] = field(default_factory=dict)

    @property
    def title(self) -> str:
        net = self.report.net
        given = ", ".join(f"{k}={v}" for k, v in self.overrides.items())
        return f"{net.name}({given})" if given else net.name


@dataclass
class DiffRow:
    status: str
    depth: int
    a: R.Row | None
    b: R.Row | None
    children: list[DiffRow] = field(default_factory=list)

    @property
    def name(self) -> str:
        a, b = self.a, self.b
        if a is not None and b is not None and a.name != b.name:
            return f"{a.name} -> {b.name}"
        return (a or b).name


@dataclass
class Diff:
    a: Side
    b: Side
    rows: list[DiffRow]
    batch: int = 1
    dtype: str = "float32"
    optimizer: str = "sgd"
    _memory: dict = field(default_factory=dict, repr=False, compare=False)

    def memory(self, side: Side):
        """The training-memory estimate of one side, with its bytes per module path (made once)."""
        if id(side) not in self._memory:
            self._memory[id(side)] = side.report.memory(self.batch, self.dtype, self.optimizer, by_path=True)
        return self._memory[id(side)]

    def training(self, row: DiffRow) -> tuple[int | None, int | None]:
        """The training bytes of a row's module on each side (`Memory.by_path`; None: not there)."""
        a, b = (None if r is None else self.memory(side).by_path.get(r.name, 0)
                for side, r in ((self.a, row.a), (self.b, row.b)))
        return a, b

    def training_delta(self, row: DiffRow) -> int:
        a, b = self.training(row)
        return (b or 0) - (a or 0)

    def walk(self, depth: int | None) -> list[DiffRow]:
        """The rows down to `depth` (None: all), in table order."""
        out: list[DiffRow] = []

        def visit(rows):
            for r in rows:
                out.append(r)
                if depth is None or r.depth + 1 < depth:
                    visit(r.children)

        visit(self.rows)
        return out

    def totals(self) -> list[tuple[str, int, int]]:
        """(figure, A, B) for every whole-network figure."""
        figures = [("params", lambda s: s.report.total.params),
                   ("trainable_params", lambda s: s.report.total.trainable),
                   ("macs", lambda s: s.report.total.macs), ("activations", lambda s: s.report.total.activations),
                   ("activation_bytes", lambda s: s.report.activation_bytes(self.batch, self.dtype)),
                   ("training_bytes", lambda s: self.memory(s).peak)]
        return [(name, f(self.a), f(self.b)) for name, f in figures]


def _same(a: R.Row, b: R.Row) -> bool:
    return (a.op, a.output_shape, a.params, a.macs) == (b.op, b.output_shape, b.params, b.macs)


def _one_side(row: R.Row, status: str, depth: int) -> DiffRow:
    a, b = (row, None) if status == REMOVED else (None, row)
    return DiffRow(status, depth, a, b, [_one_side(c, status, depth + 1) for c in row.children])


def _pair(a: R.Row, b: R.Row, depth: int) -> DiffRow:
    children = align(a.children, b.children, depth + 1)
    changed = not _same(a, b) or a.name != b.name or any(c.status != SAME for c in children)
    return DiffRow(CHANGED if changed else SAME, depth, a, b, children)


# Above this many pairs of rows between the common start and end, the matcher treats names that
# recur often (`relu`, `add` of a long flat network) as junk: an exact alignment of such lists
# is quadratic (two 100k-layer networks: about a minute), the approximate one linear.
EXACT_ALIGNMENT_PAIRS = 4_000_000


def align(rows_a: list[R.Row], rows_b: list[R.Row], depth: int = 0) -> list[DiffRow]:
    """Pair two lists of sibling rows (see the module's docstring): the rows the two lists start
    and end with alike pair at once, the rest by `difflib`'s matcher on their names."""
    names_a = [r.name for r in rows_a]
    names_b = [r.name for r in rows_b]
    lo, n = 0, min(len(names_a), len(names_b))
    while lo < n and names_a[lo] == names_b[lo]:
        lo += 1
    hi = 0
    while hi < n - lo and names_a[-1 - hi] == names_b[-1 - hi]:
        hi += 1
    out = [_pair(rows_a[k], rows_b[k], depth) for k in range(lo)]
    mid_a, mid_b = names_a[lo:len(names_a) - hi], names_b[lo:len(names_b) - hi]
    junk = len(mid_a) * len(mid_b) > EXACT_ALIGNMENT_PAIRS
    opcodes = SequenceMatcher(None, mid_a, mid_b, autojunk=junk).get_opcodes() if mid_a or mid_b else ()
    for tag, i1, i2, j1, j2 in opcodes:
        i1, i2, j1, j2 = i1 + lo, i2 + lo, j1 + lo, j2 + lo
        if tag == "equal" or tag == "replace":
            paired = min(i2 - i1, j2 - j1)
            out += [_pair(rows_a[i1 + k], rows_b[j1 + k], depth) for k in range(paired)]
            i1, j1 = i1 + paired, j1 + paired
        out += [_one_side(r, REMOVED, depth) for r in rows_a[i1:i2]]
        out += [_one_side(r, ADDED, depth) for r in rows_b[j1:j2]]
    out += [_pair(rows_a[len(names_a) - hi + k], rows_b[len(names_b) - hi + k], depth) for k in range(hi)]
    return out


def diff(a: Side, b: Side, batch: int = 1, dtype: str = "float32", optimizer: str = "sgd") -> Diff:
    return Diff(a, b, align(R.rows(a.report), R.rows(b.report)), batch, dtype, optimizer)


# ------------------------------------------------------------------ text


def _signed(n: int) -> str:
    return f"{n:+,}" if n else "0"


def relative(a: int, b: int) -> float | None:
    """(b - a) / a; None when A is 0 (no relative change from nothing)."""
    return None if a == 0 else (b - a) / a


def _rel_text(a: int, b: int) -> str:
    rel = relative(a, b)
    if rel is None:
        return "new" if b else ""
    if a == b:
        return "0%"
    text = f"{rel:+.2%}"
    return text if text not in ("+0.00%", "-0.00%") else f"{text[0]}<0.01%"


def _arrow(a: str, b: str) -> str:
    return a if a == b else f"{a} -> {b}"


def _cell(row: DiffRow, get, fmt=str) -> str:
    va = fmt(get(row.a)) if row.a is not None else ""
    vb = fmt(get(row.b)) if row.b is not None else ""
    if row.a is None or row.b is None:
        return va or vb
    return _arrow(va, vb)


def _delta(row: DiffRow, get) -> int:
    return (get(row.b) if row.b is not None else 0) - (get(row.a) if row.a is not None else 0)


def _bytes_delta(n: int) -> str:
    if n == 0:
        return "0"
    return ("+" if n > 0 else "-") + R.human_bytes(abs(n))


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


_TOTAL_LABELS = {"params": "Params", "trainable_params": "  trainable", "macs": "MACs",
                 "activations": "Activations", "activation_bytes": "Forward activation memory",
                 "training_bytes": "Training memory estimate"}


def _total_text(name: str, n: int) -> str:
    return R.human_bytes(n) if name.endswith("bytes") else f"{n:,}"


def table(d: Diff, depth: int | None = 2) -> str:
    """The diff as people read it: every row down to `depth`, marked, then the totals."""
    per_value = DTYPE_BYTES[d.dtype] * d.batch
    head = ("", "Layer", "Op", "Output", "ΔParams", "ΔMACs", "ΔAct. memory", "ΔTrain memory")
    body = []
    for r in d.walk(depth):
        body.append((MARKS[r.status], "  " * r.depth + r.name, _fit(_cell(r, lambda x: x.op), 48),
                     _cell(r, lambda x: x.output_shape, R._fmt_shape), _signed(_delta(r, lambda x: x.params)),
                     _signed(_delta(r, lambda x: x.macs)), _bytes_delta(_delta(r, lambda x: x.outputs) * per_value),
                     _bytes_delta(d.training_delta(r))))
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]

    def line(cols):
        cells = zip(cols, widths, strict=True)
        return "  ".join(c.rjust(w) if i >= 4 else c.ljust(w) for i, (c, w) in enumerate(cells)).rstrip()

    sep = "-" * len(line(head))
    a, b = d.a, d.b
    counts = {s: sum(1 for r in d.walk(depth) if r.status == s) for s in (CHANGED, ADDED, REMOVED)}
    lines = [f"A: {_side_line(a)}", f"B: {_side_line(b)}", sep, line(head), sep, *(line(x) for x in body), sep,
             f"rows: {counts[CHANGED]} changed (~), {counts[ADDED]} added (+), {counts[REMOVED]} removed (-); "
             f"memory for batch {d.batch}, {d.dtype}, {d.optimizer}"]
    tot = [(_TOTAL_LABELS[n], _total_text(n, va), _total_text(n, vb),
            (_bytes_delta(vb - va) if n.endswith("bytes") else _signed(vb - va)), _rel_text(va, vb))
           for n, va, vb in d.totals()]
    tot.insert(0, ("", "A", "B", "change", "relative"))
    tw = [max(len(t[i]) for t in tot) for i in range(5)]
    lines += ["  ".join((t[0].ljust(tw[0]), *(c.rjust(w) for c, w in zip(t[1:], tw[1:], strict=True)))).rstrip()
              for t in tot]
    return "\n".join(lines)


def _side_line(s: Side) -> str:
    net = s.report.net
    out = net.node(net.output_node)["shape"]
    return f"{s.title}  ({net.file}, input {R._fmt_shape(net.input_shape)} -> output {R._fmt_shape(out)})"


# ------------------------------------------------------------------ JSON


def _row_side(r: R.Row | None, per_value: int, training: int | None) -> dict | None:
    if r is None:
        return None
    return {"name": r.name, "op": r.op, "output_shape": list(r.output_shape) if r.output_shape else None,
            "params": r.params, "macs": r.macs, "activation_bytes": r.outputs * per_value,
            "training_bytes": training}


def _side_json(s: Side) -> dict:
    net = s.report.net
    return {"name": net.name, "file": net.file, "input_shape": list(net.input_shape),
            "output_shape": list(net.node(net.output_node)["shape"]), "parameters": dict(net.params),
            "overrides": dict(s.overrides)}


def to_json(d: Diff, depth: int | None = 2) -> dict:
    from .formats import SCHEMA_VERSION

    per_value = DTYPE_BYTES[d.dtype] * d.batch
    rows = []
    for r in d.walk(depth):
        ta, tb = d.training(r)
        rows.append({"status": r.status, "depth": r.depth, "name": r.name, "a": _row_side(r.a, per_value, ta),
                     "b": _row_side(r.b, per_value, tb),
                     "delta": {"params": _delta(r, lambda x: x.params), "macs": _delta(r, lambda x: x.macs),
                               "activation_bytes": _delta(r, lambda x: x.outputs) * per_value,
                               "training_bytes": d.training_delta(r)}})
    return {
        "schema_version": SCHEMA_VERSION,
        "a": _side_json(d.a),
        "b": _side_json(d.b),
        "memory": {"batch": d.batch, "dtype": d.dtype, "optimizer": d.optimizer},
        "totals": {n: {"a": va, "b": vb, "delta": vb - va, "relative": relative(va, vb)} for n, va, vb in d.totals()},
        "rows": rows,
    }
