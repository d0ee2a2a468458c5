"""Shapes: infer the output shape of every node, in order, by its op's rule.

Errors are collected (a node whose inputs are unknown is skipped, so one mistake is reported
once) and raised together, each located at the layer's span with its expansion trail.
"""

from __future__ import annotations

from . import ops
from .errors import NetdslError, NetdslShapeError, raise_collected
from .ir import Net

MAX_REPORTED = 20


def infer(net: Net) -> None:
    nodes = net.graph.nodes
    errors: list[NetdslError] = []
    first = nodes[net.input_node]
    first["shape"] = tuple(net.input_shape)
    first["layout"] = "first"
    registry = ops.REGISTRY
    accepts = ops.accepts
    input_node = net.input_node
    for nid, node in nodes.items():
        if nid == input_node:
            continue
        inputs = node["inputs"]
        ins = [nodes[i].get("shape") for i in inputs]
        node["in_shapes"] = ins
        if None in ins:
            node["shape"] = None
            continue
        spec = registry[node["op"]]
        # the memory layout of the input (channels first, or last after `permute 0x2x3x1`)
        layout = nodes[inputs[0]].get("layout", "first") if inputs else "first"
        node["layout"] = spec.to_layout(node["args"]) if spec.to_layout else layout
        try:
            if len(inputs) > 1 and len({nodes[i].get("layout", "first") for i in inputs}) > 1:
                raise ops.ShapeProblem(f"{node['op']}: inputs in different layouts (channels first and last)",
                                       hint="permute the channels-last input back first: `permute 0x3x1x2`")
            if not accepts(spec, layout):
                raise ops.ShapeProblem(
                    f"{node['op']} needs channels first (N, C, H, W); this tensor is channels last",
                    expected="channels first", found="channels last, after `permute 0x2x3x1`",
                    hint="permute back first: `permute 0x3x1x2`")
            node["shape"] = spec.shape({**node["args"], "_layout": layout} if len(spec.layouts) > 1
                                       else node["args"], ins)
        except ops.ShapeProblem as p:
            node["shape"] = None
            trail = node["scope"].trail()
            where = ", ".join(f"input {ops.fmt_shape(s)}" for s in ins[:1])
            errors.append(NetdslShapeError(
                p.message,
                span=node["span"],
                expected=p.expected,
                found=p.found or where,
                hint=p.hint,
                trail=trail,
            ))
            if len(errors) >= MAX_REPORTED:
                break
    raise_collected(errors)
