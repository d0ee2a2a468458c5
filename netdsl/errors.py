"""Errors: one base class with a source span, and a single renderer.

Every failure on `.net` input is a :class:`NetdslError`. It carries a :class:`Span` into the
source, a one-line message, optional *expected* / *found* / *hint* lines and the expansion
trail (``in bottleneck #2 of layer3, branch 2``). :func:`render` turns it into::

    resnet50.net:12:30: error: ...
       12 | layer3 = bottleneck(256, s=2) > bottleneck(256) x5
          |                                 ^^^^^^^^^^^^^^^
      in bottleneck #2 of layer3
      expected: ...
      found:    ...
      hint: ...

The source line comes from the :class:`~netdsl.sources.SourceMap` of the program the error is
about (`err.sources`): the pipeline attaches it to every error it lets through. An error without
one renders the same, less the source line and caret.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field

MAX_SHOWN = 100  # longer source lines are shown as a window around the caret



class SourceMap:
    """The text of every file one program was read from, by display name (as spans name files)."""

    __slots__ = ("_texts",)

    def __init__(self, texts: dict[str, str] | None = None):
        self._texts: dict[str, str] = dict(texts or {})

    def add(self, name: str, text: str) -> None:
        self._texts[name] = text

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._texts.get(name, default)

    def __contains__(self, name: object) -> bool:
        return name in self._texts

    def __iter__(self):
        return iter(self._texts)

    def __len__(self) -> int:
        return len(self._texts)

    def __repr__(self) -> str:
        return f"SourceMap({sorted(self._texts)})"

    def line(self, name: str, line: int) -> str | None:
        """Line `line` (from 1) of file `name`, without its end; None when unknown."""
        text = self._texts.get(name)
        if text is None:
            return None
        # the parser counts lines by "\n" only (a form feed or a lone "\r" does not start a line)
        lines = text.removeprefix("\ufeff").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        if 1 <= line <= len(lines):
            return lines[line - 1].rstrip("\r")
        if line == len(lines) + 1:
            return ""
        return None

@dataclass(frozen=True, slots=True)
class Span:
    """A range in a source file; lines and columns count from 1, `end_col` is exclusive."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"

    @staticmethod
    def point(file: str, line: int, col: int) -> Span:
        return Span(file, line, col, line, col + 1)


@dataclass(eq=False)
class NetdslError(Exception):
    """Base of all errors about `.net` input."""

    message: str
    span: Span | None = None
    expected: str | None = None
    found: str | None = None
    hint: str | None = None
    trail: tuple[str, ...] = ()
    kind: str = "error"
    # the text of the program the error is about, to show the offending line; attached by the
    # pipeline (the one boundary errors leave through), see `with_sources`
    sources: SourceMap | None = field(default=None, repr=False, kw_only=True)

    def __post_init__(self) -> None:
        Exception.__init__(self, self.message)

    def __str__(self) -> str:
        return render(self)

    @property
    def errors(self) -> list[NetdslError]:
        return [self]

    def with_sources(self, sources: SourceMap) -> NetdslError:
        """Attach the program's text (to this error and every error it holds) and return it."""
        self.sources = sources
        for e in self.errors:
            e.sources = sources
        return self


class NetdslSyntaxError(NetdslError):
    """The text does not follow the grammar."""


class NetdslNameError(NetdslError):
    """Unknown, duplicate or misused names, wrong arity, bad arguments."""


class NetdslShapeError(NetdslError):
    """A tensor shape does not fit an operation."""


class NetdslLimitError(NetdslError):
    """A resource limit (layers, repeats, depth, file size) was exceeded."""


class NetdslWeightsError(NetdslError):
    """A checkpoint cannot be read, or does not fit the network (keys, shapes)."""


class NetdslWarning(UserWarning):
    """Something netdsl did that the user may not expect, e.g. checkpoint keys skipped for replaced stages."""


@dataclass(eq=False)
class NetdslErrors(NetdslError):
    """Several errors found in one pass; renders them all, one after another."""

    items: list[NetdslError] = field(default_factory=list)

    @property
    def errors(self) -> list[NetdslError]:
        return list(self.items)

    def __str__(self) -> str:
        return render(self)


def raise_collected(errors: list[NetdslError]) -> None:
    """Raise nothing, the single error, or a NetdslErrors holding all of them."""
    if not errors:
        return
    if len(errors) == 1:
        raise errors[0]
    first = errors[0]
    raise NetdslErrors(f"{len(errors)} errors", span=first.span, items=list(errors))


class UsageError(Exception):
    """A command-line mistake (unknown flag, missing file, unreadable encoding): exit code 2."""


def closest(name: str, names: Iterable[str]) -> str | None:
    """A "did you mean" hint: the known name nearest to `name`, if any is near."""
    m = difflib.get_close_matches(name, list(names), n=1, cutoff=0.6)
    return f"did you mean `{m[0]}`?" if m else None


def _render_one(err: NetdslError, sources: SourceMap | None) -> str:
    out: list[str] = []
    sp = err.span
    where = f"{sp}: " if sp is not None else ""
    out.append(f"{where}{err.kind}: {err.message}")
    if sp is not None:
        text = sources.line(sp.file, sp.line) if sources is not None else None
        if text is not None:
            text = "".join(ch if ch.isprintable() else " " for ch in text.expandtabs(1).rstrip("\r\n"))
            gutter = f"{sp.line:>5} | "
            start = max(sp.col - 1, 0)
            if sp.end_line == sp.line and sp.end_col > sp.col:
                width = sp.end_col - sp.col
            else:
                width = max(len(text) - start, 1)
            width = max(1, min(width, max(len(text) - start, 1)))
            if len(text) > MAX_SHOWN:  # a window of the line around the caret
                lo = max(0, min(start - 20, len(text) - MAX_SHOWN))
                hi = min(len(text), lo + MAX_SHOWN)
                text = ("..." if lo else "") + text[lo:hi] + ("..." if hi < len(text) else "")
                start = start - lo + (3 if lo else 0)
                width = max(1, min(width, hi - lo - (start - (3 if lo else 0))))
            out.append(f"{gutter}{text}")
            out.append(" " * (len(gutter) - 2) + "| " + " " * start + "^" * width)
    for step in err.trail:
        out.append(f"  in {step}")
    if err.expected is not None:
        out.append(f"  expected: {err.expected}")
    if err.found is not None:
        out.append(f"  found:    {err.found}")
    if err.hint is not None:
        out.append(f"  hint: {err.hint}")
    return "\n".join(out)


def render(err: NetdslError) -> str:
    """The one place that formats errors for people."""
    return "\n\n".join(_render_one(e, e.sources if e.sources is not None else err.sources) for e in err.errors)
