"""The thin orchestrator: text -> AST -> linked program -> graph IR -> checked, named, costed IR.

    parse -> link -> expand -> shapes -> layout -> cost -> budgets (`assert`)

Everything that reads `.net` input goes through `front_end`; the back ends (`lower`, `codegen`)
start from its result. This is the one boundary errors about the input leave through: each gets
the program's `SourceMap` attached here, so that it renders with its source line.
"""

from __future__ import annotations

import os

from . import budget, cost, expand, formats, layout, link, parse, shapes, sources  # noqa: F401 - formats: Report's notebook table
from .cost import Report
from .errors import NetdslError
from .ir import deep_recursion, gc_paused
from .limits import Limits


def front_end(text: str, file: str = "<string>", overrides: dict[str, str] | None = None,
              input_shape: tuple[int, ...] | None = None, limits: Limits | None = None) -> Report:
    """Parse, link, expand, shape-check, name and cost a network given as text."""
    smap = sources.program_sources(text, file)
    limits = limits or Limits.from_env()
    # The front end allocates many small objects that all stay alive until it returns: cyclic
    # garbage collection would only rescan them (a third of the time on 10,000-layer networks).
    try:
        with gc_paused(), deep_recursion():
            return _stages(text, file, smap, overrides, input_shape, limits)
    except NetdslError as e:
        e.with_sources(smap)
        raise


def _stages(text, file, smap, overrides, input_shape, limits) -> Report:
    program = parse.parse(text, file, limits.max_layers)
    linked = link.link(program, smap, overrides, limits)
    budgets = budget.collect(linked)
    net = expand.expand(linked, input_shape, limits)
    shapes.infer(net)
    layout.assign_names(net)
    report = cost.analyze(net)
    budget.enforce(report, budgets)
    return report


def generate(report: Report) -> str:
    """The PyTorch source of a checked network (the back end's passes recurse as deeply as scopes nest;
    the code model, like the IR, is built without pauses for garbage collection)."""
    from . import codegen

    with gc_paused(), deep_recursion():
        return codegen.generate(report)


def front_end_file(name_or_path: str | os.PathLike, overrides: dict[str, str] | None = None,
                   input_shape: tuple[int, ...] | None = None, limits: Limits | None = None) -> Report:
    """The same for a file path or a zoo name (`resnet50`, `resnet50.net`)."""
    path = sources.resolve(name_or_path)
    name, text = sources.read_source(path)
    return front_end(text, name, overrides, input_shape, limits)
