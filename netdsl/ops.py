"""The op registry: every rule of an op in one place.

For each op: its arguments (names, types, defaults, positional order), its shape rule, its
parameter and multiply-accumulate (MAC) rules, what autograd saves for backward (for the
training-memory estimate), how its output channels follow from its inputs (for generated
classes), and how it lowers to PyTorch (a module class and constructor arguments, or an
inline expression). Adding an op touches this file only. An op registered without a cost rule
is refused at import time: there are no silent zeros.

Shapes exclude the batch dimension: (C, H, W) for feature maps, (F,) for vectors.
This module must not import torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

Shape = tuple[int, ...]


class ShapeProblem(Exception):
    """Raised by a shape rule; the shapes pass adds the location and the expansion trail."""

    def __init__(self, message: str, expected: str | None = None, found: str | None = None,
                 hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.expected = expected
        self.found = found
        self.hint = hint


def fmt_shape(shape: Shape | None) -> str:
    if shape is None:
        return "?"
    return "x".join(str(d) for d in shape)


def fmt_nchw(shape: Shape) -> str:
    if len(shape) == 3:
        return f"(N, {shape[0]}, {shape[1]}, {shape[2]})"
    return "(N, " + ", ".join(str(d) for d in shape) + ")"


# ------------------------------------------------------------------------ argument types


@dataclass(frozen=True)
class ArgSpec:
    name: str
    type: str  # int | pos_int | pair | padding | float | prob | bool | act | dims | str | int_or_none
    default: object = None
    required: bool = False
    aliases: tuple[str, ...] = ()
    doc: str = ""


ACTIVATIONS = ("relu", "relu6", "sigmoid", "tanh", "leaky_relu", "elu", "gelu", "silu", "swish",
               "hardswish", "hardsigmoid", "mish", "softmax", "log_softmax", "identity", "id", "none")


@dataclass(frozen=True)
class Lowering:
    """How an op becomes PyTorch.

    `module`: an `nn` class name and a function (args, in_shapes, out_shape) -> list of
    (keyword or None, python literal value) constructor arguments; or `inline`: a format
    string over the input variable names (`{0}`, `{1}`, `{all}`) for ops that are plain
    expressions (add, concat, flatten).
    """

    module: str | None = None
    ctor: Callable[..., list[tuple[str | None, object]]] | None = None
    inline: str | None = None
    seq_module: str | None = None  # module to use for an inline op inside nn.Sequential


@dataclass(frozen=True)
class OpSpec:
    name: str
    doc: str
    args: tuple[ArgSpec, ...]
    positional: tuple[str, ...]
    shape: Callable[[dict, list[Shape]], Shape]
    params: Callable[[dict, list[Shape], Shape], int]
    macs: Callable[[dict, list[Shape], Shape], int]
    saved: Callable[[dict, list[Shape], Shape], int]
    channels: Callable[[dict, list], object]  # symbolic output channels from input channels
    lowering: Lowering
    inputs: tuple[int, int | None] = (1, 1)  # min, max number of inputs
    base_name: str = ""  # attribute name stem in generated modules
    numbered: bool = True  # conv1, conv2 ... even when alone
    shared: bool = False  # stateless: one module instance serves every use in a class
    stride_arg: str | None = None  # argument that downsamples (for residual shortcuts)
    arg_index: dict[str, ArgSpec] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        for a in self.args:
            self.arg_index[a.name] = a
            for al in a.aliases:
                self.arg_index[al] = a


REGISTRY: dict[str, OpSpec] = {}
ALIASES: dict[str, str] = {}


def register(spec: OpSpec, aliases: tuple[str, ...] = ()) -> OpSpec:
    for rule in ("shape", "params", "macs", "saved", "channels"):
        if getattr(spec, rule) is None:
            raise TypeError(f"op {spec.name!r} has no {rule} rule")
    if spec.lowering is None or (spec.lowering.module is None and spec.lowering.inline is None):
        raise TypeError(f"op {spec.name!r} has no lowering")
    REGISTRY[spec.name] = spec
    for al in aliases:
        ALIASES[al] = spec.name
    return spec


def lookup(name: str) -> OpSpec | None:
    return REGISTRY.get(ALIASES.get(name, name))


def all_names() -> list[str]:
    return sorted(set(REGISTRY) | set(ALIASES))


# ------------------------------------------------------------------------ shared helpers


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def _need_rank(op: str, shape: Shape, rank: int) -> None:
    if len(shape) != rank:
        if rank == 3:
            raise ShapeProblem(
                f"{op} needs a 4-D input (N, C, H, W)",
                expected="(N, C, H, W)",
                found=f"a {len(shape) + 1}-D tensor {fmt_nchw(shape)}",
                hint="a feature map was flattened earlier (flatten / linear) and cannot be convolved"
                if len(shape) == 1 else None,
            )
        raise ShapeProblem(
            f"{op} needs a 2-D input (N, features)",
            expected="(N, F)",
            found=f"a {len(shape) + 1}-D tensor {fmt_nchw(shape)}",
            hint="add `flatten` (or `gap; flatten`) before it",
        )


def _same(a: dict, ins: list) -> object:
    return ins[0]


def _zero(a, ins, out) -> int:
    return 0


def _numel(shape: Shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _saved_input(a, ins, out) -> int:
    return _numel(ins[0])


def _saved_output(a, ins, out) -> int:
    return _numel(out)


def _window(op: str, size: int, k: int, s: int, p: int, d: int, ceil: bool, axis: str) -> int:
    eff = d * (k - 1) + 1
    padded = size + 2 * p
    if eff > padded:
        raise ShapeProblem(
            f"{op}: kernel {k}" + (f" (dilated extent {eff})" if d != 1 else "")
            + f" is larger than the padded input {axis} {padded}",
            expected=f"{axis} + 2*padding >= {eff}",
            found=f"{axis} {size} with padding {p}",
            hint="the feature map is already too small here: remove a downsampling step, or pad",
        )
    num = padded - eff
    out = (-(-num // s) if ceil else num // s) + 1
    if ceil and (out - 1) * s >= size + p:  # PyTorch: the last window must start inside the input
        out -= 1
    if out <= 0:
        raise ShapeProblem(f"{op}: output {axis} would be {out}", found=f"{axis} {size}")
    return out


def resolve_padding(pad, kernel, dilation) -> tuple[int, int]:
    if pad == "same":
        k, d = _pair(kernel), _pair(dilation)
        return ((d[0] * (k[0] - 1)) // 2, (d[1] * (k[1] - 1)) // 2)
    return _pair(pad)


# ------------------------------------------------------------------------ convolution


def conv_out_channels(a: dict, c):
    """`out`, or the input channels times `ratio` (DenseNet's compression); works on symbols too."""
    if a.get("out") is not None:
        return a["out"]
    if a.get("ratio") is not None:
        f = Fraction(a["ratio"]).limit_denominator(1000)
        if isinstance(c, int) and (c * f.numerator) % f.denominator:
            raise ShapeProblem(
                f"conv: {c} input channels times ratio {a['ratio']} is not a whole number",
                expected="a ratio that gives whole channels", found=f"{c} x {a['ratio']}")
        return c * f.numerator // f.denominator
    return c


def _conv_shape(a: dict, ins: list[Shape]) -> Shape:
    x = ins[0]
    _need_rank("conv", x, 3)
    c, h, w = x
    groups = a["groups"]
    out = conv_out_channels(a, c)
    if c % groups:
        raise ShapeProblem(
            f"conv: input channels {c} are not divisible by groups={groups}",
            expected=f"input channels a multiple of {groups}",
            found=f"{c} channels",
        )
    if out % groups:
        raise ShapeProblem(
            f"conv: output channels {out} are not divisible by groups={groups}",
            expected=f"output channels a multiple of {groups}",
            found=f"{out} channels",
        )
    kh, kw = _pair(a["kernel"])
    sh, sw = _pair(a["stride"])
    ph, pw = resolve_padding(a["padding"], a["kernel"], a["dilation"])
    dh, dw = _pair(a["dilation"])
    return (out, _window("conv", h, kh, sh, ph, dh, False, "height"),
            _window("conv", w, kw, sw, pw, dw, False, "width"))


def _conv_params(a, ins, out) -> int:
    cin = ins[0][0]
    kh, kw = _pair(a["kernel"])
    return out[0] * (cin // a["groups"]) * kh * kw + (out[0] if a["bias"] else 0)


def _conv_macs(a, ins, out) -> int:
    cin = ins[0][0]
    kh, kw = _pair(a["kernel"])
    return out[0] * out[1] * out[2] * (cin // a["groups"]) * kh * kw


def _conv_ctor(a, ins, out, cin=None, cout=None):
    kh, kw = _pair(a["kernel"])
    ph, pw = resolve_padding(a["padding"], a["kernel"], a["dilation"])
    kv = [(None, cin if cin is not None else ins[0][0]), (None, cout if cout is not None else out[0]),
          ("kernel_size", kh if kh == kw else (kh, kw))]
    s = _pair(a["stride"])
    if s != (1, 1):
        kv.append(("stride", s[0] if s[0] == s[1] else s))
    if (ph, pw) != (0, 0):
        kv.append(("padding", ph if ph == pw else (ph, pw)))
    d = _pair(a["dilation"])
    if d != (1, 1):
        kv.append(("dilation", d[0] if d[0] == d[1] else d))
    if a["groups"] != 1:
        kv.append(("groups", a["groups"]))
    if not a["bias"]:
        kv.append(("bias", False))
    return kv


_CONV_ARGS = (
    ArgSpec("kernel", "pair", required=True, aliases=("k",), doc="kernel size, 3 or 3x3 or 1x7"),
    ArgSpec("out", "pos_int", None, aliases=("c", "channels"), doc="output channels (x64)"),
    ArgSpec("ratio", "float", None, doc="output channels = input channels x ratio (instead of out)"),
    ArgSpec("stride", "pair", 1, aliases=("s",), doc="stride (3x3/2)"),
    ArgSpec("padding", "padding", 0, aliases=("p", "pad"), doc='padding (p1), or "same"'),
    ArgSpec("dilation", "pair", 1, aliases=("d",), doc="dilation"),
    ArgSpec("groups", "pos_int", 1, aliases=("g",), doc="groups (depthwise: groups = channels)"),
    ArgSpec("bias", "bool", True, doc="add a bias (PyTorch's default)"),
    ArgSpec("bn", "bool", False, doc="follow with batch norm"),
    ArgSpec("act", "act", "none", doc="follow with this activation"),
)

register(OpSpec(
    name="conv",
    doc="2-D convolution: conv 3x3/2 p1 x64 [groups=g dilation=d bias=false bn act=relu]",
    args=_CONV_ARGS,
    positional=("kernel", "out"),
    shape=_conv_shape,
    params=_conv_params,
    macs=_conv_macs,
    saved=_saved_input,
    channels=lambda a, ins: conv_out_channels(a, ins[0]),
    lowering=Lowering("Conv2d", _conv_ctor),
    base_name="conv",
    stride_arg="stride",
), aliases=("conv2d",))


def _dw_shape(a, ins):
    x = ins[0]
    _need_rank("dw", x, 3)
    b = dict(a, groups=x[0], out=x[0] * a["multiplier"])
    return _conv_shape(b, ins)


def _dw_full(a, ins):
    return dict(a, groups=ins[0][0], out=ins[0][0] * a["multiplier"])


register(OpSpec(
    name="dw",
    doc="depthwise convolution (groups = input channels): dw 3x3/2 [multiplier=1 bn act=relu]",
    args=tuple(x for x in _CONV_ARGS if x.name not in ("out", "groups", "ratio"))
    + (ArgSpec("multiplier", "pos_int", 1, doc="channel multiplier"),),
    positional=("kernel",),
    shape=_dw_shape,
    params=lambda a, ins, out: _conv_params(_dw_full(a, ins), ins, out),
    macs=lambda a, ins, out: _conv_macs(_dw_full(a, ins), ins, out),
    saved=_saved_input,
    channels=lambda a, ins: ins[0] * a["multiplier"] if a["multiplier"] != 1 else ins[0],
    lowering=Lowering("Conv2d", lambda a, ins, out, cin=None, cout=None: _conv_ctor(
        dict(_dw_full(a, ins), groups="__IN__"), ins, out, cin, cout)),
    base_name="conv",
    stride_arg="stride",
), aliases=("dwconv", "depthwise"))


# ------------------------------------------------------------------------ linear


def _linear_shape(a, ins):
    x = ins[0]
    _need_rank("linear", x, 1)
    return (a["out"],)


register(OpSpec(
    name="linear",
    doc="fully connected layer: linear 4096 [bias=false bn act=relu]",
    args=(ArgSpec("out", "pos_int", required=True, aliases=("c", "features")),
          ArgSpec("bias", "bool", True), ArgSpec("bn", "bool", False), ArgSpec("act", "act", "none")),
    positional=("out",),
    shape=_linear_shape,
    params=lambda a, ins, out: ins[0][0] * out[0] + (out[0] if a["bias"] else 0),
    macs=lambda a, ins, out: ins[0][0] * out[0],
    saved=_saved_input,
    channels=lambda a, ins: a["out"],
    lowering=Lowering("Linear", lambda a, ins, out, cin=None, cout=None: [
        (None, cin if cin is not None else ins[0][0]), (None, cout if cout is not None else out[0])]
        + ([] if a["bias"] else [("bias", False)])),
    base_name="fc",
    numbered=False,
), aliases=("fc", "dense"))


# ------------------------------------------------------------------------ normalisation


def _bn_shape(a, ins):
    x = ins[0]
    if len(x) not in (1, 3):
        raise ShapeProblem("bn needs a 2-D or 4-D input", found=fmt_nchw(x))
    return x


def _bn_ctor(a, ins, out, cin=None, cout=None):
    kv = [(None, cin if cin is not None else ins[0][0])]
    if a["eps"] != 1e-5:
        kv.append(("eps", a["eps"]))
    if a["momentum"] != 0.1:
        kv.append(("momentum", a["momentum"]))
    if not a["affine"]:
        kv.append(("affine", False))
    return kv


register(OpSpec(
    name="bn",
    doc="batch normalisation over channels (features for 2-D input): bn [eps=1e-5 momentum=0.1]",
    args=(ArgSpec("eps", "float", 1e-5), ArgSpec("momentum", "float", 0.1), ArgSpec("affine", "bool", True)),
    positional=(),
    shape=_bn_shape,
    params=lambda a, ins, out: 2 * ins[0][0] if a["affine"] else 0,
    macs=_zero,
    saved=_saved_input,
    channels=_same,
    lowering=Lowering("BatchNorm2d", _bn_ctor),  # BatchNorm1d for 2-D inputs: see lower/codegen
    base_name="bn",
), aliases=("batchnorm",))


def _lrn_shape(a, ins):
    _need_rank("lrn", ins[0], 3)
    return ins[0]


register(OpSpec(
    name="lrn",
    doc="local response normalisation across channels: lrn 5 [alpha=1e-4 beta=0.75 k=2]",
    args=(ArgSpec("size", "pos_int", 5), ArgSpec("alpha", "float", 1e-4), ArgSpec("beta", "float", 0.75),
          ArgSpec("k", "float", 1.0)),
    positional=("size",),
    shape=_lrn_shape,
    params=_zero,
    macs=_zero,
    saved=lambda a, ins, out: 2 * _numel(out),
    channels=_same,
    lowering=Lowering("LocalResponseNorm", lambda a, ins, out, cin=None, cout=None: [
        (None, a["size"]), ("alpha", a["alpha"]), ("beta", a["beta"]), ("k", a["k"])]),
    base_name="lrn",
    numbered=False,
))


# ------------------------------------------------------------------------ pooling


def _pool_shape(op):
    def rule(a, ins):
        x = ins[0]
        _need_rank(op, x, 3)
        c, h, w = x
        kh, kw = _pair(a["kernel"])
        st = a["stride"] if a["stride"] is not None else a["kernel"]
        sh, sw = _pair(st)
        ph, pw = resolve_padding(a["padding"], a["kernel"], a.get("dilation", 1))
        if ph > kh // 2 or pw > kw // 2:
            raise ShapeProblem(
                f"{op}: padding {max(ph, pw)} is more than half the kernel {kh}x{kw}",
                expected=f"padding <= {min(kh, kw) // 2}",
                found=f"padding {max(ph, pw)}",
                hint="PyTorch refuses pooling windows that can lie entirely in the padding",
            )
        dh, dw = _pair(a.get("dilation", 1))
        return (c, _window(op, h, kh, sh, ph, dh, a["ceil"], "height"),
                _window(op, w, kw, sw, pw, dw, a["ceil"], "width"))
    return rule


def _pool_ctor(a, ins, out, cin=None, cout=None):
    kh, kw = _pair(a["kernel"])
    kv = [(None, kh if kh == kw else (kh, kw))]
    st = _pair(a["stride"] if a["stride"] is not None else a["kernel"])
    if st != (kh, kw):
        kv.append(("stride", st[0] if st[0] == st[1] else st))
    ph, pw = resolve_padding(a["padding"], a["kernel"], a.get("dilation", 1))
    if (ph, pw) != (0, 0):
        kv.append(("padding", ph if ph == pw else (ph, pw)))
    if a["ceil"]:
        kv.append(("ceil_mode", True))
    if "count_include_pad" in a and not a["count_include_pad"]:
        kv.append(("count_include_pad", False))
    return kv


_POOL_ARGS = (
    ArgSpec("kernel", "pair", required=True, aliases=("k",)),
    ArgSpec("stride", "pair", None, aliases=("s",), doc="defaults to the kernel size"),
    ArgSpec("padding", "padding", 0, aliases=("p", "pad")),
    ArgSpec("ceil", "bool", False, aliases=("ceil_mode",)),
)

register(OpSpec(
    name="maxpool",
    doc="max pooling: pool 3x3/2 [p1 ceil]",
    args=_POOL_ARGS,
    positional=("kernel",),
    shape=_pool_shape("maxpool"),
    params=_zero,
    macs=_zero,
    saved=lambda a, ins, out: _numel(ins[0]) + _numel(out),  # input + int64 indices (counted as values)
    channels=_same,
    lowering=Lowering("MaxPool2d", _pool_ctor),
    base_name="maxpool",
    numbered=False,
    stride_arg="stride",
), aliases=("pool", "max_pool"))

register(OpSpec(
    name="avgpool",
    doc="average pooling: avgpool 5x5/3 [p1 ceil count_include_pad=false]",
    args=_POOL_ARGS + (ArgSpec("count_include_pad", "bool", True),),
    positional=("kernel",),
    shape=_pool_shape("avgpool"),
    params=_zero,
    macs=_zero,
    saved=_zero,
    channels=_same,
    lowering=Lowering("AvgPool2d", _pool_ctor),
    base_name="avgpool",
    numbered=False,
    stride_arg="stride",
), aliases=("avg_pool",))


def _adaptive_shape(op):
    def rule(a, ins):
        x = ins[0]
        _need_rank(op, x, 3)
        oh, ow = _pair(a["size"])
        return (x[0], oh, ow)
    return rule


def _adaptive_ctor(a, ins, out, cin=None, cout=None):
    oh, ow = _pair(a["size"])
    return [(None, oh if oh == ow else (oh, ow))]


register(OpSpec(
    name="adaptive_avgpool",
    doc="adaptive average pooling to a fixed size: adaptive_avgpool 7x7",
    args=(ArgSpec("size", "pair", required=True),),
    positional=("size",),
    shape=_adaptive_shape("adaptive_avgpool"),
    params=_zero, macs=_zero, saved=_zero, channels=_same,
    lowering=Lowering("AdaptiveAvgPool2d", _adaptive_ctor),
    base_name="avgpool",
    numbered=False,
))

register(OpSpec(
    name="adaptive_maxpool",
    doc="adaptive max pooling to a fixed size: adaptive_maxpool 7x7",
    args=(ArgSpec("size", "pair", required=True),),
    positional=("size",),
    shape=_adaptive_shape("adaptive_maxpool"),
    params=_zero, macs=_zero, saved=lambda a, ins, out: _numel(ins[0]) + _numel(out), channels=_same,
    lowering=Lowering("AdaptiveMaxPool2d", _adaptive_ctor),
    base_name="maxpool",
    numbered=False,
))


def _global_shape(op):
    def rule(a, ins):
        _need_rank(op, ins[0], 3)
        return (ins[0][0], 1, 1)
    return rule


register(OpSpec(
    name="gap",
    doc="global average pooling to 1x1 (AdaptiveAvgPool2d(1))",
    args=(), positional=(),
    shape=_global_shape("gap"),
    params=_zero, macs=_zero, saved=_zero, channels=_same,
    lowering=Lowering("AdaptiveAvgPool2d", lambda a, ins, out, cin=None, cout=None: [(None, 1)]),
    base_name="avgpool",
    numbered=False,
), aliases=("global_avgpool",))

register(OpSpec(
    name="gmp",
    doc="global max pooling to 1x1 (AdaptiveMaxPool2d(1))",
    args=(), positional=(),
    shape=_global_shape("gmp"),
    params=_zero, macs=_zero, saved=lambda a, ins, out: _numel(ins[0]) + _numel(out), channels=_same,
    lowering=Lowering("AdaptiveMaxPool2d", lambda a, ins, out, cin=None, cout=None: [(None, 1)]),
    base_name="maxpool",
    numbered=False,
), aliases=("global_maxpool",))


# ------------------------------------------------------------------------ activations


def _any_shape(a, ins):
    return ins[0]


def _act(name, module, doc, args=(), ctor=None, saved=_saved_output, aliases=()):
    register(OpSpec(
        name=name, doc=doc, args=args, positional=tuple(x.name for x in args[:1]),
        shape=_any_shape, params=_zero, macs=_zero, saved=saved, channels=_same,
        lowering=Lowering(module, ctor or (lambda a, ins, out, cin=None, cout=None: [])),
        base_name=name, numbered=False, shared=True,
    ), aliases=aliases)


def _inplace(a, ins, out, cin=None, cout=None):
    return [("inplace", True)]


_act("relu", "ReLU", "rectified linear unit", ctor=_inplace)
_act("relu6", "ReLU6", "ReLU clipped at 6 (MobileNet)", ctor=_inplace)
_act("sigmoid", "Sigmoid", "logistic sigmoid")
_act("tanh", "Tanh", "hyperbolic tangent")
_act("leaky_relu", "LeakyReLU", "leaky ReLU: leaky_relu 0.1", args=(ArgSpec("slope", "float", 0.01),),
     ctor=lambda a, ins, out, cin=None, cout=None: [(None, a["slope"])] if a["slope"] != 0.01 else [])
_act("elu", "ELU", "exponential linear unit", args=(ArgSpec("alpha", "float", 1.0),),
     ctor=lambda a, ins, out, cin=None, cout=None: [("alpha", a["alpha"])] if a["alpha"] != 1.0 else [])
_act("gelu", "GELU", "Gaussian error linear unit", saved=_saved_input)
_act("silu", "SiLU", "sigmoid-weighted linear unit (swish)", saved=_saved_input, aliases=("swish",))
_act("hardswish", "Hardswish", "hard swish (MobileNet v3)", saved=_saved_input)
_act("hardsigmoid", "Hardsigmoid", "hard sigmoid", saved=_saved_input)
_act("mish", "Mish", "mish", saved=_saved_input)
_act("identity", "Identity", "passes its input through", saved=_zero, aliases=("id",))


def _softmax_shape(a, ins):
    return ins[0]


for _name, _mod in (("softmax", "Softmax"), ("log_softmax", "LogSoftmax")):
    register(OpSpec(
        name=_name, doc=f"{_name} over channels/features (dim 1)", args=(), positional=(),
        shape=_softmax_shape, params=_zero, macs=_zero, saved=_saved_output, channels=_same,
        lowering=Lowering(_mod, lambda a, ins, out, cin=None, cout=None: [("dim", 1)]),
        base_name=_name, numbered=False, shared=True,
    ))


def _prelu_shape(a, ins):
    n = a["num"]
    if n not in (1, ins[0][0]):
        raise ShapeProblem(
            f"prelu: {n} parameters for {ins[0][0]} channels",
            expected=f"num=1 or num={ins[0][0]}",
            found=f"num={n}",
        )
    return ins[0]


register(OpSpec(
    name="prelu",
    doc="parametric ReLU: prelu [num=1 | num=channels]",
    args=(ArgSpec("num", "pos_int", 1),),
    positional=("num",),
    shape=_prelu_shape,
    params=lambda a, ins, out: a["num"],
    macs=_zero, saved=_saved_input, channels=_same,
    lowering=Lowering("PReLU", lambda a, ins, out, cin=None, cout=None: [] if a["num"] == 1
                      else [(None, a["num"])]),
    base_name="prelu",
))


# ------------------------------------------------------------------------ regularisation


def _prob(a, ins):
    p = a["p"]
    if not 0.0 <= p < 1.0:
        raise ShapeProblem(f"drop probability {p} is outside [0, 1)", expected="0 <= p < 1", found=str(p))
    return ins[0]


register(OpSpec(
    name="dropout",
    doc="dropout (train only): dropout 0.5",
    args=(ArgSpec("p", "float", 0.5),), positional=("p",),
    shape=_prob, params=_zero, macs=_zero, saved=_saved_output, channels=_same,
    lowering=Lowering("Dropout", lambda a, ins, out, cin=None, cout=None: [("p", a["p"])]),
    base_name="dropout", numbered=False,
))

register(OpSpec(
    name="dropout2d",
    doc="channel dropout (train only): dropout2d 0.1",
    args=(ArgSpec("p", "float", 0.5),), positional=("p",),
    shape=_prob, params=_zero, macs=_zero, saved=_saved_output, channels=_same,
    lowering=Lowering("Dropout2d", lambda a, ins, out, cin=None, cout=None: [("p", a["p"])]),
    base_name="dropout", numbered=False,
))


# ------------------------------------------------------------------------ reshaping


def _flatten_shape(a, ins):
    return (_numel(ins[0]),)


def _flatten_channels(a, ins):
    return ins[0]  # (symbolic channels) x H x W: the caller multiplies the spatial size


register(OpSpec(
    name="flatten",
    doc="flatten to (N, C*H*W)",
    args=(), positional=(),
    shape=_flatten_shape, params=_zero, macs=_zero, saved=_zero, channels=_flatten_channels,
    lowering=Lowering(inline="torch.flatten({0}, 1)", seq_module="Flatten"),
    base_name="flatten", numbered=False, shared=True,
))


# ------------------------------------------------------------------------ merges (n inputs)


def _merge_same(op):
    def rule(a, ins):
        first = ins[0]
        for i, s in enumerate(ins[1:], start=2):
            if s != first:
                raise ShapeProblem(
                    f"{op}: branch {i} has shape {fmt_shape(s)}, branch 1 has {fmt_shape(first)}",
                    expected=f"every branch {fmt_shape(first)}",
                    found=", ".join(fmt_shape(x) for x in ins),
                    hint="branches must keep the same channels and spatial size; check strides and paddings",
                )
        return first
    return rule


def _concat_shape(a, ins):
    first = ins[0]
    for i, s in enumerate(ins[1:], start=2):
        if len(s) != len(first) or s[1:] != first[1:]:
            raise ShapeProblem(
                f"concat: branch {i} is {fmt_shape(s)}, branch 1 is {fmt_shape(first)}; "
                "only the channels may differ",
                expected=f"every branch Cx{fmt_shape(first[1:])}",
                found=", ".join(fmt_shape(x) for x in ins),
                hint="branches of an inception/concat block must keep the same height and width: "
                "check strides and paddings (inside a block `KxK:C` and pools are same-padded)",
            )
    return (sum(s[0] for s in ins),) + tuple(first[1:])


def _mul_shape(a, ins):
    out = list(ins[0])
    for i, s in enumerate(ins[1:], start=2):
        if len(s) != len(out):
            raise ShapeProblem(f"mul: branch {i} has rank {len(s)}, branch 1 has {len(out)}",
                               found=", ".join(fmt_shape(x) for x in ins))
        for k, (x, y) in enumerate(zip(out, s, strict=True)):
            if x != y and 1 not in (x, y):
                raise ShapeProblem(
                    f"mul: shapes {fmt_shape(tuple(out))} and {fmt_shape(s)} do not broadcast",
                    expected="equal sizes, or 1 on one side (e.g. channel attention Cx1x1)",
                    found=", ".join(fmt_shape(x) for x in ins),
                )
            out[k] = max(x, y)
    return tuple(out)


def _sum_channels(a, ins):
    total = ins[0]
    for c in ins[1:]:
        total = total + c
    return total


register(OpSpec(
    name="concat", doc="concatenate along channels", args=(), positional=(),
    shape=_concat_shape, params=_zero, macs=_zero, saved=_zero, channels=_sum_channels,
    lowering=Lowering(inline="torch.cat([{all}], 1)"), inputs=(1, None), base_name="concat",
), aliases=("cat",))

register(OpSpec(
    name="add", doc="element-wise sum", args=(), positional=(),
    shape=_merge_same("add"), params=_zero, macs=_zero, saved=_zero, channels=_same,
    lowering=Lowering(inline="{sum}"), inputs=(1, None), base_name="add",
))

register(OpSpec(
    name="mul", doc="element-wise product with broadcasting (channel attention)", args=(), positional=(),
    shape=_mul_shape, params=_zero, macs=_zero, saved=lambda a, ins, out: sum(_numel(s) for s in ins),
    channels=_same, lowering=Lowering(inline="{prod}"), inputs=(1, None), base_name="mul",
))

register(OpSpec(
    name="mean", doc="element-wise mean (FractalNet's join); mean(droppath=0.15)<...> drops inputs in training",
    args=(ArgSpec("droppath", "float", 0.0, doc="local drop-path: each input dropped with this probability"),),
    positional=(),
    shape=_merge_same("mean"), params=_zero, macs=_zero, saved=_zero, channels=_same,
    lowering=Lowering(inline="({sum}) / {n}"), inputs=(1, None), base_name="join",
))


# ------------------------------------------------------------------------ residual shortcut


def shortcut_plan(a: dict, ins: list[Shape]) -> tuple[int, int] | None:
    """The projection a residual shortcut needs: (out channels, stride), or None for identity."""
    x, body = ins
    if x == body:
        return None
    if len(x) != 3 or len(body) != 3:
        raise ShapeProblem(
            "residual: the body changes the rank of the tensor; no shortcut can match it",
            expected=f"a body output like {fmt_shape(x)}",
            found=f"a {len(body) + 1}-D tensor {fmt_nchw(body)}",
        )
    c, h, w = x
    c2, h2, w2 = body
    if h2 > h or w2 > w or h % h2 or w % w2 or h // h2 != w // w2:
        sh = f"{h}x{w} -> {h2}x{w2}"
        raise ShapeProblem(
            f"residual: the body maps {sh}, which no strided 1x1 projection can match",
            expected=f"an output size {h}x{w} divided by a whole stride",
            found=f"{h2}x{w2}",
            hint="use same-padded convolutions (`KxK:C`) in residual bodies",
        )
    s = h // h2
    if -(-h // s) != h2:
        raise ShapeProblem(f"residual: no stride maps {h}x{w} to {h2}x{w2}", found=f"{h2}x{w2}")
    return (c2, s)


def _shortcut_shape(a, ins):
    shortcut_plan(a, ins)
    return ins[1]


def _shortcut_params(a, ins, out):
    plan = shortcut_plan(a, ins)
    if plan is None:
        return 0
    c_out, _ = plan
    return ins[0][0] * c_out + (c_out if a["bias"] else 0) + (2 * c_out if a["bn"] else 0)


def _shortcut_macs(a, ins, out):
    plan = shortcut_plan(a, ins)
    if plan is None:
        return 0
    return ins[0][0] * out[0] * out[1] * out[2]


register(OpSpec(
    name="shortcut",
    doc="residual shortcut: identity, or a strided 1x1 projection (+bn) when the body changes shape",
    args=(ArgSpec("bias", "bool", False), ArgSpec("bn", "bool", False)),
    positional=(),
    shape=_shortcut_shape,
    params=_shortcut_params,
    macs=_shortcut_macs,
    saved=lambda a, ins, out: _numel(ins[0]) * (2 if a["bn"] else 1) if shortcut_plan(a, ins) else 0,
    channels=lambda a, ins: ins[1],
    lowering=Lowering(inline="{0}", seq_module=None),  # projection lowered by lower/codegen
    inputs=(2, 2),
    base_name="downsample",
    numbered=False,
))


# ------------------------------------------------------------------------ drop-path


register(OpSpec(
    name="droppath",
    doc="drop-path / stochastic depth on a residual branch (train only): droppath 0.2",
    args=(ArgSpec("p", "float", 0.0),), positional=("p",),
    shape=_prob, params=_zero, macs=_zero, saved=_zero, channels=_same,
    lowering=Lowering("DropPath", lambda a, ins, out, cin=None, cout=None: [(None, a["p"])]),
    base_name="droppath", numbered=False,
), aliases=("drop_path",))


# ------------------------------------------------------------------------ zero padding


def _need_sizes(op: str, values: tuple, n: int, what: str, example: str) -> None:
    if len(values) != n:
        raise ShapeProblem(f"{op} takes {what}, found {len(values)}", expected=example,
                           found="x".join(map(str, values)))


def _pad_shape(a, ins):
    x = ins[0]
    _need_rank("pad", x, 3)
    _need_sizes("pad", a["sides"], 4, "four sizes (left x right x top x bottom)", "sides like 0x1x0x1")
    left, right, top, bottom = a["sides"]
    return (x[0], x[1] + top + bottom, x[2] + left + right)


register(OpSpec(
    name="pad",
    doc="zero padding: pad sides=0x1x0x1 (left x right x top x bottom)",
    args=(ArgSpec("sides", "dims", required=True),), positional=("sides",),
    shape=_pad_shape, params=_zero, macs=_zero, saved=_zero, channels=_same,
    lowering=Lowering("ZeroPad2d", lambda a, ins, out, cin=None, cout=None: [(None, tuple(a["sides"]))]),
    base_name="pad", numbered=False,
))


def _crop_shape(a, ins):
    x = ins[0]
    _need_rank("crop", x, 3)
    _need_sizes("crop", a["offset"], 2, "two offsets (top x left)", "an offset like 1x1")
    top, left = a["offset"]
    if top >= x[1] or left >= x[2]:
        raise ShapeProblem("crop: offset removes the whole feature map",
                           expected=f"offsets below {x[1]}x{x[2]}", found=f"{top}x{left} on {fmt_shape(x)}")
    return (x[0], x[1] - top, x[2] - left)


register(OpSpec(
    name="crop",
    doc="drop the first rows/columns: crop 1x1 (top x left), as in NASNet's shifted path",
    args=(ArgSpec("offset", "dims", required=True),), positional=("offset",),  # kept as a tuple for lowering
    shape=_crop_shape, params=_zero, macs=_zero, saved=_zero, channels=_same,
    lowering=Lowering(inline="{0}[:, :, {a[offset][0]}:, {a[offset][1]}:]"),
    base_name="crop", numbered=False,
))

MERGE_BLOCKS = {"concat": "concat", "inception": "concat", "cat": "concat", "add": "add", "sum": "add",
                "mul": "mul", "mean": "mean", "join": "mean"}
BLOCK_KINDS = sorted(set(MERGE_BLOCKS) | {"residual", "seq"})


# ------------------------------------------------------------------------ FractalNet's join


def _join_ctor(a, ins, out, cin=None, cout=None):
    return [("columns", tuple(a.get("columns") or range(len(ins)))), ("droppath", a["droppath"]),
            ("global_droppath", a["global_droppath"])]


register(OpSpec(
    name="join",
    doc="FractalNet's join: the element-wise mean of every column reaching it, written "
        "join(droppath=0.15, global_droppath=0.5)<...>; a branch ending in a join is merged into it. "
        "Training: global drop-path keeps one column in every join of the network (chosen per "
        "forward with probability global_droppath), else each input is dropped with probability "
        "droppath, keeping at least one",
    args=(ArgSpec("droppath", "float", 0.0, doc="local drop-path: each input dropped with this probability"),
          ArgSpec("global_droppath", "float", 0.0,
                  doc="per forward, the probability that a single column runs through every join")),
    positional=(),
    shape=_merge_same("join"), params=_zero, macs=_zero, saved=_zero, channels=_same,
    # node args also hold `columns`: the column of each input, set by the expander (ir._flat_join)
    lowering=Lowering("Join", _join_ctor), inputs=(1, None), base_name="join",
))
MERGE_BLOCKS["join"] = "join"  # join<...> is FractalNet's flat join; mean<...> stays a plain mean
