"""Parse: `.net` text -> `ast.Program`.

One cached LALR parser (contextual lexer), a post-lexer for line continuation, and the AST built
during the parse: the LALR loop calls one function per reduced rule (`_reductions`), written out
for the rules every layer goes through (`_fast`), else a `_ToAst` method through `_positions`, with
a `Span` on every node; no parse tree is made. lark-cython, when installed, runs the same parse
compiled for large texts (`_accelerated`). Comments are read as
blanks (`blank_comments`). Lark's exceptions are translated here, at one boundary, into
`NetdslSyntaxError`; nothing Lark-specific leaves this module.
"""

from __future__ import annotations

import functools
import operator
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.parsers.lalr_parser_state import ParseConf, ParserState

from . import ast as A
from . import sources
from .errors import NetdslError, NetdslLimitError, NetdslSyntaxError, Span

# Words with a meaning of their own; they cannot name layers, blocks or tensors.
KEYWORDS = frozenset(
    "network input defaults define if then else include extends freeze except init aux replace "
    "assert and or not".split()
)

# How the parser's terminals read in an error message.
TOKEN_WORDS = {
    "NAME": "a name",
    "INT": "a whole number",
    "FLOAT": "a number",
    "DIMS": "a size like 3x3",
    "XNUM": "channels like x64",
    "PNUM": "padding like p1",
    "STRING": 'a quoted string like "blocks.net"',
    "AT_NAME": "a module name like @conv1, @0 or @\"block1-0\"",
    "QUANTITY": "a limit like 4G, 25M or 16GiB",
    "COMPARE": "a comparison (== != < <= > >=)",
    "_NL": "end of line",
    "$END": "end of file",
    "_SEMI": "`;`",
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
    "ELLIPSIS": "`...`",
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
    """The parser, building the AST while it parses (no parse tree): each rule's reduction calls
    one function of `_reductions` (see there), with every token of the rule (`keep_all_tokens`),
    so that each node's span covers all the text it stands for, keywords and brackets included."""
    # cache=True keeps Lark's grammar analysis in a temp file keyed by the grammar's hash
    # (about 3x faster start-up); a read-only or missing temp folder just skips the cache.
    options = dict(parser="lalr", lexer="contextual", keep_all_tokens=True, maybe_placeholders=True,
                   postlex=_LineJoiner(), start="start")
    try:
        lark = Lark(sources.grammar_text(), cache=True, **options)
    except OSError:
        lark = Lark(sources.grammar_text(), **options)
    lalr = lark.parser.parser.parser  # the LALR driver: its table maps each rule to the function it calls
    lalr.callbacks = _lean(lalr.parse_table, _reductions(list(lalr.callbacks), _BUILDER))
    return lark


class _TableRule:
    """A rule as the LALR loop reads it: its length and the name it reduces to. Its hash and
    equality are `object`'s (identity, in C): on every reduction the loop looks the rule up among
    the callbacks and compares it with the end state, and Lark's `Rule` does both in Python (two
    calls per reduction, a tenth of the parse)."""

    __slots__ = ("expansion", "origin", "rule")

    def __init__(self, rule):
        self.rule, self.expansion = rule, rule.expansion
        # the name as a plain `str`: the loop looks it up in a row of the table, and with Lark's `Token`
        # as key each lookup would compare through `Token.__eq__`, in Python
        self.origin = SimpleNamespace(name=str.__str__(rule.origin.name))

    def __repr__(self):
        return f"_TableRule({self.rule})"


def _lean(table, reductions: dict) -> dict:
    """Put a `_TableRule` in place of each rule of the parse table (in place); returns the
    reductions keyed by them."""
    lean: dict[int, _TableRule] = {}
    for row in table.states.values():
        for term, (action, arg) in list(row.items()):
            if not isinstance(arg, int):
                if id(arg) not in lean:
                    lean[id(arg)] = _TableRule(arg)
                row[term] = (action, lean[id(arg)])
    return {rule: reductions[rule.rule] for rule in lean.values()}


# The optional accelerator (`pip install netdsl[fast]`): lark-cython, Lark's lexer and LALR loop
# compiled, driving the same parse table and the same reductions. Its tokens are no `str`: the
# reductions read `token.value`, and `_generic` hands the rules' methods Lark tokens.
_CyToken = None  # lark-cython's token class, once the accelerated parser is built


# Texts shorter than this take the plain parser (building the accelerated one costs more than it saves).
_ACCELERATE_FROM = 50_000


def _lark_token(tok) -> Token:
    if isinstance(tok, Token):
        return tok
    return Token(tok.type, tok.value, tok.start_pos, tok.line, tok.column, tok.end_line, tok.end_column, tok.end_pos)


@functools.lru_cache(maxsize=1)
def _accelerated():
    """The same parser on lark-cython (None when it is not installed or does not load): returns
    (parser, its lexer). Any failure while it parses, a syntax error included, hands the text to
    `_parser()`, which raises the error (so every message comes from one parser)."""
    global _CyToken
    if os.environ.get("NETDSL_NO_ACCEL"):
        return None
    try:
        import lark_cython
        from lark_cython import lark_cython as _lc
    except ImportError:
        return None

    class JoiningLexer(_lc.ContextualLexer):
        """The contextual lexer with `_LineJoiner`'s rule (lark-cython takes no post-lexer)."""

        def next_token(self, lexer_state, parser_state):
            while True:
                tok = _lc.ContextualLexer.next_token(self, lexer_state, parser_state)
                kind = tok.type
                if kind == "_NL":
                    prev = self.prev
                    if self.depth > 0 or prev in _CONTINUES or prev is None or prev == "_NL":
                        continue
                elif kind in _OPEN:
                    self.depth += 1
                elif kind in _CLOSE:
                    self.depth = max(self.depth - 1, 0)
                self.prev = kind
                return tok

    lexers = []

    def lexer(conf, states, always_accept=()):
        lx = JoiningLexer(conf, states, _LineJoiner.always_accept)
        lx.depth, lx.prev = 0, None
        lexers.append(lx)
        return lx

    class LALR(lark_cython.plugins["LALR_Parser"]):
        """Keeps the reductions, for `_lean` once the parser is built (from the grammar or the cache)."""

        def __init__(self, parser_conf, debug=False, strict=False):
            parser_conf.callbacks = self.reductions = _reductions(list(parser_conf.callbacks), _BUILDER)
            super().__init__(parser_conf, debug=debug)

        @classmethod
        def deserialize(cls, data, memo, callbacks, debug=False):
            inst = super().deserialize(data, memo, {}, debug)
            inst.reductions = _reductions(list(callbacks), _BUILDER)
            return inst

    options = dict(parser="lalr", lexer="contextual", keep_all_tokens=True, maybe_placeholders=True, start="start",
                   _plugins=dict(lark_cython.plugins, ContextualLexer=lexer, LALR_Parser=LALR))
    try:
        try:
            lark = Lark(sources.grammar_text(), cache=True, **options)
        except OSError:
            lark = Lark(sources.grammar_text(), **options)
        lalr = lark.parser.parser
        lalr.parser = _lc._Parser(lalr._parse_table, _lean(lalr._parse_table, lalr.reductions))
        _CyToken = _lc.Token
        lark.parse("input 1\n")  # a version of lark-cython that does not fit this Lark fails here
    except Exception:  # noqa: BLE001 - the plain parser does the work
        return None
    return lark, lexers[-1]


_PARSING = threading.Lock()  # the parser's transformer holds the state of one parse
_UNBOUNDED = 1 << 62


# A string or a comment, whichever starts first (`#` inside a string is no comment).
_COMMENT_OR_STRING = re.compile(r'"[^"\\\n]*"|#[^\n]*')


@functools.lru_cache(maxsize=256)
def _blanks(n: int) -> str:
    return " " * n


def _blank(m: re.Match) -> str:
    s = m.group()
    return s if s[0] == '"' else _blanks(len(s))


def blank_comments(text: str) -> str:
    """The text with each comment replaced by as many blanks: every line, column and offset stays.
    (The grammar's newline and `;` tokens can then swallow runs of comment lines in one token.)"""
    return _COMMENT_OR_STRING.sub(_blank, text) if "#" in text else text


def parse(text: str, file: str = "<string>", max_items: int | None = None) -> A.Program:
    """Parse `.net` source into an AST, or raise a located NetdslError. `max_items`: the most
    layers, calls and blocks the file may write (the layer limit; see `_ToAst.written`)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    text = blank_comments(text)
    parser = _parser()
    with _PARSING:
        fast = _accelerated() if len(text) >= _ACCELERATE_FROM else None
        try:
            program = None
            if fast is not None:
                _BUILDER.start_file(file, max_items)
                fast[1].depth, fast[1].prev = 0, None
                try:
                    program = fast[0].parse(text)
                except NetdslError:
                    raise
                except UnexpectedInput as e:  # the same parse table and states: the same message (tested)
                    raise _syntax_error(e, text, file) from None
                except Exception:  # noqa: BLE001 - a fault of the accelerator: the plain parser does the work
                    program = None
            if program is None:
                _BUILDER.start_file(file, max_items)
                program = parser.parse(text)
            braced = _BUILDER.braced
        except UnexpectedInput as e:
            raise _syntax_error(e, text, file) from None
        finally:
            _BUILDER.start_file(None)
    for named in braced:  # `@"block{k}-{i}"`: the expressions read after the parse (not re-entrant)
        named.parts.extend(_name_parts(named.name, file))
    return program.value if isinstance(program, _Pos) else program


_BRACED = re.compile(r"\{([^{}]*)\}")  # `{expr}` in a module name written `@"..."`


def _name_parts(name: str, file: str) -> tuple:
    """A module name `@"block{k}-{i + 1}"` as (literal, expression, literal, ...); an unmatched brace
    or an unreadable expression gives (reason,) for the expander to report where it is used."""
    parts: list = []
    for n, part in enumerate(_BRACED.split(name)):
        if n % 2 == 0:
            if "{" in part or "}" in part:
                return (f"an unmatched `{'{' if '{' in part else '}'}`",)
            parts.append(part)
            continue
        try:  # the expression alone, read as a network parameter's default (its spans are that reading's)
            st = parse(f"network n(v=({part}))", file).stmts
        except NetdslError:
            return (f"`{{{part}}}` is not an expression",)
        parts.append((part, st[0].params[0].default))  # the text, for messages, and the expression
    return tuple(parts)

# ------------------------------------------------------------------------- errors

# What a parser state accepts, said in the language's own terms: when every terminal of a group
# is acceptable, the group is named once instead of listing its terminals.
_STATEMENT_START = frozenset({"NETWORK", "DEFINE", "INPUT"})
_ITEM_START = frozenset({"NAME", "DIMS", "LPAR", "LBRACE"})
_GROUPS = (
    (_STATEMENT_START | _ITEM_START,
     "a statement (a layer like `conv 3x3 x64`, a block, `define`, `input`, ...)",
     frozenset({"NETWORK", "DEFINE", "INPUT", "DEFAULTS", "INCLUDE", "EXTENDS", "FREEZE", "INIT", "AUX",
                 "REPLACE", "ASSERT", "NAME", "DIMS", "LPAR", "LBRACE", "ELLIPSIS", "_SEMI", "_NL", "$END"})),
    (_ITEM_START,
     "a layer, block or define call (`3x3:64`, `relu`, `residual<...>`, `f(64)`)",
     _ITEM_START | {"_SEMI", "_NL", "ELLIPSIS"}),  # `...f(64)`: a flattened call
    (frozenset({"XNUM", "PNUM"}),
     "a layer argument (3x3, x64, p1, 0.5, name=value)",
     frozenset({"XNUM", "PNUM", "DIMS", "INT", "FLOAT", "NAME"})),
    (frozenset({"INT", "NAME", "LPAR"}),
     "a value (a number, a parameter name or `( ... )`)",
     frozenset({"INT", "FLOAT", "NAME", "LPAR", "MINUS", "STRING", "DIMS"})),
    (frozenset({"PLUS", "STAR", "PERCENT"}),
     "an operator (+ - * / // %)",
     frozenset({"PLUS", "MINUS", "STAR", "SLASH", "__ANON_0", "PERCENT"})),
)
_END = frozenset({"_SEMI", "_NL", "$END"})
# Order in which single terminals are listed (the rest follow alphabetically).
_ORDER = ("MORETHAN", "VBAR", "RPAR", "RBRACE", "COMMA", "EQUAL", "COLON", "SLASH", "STAR", "LESSTHAN", "LPAR",
          "LBRACE", "COMPARE", "NAME", "DIMS", "INT", "FLOAT", "XNUM", "PNUM", "STRING")


@functools.lru_cache(maxsize=1)
def _symbols() -> dict[str, str]:
    """Terminal name -> its literal text, for the grammar's fixed strings (`>`, `//`, `define`)."""
    out = {}
    for t in _parser().terminals:
        if type(t.pattern).__name__ == "PatternStr":
            out[t.name] = t.pattern.value
    return out


def _is_keyword_token(tok: Token) -> bool:
    return (tok.type == "NAME" and str(tok) in KEYWORDS) or (tok.type.isupper() and tok.type.lower() in KEYWORDS
                                                             and str(tok) == tok.type.lower())


def _describe_token(tok: Token) -> str:
    """What was found, e.g. "`>`", "the number `3`", "end of line"."""
    kind = tok.type
    if kind == "$END":
        return "end of file"
    if kind == "_SEMI":  # a run of `;` is one token
        return TOKEN_WORDS[kind]
    if kind == "_NL":
        return "end of line"
    value = str(tok)
    if len(value) > 30:
        value = value[:27] + "..."
    if _is_keyword_token(tok):
        return f"keyword `{value}`"
    if kind in ("INT", "FLOAT"):
        return f"number `{value}`"
    if kind == "DIMS":
        return f"size `{value}`"
    if kind == "STRING":
        return f"string `{value}`"
    return f"`{value}`"


def _word(name: str) -> str | None:
    if name in TOKEN_WORDS:
        return TOKEN_WORDS[name]
    sym = _symbols().get(name)
    if sym is not None:
        return f"`{sym}`"
    return None


def _expected_words(names: set[str]) -> str:
    """The acceptable terminals as a phrase: groups first, single tokens, then the statement's end."""
    left = set(names)
    phrases: list[str] = []
    for need, phrase, covers in _GROUPS:
        if need <= left:
            phrases.append(phrase)
            left -= covers
    if "XNUM" in names:  # after a name: `k:64` (a size parameter as kernel) is not worth listing
        left -= {"COLON"}
    if "COMPARE" in names:  # `>` and `<` of a condition are comparisons (their tokens are the chain's)
        left -= {"MORETHAN", "LESSTHAN"}
    if left - {"AT_NAME"}:  # `@name` may follow any item: listed only when nothing else fits
        left -= {"AT_NAME"}
    end = bool(left & _END)
    left -= _END
    for name in sorted(left, key=lambda n: (_ORDER.index(n) if n in _ORDER else len(_ORDER), n)):
        w = _word(name)
        if w is not None and w not in phrases:
            phrases.append(w)
    if end:
        phrases.append("the end of the statement (`;` or a new line)" if names & {"_SEMI", "_NL"}
                       else "end of file")
    if not phrases:
        return "something else"
    if len(phrases) > 8:
        phrases = phrases[:8] + ["..."]
    return phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " or " + phrases[-1]


def _char_desc(ch: str) -> str:
    if not ch:
        return "end of file"
    if ch.isprintable() and ch != " ":
        if ord(ch) < 0x80:
            return f"`{ch}`"
        return f"`{ch}` (U+{ord(ch):04X})"
    return f"U+{ord(ch):04X}" + (" (carriage return)" if ch == "\r" else " (a control character)")


def _char_hint(ch: str) -> str | None:
    if ch == '"':
        return 'a string is closed by `"` on the same line'
    if ch == "'":
        return 'strings are written in double quotes: "blocks.net"'
    if ch in "\u00d7\u2715\u2a2f":
        return "write sizes with the letter x: 3x3"
    if ch in "\u201c\u201d\u201e\u2018\u2019":
        return 'use plain double quotes: "blocks.net"'
    if ch == "@":
        return 'a module name follows `@` without a space: @conv1, @0 or @"block1-0"'
    if ch == "\r":
        return "lines end with \\n or \\r\\n; a lone \\r is not a line break"
    if not ch.isprintable() or ord(ch) > 0x7E:
        return "netdsl source is plain ASCII text: names, numbers and the symbols < > | ; = ( ) { } : / *"
    return None


def _accepts(e: UnexpectedInput) -> set[str]:
    """The terminals that would let the parse go on (exact: each tried on a copy of the parser's
    stack, as Lark's `InteractiveParser.accepts` does, by Lark's own LALR step in Python: the same
    for the plain parser and the accelerator's state, whose `accepts` fails)."""
    ip = getattr(e, "interactive_parser", None)
    if ip is not None:
        try:
            state = ip.parser_state
            table = state.parse_conf.parse_table
            stack = list(state.state_stack)
            conf = ParseConf(table, {}, "start")
            accepts = set()
            for term in table.states[stack[-1]]:
                if not term.isupper():
                    continue
                trial = ParserState(conf, None, list(stack), [None] * len(stack))
                try:
                    trial.feed_token(Token(term, ""), term == "$END")
                except UnexpectedToken:
                    continue
                accepts.add(term)
            return accepts
        except Exception:  # noqa: BLE001 - fall back to the parser table's guess
            pass
    return set(getattr(e, "expected", None) or getattr(e, "allowed", None) or ())


def _open_bracket(before: str, opening: str, closing: str) -> int | None:
    """Position of the last `opening` not closed in `before` (strings and comments skipped)."""
    stack: list[int] = []
    i, n = 0, len(before)
    while i < n:
        ch = before[i]
        if ch == "#":
            j = before.find("\n", i)
            i = n if j < 0 else j
            continue
        if ch == '"':
            j = before.find('"', i + 1)
            i = n if j < 0 else j + 1
            continue
        if ch == opening:
            stack.append(i)
        elif ch == closing and stack:
            stack.pop()
        i += 1
    return stack[-1] if stack else None


_WORD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_DIGITS = frozenset("0123456789")

# The hints look at the end of the text before the error with backward scans, each linear in what
# it reads. (A regular expression anchored at the end, like `[A-Za-z_]\w*\s*$`, is tried at every
# start position: quadratic on a long run of letters anywhere before the error, e.g. in a comment.)


def _last_word(before: str) -> str | None:
    """The name just before the error position, white space skipped (`relu` in "conv > relu  ")."""
    end = len(before)
    while end > 0 and before[end - 1].isspace():
        end -= 1
    start = end
    while start > 0 and before[start - 1] in _WORD_CHARS:
        start -= 1
    while start < end and before[start] in _DIGITS:  # a name starts with a letter or `_`
        start += 1
    return before[start:end] or None


def _ends_with_dims(before: str) -> bool:
    """Whether `before` ends with a size like `3x3` (white space after it skipped)."""
    end = len(before)
    while end > 0 and before[end - 1].isspace():
        end -= 1
    i, groups = end, 0
    while True:
        j = i
        while j > 0 and before[j - 1] in _DIGITS:
            j -= 1
        if j == i:
            return groups >= 2
        groups += 1
        if j > 0 and before[j - 1] == "x":
            i = j - 1
            continue
        return groups >= 2


def _name_like(line_text: str) -> str:
    """The stage name at the start of `line_text` made an identifier: block1-0 -> block1_0."""
    return line_text.split("=", 1)[0].split()[-1].replace("-", "_")


def _token_hint(tok: Token, accepts: set[str], before: str, line_text: str) -> str | None:
    kind = tok.type
    prev = before.rstrip()[-1:]
    prev_word = _last_word(before)
    ends = kind in ("_NL", "$END", "_SEMI")
    starts_item = _ITEM_START <= accepts
    if kind == "_NL" and starts_item and prev in (">", "*"):
        return f"a line cannot end with `{prev}`: to go on with the chain, start the next line with `>`"
    if (ends or kind in ("RBRACE", "RPAR")) and {"VBAR", "MORETHAN"} <= accepts:
        return "a block `name<...>` is closed by `>`; is one missing?"
    if ends and "RPAR" in accepts:
        return "a `(` is not closed"
    if kind == "$END" and "RBRACE" in accepts:
        return "a `{` is not closed"
    open_paren = _open_bracket(before, "(", ")")
    if "RPAR" in accepts and kind != "RPAR" and open_paren is not None and "\n" in before[open_paren:]:
        where = before.count("\n", 0, open_paren) + 1
        return f"the `(` on line {where} is not closed (inside parentheses a new line does not end the statement)"
    if kind == "RPAR" and "RPAR" not in accepts and open_paren is None:
        return "this `)` has no matching `(`"
    if kind == "RBRACE" and "RBRACE" not in accepts and _open_bracket(before, "{", "}") is None:
        return "this `}` has no matching `{`"
    if kind in ("VBAR", "MORETHAN") and starts_item:
        if _STATEMENT_START <= accepts:
            if kind == "VBAR":
                return "`|` separates the branches of a block, e.g. inception<1x1:64 | 3x3:64>"
            return "a chain cannot start with `>`"
        if prev == "<" and kind == "MORETHAN":
            return "a block cannot be empty: write at least one layer, or `id`"
        if prev in ("<", "|"):
            return "a branch cannot be empty: write `id` for a branch that passes its input through"
        return "a step of the chain is missing: two `>` in a row"
    if kind == "VBAR":
        return "`|` separates the branches of a block, e.g. inception<1x1:64 | 3x3:64>"
    if kind == "STAR" and prev == "*":
        return "there is no `**` operator: write the product out"
    if {"INT", "NAME", "LPAR"} <= accepts and prev in (":", "/", "*") and open_paren is None:
        return {":": "the output channels go after `:`, e.g. 3x3:64",
                "/": "the stride goes after `/`, e.g. 3x3/2:64",
                "*": "the repeat count goes after `*`, e.g. `conv 3x3 x64 *2`"}[prev]
    if "ELSE" in accepts:
        return "`if ... then A` needs `else B` (on the same line or the next): a condition chooses between two bodies"
    if kind == "THEN" and "COMPARE" in accepts:
        return "a condition compares two values: if n == 1 then ..."
    if _is_keyword_token(tok):
        return f"`{tok}` is a keyword of the language and cannot name a layer, block or stage"
    if prev_word in KEYWORDS and kind == "EQUAL":
        return f"`{prev_word}` is a keyword of the language and cannot name a stage"
    if kind == "LPAR" and prev_word in ("x", "p") and before.endswith(prev_word):
        arg = "out" if prev_word == "x" else "padding"
        return f"`{prev_word}64`-style arguments take digits only; write an expression as `{arg}=(...)`"
    if kind == "COMPARE" and line_text.lstrip().startswith("if "):
        return "`if ... then ... else` can only be the body of a define: define f(n) = if n == 1 then A else B"
    if kind == "STAR" and prev == "*":
        return "there is no `**` operator: write the product out"
    if kind == "COLON" and "XNUM" in accepts and _ends_with_dims(before):
        return "`3x3:64` is a convolution on its own; as a `conv` argument write `conv 3x3 x64`"
    if kind == "MINUS" and re.match(r"\s*(aux\s+|replace\s+)?[A-Za-z_][\w-]*\s*=(?!=)", line_text):
        return ("a stage name is an identifier: letters, digits and `_`, not starting with a digit "
                f"(e.g. `{_name_like(line_text)}`); for a module name that is none (a reference's "
                '`block1-0`), write it quoted after the item: `conv 3x3 x8 @"block1-0"`')
    if kind == "MINUS":
        return "sizes and counts are positive numbers; a negative value is written in parentheses: (-0.1)"
    if kind == "INT" and starts_item:
        return "a convolution is written `3x3:64` (kernel:channels); a single number is not a layer"
    m = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)", line_text)
    first = m.group(1) if m else ""
    if first in _STATEMENT_EXAMPLES:
        return f"`{first}` is written like this: {_STATEMENT_EXAMPLES[first]}"
    return None


# How each statement keyword is used, for hints on a malformed statement.
_STATEMENT_EXAMPLES = {
    "network": "network resnet50(classes=1000)",
    "input": "input 3x224x224",
    "defaults": "defaults conv bias=false bn act=relu",
    "define": "define block(c, s=1) = 3x3/s:c > relu",
    "include": 'include "blocks.net"',
    "extends": "extends resnet50(classes=10)",
    "freeze": "freeze layer1, layer2",
    "init": "init kaiming",
    "aux": "aux aux1 = avgpool 5x5/3 > flatten > linear 10",
    "replace": "replace fc = linear 10",
    "assert": "assert macs < 4G  /  assert memory(batch=32, dtype=bf16, optimizer=adamw) < 16GiB",
}


def _syntax_error(e: UnexpectedInput, text: str, file: str) -> NetdslSyntaxError:
    line = getattr(e, "line", None)
    col = getattr(e, "column", None)
    line = line if isinstance(line, int) and line > 0 else 1
    col = col if isinstance(col, int) and col > 0 else 1
    accepts = _accepts(e)
    if isinstance(e, UnexpectedCharacters):
        pos = e.pos_in_stream if isinstance(e.pos_in_stream, int) else 0
        ch = text[pos] if 0 <= pos < len(text) else ""
        found = _char_desc(ch)
        return NetdslSyntaxError(
            f"unexpected character {found}",
            span=Span.point(file, line, col),
            expected=_expected_words(accepts),
            found=found,
            hint=_char_hint(ch),
        )
    lines = text.split("\n")
    if isinstance(e, UnexpectedEOF):
        last = len(lines) - 1
        while last > 0 and not lines[last].strip():
            last -= 1
        return NetdslSyntaxError(
            "unexpected end of file",
            span=Span.point(file, last + 1, len(lines[last].rstrip("\r")) + 1),
            expected=_expected_words(accepts),
            found="end of file",
        )
    assert isinstance(e, UnexpectedToken)
    tok = e.token
    if tok.type == "$END":
        # just after the last token read ($END borrows its position); after a final newline, at that newline
        at = tok.start_pos if isinstance(tok.start_pos, int) else None
        if at is not None and 0 <= at < len(text) and text[at] in "\r\n" and tok.line:
            span = Span.point(file, tok.line, tok.column)
        elif isinstance(tok.end_line, int) and isinstance(tok.end_column, int) and tok.line:
            span = Span.point(file, tok.end_line, tok.end_column)
        else:
            last = len(lines) - 1
            while last > 0 and not lines[last].strip():
                last -= 1
            span = Span.point(file, last + 1, len(lines[last].rstrip("\r")) + 1)
        pos = len(text)
    else:
        span = Span(file, tok.line, tok.column, tok.end_line or tok.line,
                    tok.end_column or tok.column + 1) if tok.type != "_NL" else Span.point(file, tok.line, tok.column)
        pos = tok.start_pos if isinstance(tok.start_pos, int) else len(text)
    before = text[:pos]
    line_text = lines[span.line - 1] if 1 <= span.line <= len(lines) else ""
    found = _describe_token(tok)
    return NetdslSyntaxError(
        f"unexpected {found}",
        span=span,
        expected=_expected_words(accepts),
        found=found,
        hint=_token_hint(tok, accepts, before, line_text),
    )


# ------------------------------------------------------------------------- tree -> AST

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


class _Pos:
    """A rule's value that is no AST node (a tuple of arguments, a dotted name, a parenthesised
    expression), with the extent of its text: (line, column, end line, end column)."""

    __slots__ = ("value", "pos")

    def __init__(self, value, pos):
        self.value, self.pos = value, pos


def _where(c):
    """The extent of a rule's child: a token, a node (its span) or a `_Pos`; None when unknown."""
    if isinstance(c, Token) or type(c) is _CyToken:
        return (c.line, c.column, c.end_line, c.end_column)
    if isinstance(c, _Pos):
        return c.pos
    sp = getattr(c, "span", None)
    return None if sp is None else (sp.line, sp.col, sp.end_line, sp.end_col)


def _positions(f, children):
    """A rule's method called with its span from all the children (`_Meta`) and the children Lark
    keeps by default (placeholders included); values without a span of their own travel as `_Pos`.
    The accelerator's tokens are no `str`: the kept ones reach the method as Lark tokens."""
    first = next((p for p in map(_where, children) if p is not None), None)
    last = next((p for p in map(_where, reversed(children)) if p is not None), None)
    kept = [c.value if isinstance(c, _Pos) else _lark_token(c) if type(c) is _CyToken else c for c in children
            if not (isinstance(c, Token) or type(c) is _CyToken) or c.type in _KEPT_TOKENS]
    value = f(_Meta(first, last), kept)
    if first is None:
        return value
    extent = (first[0], first[1], last[2], last[3])
    if isinstance(value, tuple) and getattr(value, "span", None) is not None and _where(value) == extent:
        return value  # a node: its span says where it lies
    return _Pos(value, extent)  # anything else, or a node inside brackets that belong to it


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

_BUILDER = _ToAst()


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
            return A.CallArg(None, e, e.span) if type(e) is not _Pos else generic(s)
        return reduce

    def arg_kw(generic):
        def reduce(s):  # `name=atom` (a parenthesised expression as the atom: generic)
            tok, _equal, value = s
            if type(value) is _Pos:
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
            return A.Program(b.file, tuple(st.value if type(st) is _Pos else st for st in stmts))
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
