"""State: the `state_dict` of the module netdsl builds, known before any tensor exists.

`state_dict(net)` lists every parameter and buffer key with its shape, in PyTorch's order, from
what the layout recorded (module scopes, their members in registration order, every layer's
dotted path) and each op's `state` rule in the registry. A module lists the parameters it holds
itself first (ConvNeXt's `layer_scale`), then its sub-modules in order, as `nn.Module.state_dict`
does. `netdsl check --weights` compares a checkpoint with it without building a module; the tests
compare it with the real module's state_dict.
"""

from __future__ import annotations

from . import ops
from .ir import Net, Scope


def state_dict(net: Net) -> list[tuple[str, tuple[int, ...]]]:
    out: list[tuple[str, tuple[int, ...]]] = []
    stack: list = [("module", net.root)]
    while stack:  # explicit stack: modules nest as deeply as the limits allow
        kind, item = stack.pop()
        if kind == "entries":
            out.extend(item)
            continue
        scope: Scope = item
        held: list = []
        rest: list = []
        for mem in scope.members:
            target = mem.collapsed_to if isinstance(mem, Scope) and mem.collapsed_to is not None else mem
            if isinstance(target, Scope):
                rest.append(("module", target))
                continue
            found = _layer(net, scope, target)
            if found is not None and found[0] == "held":
                held.extend(found[1])
            elif found is not None:
                rest.append(("entries", found[1]))
        stack.extend(reversed([("entries", held), *rest]))
    return out


def _layer(net: Net, parent: Scope, nid: int):
    node = net.node(nid)
    spec = ops.REGISTRY[node["op"]]
    if spec.state is None or node.get("shape") is None or not node.get("path"):
        return None
    entries = spec.state(node["args"], node["in_shapes"], node["shape"])
    path = node["path"]
    if spec.lowering.held is not None:
        if parent.sequential and parent.kind != "define":  # a module in an nn.Sequential: `gamma`
            return "module", [(f"{path}.gamma", shape) for _, shape in entries]
        return "held", [(path, shape) for _, shape in entries]
    return "module", [(f"{path}.{suffix}", shape) for suffix, shape in entries]
