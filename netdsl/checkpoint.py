"""Checkpoints: reading pretrained weights and fitting them to a network, strictly by name and shape.

One module for the API (`netdsl.load(..., weights=...)`), the CLI (`netdsl check NET --weights F`)
and the rules the generated factory follows (`resnet50(weights=...)`, a small standalone copy):

* `read(path)` -> {key: tensor}: a state_dict as `torch.save(model.state_dict(), path)` writes it
  (and torchvision publishes it), or a dict holding one under `state_dict` or `model`, or a
  `.safetensors` file (the optional `safetensors` package). Pickles are read with
  `torch.load(path, map_location="cpu", weights_only=True)`: a checkpoint never runs code.
* `fit(state, expected, replaced, ...)` -> `Fit`: which keys load, which are skipped because the
  network replaced their stage (`replace fc = ...` in a file that `extends` the base), and what
  differs everywhere else (missing, unexpected, shape-mismatched keys). Anything that differs
  outside a replaced stage is a `NetdslWeightsError` naming the file and the first keys of each kind.
* `load_into(model, path, report)` does both and loads; skipped keys are reported with a
  `NetdslWarning` (one line per replaced stage).

Every failure is a `NetdslWeightsError`, never a raw torch or pickle traceback.
"""

from __future__ import annotations

import errno
import os
import warnings
from dataclasses import dataclass, field

from .errors import NetdslWarning, NetdslWeightsError, UsageError

SHOWN = 5  # keys of each kind listed in a message
WRAPPERS = ("state_dict", "model")  # keys of a training checkpoint that hold the state_dict
SAFETENSORS_MISSING = "pip install safetensors (or pip install 'netdsl[safetensors]')"


def shown_path(path) -> str:
    from .sources import shown

    return shown(os.fspath(path), 80)


def path_arg(fn: str, value) -> str:
    """The checkpoint path argument of the API: a str or os.PathLike (a UsageError otherwise)."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value or "\x00" in value:
        from . import _show

        raise UsageError(f"netdsl.{fn}: weights must be the path of a checkpoint file (a str or os.PathLike), "
                         f"got {_show(value)}")
    return value


def _shape(shape) -> str:
    return "x".join(map(str, shape)) if len(shape) else "scalar"


def _error(path, message: str, hint: str | None = None) -> NetdslWeightsError:
    return NetdslWeightsError(f"checkpoint {shown_path(path)}: {message}", hint=hint)


# ------------------------------------------------------------------ reading


def read(path) -> dict:
    """The state_dict held in a checkpoint file: {key: tensor}, on the CPU."""
    import torch

    path = os.fspath(path)
    if not os.path.exists(path):
        raise _error(path, "no such file")
    if os.path.isdir(path):
        raise _error(path, "is a directory, not a checkpoint file")
    if path.endswith(".safetensors"):
        state = _read_safetensors(path)
    else:
        state = _read_pickle(path, torch)
    return _state_dict(path, state, torch)


def _read_safetensors(path: str) -> dict:
    try:
        from safetensors import SafetensorError
        from safetensors.torch import load_file
    except ImportError:
        raise _error(path, "reading a .safetensors file needs the safetensors package, which is not installed",
                     hint=SAFETENSORS_MISSING) from None
    try:
        return load_file(path, device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise _error(path, f"not a readable .safetensors file ({_first_line(e)})") from None


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _read_pickle(path: str, torch) -> object:
    import pickle

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes on pickle protocols: the error says what matters
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        text = str(e)
        line = next((ln.strip()[:160] for ln in text.splitlines() if "GLOBAL" in ln), None)
        if line is not None:
            raise _error(path, "refused: it holds Python objects other than tensors, and loading them could run "
                               f"code ({line.rstrip('.')})",
                         hint="netdsl reads checkpoints with torch.load(weights_only=True) and never runs code from "
                              "them; save only the weights: torch.save(model.state_dict(), path)") from None
        raise _error(path, "not a PyTorch checkpoint (the file is corrupt or was not written by torch.save)",
                     hint="save the weights with torch.save(model.state_dict(), path)") from None
    except EOFError:
        raise _error(path, "the file is empty or truncated") from None
    except OSError as e:
        if e.errno in (errno.EACCES, errno.EPERM, errno.ENOENT, errno.EIO, errno.EISDIR):
            raise _error(path, f"cannot be read: {e.strerror or e}") from None
        raise _error(path, f"the file is corrupt or truncated ({e.strerror or e})") from None
    except (RuntimeError, ValueError, TypeError, AttributeError, KeyError, IndexError) as e:
        if not _looks_saved_by_torch(path):  # a text file, an image...: torch's message would be about pickle internals
            raise _error(path, "not a PyTorch checkpoint (the file is corrupt or was not written by torch.save)",
                         hint="save the weights with torch.save(model.state_dict(), path)") from None
        raise _error(path, f"the file is corrupt or truncated ({_first_line(e)[:160]})") from None


def _looks_saved_by_torch(path: str) -> bool:
    """torch.save writes a zip archive (PK...), before PyTorch 1.6 a pickle (protocol 2: \\x80\\x02)."""
    try:
        with open(path, "rb") as f:
            head = f.read(2)
    except OSError:
        return True
    return head in (b"PK", b"\x80\x02")


def _state_dict(path: str, obj, torch) -> dict:
    if isinstance(obj, dict):
        for key in WRAPPERS:
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict):
        what = "a tensor" if isinstance(obj, torch.Tensor) else f"a {type(obj).__name__}"
        raise _error(path, f"holds {what}, not a state_dict (a dict of tensors by key)",
                     hint="save the weights with torch.save(model.state_dict(), path)")
    bad = [(k, v) for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        listed = ", ".join(f"{k!r} ({type(v).__name__})" for k, v in bad[:SHOWN])
        more = f" and {len(bad) - SHOWN} more" if len(bad) > SHOWN else ""
        raise _error(path, f"{len(bad)} entr{'y is' if len(bad) == 1 else 'ies are'} not tensors by name: "
                           f"{listed}{more}",
                     hint="a checkpoint is a state_dict, or a dict holding one under "
                          + " or ".join(f"`{w}`" for w in WRAPPERS))
    return dict(obj)


# ------------------------------------------------------------------ fitting


@dataclass
class Skipped:
    """Keys of one replaced stage that the checkpoint does not fill."""

    stage: str
    where: str  # file:line of the `replace`
    keys: list[str] = field(default_factory=list)
    shapes: list[str] = field(default_factory=list)  # per key "network vs checkpoint": "3x2048 vs 1000x2048"

    def line(self) -> str:
        shapes = ", ".join(self.shapes)
        return f"{', '.join(self.keys)}: replaced in {self.where} (shapes {shapes}); kept as initialised"


@dataclass
class Fit:
    """How a checkpoint's state_dict fits a network's."""

    load: dict  # key -> tensor, what is loaded
    missing: list[str]
    unexpected: list[str]
    mismatched: list[str]  # "key: checkpoint AxB, network CxD"
    skipped: list[Skipped]
    params: int = 0  # parameters loaded (tensors of nn.Parameters, not buffers); set by check / load_into

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)


def replaced_paths(net) -> dict[str, str]:
    """The module path of every stage the network replaced -> where the `replace` is written (file:line)."""
    out = {}
    for name, span in net.replaced.items():
        path = name
        for s in net.root.children:
            if not isinstance(s, int) and s.kind == "named" and s.label == name and s.path:
                path = s.path
        out[path] = f"{span.file}:{span.line}"
    return out


def _stage_of(key: str, replaced: dict[str, str]) -> str | None:
    return next((p for p in replaced if key == p or key.startswith(p + ".")), None)


def fit(state: dict, expected: dict, replaced: dict[str, str] | None = None) -> Fit:
    """Match a checkpoint's {key: tensor} against the network's {key: shape}."""
    replaced = replaced or {}
    load, missing, unexpected, mismatched = {}, [], [], []
    skipped: dict[str, Skipped] = {}

    def skip(stage: str, key: str, text: str) -> None:
        s = skipped.setdefault(stage, Skipped(stage, replaced[stage]))
        if key not in s.keys:
            s.keys.append(key)
            s.shapes.append(text)

    for key, shape in expected.items():
        stage = _stage_of(key, replaced)
        have = state.get(key)
        if stage is not None:
            skip(stage, key, f"{_shape(shape)} vs {'none' if have is None else _shape(have.shape)}")
        elif have is None:
            if not (key.endswith(".num_batches_tracked") and shape == ()):
                missing.append(key)  # (checkpoints from before batch norm counted its steps lack it)
        elif tuple(have.shape) != tuple(shape):
            mismatched.append(f"{key}: checkpoint {_shape(have.shape)}, network {_shape(shape)}")
        else:
            load[key] = have
    for key, have in state.items():
        if key in expected:
            continue
        stage = _stage_of(key, replaced)
        if stage is not None:
            skip(stage, key, f"none vs {_shape(have.shape)}")
        else:
            unexpected.append(key)
    return Fit(load, missing, unexpected, mismatched, list(skipped.values()))


def _listing(title: str, items: list[str]) -> list[str]:
    if not items:
        return []
    lines = [f"  {len(items)} {title}:"]
    lines += [f"    {k}" for k in items[:SHOWN]]
    if len(items) > SHOWN:
        lines.append(f"    ... and {len(items) - SHOWN} more")
    return lines


def mismatch_error(path, network: str, f: Fit) -> NetdslWeightsError:
    counts = ", ".join(f"{n} {what}" for n, what in ((len(f.missing), "missing"), (len(f.unexpected), "unexpected"),
                                                     (len(f.mismatched), "shape-mismatched")) if n)
    total = len(f.missing) + len(f.unexpected) + len(f.mismatched)
    lines = [f"does not fit {network} ({counts} key{'s' if total > 1 else ''})"]
    lines += _listing("missing from the checkpoint", f.missing)
    lines += _listing("in the checkpoint but not in the network", f.unexpected)
    lines += _listing("with another shape", f.mismatched)
    hint = None
    if f.mismatched and not (f.missing or f.unexpected):
        hint = ("the layers match but their sizes differ: check the network's parameters (e.g. classes=...), "
                "or `replace` the differing stage in a network that extends this one")
    elif f.missing and f.unexpected:
        hint = "the key names differ: was the checkpoint saved from another network or layout?"
    return _error(path, "\n".join(lines), hint=hint)


def expected_of(model) -> dict:
    """{key: shape} of a module's state_dict (works on the meta device)."""
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def check(path, report) -> tuple[Fit, dict]:
    """Read a checkpoint and fit it to a checked network's state_dict as netdsl knows it before
    any module exists (`state.state_dict`): (the fit, the state_dict read). Raises
    NetdslWeightsError when it does not fit."""
    from .state import state_dict

    state = read(path)
    f = fit(state, dict(state_dict(report.net)), replaced_paths(report.net))
    if not f.ok:
        raise mismatch_error(path, report.net.name, f)
    f.params = sum(t.numel() for k, t in f.load.items() if not k.endswith(BUFFERS))
    return f, state


BUFFERS = ("running_mean", "running_var", "num_batches_tracked")  # batch norm's buffers: no parameters


def _params_loaded(model, f: Fit) -> int:
    names = {k for k, _ in model.named_parameters()}
    return sum(t.numel() for k, t in f.load.items() if k in names)


def load_into(model, path, report) -> Fit:
    """Load a checkpoint into a module built from `report`: strict by name and shape, except in the
    stages the network replaced (kept as initialised, reported with a NetdslWarning). Called by
    netdsl.load / loads only (the warning's stacklevel points at their caller)."""
    import torch

    state = read(path)
    f = fit(state, expected_of(model), replaced_paths(report.net))
    if not f.ok:
        raise mismatch_error(path, report.net.name, f)
    f.params = _params_loaded(model, f)
    try:
        with torch.no_grad():
            result = model.load_state_dict(f.load, strict=False)
    except RuntimeError as e:  # e.g. a dtype torch cannot copy
        raise _error(path, f"cannot be loaded into {report.net.name}: {_first_line(e)[:200]}") from None
    left = [k for k in result.missing_keys if _stage_of(k, replaced_paths(report.net)) is None]
    if left or result.unexpected_keys:  # cannot happen after fit(); kept as a guard
        raise _error(path, f"did not load {', '.join((left + result.unexpected_keys)[:SHOWN])}")
    if f.skipped:
        lines = [s.line() for s in f.skipped]
        warnings.warn(f"{shown_path(path)} into {report.net.name}: skipped the keys of replaced stages:\n  "
                      + "\n  ".join(lines), NetdslWarning, stacklevel=4)  # the caller of netdsl.load
    return f


def summary(path, report, f: Fit) -> str:
    """The one-line OK of `netdsl check --weights`."""
    text = f"{shown_path(path)} fits {report.net.name}: {len(f.load):,} tensors, {f.params:,} parameters"
    if f.skipped:
        text += "; skipped " + "; ".join(s.line() for s in f.skipped)
    return text
