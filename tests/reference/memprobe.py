"""What PyTorch really allocates for one training step (the reference of the memory estimate).

`measure_step(model, x)` runs one warm-up step, then one profiled step (zero_grad with
set_to_none, forward, cross-entropy over every head, backward, optimizer step) and returns the
bytes that were allocated at the peak of that step:

    parameters + buffers + optimizer state + the input already resident
    + the peak of the running sum of the profiler's allocation events during the step.

On CPU the running sum comes from `torch.profiler` (profile_memory=True): the allocation and
free events of the CPU allocator in time order. On CUDA it is `torch.cuda.max_memory_allocated`
(which already includes everything resident). Frees of blocks allocated before the profiled
step (the gradients of the warm-up step, released by zero_grad) are unknown to the profiler and
are left out: those bytes are not resident at the start of the step.
"""

from __future__ import annotations

import gc

import torch
from torch import Tensor, nn

OPTIMIZERS = {
    "sgd": lambda ps: torch.optim.SGD(ps, lr=1e-3),
    "momentum": lambda ps: torch.optim.SGD(ps, lr=1e-3, momentum=0.9),
    "adam": lambda ps: torch.optim.Adam(ps, lr=1e-4),
    "adamw": lambda ps: torch.optim.AdamW(ps, lr=1e-4),
}


def _heads(out) -> list[Tensor]:
    return list(out) if isinstance(out, tuple) else [out]


def _storages_bytes(tensors) -> int:
    seen, total = set(), 0
    for t in tensors:
        s = t.untyped_storage()
        if s.data_ptr() not in seen:
            seen.add(s.data_ptr())
            total += s.nbytes()
    return total


def resident_bytes(model: nn.Module, opt: torch.optim.Optimizer, *tensors: Tensor) -> int:
    """Parameters, buffers, optimizer state and the given tensors (the input, the targets)."""
    state = [v for st in opt.state.values() for v in st.values() if isinstance(v, Tensor) and v.dim() > 0]
    return _storages_bytes([*model.parameters(), *model.buffers(), *state, *tensors])


def _profiled_peak(fn) -> int:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    events.sort(key=lambda e: e.start_ns())
    cur = peak = 0
    for e in events:
        cur += e.nbytes()
        peak = max(peak, cur)
    return peak


def measure_step(model: nn.Module, x: Tensor, optimizer: str = "sgd", autocast: torch.dtype | None = None) -> int:
    """Peak bytes allocated by one training step of `model` on the batch `x` (see the module doc)."""
    device = x.device
    model.train()
    with torch.no_grad():
        classes = _heads(model(x[:1] if x.shape[0] > 1 else x))[0].shape[-1]
    y = torch.randint(0, classes, (x.shape[0],), device=device)
    opt = OPTIMIZERS[optimizer]([p for p in model.parameters() if p.requires_grad])

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=autocast or torch.float32, enabled=autocast is not None):
            heads = _heads(model(x))
            loss = sum(nn.functional.cross_entropy(h.float(), y) for h in heads)
        loss.backward()
        opt.step()

    step()  # warm-up: optimizer state, allocator caches, lazy initialisation
    if device.type == "cuda":
        opt.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        step()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated()
    # garbage of earlier work (a previous model's graph) freed by the collector during the profiled
    # step would count as negative allocations: collect it first, and not while profiling
    gc.collect()
    base = resident_bytes(model, opt, x, y)
    was = gc.isenabled()
    gc.disable()
    try:
        # the largest of three profiled steps: a single one occasionally comes out low (by up to 14%
        # on a 2 MB step), never high; two both came out 10% low once in a full parallel run
        return base + max(_profiled_peak(step) for _ in range(3))
    finally:
        if was:
            gc.enable()
