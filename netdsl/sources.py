"""Where `.net` text comes from: files, the bundled zoo, includes; and the grammar file.

The text of every file one program is read from is kept in that program's `SourceMap` (display
name -> text), filled by the reads here and carried by the program (`net.sources`), so that an
error can show its source line and the back end can fingerprint its input. Nothing is global.

In a checkout the grammar and the zoo live in the top-level `grammars/` and `networks/`
folders; an installed wheel carries them inside the package (`netdsl/grammars`,
`netdsl/networks`). A bare name (`resnet152` or `resnet152.net`) that is not an existing path
resolves to the zoo.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import NetdslError, NetdslLimitError, SourceMap, Span, UsageError

_PKG = Path(__file__).resolve().parent

# The largest .net file read (raise it with the environment variable NETDSL_MAX_FILE_BYTES).
DEFAULT_MAX_FILE_BYTES = 4 * 1024 * 1024


def max_file_bytes() -> int:
    """The size limit of a `.net` file: NETDSL_MAX_FILE_BYTES, else 4 MiB (read at each use)."""
    v = os.environ.get("NETDSL_MAX_FILE_BYTES", "")
    if v == "":
        return DEFAULT_MAX_FILE_BYTES
    if not v.strip().isdigit() or int(v) < 1:
        raise UsageError(f"NETDSL_MAX_FILE_BYTES={shown(v, 40)}: expected a whole number of bytes >= 1")
    return int(v)


def shown(path: str | os.PathLike, keep: int = 80) -> str:
    """A path or name as messages show it: a long one cut in the middle (its start, and its end,
    which names the file), with its length."""
    path = os.fsdecode(path)
    if len(path) <= keep:
        return path
    head = keep // 3
    return f"{path[:head]}...{path[len(path) - (keep - head):]} ({len(path)} characters)"


def _exists(p: Path) -> bool:
    """Path.exists, where a name the system cannot look up (too long, a loop of links) does not exist:
    reading it then says why, located."""
    try:
        return p.exists()
    except OSError:
        return False


def _data_dir(name: str) -> Path:
    inside = _PKG / name
    if inside.is_dir():
        return inside
    return _PKG.parent / name


def grammar_text() -> str:
    return (_data_dir("grammars") / "netdsl.lark").read_text(encoding="utf-8")


def zoo_dir() -> Path:
    return _data_dir("networks")


def zoo_names() -> list[str]:
    return sorted(p.stem for p in zoo_dir().glob("*.net"))


def resolve(name_or_path: str | os.PathLike) -> Path:
    """A path that exists, else the zoo file of that name; UsageError if neither."""
    p = Path(name_or_path)
    try:
        if p.exists():
            return p
        stem = p.name[:-4] if p.name.endswith(".net") else p.name
        if p.parent == Path(".") or str(p.parent) == "":
            candidate = zoo_dir() / f"{stem}.net"
            if candidate.is_file():
                return candidate
    except OSError as e:  # ENAMETOOLONG, ELOOP, EACCES on a folder on the way
        raise UsageError(f"cannot read {shown(name_or_path)}: {e.strerror or e}") from None
    known = ", ".join(zoo_names())
    raise UsageError(f"no such file or zoo network: {name_or_path} (the zoo has: {known})")


def _check_regular(path: Path) -> None:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise UsageError(f"no such file: {path}") from None
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise UsageError(f"{path} is a folder, not a .net file")
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(f"{path} is not a regular file")
    if path.name.lower().endswith(".net") and not os.path.realpath(path).lower().endswith(".net"):
        raise UsageError(f"{path} is a link to a file whose name does not end in .net; it is not read")
    limit = max_file_bytes()
    if st.st_size > limit:
        raise UsageError(f"{path} is {st.st_size} bytes; the limit is {limit} (raise it with NETDSL_MAX_FILE_BYTES)")


def decode(data: bytes, display: str) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UsageError(
            f"{display}: not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start})"
        ) from None
    if "\x00" in text:
        raise UsageError(f"{display}: binary data (a NUL byte at offset {text.index(chr(0))}), not .net text")
    return text.removeprefix("\ufeff")  # a byte-order mark is not part of the text


def display_name(path: Path) -> str:
    """How a file is named in messages: as given when relative, the zoo name for zoo files."""
    try:
        if path.resolve().parent == zoo_dir().resolve():
            return path.name
    except OSError:
        pass
    return str(path)


def read_source(path: Path) -> tuple[str, str]:
    """Read a top-level `.net` file: (display name, text). Problems are usage errors (exit 2)."""
    _check_regular(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from None
    name = display_name(path)
    text = decode(data, name)
    return name, text


def program_sources(text: str, name: str) -> SourceMap:
    """The SourceMap of a program given as text, holding that text (refused when too large)."""
    limit = max_file_bytes()
    if len(text) > limit or len(text.encode("utf-8", "replace")) > limit:
        raise NetdslLimitError(f"source is larger than {limit} bytes")
    return SourceMap({name: text})


def included_path(target: str, from_file: str, span: Span, is_path: bool = True) -> Path:
    """The file an `include`/`extends` statement names: relative to the including file, or in the
    zoo. An unknown zoo name is an error located at the statement."""
    if not is_path:
        p = zoo_dir() / f"{target}.net"
        if not p.is_file():
            raise NetdslError(
                f"no zoo network named `{target}`",
                span=span,
                expected="one of: " + ", ".join(zoo_names()),
                found=f"`{target}`",
                hint='use a quoted path for a file: extends "my_net.net"',
            )
    else:
        base = Path(from_file).parent if from_file and not from_file.startswith("<") else Path(".")
        p = (base / target) if not Path(target).is_absolute() else Path(target)
        if not _exists(p) and not _exists(Path(from_file)):
            zp = zoo_dir() / target
            if _exists(zp):
                p = zp
    return p


def read_included(p: Path, target: str, span: Span, into: SourceMap) -> tuple[str, str]:
    """Read the file `p` that an `include`/`extends` of `target` names: (display name, text),
    also added to `into`. Problems here are errors in the including `.net` file, located at the
    statement."""
    try:
        _check_regular(p)
        data = p.read_bytes()
        name = display_name(p)
        text = decode(data, name)
    except UsageError as e:
        raise NetdslError(f'cannot include "{target}": {e}', span=span) from None
    except OSError as e:
        raise NetdslError(f'cannot include "{target}": {e.strerror}', span=span) from None
    into.add(name, text)
    return name, text
