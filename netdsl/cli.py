"""The command line: `netdsl check` and `netdsl compile`.

Exit codes: 0 valid, 1 errors in the `.net` input, 2 usage errors. No traceback is ever shown
for bad input (only with --debug). `check` and `compile` never import torch.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from . import __version__
from .errors import NetdslError, UsageError, render

EXAMPLES_CHECK = """examples:
  netdsl check resnet50                      a zoo network, by name
  netdsl check my.net --input 3x32x32 -D classes=10
  netdsl check googlenet.net --depth 1       one row per top-level block
  netdsl check vgg16 --json                  machine-readable
"""

EXAMPLES_COMPILE = """examples:
  netdsl compile networks/googlenet.net -o googlenet.py
  netdsl compile resnet50 -D classes=10 -o -   (print to stdout)
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # usage errors: one line, exit 2
        raise UsageError(f"{self.prog}: {message}")


def _dims(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(p) for p in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected CxHxW like 3x224x224, found {text!r}") from None
    if not dims or any(d < 1 for d in dims) or len(dims) not in (1, 3):
        raise argparse.ArgumentTypeError(f"expected CxHxW like 3x224x224, found {text!r}")
    return dims


def _define(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected name=value, found {text!r}")
    k, v = text.split("=", 1)
    if not k.strip().isidentifier():
        raise argparse.ArgumentTypeError(f"expected name=value, found {text!r}")
    return k.strip(), v.strip()


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("network", help="a .net file, or the name of a zoo network (resnet50)")
    p.add_argument("-D", dest="defines", action="append", type=_define, default=[], metavar="NAME=VALUE",
                   help="override a network parameter (repeatable)")
    p.add_argument("--input", type=_dims, metavar="CxHxW", help="input shape (default: the file's, else 3x224x224)")
    p.add_argument("--max-layers", type=int, metavar="N", help="limit on expanded layers (default 200000)")
    p.add_argument("--max-repeat", type=int, metavar="N", help="limit on one repeat count (default 100000)")
    p.add_argument("--max-depth", type=int, metavar="N", help="limit on nested define calls (default 64)")
    p.add_argument("--debug", action="store_true", help="show Python tracebacks")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="netdsl", description="Check and compile .net descriptions of convolutional networks.",
                formatter_class=argparse.RawDescriptionHelpFormatter,
                epilog="commands:\n  check    shapes and cost table (no torch needed)\n"
                       "  compile  readable PyTorch source\n\nsee `netdsl COMMAND --help`")
    p.add_argument("--version", action="version", version=f"netdsl {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)
    c = sub.add_parser("check", help="check shapes and print the cost table", epilog=EXAMPLES_CHECK,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(c)
    c.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    c.add_argument("--depth", type=int, default=2, help="rows down to this block depth (default 2; 0 = all)")
    c.add_argument("--batch", type=int, default=1, help="batch size for the memory figures (default 1)")
    c.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16", "float64"],
                   help="activation dtype for the memory figures")
    c.add_argument("--optimizer", default="sgd", choices=["sgd", "momentum", "adam", "adamw"],
                   help="optimizer state in the training-memory estimate")
    k = sub.add_parser("compile", help="write standalone PyTorch source", epilog=EXAMPLES_COMPILE,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(k)
    k.add_argument("-o", "--output", default="-", help="output .py file, or - for stdout (default)")
    return p


def _limits(args):
    from .limits import Limits

    lim = Limits.from_env()
    for f in ("max_layers", "max_repeat", "max_depth"):
        v = getattr(args, f, None)
        if v is not None:
            if v < 1:
                raise UsageError(f"--{f.replace('_', '-')} must be at least 1")
            setattr(lim, f, v)
    return lim


def _front(args):
    from .pipeline import front_end_file

    return front_end_file(args.network, dict(args.defines), args.input, _limits(args))


def cmd_check(args) -> int:
    from . import report as R

    rep = _front(args)
    if args.batch < 1:
        raise UsageError("--batch must be at least 1")
    if args.json:
        doc = R.to_json(rep, args.batch, args.dtype, args.optimizer)
        # indented for people at a terminal; compact (and C-encoded, 10x faster) for programs
        print(json.dumps(doc, indent=1) if sys.stdout.isatty() else json.dumps(doc))
    else:
        print(R.table(rep, None if args.depth == 0 else args.depth, args.batch, args.dtype, args.optimizer))
    return 0


def cmd_compile(args) -> int:
    from . import codegen

    rep = _front(args)
    text = codegen.generate(rep)
    if args.output == "-":
        sys.stdout.write(text)
        return 0
    write_atomic(args.output, text)
    print(f"wrote {args.output} ({text.count(chr(10))} lines)", file=sys.stderr)
    return 0


def write_atomic(path: str, text: str) -> None:
    """Write next to the target and rename into place: the old file survives any failure."""
    import tempfile

    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"cannot write {path}: the folder {os.path.dirname(path) or '.'} does not exist")
    if os.path.isdir(path):
        raise UsageError(f"cannot write {path}: it is a folder")
    fd, tmp = tempfile.mkstemp(prefix=".netdsl-", suffix=".py.tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        return {"check": cmd_check, "compile": cmd_compile}[args.command](args)
    except NetdslError as e:
        if debug:
            raise
        print(render(e), file=sys.stderr)
        return 1
    except UsageError as e:
        if debug:
            raise
        print(f"netdsl: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
