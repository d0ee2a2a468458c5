"""The parse's reductions: the AST built rule by rule while Lark's LALR loop runs (see `parse`).

The loop calls one function per reduced rule (`table_callbacks`): written out for the rules every
layer goes through (`_fast`), else the rule's `_ToAst` method through `_generic` and `_positions`,
which give the method the rule's extent and the children Lark keeps by default. Every node gets the
`Span` of the text it stands for. Nothing here knows the text: `parse` drives the parser and
translates its errors.
"""

from __future__ import annotations

import operator
import os
from pathlib import Path

from lark import Token

from . import ast as A
from .errors import NetdslError, NetdslLimitError, NetdslSyntaxError, Span

# Words with a meaning of their own; they cannot name layers, blocks or tensors.
KEYWORDS = frozenset(
    "network input defaults define if then else include extends freeze except init aux replace "
    "assert and or not".split()
)

_UNBOUNDED = 1 << 62  # no bound on the items a file writes (see `_ToAst.written`)

# lark-cython's token class, once the accelerated parser is built (`accept_tokens_of`)
_CyToken = None


def accept_tokens_of(token_class) -> None:
    """Let the reductions read the accelerator's tokens too (no `str`: see `_lark_token`)."""
    global _CyToken
    _CyToken = token_class


def _lark_token(tok) -> Token:
    if isinstance(tok, Token):
        return tok
    return Token(tok.type, tok.value, tok.start_pos, tok.line, tok.column, tok.end_line, tok.end_column, tok.end_pos)


MAX_NESTING = 100

# The longest path and file name the file systems netdsl runs on accept (Linux PATH_MAX and NAME_MAX,
# in bytes); a longer name in `include`/`extends` is refused here, located, before any file is opened.
_PATH_MAX = 4096
_NAME_MAX = 255


def _quoted(text: str, keep: int = 40) -> str:
    """A path in double quotes; a long one cut, with its length."""
    return f'"{text}"' if len(text) <= keep else f'"{text[:keep]}..." ({len(text)} characters)'


def _check_source_path(target: str, file: str, span: Span, keyword: str) -> None:
    """`include`/`extends` read `.net` files only.

    A file of any other kind is refused before it is opened, so that its text never appears in an
    error message (`include "/etc/passwd"` would otherwise show the first line it cannot parse). A
    folder is left to the reader, which says that it is a folder.
    """
    verb = "extend" if keyword == "extends" else keyword
    raw = os.fsencode(target)
    longest = max(len(part) for part in raw.split(b"/"))
    if len(raw) >= _PATH_MAX or longest > _NAME_MAX:
        raise NetdslLimitError(
            f"cannot {verb} {_quoted(target)}: the path is too long",
            span=span,
            expected=f"a path shorter than {_PATH_MAX} bytes, each name at most {_NAME_MAX} bytes",
            found=f"a path of {len(raw)} bytes" if len(raw) >= _PATH_MAX else f"a name of {longest} bytes",
        )
    if target.lower().endswith(".net"):
        return
    base = Path(file).parent if file and not file.startswith("<") else Path(".")
    if os.path.isdir(target if os.path.isabs(target) else base / target):
        return
    raise NetdslError(
        f'cannot {verb} "{target}": it is not a .net file',
        span=span,
        expected='a .net source file, like "blocks.net"',
        hint=f"`{keyword}` reads only files whose names end in .net; other files are not opened",
    )


def _span(file: str, meta) -> Span:
    if getattr(meta, "empty", True):
        return Span(file, 1, 1, 1, 1)
    return Span(file, meta.line, meta.column, meta.end_line, meta.end_column)


def _tspan(file: str, tok: Token) -> Span:
    return Span(file, tok.line, tok.column, tok.end_line or tok.line, tok.end_column or tok.column + 1)


def _int(file: str, tok: Token | str, span: Span | None = None) -> int:
    """A whole number from its digits; `span` locates a part of a token (`3x3`, `x64`)."""
    if len(tok) > 30:
        raise NetdslLimitError(
            f"number {tok[:20]}... has {len(tok)} digits",
            span=span or _tspan(file, tok),
            expected="at most 30 digits",
            found=f"{len(tok)} digits",
        )
    return int(tok)


# The tokens a rule's method sees: the others are keywords, punctuation and separators.
_KEPT_TOKENS = frozenset({"NAME", "INT", "FLOAT", "DIMS", "XNUM", "PNUM", "STRING", "COMPARE", "QUANTITY",
                          "AT_NAME"})


class _Meta:
    """Where a rule's text lies (what `_span` reads): from its first to its last token."""

    __slots__ = ("line", "column", "end_line", "end_column", "empty")

    def __init__(self, first, last):
        self.empty = first is None
        if first is not None:
            self.line, self.column = first[0], first[1]
            self.end_line, self.end_column = last[2], last[3]


class Pos:
    """A rule's value that is no AST node (a tuple of arguments, a dotted name, a parenthesised
    expression), with the extent of its text: (line, column, end line, end column)."""

    __slots__ = ("value", "pos")

    def __init__(self, value, pos):
        self.value, self.pos = value, pos


def _where(c):
    """The extent of a rule's child: a token, a node (its span) or a `Pos`; None when unknown."""
    if isinstance(c, Token) or type(c) is _CyToken:
        return (c.line, c.column, c.end_line, c.end_column)
    if isinstance(c, Pos):
        return c.pos
    sp = getattr(c, "span", None)
    return None if sp is None else (sp.line, sp.col, sp.end_line, sp.end_col)


def _positions(f, children):
    """A rule's method called with its span from all the children (`_Meta`) and the children Lark
    keeps by default (placeholders included); values without a span of their own travel as `Pos`.
    The accelerator's tokens are no `str`: the kept ones reach the method as Lark tokens."""
    first = next((p for p in map(_where, children) if p is not None), None)
    last = next((p for p in map(_where, reversed(children)) if p is not None), None)
    kept = [c.value if isinstance(c, Pos) else _lark_token(c) if type(c) is _CyToken else c for c in children
            if not (isinstance(c, Token) or type(c) is _CyToken) or c.type in _KEPT_TOKENS]
    value = f(_Meta(first, last), kept)
    if first is None:
        return value
    extent = (first[0], first[1], last[2], last[3])
    if isinstance(value, tuple) and getattr(value, "span", None) is not None and _where(value) == extent:
        return value  # a node: its span says where it lies
    return Pos(value, extent)  # anything else, or a node inside brackets that belong to it


class _ToAst:
    """The AST of one file, built rule by rule as the parser reduces (see `_reductions`): each
    method gets the rule's extent (`_Meta`) and the children Lark would keep by default."""

    def __init__(self):
        self.start_file(None)

    def start_file(self, file: str | None, max_items: int | None = None) -> None:
        self.file = file
        self.max_items = max_items
        self.items_left = _UNBOUNDED if max_items is None else max_items  # see `written`
        self.depth: dict[int, int] = {}
        self.children_alive: list = []  # keeps ids in `depth` unique while parsing
        self.braced: list = []  # `item @"...{expr}..."` nodes, their parts read after the parse

    def written(self, span: Span) -> None:
        """Count a written layer, call or block (a tensor name reads as a layer here): no network
        written with more of them than the layer limit allows is realistic (each expands to a
        layer at least, or is a reference or never used), so such a file is refused while it is
        read, after that many (without the bound, 4 MiB of `a>a>...` took 17 s to its error)."""
        self.items_left -= 1
        if self.items_left < 0:
            raise NetdslLimitError(
                f"the file writes more than {self.max_items:,} layers, calls and blocks; the limit is "
                f"{self.max_items:,}",
                span=span,
                hint="every layer, call, block and tensor name written counts, in defines too; raise the limit "
                     "with --max-layers (or NETDSL_MAX_LAYERS) if this is intended",
            )

    # ---- what a parenthesised expression or condition, or an optional part, stands for
    def _inner(self, meta, c):
        return c[0]

    atom = comparison = stride = param_default = freeze_except = _inner

    def _s(self, meta) -> Span:
        return _span(self.file, meta)

    # ---- expressions
    def int(self, meta, c):
        return A.Num(_int(self.file, c[0]), _tspan(self.file, c[0]))

    def float(self, meta, c):
        return A.Num(float(c[0]), _tspan(self.file, c[0]))

    def name(self, meta, c):
        return A.Name(str(c[0]), _tspan(self.file, c[0]))

    def string(self, meta, c):
        return A.Str(str(c[0])[1:-1], _tspan(self.file, c[0]))

    def dims(self, meta, c):  # a size as a value: `u(16, 1x7)`, `k=1x7`
        return self._dims(c[0])

    def _bin(op):  # noqa: N805 - a helper that makes methods
        def f(self, meta, c):
            return self._nest(A.BinOp(op, c[0], c[1], self._s(meta)), c, meta)

        return f

    add = _bin("+")
    sub = _bin("-")
    mul = _bin("*")
    div = _bin("/")
    floordiv = _bin("//")
    mod = _bin("%")

    def func(self, meta, c):
        name = c[0]
        return self._nest(A.Func(str(name), tuple(c[1:]), self._s(meta), _tspan(self.file, name)), c[1:], meta)

    def neg(self, meta, c):
        return self._nest(A.Neg(c[0], self._s(meta)), c, meta)

    def compare(self, meta, c):
        return self._nest(A.Compare(str(c[1]), c[0], c[2], self._s(meta)), c, meta)

    def compare_gt(self, meta, c):
        return self._nest(A.Compare(">", c[0], c[1], self._s(meta)), c, meta)

    def compare_lt(self, meta, c):
        return self._nest(A.Compare("<", c[0], c[1], self._s(meta)), c, meta)

    def or_(self, meta, c):
        return self._nest(A.BoolOp("or", c[0], c[1], self._s(meta)), c, meta)

    def and_(self, meta, c):
        return self._nest(A.BoolOp("and", c[0], c[1], self._s(meta)), c, meta)

    def not_(self, meta, c):
        return self._nest(A.BoolOp("not", c[0], None, self._s(meta)), c, meta)

    # ---- layer arguments
    def _dims(self, tok: Token) -> A.Dims:
        span = _tspan(self.file, tok)
        return A.Dims(self._dims_values(tok, span), span)

    def _dims_values(self, text: str, span: Span) -> tuple[int, ...]:
        parts = text.split("x")
        if max(map(len, parts)) > 30:
            return tuple(_int(self.file, p, span) for p in parts)
        return tuple(map(int, parts))

    def arg_dims(self, meta, c):
        return A.Arg("pos", None, self._dims(c[0]), c[1], self._s(meta))

    def arg_int(self, meta, c):
        return A.Arg("pos", None, A.Num(_int(self.file, c[0]), _tspan(self.file, c[0])), c[1], self._s(meta))

    def arg_float(self, meta, c):
        return A.Arg("pos", None, A.Num(float(c[0]), _tspan(self.file, c[0])), None, self._s(meta))

    def arg_channels(self, meta, c):
        tok = c[0]
        num = A.Num(_int(self.file, str(tok)[1:], _tspan(self.file, tok)), _tspan(self.file, tok))
        return A.Arg("out", "out", num, None, self._s(meta))

    def arg_padding(self, meta, c):
        tok = c[0]
        num = A.Num(_int(self.file, str(tok)[1:], _tspan(self.file, tok)), _tspan(self.file, tok))
        return A.Arg("pad", "padding", num, None, self._s(meta))

    def arg_name(self, meta, c):
        return A.Arg("flag", str(c[0]), A.Name(str(c[0]), _tspan(self.file, c[0])), None, self._s(meta))

    def arg_name_stride(self, meta, c):  # `conv k/s x64` with a parameter as kernel size
        return A.Arg("pos", None, A.Name(str(c[0]), _tspan(self.file, c[0])), c[1], self._s(meta))

    def arg_kw(self, meta, c):
        return A.Arg("kw", str(c[0]), c[1], None, self._s(meta))


    # ---- items
    def layer(self, meta, c):
        name = c[0]
        self._not_keyword(name)
        return A.Layer(str(name), tuple(c[1:]), self._s(meta), _tspan(self.file, name))

    def shorthand(self, meta, c):
        kernel = self._dims(c[0])
        if len(kernel.values) != 2:
            raise NetdslSyntaxError(
                f"a convolution kernel has two sizes, found {len(kernel.values)}",
                span=kernel.span,
                expected="a kernel like 3x3 or 1x7",
                found="x".join(map(str, kernel.values)),
            )
        self.written(self._s(meta))
        return A.Shorthand(kernel, c[1], c[2], tuple(c[3:]), self._s(meta))

    def shorthand_name(self, meta, c):  # `k:c`: the kernel is a parameter's value (checked when expanded)
        self._not_keyword(c[0])
        kernel = A.Name(str(c[0]), _tspan(self.file, c[0]))
        self.written(self._s(meta))
        return A.Shorthand(kernel, c[1], c[2], tuple(c[3:]), self._s(meta))

    def pos_arg(self, meta, c):
        return A.CallArg(None, c[0], self._s(meta))

    def kw_arg(self, meta, c):
        return A.CallArg(str(c[0]), c[1], self._s(meta))

    def call_args(self, meta, c):
        return tuple(x for x in c if x is not None)

    def spread(self, meta, c):
        return True

    def call(self, meta, c):
        flat, name, args = c
        self._not_keyword(name)
        self.written(self._s(meta))
        return A.Call(str(name), args, self._s(meta), _tspan(self.file, name), flat=bool(flat))

    def named_item(self, meta, c):
        tok = c[1]
        name = str(tok)[1:]
        if name.startswith('"'):
            name = name[1:-1]
        node = A.Named(c[0], name, _tspan(self.file, tok), self._s(meta), [])
        if "{" in name or "}" in name:
            self.braced.append(node)  # its `{expr}` parts are read when this parse is done
        return self._nest(node, c[:1], meta)

    def chain(self, meta, c):
        return A.Chain(tuple(c), self._s(meta))

    def group(self, meta, c):
        chain = c[0]
        group = A.Group((A.Statement(chain, chain.span),), self._s(meta), braces=False)
        return self._nest(group, chain.items, meta)

    def brace_group(self, meta, c):
        inner = [i for st in c if isinstance(st, (A.Statement, A.Assign)) for i in st.chain.items]
        return self._nest(A.Group(tuple(c), self._s(meta), braces=True), inner, meta)

    def repeat_star(self, meta, c):
        return self._nest(A.Repeat(c[0], c[1], self._s(meta), c[2]), c[:2], meta)

    def repeat_x(self, meta, c):
        tok = c[1]
        count = A.Num(_int(self.file, str(tok)[1:], _tspan(self.file, tok)), _tspan(self.file, tok))
        return self._nest(A.Repeat(c[0], count, self._s(meta), c[2]), c[:1], meta)

    def rep_index(self, meta, c):
        self._not_keyword(c[0])
        return A.Name(str(c[0]), _tspan(self.file, c[0]))

    def block(self, meta, c):  # `belems`: the branches as lists of items (see `_fast`)
        name, opts, branches = c[0], c[1] or (), c[2]
        self._not_keyword(name)
        branches = tuple(map(tuple, branches))
        block = A.Block(str(name), branches, self._s(meta), _tspan(self.file, name), tuple(opts))
        self.written(self._s(meta))
        return self._nest(block, [i for b in branches for i in b], meta)

    def _nest(self, node, children, meta=None, span=None):
        """Record how deeply `node` nests; refuse nesting beyond MAX_NESTING (no RecursionError later)."""
        d = 1 + max((self.depth.get(id(ch), 0) for ch in children), default=0)
        if d > MAX_NESTING:
            raise NetdslLimitError(
                f"nesting {d} levels deep; the limit is {MAX_NESTING}",
                span=span or self._s(meta),
                hint="split the expression or the nested blocks into `define`s",
            )
        self.depth[id(node)] = d
        self.children_alive.append(node)
        return node

    def _not_keyword(self, tok: Token) -> None:
        if str(tok) in KEYWORDS:
            raise NetdslSyntaxError(
                f"`{tok}` is a keyword and cannot be used here",
                span=_tspan(self.file, tok),
                expected="a name that is not a keyword",
                found=f"`{tok}`",
                hint="the keywords are: " + ", ".join(sorted(KEYWORDS)),
            )

    # ---- statements
    def param(self, meta, c):
        return A.Param(str(c[0]), c[1], self._s(meta))

    def params(self, meta, c):
        return tuple(x for x in c if x is not None)

    def network(self, meta, c):
        return A.Network(str(c[0]), c[1] or (), self._s(meta))

    def input(self, meta, c):
        return A.Input(self._dims(c[0]).values, self._s(meta))

    def input_flat(self, meta, c):
        return A.Input((_int(self.file, c[0]),), self._s(meta))

    def defaults(self, meta, c):
        return A.Defaults(str(c[0]), tuple(c[1:]), self._s(meta))

    def define(self, meta, c):
        name = c[0]
        self._not_keyword(name)
        return A.Define(str(name), c[1] or (), c[2], self._s(meta), _tspan(self.file, name))

    def cond_body(self, meta, c):
        return A.CondBody(c[0], c[1], c[2], self._s(meta))

    def include(self, meta, c):
        path = str(c[0])[1:-1]
        _check_source_path(path, self.file, self._s(meta), "include")
        return A.Include(path, self._s(meta))

    def target_name(self, meta, c):
        name = str(c[0])
        if len(name) > _NAME_MAX - len(".net"):
            raise NetdslLimitError(f"no zoo network named `{name[:40]}...` ({len(name)} characters)",
                                   span=_tspan(self.file, c[0]),
                                   expected="the name of a zoo network, like resnet50",
                                   found=f"a name of {len(name)} characters")
        return (name, False, c[1] or ())

    def target_path(self, meta, c):
        path = str(c[0])[1:-1]
        _check_source_path(path, self.file, _tspan(self.file, c[0]), "extends")
        return (path, True, c[1] or ())

    def extends(self, meta, c):
        name, is_path, args = c[0]
        return A.Extends(name, is_path, args, self._s(meta))

    def dotted(self, meta, c):
        return ".".join(str(t) for t in c)

    def name_list(self, meta, c):
        return tuple(c)

    def freeze(self, meta, c):
        return A.Freeze(c[0], c[1] or (), self._s(meta))

    def freeze_all(self, meta, c):
        return A.Freeze(("*",), c[0] or (), self._s(meta))

    def init(self, meta, c):
        return A.Init(str(c[0]), tuple(c[1:]), self._s(meta))

    def aux(self, meta, c):
        return A.Assign(str(c[0]), c[1], self._s(meta), _tspan(self.file, c[0]), mode="aux")

    def assign(self, meta, c):
        self._not_keyword(c[0])
        return A.Assign(str(c[0]), c[1], self._s(meta), _tspan(self.file, c[0]))

    def replace(self, meta, c):
        return A.Assign(str(c[0]), c[1], self._s(meta), _tspan(self.file, c[0]), mode="replace")

    def budget_args(self, meta, c):
        return tuple(x for x in c if x is not None)

    def assert_(self, meta, c):
        metric, args, op, limit = c
        span = Span(self.file, metric.line, metric.column, limit.end_line or limit.line,
                    limit.end_column or limit.column + 1)
        return A.Assert(str(metric), args or (), str(op), str(limit), span, _tspan(self.file, metric),
                        _tspan(self.file, limit))

    def statement(self, meta, c):
        return A.Statement(c[0], self._s(meta))

    def start(self, meta, c):
        return A.Program(self.file, tuple(c))



# ------------------------------------------------------------------------- reductions

BUILDER = _ToAst()  # the AST of the file being parsed (one parse at a time: `parse._PARSING`)


class _Flat(list):
    """The children of an inlined rule (`_stmt`, Lark's `__name_star_N` repetitions), spliced into
    the rule that uses it; a repetition's list grows in place (left recursion: O(1) per element)."""

    __slots__ = ()


def _generic(rule, method):
    """What Lark's own callback chain does for a rule (inline `_rule`s spliced, `[x]` placeholders
    inserted as None, `?rule` with one child passed through), then `_positions` and the method."""
    expansion = rule.expansion
    empty = rule.options.empty_indices
    if empty:  # how many placeholders go before each symbol (and after the last)
        nones = [len(ones) for ones in "".join(str(int(b)) for b in empty).split("0")]
    else:
        nones = [0] * (len(expansion) + 1)
    include = tuple((i, not sym.is_term and sym.name.startswith("_"), nones[i]) for i, sym in enumerate(expansion))
    trailing = nones[len(expansion)]
    inline = rule.origin.name.startswith("_")
    expand1 = rule.options.expand1 and not rule.alias

    def reduce(s):
        children: list = []
        for i, spliced, add_none in include:
            if add_none:
                children += [None] * add_none
            if spliced:
                if not children and type(s[i]) is _Flat:
                    children = s[i]  # a left-recursive repetition grows in place
                else:
                    children += s[i]
            else:
                children.append(s[i])
        if trailing:
            children += [None] * trailing
        if inline:
            return children if type(children) is _Flat else _Flat(children)
        if expand1 and len(children) == 1:
            return children[0]
        return _positions(method, children)  # (which hands the methods Lark tokens, see there)

    return reduce


def _fast(b: _ToAst) -> dict:
    """Reductions written out for the rules every layer goes through (each returns what `_generic`
    would, without its scans): by rule name (or alias) and the names of its symbols."""
    Arg, Num, Span_ = A.Arg, A.Num, Span

    def tspan(tok):
        return Span_(b.file, tok.line, tok.column, tok.end_line, tok.end_column)

    def number(digits, sp):
        return int(digits) if len(digits) <= 30 else _int(b.file, digits, sp)

    def arg_dims(s):
        tok = s[0]
        sp = tspan(tok)
        return Arg("pos", None, A.Dims(b._dims_values(tok.value, sp), sp), None, sp)

    def arg_int(s):
        tok = s[0]
        sp = tspan(tok)
        return Arg("pos", None, Num(number(tok.value, sp), sp), None, sp)

    def arg_channels(s):
        tok = s[0]
        sp = tspan(tok)
        return Arg("out", "out", Num(number(tok.value[1:], sp), sp), None, sp)

    def arg_padding(s):
        tok = s[0]
        sp = tspan(tok)
        return Arg("pad", "padding", Num(number(tok.value[1:], sp), sp), None, sp)

    def arg_name(s):
        name = s[0].value
        sp = tspan(s[0])
        return Arg("flag", name, A.Name(name, sp), None, sp)

    def layer_bare(s):
        tok = s[0]
        name = tok.value
        if name in KEYWORDS:
            b._not_keyword(_lark_token(tok))
        sp = tspan(tok)
        b.items_left -= 1
        if b.items_left < 0:
            b.written(sp)
        return A.Layer(name, (), sp, sp)

    def layer_args(s):
        tok, args = s
        name = tok.value
        if name in KEYWORDS:
            b._not_keyword(_lark_token(tok))
        end = args[-1].span
        sp = Span_(b.file, tok.line, tok.column, end.end_line, end.end_col)
        b.items_left -= 1
        if b.items_left < 0:
            b.written(sp)
        return A.Layer(name, tuple(args), sp, tspan(tok))

    def flat_more(s):
        flat = s[0]
        flat.append(s[1])
        return flat

    def chain_more(s):  # `> item`: the items only (a chain's span runs from its first item to its last)
        return _Flat((s[1],))

    def chain_more_more(s):
        flat = s[0]
        flat.append(s[2])
        return flat

    def chain_one(s):
        item = s[0]
        return A.Chain((item,), item.span)

    def chain_many(s):
        first, rest = s
        a, z = first.span, rest[-1].span
        rest.insert(0, first)
        return A.Chain(tuple(rest), Span_(b.file, a.line, a.col, z.end_line, z.end_col))

    def statement(s):
        chain = s[0]
        return A.Statement(chain, chain.span)

    def stmts_first(s):  # `_stmt _sep+`
        return _Flat((s[0],))

    def stmts_more(s):  # `__start_star_1 _stmt _sep+`
        flat = s[0]
        flat.append(s[1])
        return flat

    def int_(s):  # an expression's number
        tok = s[0]
        sp = tspan(tok)
        return Num(number(tok.value, sp), sp)

    def name(s):  # an expression's name
        tok = s[0]
        return A.Name(tok.value, tspan(tok))

    def float_(s):  # an expression's number with a fraction
        tok = s[0]
        return Num(float(tok.value), tspan(tok))

    def pos_arg(generic):
        def reduce(s):  # a call's argument: its span is its expression's (brackets around it: generic)
            e = s[0]
            return A.CallArg(None, e, e.span) if type(e) is not Pos else generic(s)
        return reduce

    def arg_kw(generic):
        def reduce(s):  # `name=atom` (a parenthesised expression as the atom: generic)
            tok, _equal, value = s
            if type(value) is Pos:
                return generic(s)
            end = value.span
            return Arg("kw", tok.value, value, None, Span_(b.file, tok.line, tok.column, end.end_line, end.end_col))
        return reduce

    pos_arg.takes_generic = arg_kw.takes_generic = True  # see `_reductions`

    def group(s):  # `( chain )`
        lpar, chain, rpar = s
        sp = Span_(b.file, lpar.line, lpar.column, rpar.end_line, rpar.end_column)
        return b._nest(A.Group((A.Statement(chain, chain.span),), sp, braces=False), chain.items, span=sp)

    def nothing(s):
        return None

    def no_seps(s):  # `_sep+`: nothing of it reaches a node (a separator is never the first or last token of one)
        return ()

    def branches_first(s):  # a block's elements: a list of branches, each a list of items
        return [[s[0]]]

    def branches_chain(s):  # `belems > item`
        branches = s[0]
        branches[-1].append(s[2])
        return branches

    def branches_new(s):  # `belems | item`
        branches = s[0]
        branches.append([s[2]])
        return branches

    def start(symbols):
        def reduce(s):
            stmts = []
            for sym, v in zip(symbols, s, strict=True):
                if sym == "_stmt":
                    stmts.append(v)
                elif sym == "__start_star_1":
                    stmts += v
            return A.Program(b.file, tuple(st.value if type(st) is Pos else st for st in stmts))
        return reduce

    first_child = operator.itemgetter(0)  # a rule that passes its child on: no Python call at all

    return {
        ("arg_dims", ("DIMS",)): arg_dims,
        ("arg_int", ("INT",)): arg_int,
        ("arg_channels", ("XNUM",)): arg_channels,
        ("arg_padding", ("PNUM",)): arg_padding,
        ("arg_name", ("NAME",)): arg_name,
        ("layer", ("NAME",)): layer_bare,
        ("layer", ("NAME", "__defaults_star_3")): layer_args,
        ("__defaults_star_3", ("layer_arg",)): _Flat,  # called from C, as `first_child`
        ("__defaults_star_3", ("__defaults_star_3", "layer_arg")): flat_more,
        ("__chain_star_7", ("MORETHAN", "item")): chain_more,
        ("__chain_star_7", ("__chain_star_7", "MORETHAN", "item")): chain_more_more,
        ("chain", ("item",)): chain_one,
        ("chain", ("item", "__chain_star_7")): chain_many,
        ("statement", ("chain",)): statement,
        ("bfirst", ("item",)): branches_first,
        ("bchain", ("belems", "MORETHAN", "item")): branches_chain,
        ("bbranch", ("belems", "VBAR", "item")): branches_new,
        ("_sep", ("_SEMI",)): nothing,
        ("_sep", ("_NL",)): nothing,
        ("__start_plus_0", ("_sep",)): no_seps,
        ("__start_plus_0", ("__start_plus_0", "_sep")): no_seps,
        ("__start_star_1", ("_stmt", "__start_plus_0")): stmts_first,
        ("__start_star_1", ("__start_star_1", "_stmt", "__start_plus_0")): stmts_more,
        ("_stmt", None): first_child,
        ("start", None): start,
        ("int", ("INT",)): int_,
        ("name", ("NAME",)): name,
        ("float", ("FLOAT",)): float_,
        ("pos_arg", ("expr",)): pos_arg,
        ("arg_kw", ("NAME", "EQUAL", "atom")): arg_kw,
        ("group", ("LPAR", "chain", "RPAR")): group,
    }


def _comma_list_more(s):
    """`__rule_star_N: __rule_star_N "," x` (Lark's repetition of `("," x)*`): the list of values
    so far grows in place, as `_generic` grows it, without the commas (no rule keeps them, and a
    list's extent comes from the brackets or values around them: 2M commas held 100 MB)."""
    flat = s[0]
    flat.append(s[2])
    return flat


def _reductions(rules: list, b: _ToAst) -> dict:
    """The function each rule's reduction calls, by rule: Lark's own callbacks, the transformer's
    wrapper and `_positions` cost more than the AST's nodes; for the common rules `_fast` does the
    same work directly, and `_generic` does the rest. `?rule`s with one child pass it on."""
    fast = _fast(b)
    out = {}
    for rule in rules:
        name = rule.alias or rule.origin.name
        symbols = tuple(sym.name for sym in rule.expansion)
        f = fast.get((name, symbols))
        if f is None and (name, None) in fast:
            f = fast[(name, None)]
            if name == "start":
                f = f(symbols)
        if f is None and rule.origin.name.startswith("__") and "_star_" in rule.origin.name \
                and len(symbols) == 3 and symbols[:2] == (rule.origin.name, "COMMA") \
                and not symbols[2].startswith("_") and not rule.options.empty_indices:
            f = _comma_list_more
        if f is None and rule.options.expand1 and not rule.alias and len(symbols) == 1 \
                and not rule.options.empty_indices and not symbols[0].startswith("_"):
            f = fast[("_stmt", None)]  # `?item: layer`: the child itself
        if f is None:
            method = getattr(b, name, None)
            if method is None and not rule.origin.name.startswith("_") and not (
                    rule.options.expand1 and len(symbols) == 1):
                raise AssertionError(f"no method for the rule {name}")  # a grammar change without its method
            f = _generic(rule, method)
        elif getattr(f, "takes_generic", False):  # a fast reduction that hands unusual cases to the generic one
            f = f(_generic(rule, getattr(b, name)))
        out[rule] = f
    return out


def table_callbacks(rules: list) -> dict:
    """The function each of the parse table's rules calls when it is reduced (see `_reductions`)."""
    return _reductions(rules, BUILDER)
