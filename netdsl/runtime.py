"""The PyTorch runtime: execute generated source as a module and build the network from it.

`build_module(report)` renders the code model of a checked network to source (the very text
`netdsl compile` writes), executes it as a fresh module registered in `sys.modules` (so that
pickle, `torch.jit`, `torch.export` and DDP find its classes), and instantiates the network class.
The only back-end module that imports torch (lazily, when a module is built).
"""

from __future__ import annotations

import hashlib
import linecache
import re
import sys
import types
from collections import OrderedDict

from . import codegen, lower
from .ir import gc_paused

MAX_CACHED = 64  # generated modules (and sources per input) kept per process; the oldest are dropped


class _LRU(OrderedDict):
    def __init__(self, limit: int, on_evict=None):
        super().__init__()
        self.limit = limit
        self.on_evict = on_evict

    def put(self, key, value) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.limit:
            old_key, old = self.popitem(last=False)
            if self.on_evict is not None:
                self.on_evict(old_key, old)

    def fetch(self, key):
        value = self.get(key)
        if value is not None:
            self.move_to_end(key)
        return value


def _forget(modname: str, mod: types.ModuleType) -> None:
    if sys.modules.get(modname) is mod:
        del sys.modules[modname]
    linecache.cache.pop(mod.__file__, None)


_MODULES = _LRU(MAX_CACHED, _forget)


def load_source(source: str, name: str) -> types.ModuleType:
    """Execute generated source as a module registered in sys.modules (pickle, jit, export, DDP)."""
    digest = hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]
    modname = f"_netdsl_{re.sub(r'[^A-Za-z0-9_]', '_', name)}_{digest}"
    mod = _MODULES.fetch(modname)
    if mod is not None and sys.modules.get(modname) is mod:
        return mod
    filename = f"<netdsl:{modname}>"
    mod = types.ModuleType(modname)
    mod.__file__ = filename
    mod.__netdsl_source__ = source
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    code = compile(source, filename, "exec")
    sys.modules[modname] = mod
    try:
        exec(code, mod.__dict__)  # noqa: S102 - our own generated source
    except BaseException:
        sys.modules.pop(modname, None)
        raise
    _MODULES.put(modname, mod)
    return mod


# Generated source per input: (texts of every file that shaped the IR, input shape, parameters).
# The report is a pure function of these, so loading the same network again skips code generation.
_SOURCES_BY_INPUT = _LRU(MAX_CACHED)


def _fingerprint(report) -> tuple | None:
    net = report.net
    files = {net.file} | {span.file for _, span in net.graph.nodes(data="span")}
    texts = tuple((f, net.sources.get(f)) for f in sorted(files))
    if any(t is None for _, t in texts):
        return None
    params = tuple(sorted((k, repr(v)) for k, v in net.params.items()))
    return (texts, tuple(net.input_shape), params)


def build_module(report, device=None):
    """A torch.nn.Module of the network: an instance of the class that `netdsl compile` writes."""
    import torch

    # lowering, rendering and constructing the modules make many objects that stay alive: no
    # pauses for cyclic garbage collection, which would rescan them all (see `ir.gc_paused`)
    with gc_paused():
        key = _fingerprint(report)
        hit = _SOURCES_BY_INPUT.fetch(key) if key is not None else None
        if hit is None:
            model = lower.lower(report)
            hit = (codegen.render(model), model.network.name)
            if key is not None:
                _SOURCES_BY_INPUT.put(key, hit)
        source, class_name = hit
        mod = load_source(source, report.net.name)
        cls = getattr(mod, class_name)
        if device is None:
            return cls()
        with torch.device(device):
            return cls()
