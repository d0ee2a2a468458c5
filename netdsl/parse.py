"""Parse: `.net` text -> `ast.Program`.

One cached LALR parser (contextual lexer, `propagate_positions=True`), a post-lexer for line
continuation, and a non-recursive transformer with `v_args(meta=True)` that builds the AST with
a `Span` on every node. Lark's exceptions are translated here, at one boundary, into
`NetdslSyntaxError`; nothing Lark-specific leaves this module.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

from lark import Lark, Token, Transformer_NonRecursive, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from . import ast as A
from . import sources
from .errors import NetdslError, NetdslLimitError, NetdslSyntaxError, Span

# Words with a meaning of their own; they cannot name layers, blocks or tensors.
KEYWORDS = frozenset(
    "network input defaults define if then else include extends freeze except init aux replace "
    "and or not".split()
)

# How the parser's terminals read in an error message.
TOKEN_WORDS = {
    "NAME": "a name",
    "INT": "a whole number",
    "FLOAT": "a number",
    "DIMS": "a size like 3x3",
    "XNUM": "channels like x64",
    "PNUM": "padding like p1",
    "STRING": 'a quoted path like "blocks.net"',
    "COMPARE": "a comparison (== != < <= > >=)",
    "_NL": "end of line",
    "$END": "end of file",
    "SEMICOLON": "`;`",
    "MORETHAN": "`>`",
    "LESSTHAN": "`<`",
    "VBAR": "`|`",
    "LPAR": "`(`",
    "RPAR": "`)`",
    "LBRACE": "`{`",
    "RBRACE": "`}`",
    "COMMA": "`,`",
    "EQUAL": "`=`",
    "COLON": "`:`",
    "SLASH": "`/`",
    "STAR": "`*`",
    "PLUS": "`+`",
    "MINUS": "`-`",
    "PERCENT": "`%`",
    "DOT": "`.`",
}

# Newlines are dropped after these tokens (the statement obviously goes on).
_CONTINUES = frozenset({"LESSTHAN", "VBAR", "EQUAL", "COMMA", "THEN", "ELSE", "COLON", "SLASH"})
_OPEN = frozenset({"LPAR"})
_CLOSE = frozenset({"RPAR"})


class _LineJoiner:
    """Post-lexer: drop newlines inside parentheses and after a token that needs more."""

    always_accept = ("_NL",)

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        depth = 0
        prev: str | None = None
        for tok in stream:
            kind = tok.type
            if kind == "_NL":
                if depth > 0 or prev in _CONTINUES or prev is None or prev == "_NL":
                    continue
            elif kind in _OPEN:
                depth += 1
            elif kind in _CLOSE:
                depth = max(depth - 1, 0)
            prev = kind
            yield tok


@functools.lru_cache(maxsize=1)
def _parser() -> Lark:
    return Lark(
        sources.grammar_text(),
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=True,
        postlex=_LineJoiner(),
        start="start",
    )


def parse(text: str, file: str = "<string>") -> A.Program:
    """Parse `.net` source into an AST, or raise a located NetdslError."""
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as e:
        raise _syntax_error(e, text, file) from None
    try:
        return _ToAst(file).transform(tree)
    except VisitError as e:  # unwrap: our own errors pass through, anything else is a bug
        if isinstance(e.orig_exc, NetdslError):
            raise e.orig_exc from None
        raise


# ------------------------------------------------------------------------- errors


def _describe_token(tok: Token) -> str:
    if tok.type == "$END":
        return "end of file"
    if tok.type == "_NL":
        return "end of line"
    value = str(tok)
    if tok.type == "NAME" or tok.type.upper() == value.upper():
        return f"`{value}`"
    return f"{TOKEN_WORDS.get(tok.type, tok.type)} `{value}`"


def _expected_words(names: set[str]) -> str:
    words = []
    for name in sorted(names):
        if name in TOKEN_WORDS:
            words.append(TOKEN_WORDS[name])
        elif name.isalpha() and name.isupper():
            words.append(f"`{name.lower()}`")
    words = sorted(set(words))
    if not words:
        return "something else"
    if len(words) > 8:
        words = words[:8] + ["..."]
    return ", ".join(words)


def _syntax_error(e: UnexpectedInput, text: str, file: str) -> NetdslSyntaxError:
    line = getattr(e, "line", None) or 1
    col = getattr(e, "column", None) or 1
    if isinstance(e, UnexpectedCharacters):
        ch = text[e.pos_in_stream] if e.pos_in_stream < len(text) else ""
        found = repr(ch) if not ch.isprintable() else f"`{ch}`"
        hint = None
        if ch == "\t":
            hint = None
        if not ch.isprintable() or ord(ch) > 0x7E:
            hint = "netdsl source is plain ASCII text: names, numbers and the symbols < > | ; = ( ) { } : / *"
        return NetdslSyntaxError(
            f"unexpected character {found}",
            span=Span.point(file, line, col),
            expected=_expected_words(set(e.allowed or ())),
            found=found,
            hint=hint,
        )
    if isinstance(e, UnexpectedEOF):
        lines = text.splitlines() or [""]
        span = Span.point(file, len(lines), len(lines[-1]) + 1)
        return NetdslSyntaxError(
            "unexpected end of file",
            span=span,
            expected=_expected_words(set(e.expected)),
            found="end of file",
        )
    assert isinstance(e, UnexpectedToken)
    tok = e.token
    expected = set(e.expected)
    if tok.type == "$END":
        lines = text.splitlines() or [""]
        span = Span.point(file, len(lines), len(lines[-1]) + 1)
    elif tok.type == "_NL":
        span = Span.point(file, tok.line, tok.column)
    else:
        span = Span(file, tok.line, tok.column, tok.end_line or tok.line, tok.end_column or tok.column + 1)
    hint = None
    if "MORETHAN" in expected and tok.type in ("_NL", "$END", "SEMICOLON", "RBRACE", "RPAR"):
        hint = "a block `name<...>` is closed by `>`; is one missing?"
    elif "RPAR" in expected and tok.type in ("_NL", "$END", "SEMICOLON"):
        hint = "a `(` is not closed"
    elif tok.type == "NAME" and str(tok) in KEYWORDS:
        hint = f"`{tok}` is a keyword of the language"
    elif tok.type in ("VBAR", "MORETHAN") and "NAME" in expected:
        hint = "a branch or chain step cannot be empty"
    elif tok.type == "MINUS":
        hint = "sizes and counts must be positive numbers"
    return NetdslSyntaxError(
        f"unexpected {_describe_token(tok)}",
        span=span,
        expected=_expected_words(expected),
        found=_describe_token(tok),
        hint=hint,
    )


# ------------------------------------------------------------------------- tree -> AST

MAX_NESTING = 100


def _span(file: str, meta) -> Span:
    if getattr(meta, "empty", True):
        return Span(file, 1, 1, 1, 1)
    return Span(file, meta.line, meta.column, meta.end_line, meta.end_column)


def _tspan(file: str, tok: Token) -> Span:
    return Span(file, tok.line, tok.column, tok.end_line or tok.line, tok.end_column or tok.column + 1)


def _int(file: str, tok: Token) -> int:
    if len(tok) > 30:
        raise NetdslLimitError(
            f"number {tok[:20]}... has {len(tok)} digits",
            span=_tspan(file, tok),
            hint="numbers are limited to 30 digits",
        )
    return int(tok)


@v_args(meta=True)
class _ToAst(Transformer_NonRecursive):
    def __init__(self, file: str):
        super().__init__()
        self.file = file
        self.depth: dict[int, int] = {}
        self.children_alive: list = []  # keeps ids in `depth` unique while transforming

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

    def neg(self, meta, c):
        return self._nest(A.Neg(c[0], self._s(meta)), c, meta)

    def compare(self, meta, c):
        return self._nest(A.Compare(str(c[1]), c[0], c[2], self._s(meta)), c, meta)

    def or_(self, meta, c):
        return self._nest(A.BoolOp("or", c[0], c[1], self._s(meta)), c, meta)

    def and_(self, meta, c):
        return self._nest(A.BoolOp("and", c[0], c[1], self._s(meta)), c, meta)

    def not_(self, meta, c):
        return self._nest(A.BoolOp("not", c[0], None, self._s(meta)), c, meta)

    # ---- layer arguments
    def _dims(self, tok: Token) -> A.Dims:
        values = tuple(_int(self.file, p) for p in str(tok).split("x"))
        return A.Dims(values, _tspan(self.file, tok))

    def arg_dims(self, meta, c):
        return A.Arg("pos", None, self._dims(c[0]), c[1], self._s(meta))

    def arg_int(self, meta, c):
        return A.Arg("pos", None, A.Num(_int(self.file, c[0]), _tspan(self.file, c[0])), c[1], self._s(meta))

    def arg_float(self, meta, c):
        return A.Arg("pos", None, A.Num(float(c[0]), _tspan(self.file, c[0])), None, self._s(meta))

    def arg_channels(self, meta, c):
        tok = c[0]
        num = A.Num(_int(self.file, Token("INT", str(tok)[1:])), _tspan(self.file, tok))
        return A.Arg("out", "out", num, None, self._s(meta))

    def arg_padding(self, meta, c):
        tok = c[0]
        num = A.Num(_int(self.file, Token("INT", str(tok)[1:])), _tspan(self.file, tok))
        return A.Arg("pad", "padding", num, None, self._s(meta))

    def arg_name(self, meta, c):
        return A.Arg("flag", str(c[0]), A.Name(str(c[0]), _tspan(self.file, c[0])), None, self._s(meta))

    def arg_name_stride(self, meta, c):  # `conv k/s x64` with a parameter as kernel size
        return A.Arg("pos", None, A.Name(str(c[0]), _tspan(self.file, c[0])), c[1], self._s(meta))

    def arg_kw(self, meta, c):
        return A.Arg("kw", str(c[0]), c[1], None, self._s(meta))

    def arg_kw_dims(self, meta, c):
        return A.Arg("kw", str(c[0]), self._dims(c[1]), None, self._s(meta))

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
        return A.Shorthand(kernel, c[1], c[2], tuple(c[3:]), self._s(meta))

    def pos_arg(self, meta, c):
        return A.CallArg(None, c[0], self._s(meta))

    def kw_arg(self, meta, c):
        return A.CallArg(str(c[0]), c[1], self._s(meta))

    def call_args(self, meta, c):
        return tuple(x for x in c if x is not None)

    def call(self, meta, c):
        self._not_keyword(c[0])
        return A.Call(str(c[0]), c[1], self._s(meta), _tspan(self.file, c[0]))

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
        return self._nest(A.Repeat(c[0], c[1], self._s(meta)), c, meta)

    def repeat_x(self, meta, c):
        tok = c[1]
        count = A.Num(_int(self.file, Token("INT", str(tok)[1:])), _tspan(self.file, tok))
        return self._nest(A.Repeat(c[0], count, self._s(meta)), c[:1], meta)

    # right-recursive block elements -> linked cells; flattened (iteratively) in `block`
    def bend(self, meta, c):
        return (c[0], None, None)

    def bchain(self, meta, c):
        return (c[0], ">", c[1])

    def bbranch(self, meta, c):
        return (c[0], "|", c[1])

    def block(self, meta, c):
        name, opts, cell = c[0], c[1] or (), c[2]
        self._not_keyword(name)
        branches: list[tuple] = []
        current: list = []
        while cell is not None:
            item, sep, rest = cell
            current.append(item)
            if sep != ">":
                branches.append(tuple(current))
                current = []
            cell = rest
        block = A.Block(str(name), tuple(branches), self._s(meta), _tspan(self.file, name), tuple(opts))
        return self._nest(block, [i for b in branches for i in b], meta)

    def _nest(self, node, children, meta):
        """Record how deeply `node` nests; refuse nesting beyond MAX_NESTING (no RecursionError later)."""
        d = 1 + max((self.depth.get(id(ch), 0) for ch in children), default=0)
        if d > MAX_NESTING:
            raise NetdslLimitError(
                f"nesting {d} levels deep; the limit is {MAX_NESTING}",
                span=self._s(meta),
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
                found=f"`{tok}`",
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
        return A.Include(str(c[0])[1:-1], self._s(meta))

    def target_name(self, meta, c):
        return (str(c[0]), False, c[1] or ())

    def target_path(self, meta, c):
        return (str(c[0])[1:-1], True, c[1] or ())

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

    def statement(self, meta, c):
        return A.Statement(c[0], self._s(meta))

    def start(self, meta, c):
        return A.Program(self.file, tuple(c))

