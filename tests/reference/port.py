"""Porting weights between two implementations of one network, and comparing what they compute.

Used by tests/test_differential.py to run a hand-written reference model (tests/reference) and the
module `netdsl.load` builds with the *same* weights, then compare outputs, running statistics and
gradients. Everything here fails loudly: a mapping that is not a bijection between state_dict
entries of equal shape, dtype and kind raises `PortError`, never guesses.
"""

from __future__ import annotations

import math
import re
import types
import zlib
from collections.abc import Callable

import torch
from torch import Tensor, nn

__all__ = ["PortError", "Mismatch", "pair_entries", "port", "init_weights", "randomize_batchnorm",
           "fixed_dropout", "move_after", "moved_before", "assert_same"]


class PortError(Exception):
    """The two models' state_dicts cannot be mapped one-to-one (not an AssertionError, so that an
    expected failure of a comparison never absorbs it)."""


class Mismatch(AssertionError):
    """Two tensors that should be equal are not."""


def _kinds(model: nn.Module) -> dict[str, str]:
    """Each state_dict key: "param" or "buffer"."""
    params = {k for k, _ in model.named_parameters(remove_duplicate=False)}
    return {k: ("param" if k in params else "buffer") for k in model.state_dict()}


def pair_entries(src: nn.Module, dst: nn.Module,
                 order: Callable[[list[str]], list[str]] | None = None) -> list[tuple[str, str]]:
    """(source key, destination key) for every state_dict entry (parameters and buffers).

    By equal key when both state_dicts have the same key set and no `order` is given; otherwise the
    i-th source entry (in `order(source keys)` if given, else state_dict order) goes to the i-th
    destination entry. Every pair must agree in shape, dtype, parameter-or-buffer and leaf name
    (weight, bias, running_mean, ...); the counts must be equal; each key is used exactly once.
    """
    s, d = src.state_dict(), dst.state_dict()
    if not d:
        raise PortError("the destination has an empty state_dict")
    if order is None and set(s) == set(d):
        pairs = [(k, k) for k in d]
    else:
        src_keys = list(s) if order is None else list(order(list(s)))
        if sorted(src_keys) != sorted(s):
            missing, extra = set(s) - set(src_keys), set(src_keys) - set(s)
            dup = {k for k in src_keys if src_keys.count(k) > 1}
            raise PortError(f"the order is not a permutation of the source keys: missing {sorted(missing)[:5]}, "
                            f"unknown {sorted(extra)[:5]}, repeated {sorted(dup)[:5]}")
        if len(src_keys) != len(d):
            raise PortError(f"{len(src_keys)} source entries but {len(d)} destination entries\n"
                            f"source: {src_keys[:8]}...\ndestination: {list(d)[:8]}...")
        pairs = list(zip(src_keys, d, strict=True))
    sk, dk = _kinds(src), _kinds(dst)
    bad = []
    for a, b in pairs:
        ta, tb = s[a], d[b]
        why = []
        if ta.shape != tb.shape:
            why.append(f"shape {tuple(ta.shape)} != {tuple(tb.shape)}")
        if ta.dtype != tb.dtype:
            why.append(f"dtype {ta.dtype} != {tb.dtype}")
        if sk[a] != dk[b]:
            why.append(f"{sk[a]} != {dk[b]}")
        if a.rpartition(".")[2] != b.rpartition(".")[2]:
            why.append("different leaf names")
        if why:
            bad.append(f"  {a} -> {b}: {', '.join(why)}")
    if bad:
        raise PortError(f"{len(bad)} of {len(pairs)} pairs disagree (first 10):\n" + "\n".join(bad[:10]))
    if len({b for _, b in pairs}) != len(pairs) or len({a for a, _ in pairs}) != len(pairs):
        raise PortError("a key is used twice")
    return pairs


@torch.no_grad()
def port(src: nn.Module, dst: nn.Module, pairs: list[tuple[str, str]], assign: bool = False) -> None:
    """Copy every source entry into its destination entry (strict: every destination key is set).
    With `assign`, the destination takes the copies themselves (it may live on the meta device);
    its parameters keep their requires_grad."""
    s = src.state_dict()
    grad = {k: p.requires_grad for k, p in dst.named_parameters()}
    dst.load_state_dict({b: s[a].detach().clone() for a, b in pairs}, strict=True, assign=assign)
    d = dst.state_dict()
    for a, b in pairs:  # what was loaded is what the source holds
        if d[b].is_meta or not torch.equal(d[b], s[a]):
            raise PortError(f"{b} does not hold {a} after loading")
    if {k: p.requires_grad for k, p in dst.named_parameters()} != grad:
        raise PortError("requires_grad changed in loading")


@torch.no_grad()
def init_weights(model: nn.Module, generator: torch.Generator) -> None:
    """Seeded random values for every parameter (the model may come from `to_empty`): weights
    uniform with He's bound sqrt(6 / fan_in), so that activations keep their scale through ReLU
    networks; vectors (biases) uniform in [-0.1, 0.1)."""
    for p in model.parameters():
        if p.dim() >= 2:
            bound = math.sqrt(6.0 / p[0].numel())
        else:
            bound = 0.1
        p.uniform_(-bound, bound, generator=generator)


@torch.no_grad()
def randomize_batchnorm(model: nn.Module, generator: torch.Generator, only_batchnorm: bool = True) -> int:
    """Non-trivial batch-norm state, so that eps / momentum / affine mistakes show: random affine
    weight (around 1) and bias, random running mean, positive random running variance, and a
    num_batches_tracked that is not 0. With `only_batchnorm`, every buffer of the model must be a
    batch norm's (they are all set here: the model may come from `to_empty`). Returns the number of
    batch-norm modules."""
    n = 0
    done: set[int] = set()
    for m in model.modules():
        if not isinstance(m, nn.modules.batchnorm._BatchNorm):
            continue
        n += 1
        if m.affine:
            m.weight.uniform_(0.5, 1.5, generator=generator)
            m.bias.uniform_(-0.1, 0.1, generator=generator)
        if m.track_running_stats:
            m.running_mean.uniform_(-0.1, 0.1, generator=generator)
            m.running_var.uniform_(0.5, 1.5, generator=generator)
            m.num_batches_tracked.fill_(int(torch.randint(1, 100, (), generator=generator)))
        done |= {id(b) for b in m.buffers(recurse=False)}
    others = [k for k, b in model.named_buffers() if id(b) not in done]
    if others and only_batchnorm:
        raise PortError(f"buffers that are not batch-norm state: {others[:5]}")
    return n


def _fixed_dropout_forward(self: nn.Module, x: Tensor) -> Tensor:
    if not self.training or self.p == 0.0:
        return x
    channel = isinstance(self, (nn.Dropout1d, nn.Dropout2d, nn.Dropout3d))
    shape = tuple(x.shape[:2]) + (1,) * (x.dim() - 2) if channel else tuple(x.shape)
    seed = zlib.crc32(repr((type(self).__name__, round(float(self.p), 9), shape)).encode())
    g = torch.Generator().manual_seed(seed)
    keep = (torch.rand(shape, generator=g, dtype=torch.float64) >= self.p).to(device=x.device, dtype=x.dtype)
    return x * keep / (1.0 - self.p)


def fixed_dropout(model: nn.Module, zero: bool = False) -> list[tuple[str, float]]:
    """Make every dropout deterministic: in training, a dropout of class K with probability p on an
    input of shape S applies a mask that depends only on (K, p, S) (element-wise for nn.Dropout,
    per channel for nn.Dropout2d), scaled by 1/(1-p) as torch does. Two models whose dropouts sit at
    the same places with the same p then compute the same thing, and a different p, class or place
    shows. With `zero`, every dropout's p is set to 0 instead (identity). Returns the sorted
    (class, p) of the dropouts that do something (p > 0)."""
    active = []
    for m in model.modules():
        if isinstance(m, nn.modules.dropout._DropoutNd):
            if zero:
                m.p = 0.0
            m.forward = types.MethodType(_fixed_dropout_forward, m)
            if m.p > 0:
                active.append((type(m).__name__, float(m.p)))
    return sorted(active)


# ------------------------------------------------------------------------ orders of state_dict keys


def move_after(keys: list[str], prefix: str, anchor: str) -> list[str]:
    """`keys` with every key under `prefix` moved (in order) right after the last key under `anchor`."""
    moved = [k for k in keys if k.startswith(prefix)]
    rest = [k for k in keys if not k.startswith(prefix)]
    last = max((i for i, k in enumerate(rest) if k.startswith(anchor)), default=None)
    if not moved or last is None:
        raise PortError(f"no keys under {prefix!r} or {anchor!r}")
    return rest[:last + 1] + moved + rest[last + 1:]


def moved_before(keys: list[str], group: str, first: str, then: str) -> list[str]:
    """Within every group of keys matching the regex `group` (whose match is the group's prefix),
    the keys `<prefix><first>...` come before the keys `<prefix><then>...` (both stay contiguous
    and the group keeps its place)."""
    out: list[str] = []
    i = 0
    pat = re.compile(group)
    changed = 0
    while i < len(keys):
        m = pat.match(keys[i])
        if not m:
            out.append(keys[i])
            i += 1
            continue
        prefix = m.group(0)
        j = i
        while j < len(keys) and keys[j].startswith(prefix):
            j += 1
        block = keys[i:j]
        a = [k for k in block if k.startswith(prefix + first)]
        b = [k for k in block if k.startswith(prefix + then)]
        if a and b:
            changed += 1
            others = [k for k in block if k not in a and k not in b]
            pos = min(block.index(a[0]), block.index(b[0]))
            head = [k for k in block[:pos] if k in others]
            tail = [k for k in block[pos:] if k in others]
            block = head + a + b + tail
        out += block
        i = j
    if not changed:
        raise PortError(f"no group {group!r} has both {first!r} and {then!r}")
    return out


# ------------------------------------------------------------------------ comparison


def assert_same(got: Tensor, want: Tensor, what: str, rtol: float, atol: float) -> None:
    """got == want element-wise within rtol * |want| + atol * max|want| (atol is relative to the
    tensor's scale, so tiny tensors are not compared loosely); shapes and dtypes must be equal."""
    if got.shape != want.shape or got.dtype != want.dtype:
        raise Mismatch(f"{what}: {tuple(got.shape)} {got.dtype} vs {tuple(want.shape)} {want.dtype}")
    if not got.dtype.is_floating_point:
        if not torch.equal(got, want):
            raise Mismatch(f"{what}: {got.tolist() if got.numel() < 10 else got} != {want}")
        return
    g, w = got.detach().reshape(-1), want.detach().reshape(-1)
    if not w.numel():
        return
    # In chunks, into preallocated buffers: whole-tensor temporaries of 100M elements (VGG's first
    # linear layer) cost seconds in page faults, and so do fresh multi-megabyte chunks.
    step = min(w.numel(), 1 << 16)
    diff, bound = torch.empty(step, dtype=w.dtype), torch.empty(step, dtype=w.dtype)
    within = torch.empty(step, dtype=torch.bool)
    scale = 0.0
    with torch.no_grad():
        for i in range(0, w.numel(), step):
            b = w[i:i + step]
            m = float(torch.abs(b, out=bound[:b.numel()]).max())  # NaN and inf propagate
            if not math.isfinite(m):
                raise Mismatch(f"{what}: the reference is not finite")
            scale = max(scale, m)
        tol = atol * scale
        ok = True
        for i in range(0, w.numel(), step):
            a, b = g[i:i + step], w[i:i + step]
            n = b.numel()
            torch.sub(a, b, out=diff[:n]).abs_()
            torch.abs(b, out=bound[:n]).mul_(rtol).add_(tol)
            if not bool(torch.le(diff[:n], bound[:n], out=within[:n]).all()):  # NaN in got: not <=
                ok = False
                break
    if not ok:
        try:
            torch.testing.assert_close(got.detach(), want.detach(), rtol=rtol, atol=tol, msg=lambda m: f"{what}: {m}")
        except AssertionError as e:
            raise Mismatch(str(e)) from None
        raise Mismatch(f"{what}: not close (NaN on the netdsl side?)")
