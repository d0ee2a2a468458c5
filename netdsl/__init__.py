"""netdsl: a compiler for a small declarative language of convolutional networks.

    >>> import netdsl
    >>> report = netdsl.check("resnet50")          # shapes and costs, no torch needed
    >>> report.total.params
    25557032
    >>> model = netdsl.load("vgg19.net")            # a torch.nn.Module (imports torch)
    >>> source = netdsl.compile("googlenet")        # readable PyTorch source
"""

from __future__ import annotations

from .errors import NetdslError, UsageError

__version__ = "0.1.0"
__all__ = ["NetdslError", "UsageError", "check", "checks", "compile", "compiles", "load", "loads",
           "__version__"]


def _overrides(kw: dict) -> dict[str, str]:
    out = {}
    for k, v in kw.items():
        out[k] = ("true" if v else "false") if isinstance(v, bool) else str(v)
    return out


def check(path_or_name, input_shape=None, **overrides):
    """Shapes and costs of a `.net` file or zoo network: a `cost.Report`."""
    from .pipeline import front_end_file

    return front_end_file(path_or_name, _overrides(overrides), input_shape)


def checks(text: str, input_shape=None, name: str = "<string>", **overrides):
    """The same for source text held in a string."""
    from .pipeline import front_end

    return front_end(text, name, _overrides(overrides), input_shape)


def compile(path_or_name, input_shape=None, **overrides) -> str:  # noqa: A001 - the verb of the tool
    """Standalone PyTorch source for a `.net` file or zoo network."""
    from . import codegen

    return codegen.generate(check(path_or_name, input_shape, **overrides))


def compiles(text: str, input_shape=None, name: str = "<string>", **overrides) -> str:
    from . import codegen

    return codegen.generate(checks(text, input_shape, name, **overrides))


def load(path_or_name, input_shape=None, device=None, **overrides):
    """A `torch.nn.Module` built from a `.net` file or zoo network (e.g. `load("resnet50", classes=10)`)."""
    from . import runtime

    return runtime.build_module(check(path_or_name, input_shape, **overrides), device=device)


def loads(text: str, input_shape=None, device=None, name: str = "<string>", **overrides):
    """A `torch.nn.Module` from `.net` source held in a string."""
    from . import runtime

    return runtime.build_module(checks(text, input_shape, name, **overrides), device=device)
