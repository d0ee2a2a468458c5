"""netdsl: a compiler for a small declarative language of convolutional networks.

    >>> import netdsl
    >>> report = netdsl.check("resnet50")          # shapes and costs, no torch needed
    >>> report.total.params
    25557032
    >>> model = netdsl.load("vgg19.net")            # a torch.nn.Module (imports torch)
    >>> model = netdsl.load("resnet50", weights="resnet50.pth")  # with a checkpoint, strictly
    >>> source = netdsl.compile("googlenet")        # readable PyTorch source

Every argument is checked at this boundary: a wrong type or value is a `UsageError` that names
the function and the argument (`netdsl.load: input_shape must be ...`); a problem in the `.net`
text is a located `NetdslError`.
"""

from __future__ import annotations

import math
import os

from .errors import NetdslError, NetdslWarning, NetdslWeightsError, UsageError

__version__ = "0.1.0"
__all__ = ["NetdslError", "NetdslWarning", "NetdslWeightsError", "UsageError", "check", "checks", "compile",
           "compiles", "draw", "load", "loads", "__version__"]


# ------------------------------------------------------------------ argument checks


def _show(value) -> str:
    """A value as quoted in a message: its type and a short repr."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def _path_arg(fn: str, value):
    if isinstance(value, os.PathLike):
        try:
            path = os.fspath(value)
        except TypeError:
            path = None
    else:
        path = value
    if not isinstance(path, str):
        extra = " (decode bytes to str first)" if isinstance(path, (bytes, bytearray)) else ""
        raise UsageError(f"netdsl.{fn}: expected the path of a .net file or the name of a zoo network "
                         f"(a str or os.PathLike), got {_show(value)}{extra}")
    if "\x00" in path:
        raise UsageError(f"netdsl.{fn}: the path contains a NUL character: {path!r}")
    return value


def _text_arg(fn: str, text, name) -> None:
    if not isinstance(text, str):
        extra = " (decode it first: text.decode('utf-8'))" if isinstance(text, (bytes, bytearray)) else ""
        raise UsageError(f"netdsl.{fn}: expected .net source text (a str), got {_show(text)}{extra}")
    if not isinstance(name, str):
        raise UsageError(f"netdsl.{fn}: name must be a str (the name shown in messages), got {_show(name)}")


def _shape_arg(fn: str, shape) -> tuple[int, ...] | None:
    if shape is None:
        return None
    ok = (isinstance(shape, (tuple, list)) and len(shape) in (1, 3)
          and all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in shape))
    if not ok:
        raise UsageError(f"netdsl.{fn}: input_shape must be a tuple of positive ints like (3, 224, 224) "
                         f"(C, H, W), or (512,) for a flat input; got {_show(shape)}")
    return tuple(shape)


def _is_size(v) -> bool:
    """A tuple of two or more whole numbers >= 0, like (1, 7): a size parameter."""
    return isinstance(v, tuple) and len(v) >= 2 and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0
                                                    for x in v)


def _overrides(fn: str, kw: dict) -> dict[str, str]:
    """Network parameters given as keywords, as the text `-D NAME=VALUE` would give them."""
    out = {}
    for k, v in kw.items():
        if isinstance(v, bool):
            out[k] = "true" if v else "false"
        elif isinstance(v, int):
            try:
                out[k] = str(v)
            except ValueError:  # more digits than Python converts to text
                raise UsageError(f"netdsl.{fn}: {k} is a {v.bit_length()}-bit number, too large for a network "
                                 "parameter") from None
        elif isinstance(v, float):
            if not math.isfinite(v):
                raise UsageError(f"netdsl.{fn}: {k} must be a finite number, got {v!r}")
            out[k] = repr(v)
        elif isinstance(v, str):
            out[k] = v
        elif _is_size(v):
            out[k] = "x".join(map(str, v))  # a size: k=(1, 7) is -D k=1x7
        else:
            raise UsageError(f"netdsl.{fn}: the network parameter {k} must be an int, float, bool, str or a size "
                             f"like (1, 7), got {_show(v)}")
    return out


def _read_errors(fn: str, path_or_name, call):
    """Run `call`; usage errors about overrides are said in the API's terms."""
    try:
        return call()
    except UsageError as e:
        text = str(e)
        if text.startswith("-D "):  # the front end names overrides as the command line gives them
            raise UsageError(f"netdsl.{fn}: {text[3:]}") from None
        raise


def _check(fn: str, path_or_name, input_shape, overrides: dict):
    from .pipeline import front_end_file

    _path_arg(fn, path_or_name)
    shape = _shape_arg(fn, input_shape)
    values = _overrides(fn, overrides)
    return _read_errors(fn, path_or_name, lambda: front_end_file(path_or_name, values, shape))


def _checks(fn: str, text, input_shape, name, overrides: dict):
    from .pipeline import front_end

    _text_arg(fn, text, name)
    shape = _shape_arg(fn, input_shape)
    values = _overrides(fn, overrides)
    return _read_errors(fn, name, lambda: front_end(text, name, values, shape))


# ------------------------------------------------------------------ building a torch module


TORCH_MISSING = "needs PyTorch, an optional extra of netdsl: pip install 'netdsl[torch]'"


def _import_torch(fn: str):
    """torch, or a UsageError saying how to install it (`check` and `compile` work without it)."""
    try:
        import torch
    except ImportError:
        raise UsageError(f"netdsl.{fn} {TORCH_MISSING}") from None
    return torch


def _device_arg(fn: str, device):
    """The torch.device to build on, checked before anything is built (None: torch's default)."""
    torch = _import_torch(fn)

    if device is None:
        get = getattr(torch, "get_default_device", None)
        return get() if get is not None else torch.device("cpu")
    if isinstance(device, bool) or not isinstance(device, (str, int, torch.device)):
        raise UsageError(f"netdsl.{fn}: device must be a str like 'cpu' or 'cuda:0', a torch.device or None, "
                         f"got {_show(device)}")
    try:
        d = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as e:
        raise UsageError(f"netdsl.{fn}: device {device!r} is not a device torch knows "
                         f"({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    if d.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"netdsl.{fn}: device {device!r} was requested, but no CUDA device is available")
        count = torch.cuda.device_count()
        if d.index is not None and d.index >= count:
            raise UsageError(f"netdsl.{fn}: device {device!r} was requested, but there "
                             f"{'is 1 CUDA device' if count == 1 else f'are {count} CUDA devices'}")
    elif d.type not in ("cpu", "meta"):
        try:
            torch.empty(0, device=d)
        except Exception as e:  # noqa: BLE001 - each backend fails its own way; all mean "not here"
            raise UsageError(f"netdsl.{fn}: device {device!r} is not available "
                             f"({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    return d


_INT64_MAX = 2**63 - 1


def _memory_of(device) -> int | None:
    """Bytes a device can hold at most (RAM + swap for the CPU), None when unknown or unlimited (meta)."""
    import torch

    if device.type == "cpu":
        try:
            with open("/proc/meminfo", encoding="ascii") as f:
                info = dict(line.split(":", 1) for line in f if ":" in line)
            return sum(int(info[k].split()[0]) * 1024 for k in ("MemTotal", "SwapTotal") if k in info) or None
        except (OSError, ValueError):
            pass
        try:
            return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (AttributeError, ValueError, OSError):
            return None
    if device.type == "cuda":
        try:
            index = device.index if device.index is not None else torch.cuda.current_device()
            return torch.cuda.get_device_properties(index).total_memory
        except Exception:  # noqa: BLE001 - unknown: no limit is checked
            return None
    return None


def _check_fits(report, device) -> None:
    """Refuse, before torch allocates, a network whose weights cannot exist on `device`.

    `check` computes every count exactly, however large (`classes=10**40` is a valid description);
    building is the first step where the counts must fit machine types and memory. A layer with more
    than 2**63 - 1 parameters cannot be a torch tensor, and weights larger than the device's memory
    cannot be allocated (on the CPU, lazily committed memory may even succeed and then bring the
    OOM killer during initialisation, which no `except` can catch). Both are located at the layer.
    """
    import torch

    from .errors import NetdslLimitError
    from .report import human_bytes

    net = report.net
    nodes = [net.node(nid) for nid in net.op_nodes()]
    if not nodes:
        return
    largest = max(nodes, key=lambda n: n["params"])
    label = f"layer `{largest.get('path') or largest['op']}`"
    if largest["params"] > _INT64_MAX:
        raise NetdslLimitError(
            f"{label} of {net.name} has {largest['params']:,} parameters; a torch tensor holds at most "
            "2**63 - 1 values",
            span=largest.get("span"),
            hint="check the network's parameters (e.g. an override like classes=...)",
        )
    params = sum(n["params"] for n in nodes)
    size = params * torch.empty((), dtype=torch.get_default_dtype(), device="meta").element_size()
    capacity = _memory_of(device)
    if capacity is not None and size > capacity:
        raise NetdslLimitError(
            f"{net.name} has {params:,} parameters ({human_bytes(size)} of weights), more than this machine's "
            + (f"memory (RAM and swap: {human_bytes(capacity)})" if device.type == "cpu"
               else f"{device} memory ({human_bytes(capacity)})"),
            span=largest.get("span"),
            found=f"{label} alone has {largest['params']:,} parameters",
            hint="check the network's parameters (e.g. an override like classes=...), or build on "
                 "device='meta' to inspect the module without memory",
        )


def _build(report, device, requested) -> object:
    """Build on `device` (checked); `requested` is None when the caller left the device to torch."""
    import torch

    from . import runtime
    from .errors import NetdslLimitError
    from .ir import deep_recursion

    _check_fits(report, device)
    try:
        with deep_recursion():
            return runtime.build_module(report, device=None if requested is None else device)
    except (torch.OutOfMemoryError, MemoryError) as e:
        cause = e
    except RuntimeError as e:  # the CPU allocator's failure is a plain RuntimeError
        if "can't allocate memory" not in str(e):
            raise
        cause = e
    raise NetdslLimitError(f"{report.net.name}: out of memory while building the module on {device} "
                           f"({report.total.params:,} parameters): {str(cause).splitlines()[0]}") from cause


# ------------------------------------------------------------------ the API


def check(path_or_name, input_shape=None, **overrides):
    """Shapes and costs of a `.net` file or zoo network: a `cost.Report`."""
    return _check("check", path_or_name, input_shape, overrides)


def checks(text: str, input_shape=None, name: str = "<string>", **overrides):
    """The same for source text held in a string."""
    return _checks("checks", text, input_shape, name, overrides)


def draw(path_or_name, depth: int = 2, direction: str = "TB", input_shape=None, **overrides):
    """The block diagram of a `.net` file or zoo network: a `drawing.Drawing` (`.svg()`, `.dot()`,
    `.mermaid()`; a notebook shows it as SVG)."""
    from .drawing import DIRECTIONS, Drawing

    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 1:
        raise UsageError(f"netdsl.draw: depth must be a whole number >= 1 (levels drawn open), got {depth!r}")
    if direction not in DIRECTIONS:
        raise UsageError(f"netdsl.draw: direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    return Drawing(_check("draw", path_or_name, input_shape, overrides), depth, direction)


def compile(path_or_name, input_shape=None, **overrides) -> str:  # noqa: A001 - the verb of the tool
    """Standalone PyTorch source for a `.net` file or zoo network."""
    from .pipeline import generate

    return generate(_check("compile", path_or_name, input_shape, overrides))


def compiles(text: str, input_shape=None, name: str = "<string>", **overrides) -> str:
    from .pipeline import generate

    return generate(_checks("compiles", text, input_shape, name, overrides))


def _with_weights(model, report, weights):
    """The module with a checkpoint loaded (`checkpoint.load_into`: strict by name and shape, except in
    stages the network replaced, which keep their initial weights and are named in a NetdslWarning)."""
    if weights is not None:
        from . import checkpoint

        checkpoint.load_into(model, weights, report)
    return model


def load(path_or_name, input_shape=None, device=None, weights=None, **overrides):
    """A `torch.nn.Module` built from a `.net` file or zoo network (e.g. `load("resnet50", classes=10)`);
    `weights="ckpt.pth"` loads a checkpoint into it (a state_dict, or a dict holding one under
    `state_dict` or `model`, or a `.safetensors` file), strictly by name and shape."""
    _path_arg("load", path_or_name)
    dev = _device_arg("load", device)
    if weights is not None:
        from .checkpoint import path_arg

        weights = path_arg("load", weights)
    report = _check("load", path_or_name, input_shape, overrides)
    return _with_weights(_build(report, dev, device), report, weights)


def loads(text: str, input_shape=None, device=None, name: str = "<string>", weights=None, **overrides):
    """A `torch.nn.Module` from `.net` source held in a string (`weights=` as in `load`)."""
    _text_arg("loads", text, name)
    dev = _device_arg("loads", device)
    if weights is not None:
        from .checkpoint import path_arg

        weights = path_arg("loads", weights)
    report = _checks("loads", text, input_shape, name, overrides)
    return _with_weights(_build(report, dev, device), report, weights)
