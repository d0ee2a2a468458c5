"""The op registry: every rule of an op in one place.

For each op, its registration (`OpSpec`) holds: its kind (conv, norm, pool, activation, ...),
its arguments (names, types, defaults, positional order, which may carry a network parameter
into generated code), how it checks them, its shape rule, its parameter, multiply-accumulate
(MAC) and activation-count rules, what autograd saves for backward (for the training-memory
estimate), whether it takes `bn`/`act` (expanded to op > bn > act), whether an in-place
activation may overwrite its output, how its output channels follow from its inputs (for
generated classes), how the report describes it, and how it lowers to PyTorch: a module class
with a constructor rule over symbolic arguments (`Ctor`), or an inline expression, with the
source of any helper class it needs (`HELPERS`). Lists such as `ACTIVATIONS` are derived from
the registrations. Adding an op touches this file (and its tests and docs) only; see
CONTRIBUTING.md. An op registered without a cost rule is refused at import time: there are
no silent zeros.

Shapes exclude the batch dimension: (C, H, W) for feature maps, (F,) for vectors.
This module must not import torch.
"""

from __future__ import annotations

import math
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
    # A network parameter may flow into this argument in generated code: its value changes no
    # shape that the generated code computes from literals (a dropout rate, an eps, linear's
    # output features, whose consumers follow symbolically).
    free: bool = False
    positive: bool = False  # a `float` that must be > 0 (an eps, a ratio)

    def problem(self, value) -> str | None:
        """What a value of this argument must be, when `value` (of the right type) is not that."""
        if self.type == "float":
            if not math.isfinite(value):
                return "a finite number > 0" if self.positive else "a finite number"
            if self.positive and value <= 0:
                return "a number > 0"
        return None


class ArgProblem(Exception):
    """Raised by an op's `validate` rule; the expander adds the location."""

    def __init__(self, message: str, expected: str | None = None, found: str | None = None):
        super().__init__(message)
        self.message = message
        self.expected = expected
        self.found = found


def _one(v):
    """3 for (3, 3): PyTorch's spelling of a square size."""
    return v[0] if isinstance(v, tuple) and len(v) == 2 and v[0] == v[1] else v


class Ctor:
    """What a module constructor rule sees, and the helpers it writes the arguments with.

    `a` holds the op's concrete arguments; `s` the symbolic ones (written as expressions of the
    generated class's constructor parameters, e.g. `3x3/s` gives `stride: s`). `cin`/`cout` are the
    input/output channels (symbolic where known), `ins`/`out` the concrete shapes. A rule returns
    the constructor's arguments as (keyword or None, value) pairs, values being Python literals or
    symbols. `opt` leaves an argument out at PyTorch's default, unless it is symbolic: its value
    then differs between the instances the class serves. `used` records the symbolic arguments a
    rule placed (the others are baked in as literals by the lowering).
    """

    def __init__(self, a: dict, s: dict, cin, cout, ins: list[Shape], out: Shape):
        self.a, self.s, self.cin, self.cout, self.ins, self.out = a, s, cin, cout, ins, out
        self.used: set[str] = set()

    def val(self, name: str):
        if name in self.s:
            self.used.add(name)
            return self.s[name]
        return _one(self.a[name])

    def opt(self, kw: str | None, name: str, default) -> list:
        if name in self.s:
            return [(kw, self.val(name))]
        v = self.a[name]
        if v == default or (isinstance(v, tuple) and all(x == default for x in v)):
            return []
        return [(kw, _one(v))]

    def padding(self, kw: str = "padding") -> list:
        """`padding`, where "same" is (dilation * (kernel - 1)) // 2 (symbolic with the kernel)."""
        a = self.a
        if a["padding"] != "same":
            return self.opt(kw, "padding", 0)
        dil = a.get("dilation", 1)
        if ("kernel" in self.s or "dilation" in self.s) and not isinstance(a["kernel"], tuple) \
                and not isinstance(dil, tuple):
            d = self.val("dilation") if "dilation" in a else 1
            return [(kw, (d * (self.val("kernel") - 1)) // 2)]
        ph, pw = resolve_padding("same", a["kernel"], dil)
        return [] if (ph, pw) == (0, 0) else [(kw, ph if ph == pw else (ph, pw))]


@dataclass(frozen=True)
class Helper:
    """A class or function of ours that generated code needs (emitted into it when used)."""

    name: str
    source: str
    needs: tuple[str, ...] = ()  # other helpers it calls
    uses_torch: bool = False  # needs `import torch`


HELPERS: dict[str, Helper] = {}


def helper(name: str, source: str, needs: tuple[str, ...] = (), uses_torch: bool = False) -> str:
    HELPERS[name] = Helper(name, source.strip("\n") + "\n", needs, uses_torch)
    return name


@dataclass(frozen=True)
class Lowering:
    """How an op becomes PyTorch.

    `module`: a class (`Conv2d` is `nn.Conv2d`; a name in `HELPERS` is ours) and `ctor`, the rule
    (`Ctor` -> constructor arguments); `module_1d` is the class for (N, F) inputs where it differs
    (BatchNorm1d). Or `inline`: a format string over the input variable names (`{0}`, `{1}`,
    `{all}`, `{sum}`, `{prod}`, `{n}`, `{a[arg]}`), or a function of the arguments giving one,
    for ops that are plain expressions (add, concat, flatten); `seq_module` stands for it inside
    an `nn.Sequential`. `inplace`: an activation that runs in place when its input may be
    overwritten.
    """

    module: str | None = None
    ctor: Callable[[Ctor], list[tuple[str | None, object]]] | None = None
    inline: str | Callable[[dict], str] | None = None
    seq_module: str | None = None  # module to use for an inline op inside nn.Sequential
    module_1d: str | None = None
    inplace: bool = False

    module_last: str | None = None  # the class for a channels-last input where it differs (LayerNorm)
    # `held`: no module, a parameter of the enclosing module (ConvNeXt's `layer_scale`), built by
    # `held(c)` -> (constructor text, forward format over {0} and {attr})
    held: Callable[[Ctor], tuple[str, str]] | None = None

    def module_for(self, in_shape: Shape, layout: str = "first") -> str | None:
        if layout == "last" and self.module_last:
            return self.module_last
        return self.module_1d if self.module_1d and len(in_shape) == 1 else self.module

    def inline_for(self, args: dict) -> str | None:
        return self.inline(args) if callable(self.inline) else self.inline


def _no_args(c: Ctor) -> list:
    return []


@dataclass(frozen=True)
class Saves:
    """What autograd keeps of an op for its backward pass (the training-memory model, `memory.py`).

    `inputs`: the inputs kept (indices), `when` they are kept: "backward" (whenever the op has a
    backward, i.e. its output requires grad), "params" (only when its parameters train: a conv
    keeps its input x for dW, and nothing of x when frozen) or "other" (an input is kept when
    another input requires grad: mul). `output`: the output is kept (ReLU, sigmoid, softmax).
    `extra(a, ins, out)`: other tensors kept, as (values per image, dtype) pairs; dtype "act" is
    the activation dtype, "int64" max-pool's indices, "mask" dropout's noise (activation dtype on
    CPU, where PyTorch multiplies by a float mask; bool on CUDA's fused kernel). `view`: the
    output is a view of input 0 (flatten, crop, an identity shortcut), no new storage; a callable
    `view(a, ins)` where it depends on the arguments. `grad_view`: the input gradients are views
    of the output gradient (flatten, concat): backward allocates nothing for them. `work(a, ins,
    out)`: values per image of the temporaries its backward allocates besides the input gradients
    (a composite op's chain of backward ops), in the activation dtype. `cpu_work(a, ins, out,
    batch)`: the same for the CPU kernels only (oneDNN's reorder copies in a convolution's
    backward, the batch-norm kernel's buffer), added to `work` when the estimate is for "cpu".
    `inplace_clone`: when the op runs in place, autograd first clones its input (the derivative
    reads the input, which the op overwrites: hardtanh_), and that copy, a new storage, is what it
    keeps instead of the input.
    """

    inputs: tuple[int, ...] | str | Callable[[dict, list[Shape], Shape], tuple[int, ...]] = ()  # or "all"
    when: str = "backward"  # backward | params | other
    output: bool = False
    extra: Callable[[dict, list[Shape], Shape], tuple[tuple[int, str], ...]] | None = None
    view: bool | Callable[[dict, list[Shape]], bool] = False
    grad_view: bool = False
    work: Callable[[dict, list[Shape], Shape], int] | None = None
    cpu_work: Callable[[dict, list[Shape], Shape, int], int] | None = None
    cpu_work_needs_input_grad: bool = False  # batch norm's buffer: only for its input's gradient
    inplace_clone: bool = False
    # a view whose backward makes its input's gradient anew: zeros of the input's size with the
    # output's gradient copied in (slicing: crop, subsample, slice; chunk's split); `work` then
    # holds what the backward of a multi-dimensional slicing makes on the way
    grad_new: bool | Callable[[dict, list[Shape]], bool] = False
    # the gradient of a parameter (a scale per channel: layerscale, prelu) or of an input broadcast
    # to the output's shape (mul's gate) is the sum of a product of the output's size: backward
    # makes that temporary whenever such a parameter trains or such an input requires grad
    grad_reduce: bool = False
    # every input's gradient is the output's gradient itself, one storage (add's backward)
    grad_alias: bool = False
    # the inputs that get a gradient (None: all); a shortcut reads its block's body output only
    # for its shape
    grad_inputs: tuple[int, ...] | None = None
    # values per image alive in the forward pass besides the output (a + b + c: the sum a + b)
    forward_work: Callable[[dict, list[Shape], Shape], int] | None = None

    def is_view(self, a: dict, ins: list[Shape]) -> bool:
        return self.view(a, ins) if callable(self.view) else self.view

    def grad_is_view(self, a: dict, ins: list[Shape]) -> bool:
        """The input gradients are views of the output's gradient (backward allocates none)."""
        if callable(self.grad_new) and self.grad_new(a, ins) or self.grad_new is True:
            return False
        return self.grad_view or self.grad_alias or self.is_view(a, ins)

    def kept_inputs(self, a: dict, ins: list[Shape], out: Shape) -> tuple[int, ...]:
        if callable(self.inputs):
            return self.inputs(a, ins, out)
        return tuple(range(len(ins))) if self.inputs == "all" else self.inputs



NOTHING = Saves()
INPUT = Saves(inputs=(0,))
OUTPUT = Saves(output=True)
INPUT_FOR_PARAMS = Saves(inputs=(0,), when="params")  # conv, linear: x for dW, nothing when frozen
VIEW = Saves(view=True, grad_view=True)
AUTOCAST = ("lower", "fp32", "follow")


KINDS = ("conv", "linear", "norm", "pool", "activation", "regularization", "reshape", "merge", "scale",
         "structural")


@dataclass(frozen=True)
class OpSpec:
    name: str
    doc: str
    kind: str  # one of KINDS
    args: tuple[ArgSpec, ...]
    positional: tuple[str, ...]
    shape: Callable[[dict, list[Shape]], Shape]
    params: Callable[[dict, list[Shape], Shape], int]
    macs: Callable[[dict, list[Shape], Shape], int]
    saves: Saves  # what autograd keeps for backward (see `Saves`)
    # output channels (features) from the input channels, which may be symbols, and the concrete
    # input shapes: `ins[0] * a["multiplier"]`
    channels: Callable[[dict, list, list[Shape]], object]
    lowering: Lowering
    # output values counted as activations (timm's convention: conv and linear outputs)
    activations: Callable[[dict, list[Shape], Shape], int] | None = None
    inputs: tuple[int, int | None] = (1, 1)  # min, max number of inputs
    # under autocast (--dtype float16/bfloat16): "lower" runs in the low precision (conv, linear:
    # inputs and weights cast), "fp32" in float32 (softmax, layer/group norm), "follow" in the dtype
    # of its inputs
    autocast: str = "follow"
    # buffer values (running statistics), resident like the parameters
    buffers: Callable[[dict, list[Shape], Shape], int] | None = None
    base_name: str = ""  # attribute name stem in generated modules
    numbered: bool = True  # conv1, conv2 ... even when alone
    shared: bool = False  # stateless: one module instance serves every use in a class
    stride_arg: str | None = None  # argument that downsamples (for residual shortcuts)
    fuses: bool = False  # takes `bn` and `act=`: `conv ... bn act=relu` expands to conv > bn > relu
    # autograd keeps no reference to the output and it is no view of the input: an in-place
    # activation right after it may overwrite it
    inplace_target: bool = False
    describe: Callable[[dict, list[Shape]], str] | None = None  # the report's text (default: the name)
    # memory layouts of the input it accepts: "first" (N, C, H, W) or "last" (N, H, W, C, after
    # `permute 0x2x3x1`); shapes stay (C, H, W) in the IR either way. `to_layout(args)`: the layout
    # of its output when it changes it (permute); else the output has its input's layout.
    # the state_dict entries of its module, in PyTorch's order: (key suffix, shape) pairs; the
    # suffix "" is a parameter held by the enclosing module itself (ConvNeXt's layer_scale)
    state: Callable[[dict, list[Shape], Shape], list[tuple[str, tuple]]] | None = None
    layouts: tuple[str, ...] = ("first",)
    to_layout: Callable[[dict], str] | None = None
    validate: Callable[[dict], None] | None = None  # argument checks beyond types (raises ArgProblem)
    # arguments that say one thing in two ways (`x64` or `ratio=0.5`): a layer writes at most one
    # of a group, and the one it writes replaces a `defaults` value of the others
    exclusive: tuple[tuple[str, ...], ...] = ()
    arg_index: dict[str, ArgSpec] = field(default_factory=dict, compare=False)
    exclusive_of: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False)  # from `exclusive`

    def __post_init__(self) -> None:
        for a in self.args:
            self.arg_index[a.name] = a
            for al in a.aliases:
                self.arg_index[al] = a
        for group in self.exclusive:
            for name in group:
                if name not in self.arg_index:
                    raise ValueError(f"op {self.name}: exclusive argument {name!r} is not one of its arguments")
                self.exclusive_of[name] = tuple(n for n in group if n != name)

    def text(self, args: dict, in_shapes: list[Shape]) -> str:
        return self.describe(args, in_shapes) if self.describe else self.name


REGISTRY: dict[str, OpSpec] = {}
ALIASES: dict[str, str] = {}


def register(spec: OpSpec, aliases: tuple[str, ...] = ()) -> OpSpec:
    for rule in ("shape", "params", "macs", "saves", "channels"):
        if getattr(spec, rule) is None:
            raise TypeError(f"op {spec.name!r} has no {rule} rule")
    low = spec.lowering
    if low is None or (low.module is None and low.inline is None):
        raise TypeError(f"op {spec.name!r} has no lowering")
    if low.module is not None and low.ctor is None:
        raise TypeError(f"op {spec.name!r} has a module but no constructor rule")
    if spec.kind not in KINDS:
        raise TypeError(f"op {spec.name!r} has kind {spec.kind!r}, not one of {KINDS}")
    if spec.autocast not in AUTOCAST:
        raise TypeError(f"op {spec.name!r} has autocast {spec.autocast!r}, not one of {AUTOCAST}")
    if spec.activations is None:
        object.__setattr__(spec, "activations", _zero)
    if spec.buffers is None:
        object.__setattr__(spec, "buffers", _zero)
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


def _same(a: dict, ins: list, shapes: list) -> object:
    return ins[0]


def _zero(a, ins, out) -> int:
    return 0


def numel(shape: Shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


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
        if isinstance(c, int) and ((c * f.numerator) % f.denominator or c * f < 1):
            raise ShapeProblem(
                f"conv: {c} input channels times ratio {a['ratio']} is not a whole number of channels >= 1",
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


def _conv_state(a, ins, out) -> list:
    kh, kw = _pair(a["kernel"])
    return [("weight", (out[0], ins[0][0] // a["groups"], kh, kw)), *([("bias", (out[0],))] if a["bias"] else [])]


def _affine_state(a, ins, out, key: str = "affine") -> list:
    c = (ins[0][0],)
    return [("weight", c), ("bias", c)] if a[key] else []


def _bn_state(a, ins, out) -> list:
    c = (ins[0][0],)
    return [*_affine_state(a, ins, out), ("running_mean", c), ("running_var", c), ("num_batches_tracked", ())]


def _conv_macs(a, ins, out) -> int:
    cin = ins[0][0]
    kh, kw = _pair(a["kernel"])
    return out[0] * out[1] * out[2] * (cin // a["groups"]) * kh * kw


def _conv_module(c: Ctor, groups=None) -> list:
    return [(None, c.cin), (None, c.cout), ("kernel_size", c.val("kernel")), *c.opt("stride", "stride", 1),
            *c.padding(), *c.opt("dilation", "dilation", 1),
            *([("groups", groups)] if groups is not None else c.opt("groups", "groups", 1)),
            *c.opt("bias", "bias", True)]


def _conv_validate(a: dict) -> None:
    if a.get("out") is None and a.get("ratio") is None:
        raise ArgProblem("conv needs its output channels", expected="e.g. `conv 3x3 x64` or `3x3:64`",
                         found="no channels")


def _size_text(v) -> str:
    return f"{v}x{v}" if isinstance(v, int) else "x".join(map(str, v))


def _conv_text(op: str):
    def text(a, ins):
        s = a["stride"]
        out = f"{op} {_size_text(a['kernel'])}/{s if isinstance(s, int) else 'x'.join(map(str, s))}"
        if op == "conv" and a["out"] is not None:
            out += f" x{a['out']}"
        elif op == "conv":  # channels from the input: DenseNet's compression
            out += f" x{conv_out_channels(a, ins[0][0])} (ratio {a['ratio']:g})"
        if a.get("groups", 1) != 1:
            out += f" g{a['groups']}"
        return out
    return text


def _out_numel(a, ins, out) -> int:
    return numel(out)


def _conv_cpu_work(a, ins, out, batch: int) -> int:
    """Values per image that a CPU convolution's backward allocates besides the input gradient.

    PyTorch takes oneDNN (mkldnn_convolution) for float convolutions unless the input is tiny
    (one image of at most 20,480 values, groups 1, kernel at most 3x3: the slow path, whose
    backward allocates the im2col columns instead, measured on a CIFAR ResNet); it also takes the slow
    path for an unstrided 1x1 under one thread with a batch below 16, which the estimate leaves
    aside (it assumes PyTorch's default, several threads). oneDNN's backward reorders the input
    and the output gradient into its blocked layout (nChw8c: channels padded to a multiple of 8,
    LeNet's 1 and 6 channels take 8; AVX-512 machines use blocks of 16): one copy of each, alive
    together (measured on torch 2.13, AVX2: depthwise, grouped, 1x1 and 3x3 alike)."""
    kh, kw = _pair(a["kernel"])
    x = numel(ins[0])
    if batch == 1 and x <= 20480 and a.get("groups", 1) == 1 and (kh <= 3 or kw <= 3):
        # the slow path (slow_conv2d): its backward unfolds x for the weight gradient, a column
        # buffer of C_in*kh*kw values per output position; none for an unstrided, unpadded 1x1
        if kh == kw == 1 and _pair(a["stride"]) == (1, 1) and resolve_padding(a["padding"], a["kernel"],
                                                                              a["dilation"]) == (0, 0):
            return 0
        return ins[0][0] * kh * kw * out[1] * out[2]
    return _blocked(ins[0]) + _blocked(out)


def _blocked(shape: Shape) -> int:
    """Values of a (C, H, W) map in oneDNN's nChw8c layout: channels padded to a multiple of 8."""
    return -(-shape[0] // 8) * 8 * numel(shape[1:])


_CONV_SAVES = Saves(inputs=(0,), when="params", cpu_work=_conv_cpu_work)


_CONV_ARGS = (
    ArgSpec("kernel", "pair", required=True, aliases=("k",), doc="kernel size, 3 or 3x3 or 1x7"),
    ArgSpec("out", "pos_int", None, aliases=("c", "channels"), doc="output channels (x64)", free=True),
    ArgSpec("ratio", "float", None, positive=True, doc="output channels = input channels x ratio (instead of out)"),
    ArgSpec("stride", "pair", 1, aliases=("s",), doc="stride (3x3/2)"),
    ArgSpec("padding", "padding", 0, aliases=("p", "pad"), doc='padding (p1), or "same"'),
    ArgSpec("dilation", "pair", 1, aliases=("d",), doc="dilation"),
    ArgSpec("groups", "pos_int", 1, aliases=("g",), free=True, doc="groups (depthwise: groups = channels)"),
    ArgSpec("bias", "bool", True, doc="add a bias (PyTorch's default)"),
)
# the arguments of ops that fuse (`fuses=True`): expanded to op > bn > act
_FUSED_ARGS = (
    ArgSpec("bn", "bool", False, doc="follow with batch norm"),
    ArgSpec("act", "act", "none", doc="follow with this activation"),
)

register(OpSpec(
    name="conv",
    doc="2-D convolution: conv 3x3/2 p1 x64 [groups=g dilation=d bias=false bn act=relu]",
    kind="conv",
    args=_CONV_ARGS + _FUSED_ARGS,
    positional=("kernel", "out"),
    shape=_conv_shape,
    params=_conv_params,
    state=_conv_state,
    macs=_conv_macs,
    saves=_CONV_SAVES,
    autocast="lower",
    activations=_out_numel,
    channels=lambda a, ins, shapes: conv_out_channels(a, ins[0]),
    lowering=Lowering("Conv2d", _conv_module),
    base_name="conv",
    stride_arg="stride",
    fuses=True,
    inplace_target=True,
    describe=_conv_text("conv"),
    validate=_conv_validate,
    exclusive=(("out", "ratio"),),
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
    kind="conv",
    args=tuple(x for x in _CONV_ARGS if x.name not in ("out", "groups", "ratio"))
    + (ArgSpec("multiplier", "pos_int", 1, doc="channel multiplier", free=True),) + _FUSED_ARGS,
    positional=("kernel",),
    shape=_dw_shape,
    params=lambda a, ins, out: _conv_params(_dw_full(a, ins), ins, out),
    state=lambda a, ins, out: _conv_state(_dw_full(a, ins), ins, out),
    macs=lambda a, ins, out: _conv_macs(_dw_full(a, ins), ins, out),
    saves=Saves(inputs=(0,), when="params",
                cpu_work=lambda a, ins, out, b: _conv_cpu_work(_dw_full(a, ins), ins, out, b)),
    autocast="lower",
    activations=_out_numel,
    channels=lambda a, ins, shapes: ins[0] * a["multiplier"] if a["multiplier"] != 1 else ins[0],
    lowering=Lowering("Conv2d", lambda c: _conv_module(c, groups=c.cin)),
    base_name="conv",
    stride_arg="stride",
    fuses=True,
    inplace_target=True,
    describe=_conv_text("dw"),
), aliases=("dwconv", "depthwise"))


# ------------------------------------------------------------------------ linear


def _linear_shape(a, ins):
    x = ins[0]
    if len(x) == 3 and a.get("_layout") == "last":  # on the last axis of a channels-last tensor
        return (a["out"], *x[1:])
    if len(x) == 3:
        raise ShapeProblem(
            "linear needs a 2-D input (N, features)",
            expected="(N, F)",
            found=f"a 4-D tensor {fmt_nchw(x)}",
            hint="add `flatten` (or `gap; flatten`) before it; for a linear over the channels at every "
                 "position (ConvNeXt), put it between `permute 0x2x3x1` and `permute 0x3x1x2`",
        )
    _need_rank("linear", x, 1)
    return (a["out"],)


register(OpSpec(
    name="linear",
    doc="fully connected layer: linear 4096 [bias=false bn act=relu]",
    kind="linear",
    args=(ArgSpec("out", "pos_int", required=True, aliases=("c", "features"), free=True),
          ArgSpec("bias", "bool", True)) + _FUSED_ARGS,
    positional=("out",),
    shape=_linear_shape,
    params=lambda a, ins, out: ins[0][0] * out[0] + (out[0] if a["bias"] else 0),
    state=lambda a, ins, out: [("weight", (out[0], ins[0][0])), *([("bias", (out[0],))] if a["bias"] else [])],
    macs=lambda a, ins, out: numel(ins[0]) * out[0],  # per position on a channels-last tensor
    saves=INPUT_FOR_PARAMS,
    autocast="lower",
    activations=_out_numel,
    layouts=("first", "last"),
    channels=lambda a, ins, shapes: a["out"],
    lowering=Lowering("Linear", lambda c: [(None, c.cin), (None, c.cout), *c.opt("bias", "bias", True)]),
    base_name="fc",
    numbered=False,
    fuses=True,
    inplace_target=True,
    describe=lambda a, ins: f"linear {a['out']}",
), aliases=("fc", "dense"))


# ------------------------------------------------------------------------ normalisation


def _bn_shape(a, ins):
    x = ins[0]
    if len(x) not in (1, 3):
        raise ShapeProblem("bn needs a 2-D or 4-D input", found=fmt_nchw(x))
    return x


def _bn_module(c: Ctor) -> list:
    return [(None, c.cin), *c.opt("eps", "eps", 1e-5), *c.opt("momentum", "momentum", 0.1),
            *c.opt("affine", "affine", True)]


register(OpSpec(
    name="bn",
    doc="batch normalisation over channels (features for 2-D input): bn [eps=1e-5 momentum=0.1]",
    kind="norm",
    args=(ArgSpec("eps", "float", 1e-5, free=True, positive=True), ArgSpec("momentum", "float", 0.1, free=True),
          ArgSpec("affine", "bool", True)),
    positional=(),
    shape=_bn_shape,
    params=lambda a, ins, out: 2 * ins[0][0] if a["affine"] else 0,
    state=_bn_state,
    macs=_zero,
    # x; the CPU kernel's backward allocates a buffer of the input's size besides the gradient
    saves=Saves(inputs=(0,), cpu_work=lambda a, ins, out, b: numel(ins[0]), cpu_work_needs_input_grad=True),
    buffers=lambda a, ins, out: 2 * ins[0][0],  # running mean and variance
    channels=_same,
    lowering=Lowering("BatchNorm2d", _bn_module, module_1d="BatchNorm1d"),
    base_name="bn",
    inplace_target=True,
), aliases=("batchnorm",))


def _lrn_shape(a, ins):
    _need_rank("lrn", ins[0], 3)
    return ins[0]


register(OpSpec(
    name="lrn",
    doc="local response normalisation across channels: lrn 5 [alpha=1e-4 beta=0.75 k=2]",
    kind="norm",
    args=(ArgSpec("size", "pos_int", 5), ArgSpec("alpha", "float", 1e-4, free=True),
          ArgSpec("beta", "float", 0.75, free=True), ArgSpec("k", "float", 1.0, free=True)),
    positional=("size",),
    shape=_lrn_shape,
    params=_zero,
    macs=_zero,
    # F.local_response_norm is composite: it keeps x, the zero-padded squares, and the scaled sum
    # before and after the power; the backward of its final division makes three temporaries of x's size
    saves=Saves(inputs=(0,), extra=lambda a, ins, out: (
        ((out[0] + a["size"] - 1) * numel(out[1:]), "act"), (numel(out), "act"), (numel(out), "act")),
        work=lambda a, ins, out: 3 * numel(out)),
    channels=_same,
    lowering=Lowering("LocalResponseNorm", lambda c: [
        (None, c.val("size")), ("alpha", c.val("alpha")), ("beta", c.val("beta")), ("k", c.val("k"))]),
    base_name="lrn",
    numbered=False,
))


def _norm_shape(op):
    def rule(a, ins):
        x = ins[0]
        if len(x) not in (1, 3):
            raise ShapeProblem(f"{op} needs a 2-D or 4-D input", found=fmt_nchw(x))
        return x
    return rule


helper("LayerNorm2d", """
class LayerNorm2d(nn.LayerNorm):
    \"\"\"Layer normalisation over the channels of an (N, C, H, W) tensor (ConvNeXt's LayerNorm2d).\"\"\"

    def forward(self, x: Tensor) -> Tensor:
        x = x.permute(0, 2, 3, 1)
        x = nn.functional.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)
""")

register(OpSpec(
    name="layernorm",
    doc="layer normalisation over channels (features for 2-D input), per position: layernorm [eps=1e-5]",
    kind="norm",
    args=(ArgSpec("eps", "float", 1e-5, free=True, positive=True), ArgSpec("affine", "bool", True)),
    positional=(),
    shape=_norm_shape("layernorm"),
    params=lambda a, ins, out: 2 * ins[0][0] if a["affine"] else 0,
    state=_affine_state,
    macs=_zero,
    saves=INPUT,
    autocast="fp32",
    channels=_same,
    lowering=Lowering("LayerNorm2d", lambda c: [(None, c.cin), *c.opt("eps", "eps", 1e-5),
                                                *c.opt("elementwise_affine", "affine", True)],
                      module_1d="LayerNorm", module_last="LayerNorm"),
    layouts=("first", "last"),
    base_name="norm",
    inplace_target=True,
), aliases=("ln",))


def _need_groups(op: str, x: Shape, groups: int) -> Shape:
    if x[0] % groups:
        raise ShapeProblem(
            f"{op}: {x[0]} channels are not divisible by {groups} groups",
            expected=f"channels a multiple of {groups}",
            found=f"{x[0]} channels",
        )
    return x


def _groupnorm_shape(a, ins):
    return _need_groups("groupnorm", _norm_shape("groupnorm")(a, ins), a["groups"])


register(OpSpec(
    name="groupnorm",
    doc="group normalisation: groupnorm 32 [eps=1e-5 affine=false]",
    kind="norm",
    args=(ArgSpec("groups", "pos_int", required=True, aliases=("g",)),
          ArgSpec("eps", "float", 1e-5, free=True, positive=True), ArgSpec("affine", "bool", True)),
    positional=("groups",),
    shape=_groupnorm_shape,
    params=lambda a, ins, out: 2 * ins[0][0] if a["affine"] else 0,
    state=_affine_state,
    macs=_zero,
    saves=INPUT,
    autocast="fp32",
    channels=_same,
    lowering=Lowering("GroupNorm", lambda c: [(None, c.val("groups")), (None, c.cin), *c.opt("eps", "eps", 1e-5),
                                              *c.opt("affine", "affine", True)]),
    base_name="gn",
    inplace_target=True,
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


def _pool_module(c: Ctor) -> list:
    a = c.a
    kv = [(None, c.val("kernel"))]
    if "stride" in c.s:  # PyTorch's default stride is the kernel size
        kv.append(("stride", c.val("stride")))
    elif a["stride"] is not None and ("kernel" in c.s or _pair(a["stride"]) != _pair(a["kernel"])):
        kv.append(("stride", _one(a["stride"])))
    kv += c.padding() + c.opt("ceil_mode", "ceil", False)
    if "count_include_pad" in a:
        kv += c.opt("count_include_pad", "count_include_pad", True)
    return kv


def _pool_text(op: str):
    def text(a, ins):
        s = a["stride"] if a["stride"] is not None else a["kernel"]
        return f"{op} {_size_text(a['kernel'])}/{s if isinstance(s, int) else 'x'.join(map(str, s))}"
    return text


_POOL_ARGS = (
    ArgSpec("kernel", "pair", required=True, aliases=("k",)),
    ArgSpec("stride", "pair", None, aliases=("s",), doc="defaults to the kernel size"),
    ArgSpec("padding", "padding", 0, aliases=("p", "pad")),
    ArgSpec("ceil", "bool", False, aliases=("ceil_mode",)),
)

register(OpSpec(
    name="maxpool",
    doc="max pooling: pool 3x3/2 [p1 ceil]",
    kind="pool",
    args=_POOL_ARGS,
    positional=("kernel",),
    shape=_pool_shape("maxpool"),
    params=_zero,
    macs=_zero,
    saves=Saves(inputs=(0,), extra=lambda a, ins, out: ((numel(out), "int64"),)),  # x and the indices
    channels=_same,
    lowering=Lowering("MaxPool2d", _pool_module),
    base_name="maxpool",
    numbered=False,
    stride_arg="stride",
    inplace_target=True,
    describe=_pool_text("maxpool"),
), aliases=("pool", "max_pool"))

register(OpSpec(
    name="avgpool",
    doc="average pooling: avgpool 5x5/3 [p1 ceil count_include_pad=false]",
    kind="pool",
    args=_POOL_ARGS + (ArgSpec("count_include_pad", "bool", True),),
    positional=("kernel",),
    shape=_pool_shape("avgpool"),
    params=_zero,
    macs=_zero,
    saves=INPUT,
    channels=_same,
    lowering=Lowering("AvgPool2d", _pool_module),
    base_name="avgpool",
    numbered=False,
    stride_arg="stride",
    inplace_target=True,
    describe=_pool_text("avgpool"),
), aliases=("avg_pool",))


def _adaptive_shape(op):
    def rule(a, ins):
        x = ins[0]
        _need_rank(op, x, 3)
        oh, ow = _pair(a["size"])
        return (x[0], oh, ow)
    return rule


def _adaptive_module(c: Ctor) -> list:
    return [(None, c.val("size"))]


register(OpSpec(
    name="adaptive_avgpool",
    doc="adaptive average pooling to a fixed size: adaptive_avgpool 7x7",
    args=(ArgSpec("size", "pair", required=True),),
    positional=("size",),
    shape=_adaptive_shape("adaptive_avgpool"),
    # to 1x1 PyTorch takes a mean, which keeps no tensor
    params=_zero, macs=_zero, saves=Saves(inputs=lambda a, ins, out: () if out[1:] == (1, 1) else (0,)),
    channels=_same,
    lowering=Lowering("AdaptiveAvgPool2d", _adaptive_module),
    kind="pool",
    inplace_target=True,
    base_name="avgpool",
    numbered=False,
))

register(OpSpec(
    name="adaptive_maxpool",
    doc="adaptive max pooling to a fixed size: adaptive_maxpool 7x7",
    args=(ArgSpec("size", "pair", required=True),),
    positional=("size",),
    shape=_adaptive_shape("adaptive_maxpool"),
    params=_zero, macs=_zero, saves=Saves(inputs=(0,), extra=lambda a, ins, out: ((numel(out), "int64"),)),
    channels=_same,
    lowering=Lowering("AdaptiveMaxPool2d", _adaptive_module),
    kind="pool",
    inplace_target=True,
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
    params=_zero, macs=_zero, saves=NOTHING, channels=_same,  # a mean: keeps no tensor
    lowering=Lowering("AdaptiveAvgPool2d", lambda c: [(None, 1)]),
    kind="pool",
    inplace_target=True,
    base_name="avgpool",
    numbered=False,
), aliases=("global_avgpool",))

register(OpSpec(
    name="gmp",
    doc="global max pooling to 1x1 (AdaptiveMaxPool2d(1))",
    args=(), positional=(),
    shape=_global_shape("gmp"),
    params=_zero, macs=_zero, saves=Saves(inputs=(0,), extra=lambda a, ins, out: ((numel(out), "int64"),)),
    channels=_same,
    lowering=Lowering("AdaptiveMaxPool2d", lambda c: [(None, 1)]),
    kind="pool",
    inplace_target=True,
    base_name="maxpool",
    numbered=False,
), aliases=("global_maxpool",))


# ------------------------------------------------------------------------ activations


def _any_shape(a, ins):
    return ins[0]


def _act(name, module, doc, args=(), ctor=_no_args, saves=OUTPUT, aliases=(), inplace=False):
    register(OpSpec(
        name=name, doc=doc, kind="activation", args=args, positional=tuple(x.name for x in args[:1]),
        shape=_any_shape, params=_zero, macs=_zero, saves=saves, channels=_same,
        lowering=Lowering(module, ctor, inplace=inplace),
        base_name=name, numbered=False, shared=True,
    ), aliases=aliases)


_act("relu", "ReLU", "rectified linear unit", inplace=True)
# hardtanh keeps x; in place (hardtanh_) autograd first clones x, and keeps the clone
_act("relu6", "ReLU6", "ReLU clipped at 6 (MobileNet)", saves=Saves(inputs=(0,), inplace_clone=True), inplace=True)
_act("sigmoid", "Sigmoid", "logistic sigmoid")
_act("tanh", "Tanh", "hyperbolic tangent")
_act("leaky_relu", "LeakyReLU", "leaky ReLU: leaky_relu 0.1", args=(ArgSpec("slope", "float", 0.01, free=True),),
     ctor=lambda c: c.opt(None, "slope", 0.01), saves=INPUT)
_act("elu", "ELU", "exponential linear unit", args=(ArgSpec("alpha", "float", 1.0, free=True),),
     ctor=lambda c: c.opt("alpha", "alpha", 1.0), saves=INPUT)
_act("gelu", "GELU", "Gaussian error linear unit", saves=INPUT)
_act("silu", "SiLU", "sigmoid-weighted linear unit (swish)", saves=INPUT, aliases=("swish",))
_act("hardswish", "Hardswish", "hard swish (MobileNet v3)", saves=INPUT)
_act("hardsigmoid", "Hardsigmoid", "hard sigmoid", saves=INPUT)
_act("mish", "Mish", "mish", saves=INPUT)


def _softmax_shape(a, ins):
    return ins[0]


for _name, _mod in (("softmax", "Softmax"), ("log_softmax", "LogSoftmax")):
    register(OpSpec(
        name=_name, doc=f"{_name} over channels/features (dim 1)", kind="activation", args=(), positional=(),
        shape=_softmax_shape, params=_zero, macs=_zero, saves=OUTPUT, channels=_same, autocast="fp32",
        lowering=Lowering(_mod, lambda c: [("dim", 1)]),
        base_name=_name, numbered=False, shared=True,
    ))


_act("identity", "Identity", "passes its input through", saves=VIEW, aliases=("id",))


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
    kind="activation",
    args=(ArgSpec("num", "pos_int", 1),),
    positional=("num",),
    shape=_prelu_shape,
    params=lambda a, ins, out: a["num"],
    state=lambda a, ins, out: [("weight", (a["num"],))],
    macs=_zero, saves=Saves(inputs=(0,), grad_reduce=True), channels=_same, autocast="lower",
    lowering=Lowering("PReLU", lambda c: c.opt(None, "num", 1)),
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
    kind="regularization",
    args=(ArgSpec("p", "float", 0.5, free=True),), positional=("p",),
    shape=_prob, params=_zero, macs=_zero, channels=_same,
    saves=Saves(extra=lambda a, ins, out: ((numel(out), "mask"),) if a["p"] else ()),  # the noise mask
    lowering=Lowering("Dropout", lambda c: [("p", c.val("p"))]),
    base_name="dropout", numbered=False,
))

register(OpSpec(
    name="dropout2d",
    doc="channel dropout (train only): dropout2d 0.1",
    kind="regularization",
    args=(ArgSpec("p", "float", 0.5, free=True),), positional=("p",),
    shape=_prob, params=_zero, macs=_zero, channels=_same,
    saves=Saves(extra=lambda a, ins, out: ((out[0], "act"),) if a["p"] else ()),  # one noise value a channel
    lowering=Lowering("Dropout2d", lambda c: [("p", c.val("p"))]),
    base_name="dropout", numbered=False,
))


# ------------------------------------------------------------------------ reshaping


def _flatten_shape(a, ins):
    return (numel(ins[0]),)


def _flatten_channels(a, ins, shapes):
    """(symbolic) channels x height x width"""
    return ins[0] * numel(shapes[0][1:]) if len(shapes[0]) > 1 else ins[0]


register(OpSpec(
    name="flatten",
    doc="flatten to (N, C*H*W)",
    kind="reshape",
    args=(), positional=(),
    shape=_flatten_shape, params=_zero, macs=_zero, saves=VIEW, channels=_flatten_channels,
    lowering=Lowering(inline="torch.flatten({0}, 1)", seq_module="Flatten"),
    base_name="flatten", numbered=False, shared=True,
))


def _shuffle_shape(a, ins):
    _need_rank("channel_shuffle", ins[0], 3)
    return _need_groups("channel_shuffle", ins[0], a["groups"])


register(OpSpec(
    name="channel_shuffle",
    doc="interleave the channels of g groups (ShuffleNet): channel_shuffle 2",
    kind="reshape",
    args=(ArgSpec("groups", "pos_int", required=True, aliases=("g",)),),
    positional=("groups",),
    shape=_shuffle_shape, params=_zero, macs=_zero, saves=NOTHING, channels=_same,
    lowering=Lowering("ChannelShuffle", lambda c: [(None, c.val("groups"))]),
    base_name="shuffle", numbered=False, shared=True,
), aliases=("shuffle",))


# ------------------------------------------------------------------------ scaling


helper("LayerScale", """
class LayerScale(nn.Module):
    \"\"\"A learnable scale per channel (ConvNeXt's layer scale), initialised to `init`.\"\"\"

    def __init__(self, channels: int, init: float = 1e-6, spatial: bool = True) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((channels, 1, 1) if spatial else (channels,), init))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gamma
""", uses_torch=True)

def _layer_scale_held(c: Ctor) -> tuple[list, str]:
    """ConvNeXt's `layer_scale`: a parameter of the block itself, (C, 1, 1), times the input."""
    shape = [c.cin] if len(c.ins[0]) == 1 else [c.cin, 1, 1]
    return shape, c.val("init")


register(OpSpec(
    name="layerscale",
    doc="a learnable scale per channel (feature for 2-D input), as ConvNeXt's: layerscale [init=1e-6]",
    kind="scale",
    args=(ArgSpec("init", "float", 1e-6, free=True, doc="initial value of every scale"),),
    positional=("init",),
    shape=_norm_shape("layerscale"),
    params=lambda a, ins, out: ins[0][0],
    state=lambda a, ins, out: [("", (ins[0][0], 1, 1) if len(ins[0]) == 3 else (ins[0][0],))],
    macs=_zero,
    saves=Saves(inputs=(0,), when="params", grad_reduce=True),  # x * gamma keeps x for dgamma
    channels=_same,
    lowering=Lowering("LayerScale", lambda c: [(None, c.cin), *c.opt("init", "init", 1e-6),
                                               *([("spatial", False)] if len(c.ins[0]) == 1 else [])],
                      held=_layer_scale_held),
    base_name="layer_scale",
    numbered=False,
    inplace_target=True,
))


# ------------------------------------------------------------------------ merges (n inputs)


# why branches of different sizes usually happen, and the two ways out
PADDING_HINT = ("an explicit conv or pool is padded only as written: write the padding (`p1` for a 3x3) "
                "or use the shorthand `3x3:C`, which is \"same\"-padded")


def _merge_same(op):
    def rule(a, ins):
        first = ins[0]
        for i, s in enumerate(ins[1:], start=2):
            if s != first:
                raise ShapeProblem(
                    f"{op}: branch {i} has shape {fmt_shape(s)}, branch 1 has {fmt_shape(first)}",
                    expected=f"every branch {fmt_shape(first)}",
                    found=", ".join(fmt_shape(x) for x in ins),
                    hint="branches must keep the same channels and spatial size; " + PADDING_HINT,
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
                hint="branches of an inception/concat block must keep the same height and width; " + PADDING_HINT,
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


def _stacked(a, ins, out) -> tuple[tuple[int, str], ...]:
    """drop_path_mean in training weights the stacked inputs, which autograd then keeps."""
    if a.get("droppath") or a.get("global_droppath"):
        return ((len(ins) * numel(out), "act"),)
    return ()


def _sum_channels(a, ins, shapes):
    total = ins[0]
    for c in ins[1:]:
        total = total + c
    return total


register(OpSpec(
    name="concat", doc="concatenate along channels", kind="merge", args=(), positional=(),
    shape=_concat_shape, params=_zero, macs=_zero, saves=Saves(grad_view=True), channels=_sum_channels,
    lowering=Lowering(inline="torch.cat([{all}], 1)"), inputs=(1, None), base_name="concat", inplace_target=True,
), aliases=("cat",))

register(OpSpec(
    name="add", doc="element-wise sum", kind="merge", args=(), positional=(),
    shape=_merge_same("add"), params=_zero, macs=_zero, channels=_same,
    saves=Saves(grad_alias=True, forward_work=lambda a, ins, out: numel(out) if len(ins) > 2 else 0),
    lowering=Lowering(inline="{sum}"), inputs=(1, None), base_name="add", inplace_target=True,
))

register(OpSpec(
    name="mul", doc="element-wise product with broadcasting (channel attention)", kind="merge", args=(),
    positional=(),
    shape=_mul_shape, params=_zero, macs=_zero, saves=Saves(inputs="all", when="other", grad_reduce=True),
    channels=_same, lowering=Lowering(inline="{prod}"), inputs=(1, None), base_name="mul",
))

register(OpSpec(
    name="mean", doc="element-wise mean (FractalNet's join); mean(droppath=0.15)<...> drops inputs in training",
    kind="merge",
    args=(ArgSpec("droppath", "float", 0.0, doc="local drop-path: each input dropped with this probability"),),
    positional=(),
    shape=_merge_same("mean"), params=_zero, macs=_zero, channels=_same,
    # with drop-path: the stacked inputs, kept by the weighting; without: (a + b) / n holds the sum
    saves=Saves(extra=_stacked, forward_work=lambda a, ins, out: 0 if a["droppath"] else numel(out)),
    lowering=Lowering(inline=lambda a: "drop_path_mean([{all}], {a[droppath]!r}, self.training)" if a["droppath"]
                      else "({sum}) / {n}"),
    inputs=(1, None), base_name="join", inplace_target=True,
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
            hint="a projection matches only a whole stride; " + PADDING_HINT,
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
    return ins[0][0] * c_out + (c_out if a["bias"] else 0) + (2 * c_out if a["bn"] and a["bn_affine"] else 0)


def _shortcut_state(a, ins, out) -> list:
    """`0.weight` (the 1x1 conv), `1.*` (its batch norm) of the projection; nothing for identity."""
    plan = shortcut_plan(a, ins)
    if plan is None:
        return []
    c_out, _ = plan
    conv = [("0.weight", (c_out, ins[0][0], 1, 1)), *([("0.bias", (c_out,))] if a["bias"] else [])]
    bn = [("1." + k, v) for k, v in _bn_state({"affine": a["bn_affine"]}, [(c_out,)], None)] if a["bn"] else []
    return conv + bn


def _shortcut_macs(a, ins, out):
    plan = shortcut_plan(a, ins)
    if plan is None:
        return 0
    return ins[0][0] * out[0] * out[1] * out[2]


@dataclass(frozen=True)
class ModuleCall:
    """A module built inside another's constructor rule (the layers of a projection shortcut)."""

    cls: str
    args: tuple


def _projection(c: Ctor) -> list:
    """The shortcut's projection, an nn.Sequential of a strided 1x1 conv (+ bn). `stride` is the
    stride from the block's input to its body's output (symbolic where the lowering knows it)."""
    conv = ModuleCall("Conv2d", ((None, c.cin), (None, c.cout), ("kernel_size", 1), *c.opt("stride", "stride", 1),
                                 *c.opt("bias", "bias", True)))
    bn = [(None, ModuleCall("BatchNorm2d", ((None, c.cout), *c.opt("eps", "bn_eps", 1e-5),
                                            *c.opt("momentum", "bn_momentum", 0.1),
                                            *c.opt("affine", "bn_affine", True))))] if c.a["bn"] else []
    return [(None, conv), *bn]


def _shortcut_cpu_work(a, ins, out, batch: int) -> int:
    plan = shortcut_plan(a, ins)
    if plan is None:
        return 0
    conv = {"kernel": 1, "stride": plan[1], "padding": 0, "dilation": 1, "groups": 1}
    return _conv_cpu_work(conv, [ins[0]], out, batch)


register(OpSpec(
    name="shortcut",
    doc="residual shortcut: identity, or a strided 1x1 projection (+bn) when the body changes shape",
    kind="structural",
    # set by the expander from `defaults conv` and `defaults bn`; a residual block has no options for them
    args=(ArgSpec("bias", "bool", False), ArgSpec("bn", "bool", False), ArgSpec("bn_eps", "float", 1e-5),
          ArgSpec("bn_momentum", "float", 0.1), ArgSpec("bn_affine", "bool", True)),
    positional=(),
    shape=_shortcut_shape,
    params=_shortcut_params,
    state=_shortcut_state,
    macs=_shortcut_macs,
    # projection: x for dW, and the conv output that its bn keeps; identity: x itself. In backward
    # the bn makes its conv output's gradient, alive through the conv's backward, which on CPU
    # makes a convolution's oneDNN copies
    saves=Saves(inputs=(0,), when="params", view=lambda a, ins: shortcut_plan(a, ins) is None,
                extra=lambda a, ins, out: ((numel(out), "act"),) if a["bn"] and shortcut_plan(a, ins) else (),
                work=lambda a, ins, out: numel(out) if a["bn"] and shortcut_plan(a, ins) else 0,
                cpu_work=_shortcut_cpu_work, grad_inputs=(0,)),
    autocast="lower",
    activations=lambda a, ins, out: numel(out) if shortcut_plan(a, ins) else 0,
    channels=lambda a, ins, shapes: ins[1],
    # identity, or `_projection` built only when the block changes shape (decided by the lowering)
    lowering=Lowering(module="Sequential", ctor=_projection, inline="{0}"),
    inputs=(2, 2),
    base_name="downsample",
    numbered=False,
    inplace_target=True,
    describe=lambda a, ins: "projection 1x1" if shortcut_plan(a, ins) else "identity",
))


# ------------------------------------------------------------------------ drop-path


helper("DropPath", """
class DropPath(nn.Module):
    \"\"\"Stochastic depth: in training, drop a sample's whole branch with probability p (the rest scaled up).\"\"\"

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask / keep
""")

register(OpSpec(
    name="droppath",
    doc="drop-path / stochastic depth on a residual branch (train only): droppath 0.2",
    kind="regularization",
    args=(ArgSpec("p", "float", 0.0, free=True),), positional=("p",),
    shape=_prob, params=_zero, macs=_zero, channels=_same,
    # x * mask / keep (a mask of one value an image) holds x * mask while dividing
    saves=Saves(view=lambda a, ins: a["p"] == 0.0, forward_work=lambda a, ins, out: numel(out) if a["p"] else 0),
    lowering=Lowering("DropPath", lambda c: [(None, c.val("p"))]),
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
    kind="reshape",
    inplace_target=True,
    args=(ArgSpec("sides", "dims", required=True),), positional=("sides",),
    shape=_pad_shape, params=_zero, macs=_zero, saves=NOTHING, channels=_same,
    lowering=Lowering("ZeroPad2d", lambda c: [(None, tuple(c.a["sides"]))]),
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
    kind="reshape",
    args=(ArgSpec("offset", "dims", required=True),), positional=("offset",),  # kept as a tuple for lowering
    shape=_crop_shape, params=_zero, macs=_zero, channels=_same,
    # x[:, :, t:, l:]: a slice per cropped dimension (indexing skips a full one); backward undoes
    # them one by one, the last (columns) first, each into zeros of its input's size
    saves=Saves(view=True, grad_new=lambda a, ins: any(a["offset"]),
                work=lambda a, ins, out: ins[0][0] * out[1] * ins[0][2] if all(a["offset"]) else 0),
    lowering=Lowering(inline="{0}[:, :, {a[offset][0]}:, {a[offset][1]}:]"),
    base_name="crop", numbered=False,
))

# ------------------------------------------------------------------------ channel slices, option-A shortcuts


def _slice_shape(a, ins):
    x = ins[0]
    c = x[0]
    if a["parts"] is not None:
        part, parts = a["part"], a["parts"]
        if c % parts:
            raise ShapeProblem(f"slice: {c} channels do not split into {parts} equal parts",
                               expected=f"channels a multiple of {parts}", found=f"{c} channels")
        if not 0 <= part < parts:
            raise ShapeProblem(f"slice: part {part} of {parts}", expected=f"a part from 0 to {parts - 1}",
                               found=str(part))
        return (c // parts, *x[1:])
    start, stop = a["start"], a["stop"]
    if stop is None:
        raise ShapeProblem("slice: no channels chosen", expected="slice START STOP or slice part=i parts=n",
                           found="neither")
    if not 0 <= start < stop <= c:
        raise ShapeProblem(f"slice: channels {start} to {stop} of {c}",
                           expected=f"0 <= start < stop <= {c}", found=f"{start} to {stop}")
    return (stop - start, *x[1:])


def _slice_inline(a) -> str:
    if a["parts"] is not None:  # torchvision's ShuffleNetV2: x1, x2 = x.chunk(2, dim=1)
        return f"{{0}}.chunk({a['parts']}, 1)[{a['part']}]"
    return f"{{0}}[:, {a['start']}:{a['stop']}]"


register(OpSpec(
    name="slice",
    doc="channels start to stop (stop excluded): slice 0 16; or part i of n equal parts: slice part=1 parts=2",
    kind="reshape",
    args=(ArgSpec("start", "int", 0, doc="first channel (from 0)"),
          ArgSpec("stop", "int_or_none", None, doc="one past the last channel"),
          ArgSpec("part", "int", 0, doc="which of `parts` equal parts (from 0)"),
          ArgSpec("parts", "int_or_none", None, doc="split the channels into this many equal parts")),
    positional=("start", "stop"),
    shape=_slice_shape, params=_zero, macs=_zero,
    # x[:, a:b] (a full slice is no op) or x.chunk(n, 1)[i], whose backward (split's) concatenates
    # zeros for the n - 1 parts it did not use with the part's gradient
    saves=Saves(view=True, grad_new=lambda a, ins: a["parts"] is not None or a["stop"] - a["start"] < ins[0][0],
                work=lambda a, ins, out: numel(ins[0]) - numel(out) if a["parts"] is not None else 0),
    channels=lambda a, ins, shapes: _slice_shape(a, shapes)[0],
    lowering=Lowering(inline=_slice_inline),
    base_name="slice", numbered=False,
))


def _subsample_shape(a, ins):
    x = ins[0]
    _need_rank("subsample", x, 3)
    s = a["stride"]
    return (x[0], -(-x[1] // s), -(-x[2] // s))


register(OpSpec(
    name="subsample",
    doc="every s-th row and column (x[:, :, ::s, ::s]), as the option-A shortcut of CIFAR ResNets: subsample 2",
    kind="reshape",
    args=(ArgSpec("stride", "pos_int", required=True, aliases=("s",)),), positional=("stride",),
    shape=_subsample_shape, params=_zero, macs=_zero, channels=_same,
    # two strided slices (rows, then columns): backward makes the gradient of the rows' slice,
    # then the input's, each zeros with the gradient copied in
    saves=Saves(view=True, grad_new=lambda a, ins: a["stride"] > 1,
                work=lambda a, ins, out: ins[0][0] * out[1] * ins[0][2] if a["stride"] > 1 else 0),
    lowering=Lowering(inline="{0}[:, :, ::{a[stride]}, ::{a[stride]}]"),
    base_name="subsample", numbered=False,
))


def _pad_channels_shape(a, ins):
    x = ins[0]
    _need_rank("pad_channels", x, 3)
    after = a["before"] if a["after"] is None else a["after"]
    if a["before"] < 0 or after < 0:
        raise ShapeProblem("pad_channels: a negative count of channels", expected="counts >= 0",
                           found=f"{a['before']} and {after}")
    return (x[0] + a["before"] + after, *x[1:])


def _pad_channels_inline(a) -> str:
    after = a["before"] if a["after"] is None else a["after"]
    return f"torch.nn.functional.pad({{0}}, (0, 0, 0, 0, {a['before']}, {after}))"


register(OpSpec(
    name="pad_channels",
    doc="zero channels before and after (after defaults to before), as the option-A shortcut of CIFAR "
        "ResNets: pad_channels 8",
    kind="reshape",
    args=(ArgSpec("before", "int", required=True), ArgSpec("after", "int_or_none", None)),
    positional=("before", "after"),
    shape=_pad_channels_shape, params=_zero, macs=_zero, saves=NOTHING,
    channels=lambda a, ins, shapes: _pad_channels_shape(a, shapes)[0],
    lowering=Lowering(inline=_pad_channels_inline),
    base_name="pad_channels", numbered=False,
))

helper("Permute", """
class Permute(nn.Module):
    \"\"\"Reorders the dimensions (channels last and back, as in ConvNeXt's blocks).\"\"\"

    def __init__(self, dims: list[int]) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x: Tensor) -> Tensor:
        return torch.permute(x, self.dims)
""", uses_torch=True)

PERMUTES = {(0, 2, 3, 1): "last", (0, 3, 1, 2): "first"}


def _permute_shape(a, ins):
    _need_rank("permute", ins[0], 3)
    order = tuple(a["order"])
    if order not in PERMUTES:
        raise ShapeProblem("permute: only channels last (0x2x3x1) and back (0x3x1x2)",
                           expected="permute 0x2x3x1 or permute 0x3x1x2", found="x".join(map(str, order)))
    if PERMUTES[order] == a.get("_layout"):
        raise ShapeProblem(f"permute {'x'.join(map(str, order))}: the tensor is already channels-{a.get('_layout')}",
                           expected="permute 0x3x1x2" if a.get("_layout") == "last" else "permute 0x2x3x1",
                           found="x".join(map(str, order)))
    return ins[0]  # shapes stay (C, H, W) in the IR; the layout records the order in memory


register(OpSpec(
    name="permute",
    doc="channels last (permute 0x2x3x1) and back (permute 0x3x1x2), around channels-last layers: "
        "linear over channels at every position, layernorm (ConvNeXt)",
    kind="reshape",
    args=(ArgSpec("order", "dims", required=True),), positional=("order",),
    shape=_permute_shape, params=_zero, macs=_zero, saves=Saves(view=True), channels=_same,
    lowering=Lowering("Permute", lambda c: [(None, list(c.a["order"]))]),
    layouts=("first", "last"),
    to_layout=lambda a: PERMUTES.get(tuple(a["order"]), "first"),
    base_name="permute", numbered=False, shared=True,
))


def accepts(spec: OpSpec, layout: str) -> bool:
    """Whether an op takes an input in this memory layout (activations and dropout take both)."""
    return layout in spec.layouts or spec.kind in ("activation", "regularization")


MERGE_BLOCKS = {"concat": "concat", "inception": "concat", "cat": "concat", "add": "add", "sum": "add",
                "mul": "mul", "mean": "mean", "join": "mean"}
BLOCK_KINDS = sorted(set(MERGE_BLOCKS) | {"residual", "seq", "chunk"})


# ------------------------------------------------------------------------ FractalNet's join


def _join_module(c: Ctor) -> list:
    a = c.a
    return [("columns", tuple(a.get("columns") or range(len(c.ins)))), ("droppath", c.val("droppath")),
            ("global_droppath", c.val("global_droppath"))]


helper("drop_path_mean", """
def drop_path_mean(inputs: list[Tensor], p: float, training: bool, only: Tensor | None = None) -> Tensor:
    \"\"\"The element-wise mean of the inputs. In training each is dropped with probability p, one always
    kept; `only` (a mask over the inputs, if any is set) keeps just those instead.\"\"\"
    x = torch.stack(inputs)
    if not training or (p == 0.0 and only is None):
        return x.mean(0)
    n = len(inputs)
    keep = torch.rand(n, device=x.device) >= p
    one = torch.arange(n, device=x.device) == torch.randint(n, (), device=x.device)
    keep = keep | (one & ~keep.any())
    if only is not None:
        keep = torch.where(only.any(), only, keep)
    weights = keep.to(x.dtype) / keep.sum()
    return (x * weights.view(-1, *([1] * (x.dim() - 1)))).sum(0)
""", uses_torch=True)

helper("Join", """
class Join(nn.Module):
    \"\"\"FractalNet's join: the element-wise mean of the columns reaching it.

    In training each input is dropped with probability `droppath` (one always kept); and in a forward
    for which the network has drawn a single column (global drop-path, `sample_columns`), every join
    reached by that column passes it alone.
    \"\"\"

    def __init__(self, columns: tuple[int, ...], droppath: float = 0.0, global_droppath: float = 0.0) -> None:
        super().__init__()
        self.droppath = droppath
        self.global_droppath = global_droppath
        self.register_buffer("columns", torch.tensor(columns), persistent=False)
        self.draw: tuple[Tensor, Tensor] | None = None  # (one column this forward?, which column)

    def forward(self, *inputs: Tensor) -> Tensor:
        only = None
        if self.training and self.global_droppath > 0.0 and self.draw is not None:
            single, column = self.draw
            only = single & (self.columns == column)
        return drop_path_mean(list(inputs), self.droppath, self.training, only)


def sample_columns(model: nn.Module, device: torch.device) -> None:
    \"\"\"Draw, once per training forward, whether a single column runs through every join of the model
    (with the joins' `global_droppath`), and which.\"\"\"
    joins = [m for m in model.modules() if isinstance(m, Join)]
    columns = 1 + max(int(m.columns.max()) for m in joins)
    p = max(m.global_droppath for m in joins)
    draw = (torch.rand((), device=device) < p, torch.randint(columns, (), device=device))
    for m in joins:
        m.draw = draw
""", needs=("drop_path_mean",), uses_torch=True)


register(OpSpec(
    name="join",
    doc="FractalNet's join: the element-wise mean of every column reaching it, written "
        "join(droppath=0.15, global_droppath=0.5)<...>; a branch ending in a join is merged into it. "
        "Training: global drop-path keeps one column in every join of the network (chosen per "
        "forward with probability global_droppath), else each input is dropped with probability "
        "droppath, keeping at least one",
    args=(ArgSpec("droppath", "float", 0.0, free=True,
                  doc="local drop-path: each input dropped with this probability"),
          ArgSpec("global_droppath", "float", 0.0, free=True,
                  doc="per forward, the probability that a single column runs through every join")),
    positional=(),
    shape=_merge_same("join"), params=_zero, macs=_zero, saves=Saves(extra=_stacked), channels=_same,
    kind="merge",
    # node args also hold `columns`: the column of each input, set by the expander (expand.Expander._flat_join)
    lowering=Lowering("Join", _join_module), inputs=(1, None), base_name="join", inplace_target=True,
))
MERGE_BLOCKS["join"] = "join"  # join<...> is FractalNet's flat join; mean<...> stays a plain mean


# ------------------------------------------------------------------------ derived tables

# the values `act=` takes: every parameter-free activation (in registration order, each followed by its
# aliases), and "none"
ACTIVATIONS = tuple(
    n for name, sp in REGISTRY.items() if sp.kind == "activation" and sp.params is _zero
    for n in (name, *(al for al, target in ALIASES.items() if target == name))) + ("none",)
