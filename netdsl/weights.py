"""Weights: the generated network's weight initialisation (`init SCHEME`, as the reference
implementation does it) and its freezing (`freeze ...`), as code-model statements."""

from __future__ import annotations

from . import ops
from .codemodel import Expr, Raw, stmt_key
from .ir import Net, Scope


def module_kinds(net: Net) -> set[str]:
    """The nn classes in the network, with `X+bias` / `X-bias` (some have / lack a bias) and
    `BN-affine` (a batch norm without weight and bias)."""
    kinds = set()
    for n in net.op_nodes():
        node = net.node(n)
        op, args = node["op"], node["args"]
        if op == "shortcut":
            if ops.shortcut_plan(args, node["in_shapes"]):
                kinds.update({"Conv2d", "Conv2d+bias" if args["bias"] else "Conv2d-bias"})
                if args["bn"]:
                    kinds.add("BatchNorm2d")
            continue
        module = ops.REGISTRY[op].lowering.module_for(node["in_shapes"][0], node.get("layout", "first"))
        if module in ("BatchNorm1d", "BatchNorm2d") and not args["affine"]:
            kinds.add("BN-affine")
        if module in ("Conv2d", "Linear"):
            kinds.add(module + ("+bias" if args.get("bias", True) else "-bias"))
        if module:
            kinds.add(module)
    return kinds


def init_weights(net: Net) -> list[str] | None:
    scheme = net.init
    if scheme not in ("kaiming", "vgg", "googlenet"):
        return None
    k = module_kinds(net)

    def zero_bias(classes) -> list[str]:
        if not any(f"{c}+bias" in k for c in classes):
            return []
        if any(f"{c}-bias" in k for c in classes):
            return ["if m.bias is not None:", "    nn.init.constant_(m.bias, 0)"]
        return ["nn.init.constant_(m.bias, 0)"]

    def target(classes) -> str:
        return f"nn.{classes[0]}" if len(classes) == 1 else "(" + ", ".join(f"nn.{c}" for c in classes) + ")"

    branches: list[tuple[str, list[str]]] = []
    if scheme in ("kaiming", "vgg") and "Conv2d" in k:
        body = ['nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")']
        if scheme == "vgg":
            body += zero_bias(["Conv2d"])
        branches.append(("nn.Conv2d", body))
    if scheme == "googlenet":
        cls = [c for c in ("Conv2d", "Linear") if c in k]
        if cls:
            body = ["nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)", *zero_bias(cls)]
            branches.append((target(cls), body))
    bns = [b for b in ("BatchNorm1d", "BatchNorm2d") if b in k]
    if bns:
        body = ["nn.init.constant_(m.weight, 1)", "nn.init.constant_(m.bias, 0)"]
        if "BN-affine" in k:
            body = ["if m.weight is not None:", *("    " + b for b in body)]
        branches.append((target(bns), body))
    if scheme == "vgg" and "Linear" in k:
        branches.append(("nn.Linear", ["nn.init.normal_(m.weight, 0, 0.01)", *zero_bias(["Linear"])]))
    if not branches:
        return None
    lines = ["for m in self.modules():"]
    for i, (t, body) in enumerate(branches):
        lines.append(f"    {'if' if i == 0 else 'elif'} isinstance(m, {t}):")
        lines.extend("        " + b for b in body)
    return lines

def freeze(net: Net) -> list:
    frozen = {n for n in net.op_nodes() if not net.node(n).get("trainable", True) and net.node(n)["params"]}
    if not frozen:
        return []
    trainable = {n for n in net.op_nodes() if net.node(n).get("trainable", True) and net.node(n)["params"]}
    out: list = []
    done: set[int] = set()

    def visit(scope: Scope):
        nodes = set(scope.nodes())
        if scope is not net.root and scope.module and scope.path and nodes & frozen and not nodes & trainable:
            out.append(Expr(Raw(f"{_attr_path(scope.path)}.requires_grad_(False)")))
            done.update(nodes)
            return
        for ch in scope.children:
            if isinstance(ch, Scope):
                visit(ch)
            elif ch in frozen and ch not in done and net.node(ch).get("path"):
                done.add(ch)
                out.append(Expr(Raw(f"{_attr_path(net.node(ch)['path'])}.requires_grad_(False)")))

    visit(net.root)
    return list({stmt_key(s): s for s in out}.values())


def _attr_path(path: str) -> str:
    out = "self"
    for part in path.split("."):
        out += f"[{part}]" if part.isdigit() else f".{part}"
    return out
