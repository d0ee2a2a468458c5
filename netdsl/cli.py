"""The command line: `netdsl check` and `netdsl compile`.

Exit codes: 0 valid, 1 errors in the `.net` input, 2 usage errors. No traceback is ever shown
for bad input (only with --debug). `check` and `compile` never import torch.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import signal
import stat
import sys
import threading

from . import __version__
from .errors import NetdslError, UsageError, render

EXAMPLES_CHECK = """examples:
  netdsl check resnet50                      a zoo network, by name
  netdsl check my.net --input 3x32x32 -D classes=10
  netdsl check googlenet.net --depth 1       one row per top-level block
  netdsl check vgg16 --json                  machine-readable
  netdsl check resnet50 --weights r50.pth    does the checkpoint fit? (keys and shapes)
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
                       "  zoo      list the zoo networks: reference, params, MACs\n"
                       "  compile  readable PyTorch source\n"
                       "  diff     compare two networks\n"
                       "  draw     block diagram (SVG, DOT, Mermaid)\n"
                       "  ops      every op with its arguments\n\nsee `netdsl COMMAND --help`")
    p.add_argument("--version", action="version", version=f"netdsl {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)
    c = sub.add_parser("check", help="check shapes and print the cost table", epilog=EXAMPLES_CHECK,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(c)
    c.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    c.add_argument("--depth", type=_row_depth, default=2, help="rows down to this block depth (default 2; 0 = all)")
    _memory_options(c)
    _check_extras(c)
    k = sub.add_parser("compile", help="write standalone PyTorch source", epilog=EXAMPLES_COMPILE,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(k)
    k.add_argument("-o", "--output", default="-", help="output .py file, or - for stdout (default)")
    _diff_parser(sub)
    _draw_parser(sub)
    _ops_parser(sub)
    _zoo_parser(sub)
    return p


def _row_depth(text: str) -> int:
    """--depth of check and diff: rows down to this block depth, 0 for every level."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0 (0 = every level), found {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0 (0 = every level), found {v}")
    return v


def _memory_options(c: argparse.ArgumentParser) -> None:
    c.add_argument("--batch", type=int, default=1, help="batch size for the memory figures (default 1)")
    from .memory import DTYPE_ALIASES, DTYPE_BYTES, DTYPES

    c.add_argument("--dtype", default="float32", type=lambda d: DTYPE_ALIASES.get(d, d), choices=list(DTYPES),
                   metavar="{" + ",".join(DTYPE_BYTES) + "}",
                   help="dtype of the memory figures: float32/float64 for the whole model, float16/bfloat16 "
                        "for autocast (short names fp16, bf16, half, ... are torch's dtypes too)")
    c.add_argument("--optimizer", default="sgd", choices=["sgd", "momentum", "adam", "adamw"],
                   help="optimizer state in the training-memory estimate")
    c.add_argument("--device", default="cuda", choices=["cuda", "cpu"],
                   help="device of the training-memory estimate (dropout's mask, Adam's step; default cuda)")


def _limits(args):
    from .limits import Limits

    lim = Limits.from_env()
    for f in ("max_layers", "max_repeat", "max_depth"):
        v = getattr(args, f, None)
        if v is not None:
            if v < 1:
                raise UsageError(f"--{f.replace('_', '-')} must be at least 1")
            lim.set(f, v, f"--{f.replace('_', '-')} ")
    return lim


MAX_BATCH = 1_000_000  # --batch beyond this is surely a typo (the figures are exact integers either way)


def _shown(path: str, keep: int = 80) -> str:
    from .sources import shown

    return shown(path, keep)


def _front(args, network: str | None = None, defines: dict | None = None, input_shape=None):
    """The checked report of `args.network` (or of one side of a diff: `network`, `defines`, `input_shape`)."""
    from .pipeline import front_end_file

    network = args.network if network is None else network
    defines = dict(args.defines) if defines is None else defines
    input_shape = args.input if input_shape is None else input_shape
    try:
        report = front_end_file(network, defines, input_shape, _limits(args))
    except OSError as e:  # e.g. ENAMETOOLONG from resolving a name (sources.resolve lets it through)
        raise UsageError(f"cannot read {_shown(e.filename or network)}: {e.strerror or e}") from None
    if _KEPT is not None:
        _KEPT.append(report)
    return report


def cmd_check(args) -> int:
    _check_batch(args)
    rep = _front(args)
    _check_budgets(rep, args)
    if args.weights is not None:
        _out(_check_weights(rep, args.weights) + "\n")
        return 0
    _out(_check_text(rep, args))
    return 0


def _check_weights(rep, path: str) -> str:
    """`check --weights`: the one-line summary of a checkpoint that fits (a NetdslWeightsError otherwise)."""
    try:
        import torch  # noqa: F401 - reading a checkpoint needs torch; the network side is built on meta
    except ImportError:
        raise UsageError("--weights needs PyTorch to read the checkpoint: pip install 'netdsl[torch]'") from None
    from . import checkpoint

    fit, _ = checkpoint.check(path, rep)
    return checkpoint.summary(path, rep, fit)


def _check_batch(args) -> None:
    if not 1 <= args.batch <= MAX_BATCH:
        raise UsageError(f"--batch must be between 1 and {MAX_BATCH:,}, found {_shown(str(args.batch), 30)}")


def _check_extras(c: argparse.ArgumentParser) -> None:
    """`check`'s budgets and output formats."""
    c.add_argument("--assert", dest="asserts", action="append", default=[], metavar="BUDGET",
                   help="a budget, as the `assert` statement writes it: 'macs < 4G', "
                        "'memory(batch=32, dtype=bf16, optimizer=adamw) < 16GiB' (repeatable; exit 1 if exceeded)")
    c.add_argument("--format", choices=["table", "json", "markdown", "csv"], default=None,
                   help="output format (default table; --json is --format json)")
    c.add_argument("--weights", metavar="CKPT", default=None,
                   help="check that a checkpoint (.pth, .pt, .safetensors) fits the network by key and shape, "
                        "and print a one-line summary instead of the table (exit 1 if it does not fit; needs torch)")


def _check_budgets(rep, args) -> None:
    from . import budget

    budget.enforce_flags(rep, args.asserts)


def _check_text(rep, args) -> str:
    from . import formats

    fmt = "json" if args.json else args.format or "table"
    # JSON is indented for people at a terminal; compact (and C-encoded, 10x faster) for programs
    return formats.render(rep, fmt, None if args.depth == 0 else args.depth, args.batch, args.dtype,
                          args.optimizer, indent=1 if _isatty(sys.stdout) else None, device=args.device)


def cmd_compile(args) -> int:
    from .pipeline import generate

    target = None if args.output == "-" else output_target(args.output, args.network)  # before the work
    text = generate(_front(args))
    if target is None:
        _out(text)
        return 0
    write_atomic(target, text, shown=args.output)
    _err(f"wrote {args.output} ({text.count(chr(10))} lines)")
    return 0


# ------------------------------------------------------------------ diff

EXAMPLES_DIFF = """examples:
  netdsl diff resnet50 resnext50_32x4d
  netdsl diff resnet50 resnet50_transfer --depth 1
  netdsl diff vgg16 vgg16 -DB classes=10     the same file, one side with classes=10
  netdsl diff a.net b.net --json
"""


def _diff_parser(sub) -> None:
    d = sub.add_parser("diff", help="compare two networks: shapes, params, MACs, memory", epilog=EXAMPLES_DIFF,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    d.add_argument("a", help="network A: a .net file or a zoo name")
    d.add_argument("b", help="network B: a .net file or a zoo name")
    for flag, dest, side in (("-D", "defines", "both sides"), ("-DA", "defines_a", "A only"),
                             ("-DB", "defines_b", "B only")):
        d.add_argument(flag, dest=dest, action="append", type=_define, default=[], metavar="NAME=VALUE",
                       help=f"override a network parameter of {side} (repeatable)")
    for flag, dest, side in (("--input", "input", "both sides"), ("--input-a", "input_a", "A"),
                             ("--input-b", "input_b", "B")):
        d.add_argument(flag, dest=dest, type=_dims, metavar="CxHxW", help=f"input shape of {side}")
    d.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    d.add_argument("--depth", type=_row_depth, default=2, help="rows down to this block depth (default 2; 0 = all)")
    _memory_options(d)
    for f in ("--max-layers", "--max-repeat", "--max-depth"):
        d.add_argument(f, type=int, metavar="N", help="as in `check`")
    d.add_argument("--debug", action="store_true", help="show Python tracebacks")


def cmd_diff(args) -> int:
    from . import diff

    _check_batch(args)
    sides = []
    for net, own, shape in ((args.a, args.defines_a, args.input_a), (args.b, args.defines_b, args.input_b)):
        defines = {**dict(args.defines), **dict(own)}
        sides.append(diff.Side(_front(args, net, defines, shape or args.input), defines))
    d = diff.diff(*sides, args.batch, args.dtype, args.optimizer)
    depth = None if args.depth == 0 else args.depth
    if args.json:
        import json

        _out(json.dumps(diff.to_json(d, depth), indent=1 if _isatty(sys.stdout) else None) + "\n")
    else:
        _out(diff.table(d, depth) + "\n")
    return 0


# ------------------------------------------------------------------ draw

EXAMPLES_DRAW = """examples:
  netdsl draw resnet50 -o resnet50.svg
  netdsl draw googlenet --depth 1 --direction LR -o googlenet.svg
  netdsl draw densenet121 --format dot | dot -Tpng -o densenet121.png
  netdsl draw mobilenet_v2 --format mermaid          (to standard output)
"""


def _ops_parser(sub) -> None:
    o = sub.add_parser("ops", help="list every op, or one op's arguments",
                       epilog="examples:\n  netdsl ops\n  netdsl ops conv\n",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    o.add_argument("name", nargs="?", help="one op (or an alias): its arguments, types, defaults and aliases")


def cmd_ops(args) -> int:
    from . import reference

    if args.name is None:
        _out(reference.ops_text())
        return 0
    spec = reference.find(args.name)
    if spec is None:
        raise UsageError(reference.unknown_op_message(args.name))
    _out(reference.op_text(spec))
    return 0


def _zoo_parser(sub) -> None:
    z = sub.add_parser("zoo", help="list the zoo: name, reference, params, MACs",
                       epilog="examples:\n  netdsl zoo\n  netdsl zoo convnext\n",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    z.add_argument("filter", nargs="?", help="only the networks whose name contains this text")


def zoo_rows(names: list[str]) -> list[tuple[str, str, int, int]]:
    """(name, reference, params, MACs) of zoo networks: the reference is the first line of the
    file's header comment (the network and where it was published)."""
    from .pipeline import front_end_file
    from .sources import resolve

    rows = []
    for name in names:
        first = resolve(name).read_text(encoding="utf-8").split("\n", 1)[0].lstrip("# ").strip()
        what, _, rest = first.partition(": ")
        who = rest.split(",")[0] if rest else ""
        r = front_end_file(name, {})
        rows.append((name, f"{what} ({who})" if who else what, r.total.params, r.total.macs))
    return rows


def cmd_zoo(args) -> int:
    from .sources import zoo_names

    names = [n for n in zoo_names() if args.filter is None or args.filter in n]
    if not names:
        raise UsageError(f"no zoo network's name contains `{args.filter}`")
    rows = zoo_rows(names)
    w0 = max(len(r[0]) for r in rows)
    w1 = min(60, max(len(r[1]) for r in rows))
    lines = [f"{'name':<{w0}}  {'reference':<{w1}}  {'params':>13}  {'MACs':>17}"]
    for name, ref, params, macs in rows:
        ref = ref if len(ref) <= w1 else ref[:w1 - 3] + "..."
        lines.append(f"{name:<{w0}}  {ref:<{w1}}  {params:>13,}  {macs:>17,}")
    _out("\n".join(lines) + "\n")
    return 0


def _draw_parser(sub) -> None:
    d = sub.add_parser("draw", help="block diagram: SVG, DOT or Mermaid", epilog=EXAMPLES_DRAW,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(d)
    d.add_argument("-o", "--output", default="-", help="output file, or - for stdout (default)")
    d.add_argument("--depth", type=int, default=2, help="levels of stages and blocks drawn open (default 2)")
    d.add_argument("--direction", choices=["TB", "LR"], default="TB", help="top to bottom (default) or left to right")
    d.add_argument("--format", choices=["svg", "dot", "mermaid"], default=None,
                   help="default: from the -o file's extension (.svg .dot .gv .mmd), else svg")


def _draw_format(args) -> str:
    if args.format:
        return args.format
    ext = os.path.splitext(args.output)[1].lower()
    return {".dot": "dot", ".gv": "dot", ".mmd": "mermaid", ".mermaid": "mermaid"}.get(ext, "svg")


def cmd_draw(args) -> int:
    from .drawing import Drawing

    if args.depth < 1:
        raise UsageError(f"--depth must be at least 1, found {args.depth}")
    target = None if args.output == "-" else output_target(args.output, args.network)  # before the work
    text = Drawing(_front(args), args.depth, args.direction).render(_draw_format(args))
    if target is None:
        _out(text)
        return 0
    write_atomic(target, text, shown=args.output)
    _err(f"wrote {args.output} ({len(text.encode('utf-8')):,} bytes)")
    return 0


# ------------------------------------------------------------------ standard output and error


class _StdoutError(UsageError):
    """Standard output is closed or cannot take the text (a full disk, /dev/full)."""


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def _out(text: str) -> None:
    """Write to standard output, all of it or an error: straight to its file descriptor where it has
    one (a write cut short by `ulimit -f` left a truncated file and exit status 0 through the
    buffered stream), else through the stream (a notebook's, a test's capture)."""
    stream = sys.stdout
    if stream is None:  # started with stdout closed (`netdsl check x >&-`)
        raise _StdoutError("cannot write to standard output: it is closed")
    try:
        try:
            fd = stream.fileno()
        except (OSError, ValueError, AttributeError):  # io.UnsupportedOperation: no descriptor
            fd = None
        if fd is None:
            stream.write(text)
            return
        stream.flush()  # what the stream holds goes first
        data = memoryview(text.encode(stream.encoding or "utf-8", stream.errors or "strict"))
        while data:
            n = os.write(fd, data)
            if n <= 0:
                raise OSError(errno.EIO, "nothing could be written")
            data = data[n:]
    except BrokenPipeError:
        raise
    except (OSError, ValueError) as e:  # ValueError: the stream was closed
        raise _StdoutError(f"cannot write to standard output: {getattr(e, 'strerror', None) or e}") from None


def _flush_stdout() -> None:
    if sys.stdout is None:
        return
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except (OSError, ValueError) as e:
        raise _StdoutError(f"cannot write to standard output: {getattr(e, 'strerror', None) or e}") from None


def _stdout_to_devnull() -> None:
    """After a failed write, point stdout at /dev/null: the interpreter's last flush of what is
    still buffered then succeeds quietly instead of printing "Exception ignored ... BrokenPipeError"."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(fd, sys.stdout.fileno())
        finally:
            os.close(fd)
    except (OSError, ValueError, AttributeError):  # no real file descriptor (tests, embedding)
        pass


def _err(text: str) -> None:
    if sys.stderr is None:
        return
    try:
        print(text, file=sys.stderr)
    except (OSError, ValueError):  # stderr itself is gone: nothing left to tell
        pass


# ------------------------------------------------------------------ output files


class _Signalled(BaseException):
    """SIGTERM or SIGHUP arrived while an output file was being written (its temp file is removed)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


_TMP_MARK = ".netdsl-tmp-"


def _tmp_prefix(name: str) -> str:
    """`.NAME.netdsl-tmp-`, NAME cut so that the temp name (with a PID) fits in 255 bytes."""
    raw = os.fsencode(name)[: 255 - len(_TMP_MARK) - 1 - 10]
    return "." + os.fsdecode(raw) + _TMP_MARK


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    except (OverflowError, ValueError, OSError):
        return False
    return True


def _remove_stale_temps(folder: str, name: str) -> None:
    """Remove temp files of earlier runs for this target whose process is gone (killed mid-write)."""
    prefix = _tmp_prefix(name)
    try:
        entries = [e.name for e in os.scandir(folder) if e.name.startswith(prefix)]
    except OSError:
        return
    for entry in entries:
        pid = entry[len(prefix):]
        if pid.isascii() and pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            try:
                os.unlink(os.path.join(folder, entry))
            except OSError:
                pass


_KINDS = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"),
          (stat.S_ISSOCK, "a socket"))


def _target_stat(path: str, shown: str) -> os.stat_result | None:
    """The target's status (symlinks followed), None if it does not exist; only a regular file will do."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as e:  # ENAMETOOLONG, ENOTDIR, ELOOP, EACCES on a folder on the way
        raise UsageError(f"cannot write {_shown(shown)}: {e.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise UsageError(f"cannot write {_shown(shown)}: it is a folder")
    if not stat.S_ISREG(st.st_mode):
        kind = next((k for test, k in _KINDS if test(st.st_mode)), "not a regular file")
        raise UsageError(f"cannot write {_shown(shown)}: it is {kind}, not a regular file "
                         "(use -o - to print to standard output)")
    return st


def output_target(path: str, network: str) -> str:
    """Check an `-o` target before any work: the path to write (a symlink's target), or a UsageError.

    Refused: an empty name, a folder, anything but a regular file (`/dev/null`, a FIFO), the input
    `.net` file itself (same file, however named), a missing folder.
    """
    from . import sources

    if path == "":
        raise UsageError("-o needs a file name, or - for standard output")
    st = _target_stat(path, path)
    if st is not None:
        try:
            src = os.stat(sources.resolve(network))
        except (UsageError, OSError):  # no such input: the front end says so
            src = None
        if src is not None and os.path.samestat(st, src):
            raise UsageError(f"cannot write {_shown(path)}: it is the input file {_shown(network)}")
    real = os.path.realpath(path) if os.path.islink(path) else path  # replace the file, keep the link
    folder = os.path.dirname(os.path.abspath(real))
    if not os.path.isdir(folder):
        raise UsageError(f"cannot write {_shown(path)}: the folder {_shown(os.path.dirname(path) or '.')} "
                         "does not exist")
    return real


def _fill(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


@contextlib.contextmanager
def _signals_raise():
    """For the duration of a write, SIGTERM and SIGHUP raise (so that `finally` removes the temp file).

    SIGINT already raises KeyboardInterrupt. A signal that is ignored (nohup) stays ignored; outside
    the main thread nothing can be installed, and nothing is.
    """
    installed = {}

    def handler(signum, frame):
        raise _Signalled(signum)

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
            if sig is not None and signal.getsignal(sig) == signal.SIG_DFL:
                installed[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in installed.items():
            signal.signal(sig, old)


def write_atomic(path: str, text: str, shown: str | None = None) -> None:
    """Write next to the target and rename into place: the old file survives any failure.

    The temp file is `.NAME.netdsl-tmp-PID` in the target's folder; it is removed on any error and
    on SIGINT/SIGTERM/SIGHUP, and a later run removes one left by a process that is gone (SIGKILL).
    A replaced file keeps its permission bits (and owner, where allowed); a new file gets the
    umask's (0666 & ~umask). A file the user may not write to (mode 444) is not replaced, as `cp`
    does not replace it. Problems are usage errors (exit 2) naming the file and the cause.
    """
    shown = path if shown is None else shown
    folder, name = os.path.split(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"cannot write {_shown(shown)}: the folder {_shown(os.path.dirname(shown) or '.')} "
                         "does not exist")
    st = _target_stat(path, shown)
    if st is not None and not os.access(path, os.W_OK):
        raise UsageError(f"cannot write {_shown(shown)}: it is read-only (permission denied); not replaced")
    data = text.encode("utf-8")
    _remove_stale_temps(folder, name)
    tmp = os.path.join(folder, _tmp_prefix(name) + str(os.getpid()))
    with _signals_raise():
        created = False
        try:
            try:
                os.unlink(tmp)  # our own PID: a leftover of an earlier process that had it
            except FileNotFoundError:
                pass
            # 0666: a new file gets the umask's permissions; an existing file's are copied below
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
            created = True
            try:
                _fill(fd, data)
                if st is not None:
                    if (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
                        try:
                            os.fchown(fd, st.st_uid, st.st_gid)
                        except OSError:
                            pass
                    os.fchmod(fd, stat.S_IMODE(st.st_mode))
                try:
                    os.fsync(fd)
                except OSError as e:
                    if e.errno not in (errno.EINVAL, errno.ENOTSUP):
                        raise
            finally:
                os.close(fd)
            os.replace(tmp, path)
            created = False
        except BaseException as e:
            if created:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
            if isinstance(e, OSError):
                raise UsageError(f"cannot write {_shown(shown)}: {e.strerror or e}; the old file is kept"
                                 if st is not None else f"cannot write {_shown(shown)}: {e.strerror or e}") from None
            raise


# ------------------------------------------------------------------ entry point


def _run(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        _out(parser.format_help())
        return 2
    from .ir import deep_recursion, gc_paused

    # the report's rows follow scopes as deeply as they nest; a short-lived command that keeps all it
    # builds needs no cyclic collection (which rescans the whole IR: 100k layers, 9.5 -> 6 s)
    with deep_recursion(), gc_paused():
        return {"check": cmd_check, "compile": cmd_compile, "diff": cmd_diff, "draw": cmd_draw,
                "ops": cmd_ops, "zoo": cmd_zoo}[args.command](args)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    try:
        try:
            code = _run(argv)
        except SystemExit:  # argparse's --help and --version print, then exit
            _flush_stdout()
            raise
        _flush_stdout()  # here, not at interpreter exit, so that a full or closed stdout is reported
        return code
    except NetdslError as e:
        if debug:
            raise
        _err(render(e))
        return 1
    except UsageError as e:
        if isinstance(e, _StdoutError):
            _stdout_to_devnull()
        if debug:
            raise
        _err(f"netdsl: {e}")
        return 2
    except KeyboardInterrupt:
        return 130
    except _Signalled as e:
        return 128 + e.signum
    except BrokenPipeError:
        # the reader went away (`netdsl compile x | head`): stop quietly, as Unix tools do, with
        # the status of a process ended by SIGPIPE
        _stdout_to_devnull()
        return 128 + getattr(signal, "SIGPIPE", 13)
    except MemoryError:
        if debug:
            raise
    # only after a MemoryError: leaving its `except` dropped the traceback, and with it what the run had built
    _err("netdsl: out of memory: the input needs more than this machine (or its limit, `ulimit -v`) allows; "
         "a file given with -o is left as it was")
    return 2


# What the commands built, kept until the process ends when `netdsl` runs as a command (`console`):
# freeing a large network object by object takes a tenth of the time its passes took.
_KEPT: list | None = None


def console() -> None:
    """The `netdsl` command (and `python -m netdsl`): `main`, then the process ends at once
    (`os._exit`, as mypy ends), without freeing what it built. `main` has flushed standard output
    and written every file; nothing else is left to do at exit."""
    global _KEPT
    _KEPT = []
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            code = code or 2  # main reported a failed write already; one found only now fails the run
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    console()
