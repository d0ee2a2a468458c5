"""An evaluation of netdsl's IR graph with torch.nn.functional, independent of netdsl's lowering.

`interpret(model, net, x)` computes every node of `net` (a `netdsl.check(...).net`) in order, in
eval mode, from the node's op, its evaluated arguments (`node["args"]`), its inputs and its input
shapes, reading only the *weights* from `model.state_dict()` at the node's `path` (`.weight`,
`.bias`, `.running_mean`, `.running_var`; a projection shortcut's 1x1 convolution and batch norm
at `<path>.0` and `<path>.1`, the nn.Sequential it is lowered to). Nothing here looks at which
module class or constructor arguments netdsl chose, so a wrong lowering (ReLU for relu6, a lost
eps, an off-by-one padding, a pooling mode) makes the model differ from this.

The semantics follow netdsl/ops.py's documentation of each op, written out again here:
conv/dw (padding "same" = dilation*(k-1)//2 per side; dw: groups = input channels, out = input
channels * multiplier), linear, bn (eval: running statistics, the node's eps; BatchNorm1d on
vectors), lrn, maxpool/avgpool (stride defaults to the kernel; ceil; count_include_pad),
adaptive pools, gap/gmp, activations, dropout/dropout2d/droppath (eval: identity), flatten,
concat/add/mul/mean/join (eval: the plain mean), shortcut (identity when the body keeps the
shape, else a 1x1 convolution with stride input/output size, optional bias, optional batch norm
with PyTorch's default eps), pad (left, right, top, bottom) and crop (top, left).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _padding(pad, kernel, dilation=1) -> tuple[int, int]:
    if pad == "same":
        (kh, kw), (dh, dw) = _pair(kernel), _pair(dilation)
        return (dh * (kh - 1) // 2, dw * (kw - 1) // 2)
    return _pair(pad)


class _Weights:
    """The model's state_dict, refusing a missing tensor, and one that the op should not have."""

    def __init__(self, model: nn.Module) -> None:
        self.sd = model.state_dict()

    def get(self, path: str | None, leaf: str, present: bool = True) -> Tensor | None:
        assert path, f"a node needing {leaf} has no path"
        key = f"{path}.{leaf}"
        if present:
            assert key in self.sd, f"{key} is missing from the model"
            return self.sd[key]
        assert key not in self.sd, f"{key} should not exist"
        return None


def _conv(x: Tensor, w: _Weights, path: str, a: dict, groups: int) -> Tensor:
    return F.conv2d(x, w.get(path, "weight"), w.get(path, "bias", a["bias"]), stride=_pair(a["stride"]),
                    padding=_padding(a["padding"], a["kernel"], a["dilation"]), dilation=_pair(a["dilation"]),
                    groups=groups)


def _bn(x: Tensor, w: _Weights, path: str, eps: float, affine: bool = True) -> Tensor:
    return F.batch_norm(x, w.get(path, "running_mean"), w.get(path, "running_var"),
                        w.get(path, "weight", affine), w.get(path, "bias", affine), training=False, eps=eps)


_ACTIVATIONS = {
    "relu": F.relu, "relu6": F.relu6, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "gelu": F.gelu,
    "silu": F.silu, "hardswish": F.hardswish, "hardsigmoid": F.hardsigmoid, "mish": F.mish,
    "identity": lambda t: t, "softmax": lambda t: F.softmax(t, 1), "log_softmax": lambda t: F.log_softmax(t, 1),
}


def evaluate(node: dict, ins: list[Tensor], w: _Weights) -> Tensor:
    op, a, path = node["op"], node["args"], node.get("path")
    x = ins[0] if ins else None
    if op == "conv":
        return _conv(x, w, path, a, a["groups"])
    if op == "dw":
        return _conv(x, w, path, a, x.shape[1])
    if op == "linear":
        return F.linear(x, w.get(path, "weight"), w.get(path, "bias", a["bias"]))
    if op == "bn":
        return _bn(x, w, path, a["eps"], a["affine"])
    if op == "lrn":
        return F.local_response_norm(x, a["size"], alpha=a["alpha"], beta=a["beta"], k=a["k"])
    if op in ("maxpool", "avgpool"):
        kernel = _pair(a["kernel"])
        stride = _pair(a["stride"]) if a["stride"] is not None else kernel
        padding = _padding(a["padding"], a["kernel"])
        if op == "maxpool":
            return F.max_pool2d(x, kernel, stride, padding, ceil_mode=a["ceil"])
        return F.avg_pool2d(x, kernel, stride, padding, ceil_mode=a["ceil"], count_include_pad=a["count_include_pad"])
    if op == "adaptive_avgpool":
        return F.adaptive_avg_pool2d(x, _pair(a["size"]))
    if op == "adaptive_maxpool":
        return F.adaptive_max_pool2d(x, _pair(a["size"]))
    if op == "gap":
        return x.mean((2, 3), keepdim=True)
    if op == "gmp":
        return x.amax((2, 3), keepdim=True)
    if op in _ACTIVATIONS:
        return _ACTIVATIONS[op](x)
    if op == "leaky_relu":
        return F.leaky_relu(x, a["slope"])
    if op == "elu":
        return F.elu(x, a["alpha"])
    if op == "prelu":
        return F.prelu(x, w.get(path, "weight"))
    if op in ("dropout", "dropout2d", "droppath"):
        return x  # eval mode
    if op == "flatten":
        return x.flatten(1)
    if op == "concat":
        return torch.cat(ins, 1)
    if op == "add":
        out = ins[0]
        for t in ins[1:]:
            out = out + t
        return out
    if op == "mul":
        out = ins[0]
        for t in ins[1:]:
            out = out * t
        return out
    if op in ("mean", "join"):  # eval mode: no drop-path
        return torch.stack(ins).mean(0)
    if op == "shortcut":
        if node["in_shapes"][0] == node["in_shapes"][1]:
            return x
        h, h2 = node["in_shapes"][0][1], node["in_shapes"][1][1]
        assert h % h2 == 0, node["in_shapes"]
        y = F.conv2d(x, w.get(path, "0.weight"), w.get(path, "0.bias", a["bias"]), stride=h // h2)
        if a["bn"]:
            y = _bn(y, w, f"{path}.1", 1e-5)
        else:
            w.get(path, "1.running_mean", False)
        return y
    if op == "pad":
        left, right, top, bottom = a["sides"]
        return F.pad(x, (left, right, top, bottom))
    if op == "crop":
        top, left = a["offset"]
        return x[:, :, top:, left:]
    raise NotImplementedError(f"no independent semantics for op {op!r}: add it here")


@torch.no_grad()
def interpret(model: nn.Module, net, x: Tensor) -> dict[int, Tensor]:
    """Every node's value (eval mode) for the input batch `x`; each checked against the shape
    `netdsl check` gives the node."""
    w = _Weights(model)
    vals = {net.input_node: x}
    for nid in net.op_nodes():
        node = net.node(nid)
        y = evaluate(node, [vals[i] for i in node["inputs"]], w)
        assert tuple(y.shape[1:]) == tuple(node["shape"]), (node["op"], node.get("path"), y.shape, node["shape"])
        vals[nid] = y
    return vals
