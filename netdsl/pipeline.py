"""The thin orchestrator: text -> AST -> graph IR -> checked, costed IR.

Everything that reads `.net` input goes through `front_end`; the back ends (`lower`, `codegen`)
start from its result.
"""

from __future__ import annotations

import gc
import os

from . import cost, ir, parse, shapes, sources
from .cost import Report


def front_end(text: str, file: str = "<string>", overrides: dict[str, str] | None = None,
              input_shape: tuple[int, ...] | None = None, limits: ir.Limits | None = None) -> Report:
    """Parse, expand, name, shape-check and cost a network given as text."""
    sources.register_text(text, file)
    # The front end allocates many small objects that all stay alive until it returns: cyclic
    # garbage collection would only rescan them (a third of the time on 10,000-layer networks).
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        program = parse.parse(text, file)
        net = ir.build(program, overrides, input_shape, limits)
        shapes.infer(net)
        ir.assign_names(net)
        return cost.analyze(net)
    finally:
        if was_enabled:
            gc.enable()


def front_end_file(name_or_path: str | os.PathLike, overrides: dict[str, str] | None = None,
                   input_shape: tuple[int, ...] | None = None, limits: ir.Limits | None = None) -> Report:
    """The same for a file path or a zoo name (`resnet50`, `resnet50.net`)."""
    path = sources.resolve(name_or_path)
    name, text = sources.read_source(path)
    return front_end(text, name, overrides, input_shape, limits)
