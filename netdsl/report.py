"""Report: the cost table and the JSON document of `netdsl check`.

Rows follow the module hierarchy (the same names as the state_dict), one row per layer or
block instance, collapsible by depth: a collapsed block shows the totals of everything in it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import ops
from .cost import DTYPE_BYTES, Report, Totals
from .ir import Net, Scope, deep_recursion
from .memory import Memory


@dataclass
class Row:
    name: str
    op: str
    line: int | None
    file: str | None
    output_shape: tuple[int, ...] | None
    params: int
    macs: int
    depth: int
    aux: bool = False
    children: list[Row] = field(default_factory=list)
    outputs: int = 0  # output values of every layer in it, one image (its forward activation memory)


def _args_text(node: dict) -> str:
    spec = ops.REGISTRY[node["op"]]
    return spec.text(node["args"], node["in_shapes"]) if node.get("shape") else spec.name


def _scope_op(scope: Scope) -> str:
    if scope.kind == "define":
        return scope.call or scope.label
    if scope.kind == "named":
        return "stage" if scope.sequential else "block"
    if scope.kind == "branch":
        return "branch"
    return scope.label


def _node_row(net: Net, nid: int, depth: int) -> Row:
    n = net.node(nid)
    return Row(n.get("path") or n["op"], _args_text(n), n["span"].line, n["span"].file, n["shape"], n["params"],
               n["macs"], depth, n.get("aux", False), outputs=n["out_numel"])


def _subtotals(net: Net) -> dict[int, tuple[Totals, bool]]:
    """(totals, holds an aux layer) of every scope, by id, in one pass from the leaves up."""
    sums: dict[int, tuple[Totals, bool]] = {}
    for s in reversed(list(net.root.scopes())):
        t, aux = Totals(), s.aux
        for ch in s.children:
            if isinstance(ch, Scope):
                sub, a = sums[id(ch)]
                t.merge(sub)
            else:
                t.add(net.node(ch))
                a = net.node(ch).get("aux", False)
            aux = aux or a
        sums[id(s)] = (t, aux)
    return sums


def _scope_row(net: Net, scope: Scope, depth: int, sums) -> Row:
    t, aux = sums[id(scope)]
    out = net.node(scope.output).get("shape") if scope.output is not None else None
    row = Row(scope.path or scope.label, _scope_op(scope), scope.span.line, scope.span.file, out, t.params, t.macs,
              depth, aux, outputs=t.outputs)
    for mem in scope.members:
        row.children.append(_member_row(net, mem, depth + 1, sums))
    return row


def _member_row(net: Net, mem, depth: int, sums) -> Row:
    while isinstance(mem, Scope) and mem.collapsed_to is not None:  # `fc = linear 10` is the layer fc
        mem = mem.collapsed_to
    if isinstance(mem, Scope):
        return _scope_row(net, mem, depth, sums)
    return _node_row(net, mem, depth)


def rows(report: Report) -> list[Row]:
    """Top-level rows; functional layers (add, concat, flatten) appear where they are written."""
    net = report.net
    sums = _subtotals(net)
    with deep_recursion():  # rows nest as deeply as scopes
        return [_member_row(net, m, 0, sums) for m in net.root.members]


def _fmt_shape(shape) -> str:
    return "x".join(str(d) for d in shape) if shape else "?"


def _walk(rs: list[Row], max_depth: int | None):
    for r in rs:
        yield r
        if max_depth is None or r.depth + 1 < max_depth:
            yield from _walk(r.children, max_depth)


def _fixed2(n: int, div: int) -> str:
    """`n / div` with two decimals, in integer arithmetic (exact for any size; no float overflow).

    Rounds half up on the exact quotient (7.065 -> 7.07; a float would round its nearest binary value).
    """
    sign = "-" if n < 0 else ""
    q, r = divmod(abs(n) * 100, div)
    if 2 * r >= div:
        q += 1
    return f"{sign}{q // 100}.{q % 100:02d}"


def human(n: int) -> str:
    for unit, div in (("T", 10**12), ("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if abs(n) >= div:
            return f"{_fixed2(n, div)}{unit}"
    return str(n)


def human_bytes(n: int) -> str:
    for unit, div in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= div:
            return f"{_fixed2(n, div)} {unit}"
    return f"{n} B"


def _training_lines(m: Memory) -> list[str]:
    """The training-memory estimate: the peak, what it is made of, and the bytes of each stage."""
    hb = human_bytes
    lines = [f"Training:      peak {hb(m.peak)} for one {m.optimizer} step on {m.device} (batch {m.batch}, "
             f"{m.dtype}{', autocast' if m.dtype in ('float16', 'bfloat16') else ''}; "
             f"in {m.phase}, at {m.at})",
             f"  = params {hb(m.params)} + buffers {hb(m.buffers)} + input {hb(m.input)} + optimizer state "
             f"{hb(m.optimizer_state)}",
             f"  + saved activations {hb(m.saved_at_peak)} (of {hb(m.saved)} after forward) + gradients "
             f"{hb(m.grads_at_peak)} (of {hb(m.grads)}) + {m.phase} transient {hb(m.transient)}"]
    stages = [s for s in m.stages if s.params or s.saved]
    if stages:
        w = max(len(s.name) for s in stages)
        head = f"  {'stage':<{w}}  {'params':>12}  {'grads':>12}  {'optimizer':>12}  {'saved':>12}"
        lines.append("Training memory by stage (saved: activations kept for backward after forward):")
        lines.append(head)
        for s in stages:
            lines.append(f"  {s.name:<{w}}  {hb(s.params):>12}  {hb(s.grads):>12}  {hb(s.optimizer):>12}  "
                         f"{hb(s.saved):>12}")
    return lines


def table(report: Report, depth: int | None = 2, batch: int = 1, dtype: str = "float32",
          optimizer: str = "sgd", device: str = "cuda") -> str:
    net = report.net
    mem = report.memory(batch, dtype, optimizer, device)  # first: its simulation is gone before the rows come
    all_rows = list(_walk(rows(report), depth))
    head = ("Layer", "Op", "Output", "Params", "MACs", "Line")
    body = []
    for r in all_rows:
        name = "  " * r.depth + r.name + (" (train only)" if r.aux and r.depth == 0 else "")
        where = "" if not r.line else str(r.line) if r.file == net.file else f"{r.file}:{r.line}"
        body.append((name, r.op, _fmt_shape(r.output_shape), f"{r.params:,}", f"{r.macs:,}", where))
    widths = [max(map(len, col)) for col in zip(head, *body, strict=True)]
    widths[1] = min(widths[1], 44)
    # name, op and output to the left, the numbers and the line to the right; an op text longer
    # than its column ends in an ellipsis
    fmt = "  ".join(f"{{:{'>' if i in (3, 4, 5) else '<'}{w}}}" for i, w in enumerate(widths))

    def line(cols):
        op = cols[1]
        if len(op) > widths[1]:
            op = op[: widths[1] - 1] + "…"
        return fmt.format(cols[0], op, *cols[2:]).rstrip()

    t = report.total
    out_shape = net.node(net.output_node)["shape"]
    sep = "-" * len(line(head))
    lines = [f"{net.name}: input {_fmt_shape(net.input_shape)} -> output {_fmt_shape(out_shape)}", sep,
             line(head), sep]
    lines += [line(b) for b in body]
    lines.append(sep)
    lines.append(f"Params:        {t.params:,} ({human(t.params)})")
    if report.frozen:
        lines.append(f"  trainable:   {t.trainable:,}")
        lines.append(f"  frozen:      {report.frozen:,}")
    lines.append(f"MACs:          {t.macs:,} ({human(t.macs)}; multiply-adds of conv and linear layers, "
                 f"FLOPs = 2 x MACs = {human(2 * t.macs)})")
    lines.append(f"Activations:   {t.activations:,} (conv and linear outputs, one image)")
    lines.append(f"Memory:        forward activations {human_bytes(report.activation_bytes(batch, dtype))}, "
                 f"weights {human_bytes(t.params * 4)} (batch {batch}, {dtype}; one forward pass)")
    for name, at in report.aux.items():
        lines.append(f"Train-only output `{name}`: {at.params:,} params, {at.macs:,} MACs "
                     "(not in the totals above; in the training estimate)")
    lines += _training_lines(mem)
    return "\n".join(lines)


def _row_json(r: Row) -> dict:
    d = {"name": r.name, "op": r.op, "file": r.file, "line": r.line,
         "output_shape": list(r.output_shape) if r.output_shape else None,
         "params": r.params, "macs": r.macs}
    if r.aux:
        d["train_only"] = True
    if r.children:
        d["children"] = [_row_json(c) for c in r.children]
    return d


def _training_json(m: Memory) -> dict:
    return {
        "peak_bytes": m.peak, "optimizer": m.optimizer, "device": m.device,
        "autocast": m.dtype in ("float16", "bfloat16"), "phase": m.phase, "at": m.at,
        "params_bytes": m.params, "buffers_bytes": m.buffers, "input_bytes": m.input,
        "optimizer_bytes": m.optimizer_state, "grads_bytes": m.grads, "saved_bytes": m.saved,
        "at_peak": {"saved_bytes": m.saved_at_peak, "grads_bytes": m.grads_at_peak,
                    "backward_transient_bytes": m.transient},
        "stages": [{"name": s.name, "params_bytes": s.params, "grads_bytes": s.grads, "optimizer_bytes": s.optimizer,
                    "saved_bytes": s.saved} for s in m.stages],
    }


def to_json(report: Report, batch: int = 1, dtype: str = "float32", optimizer: str = "sgd",
            device: str = "cuda") -> dict:
    net = report.net
    t = report.total
    m = report.memory(batch, dtype, optimizer, device)
    return {
        "name": net.name,
        "file": net.file,
        "input_shape": list(net.input_shape),
        "output_shape": list(net.node(net.output_node)["shape"]),
        "params": t.params,
        "trainable_params": t.trainable,
        "frozen_params": report.frozen,
        "macs": t.macs,
        "flops": 2 * t.macs,
        "activations": t.activations,
        "layers_count": t.layers,
        "memory": {
            "batch": batch,
            "dtype": dtype,
            "bytes_per_value": DTYPE_BYTES[dtype],
            "forward_activation_bytes": report.activation_bytes(batch, dtype),
            "weight_bytes": t.params * 4,
            "training_peak_bytes_estimate": m.peak,
            "optimizer": optimizer,
            "training": _training_json(m),
        },
        "conventions": {
            "macs": "multiply-adds of conv and linear layers (FLOPs = 2 x MACs)",
            "activations": "output values of conv and linear layers for one image",
        },
        "train_only_outputs": {k: {"params": v.params, "macs": v.macs} for k, v in report.aux.items()},
        "parameters": {k: v for k, v in net.params.items()},
        "layers": [_row_json(r) for r in rows(report)],
    }
