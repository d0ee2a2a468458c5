"""Parse: `.net` text -> `ast.Program`.

One cached LALR parser (contextual lexer) and a post-lexer for line continuation; the AST is built
during the parse by the functions of `reductions`, one per reduced rule, with a `Span` on every
node (no parse tree is made). lark-cython, when installed, runs the same parse table and the same
reductions compiled, for large texts (`_accelerated`). Comments are read as blanks
(`blank_comments`). Lark's exceptions are translated here, at one boundary, into
`NetdslSyntaxError`; nothing Lark-specific leaves this module or `reductions`.
"""

from __future__ import annotations

import functools
import os
import re
import threading
from collections.abc import Iterator
from types import SimpleNamespace

from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.parsers.lalr_parser_state import ParseConf, ParserState

from . import ast as A
from . import reductions as R
from . import sources
from .errors import NetdslError, NetdslSyntaxError, Span
from .reductions import KEYWORDS

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
    one function of `reductions.table_callbacks` (see there), with every token of the rule (`keep_all_tokens`),
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
    lalr.callbacks = _lean(lalr.parse_table, R.table_callbacks(list(lalr.callbacks)))
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
# reductions read `token.value`, and the rules' methods get Lark tokens (`reductions._positions`).


# Texts shorter than this take the plain parser (building the accelerated one costs more than it saves).
_ACCELERATE_FROM = 50_000


@functools.lru_cache(maxsize=1)
def _accelerated():
    """The same parser on lark-cython (None when it is not installed or does not load): returns
    (parser, its lexer). Any failure while it parses, a syntax error included, hands the text to
    `_parser()`, which raises the error (so every message comes from one parser)."""
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
            parser_conf.callbacks = self.reductions = R.table_callbacks(list(parser_conf.callbacks))
            super().__init__(parser_conf, debug=debug)

        @classmethod
        def deserialize(cls, data, memo, callbacks, debug=False):
            inst = super().deserialize(data, memo, {}, debug)
            inst.reductions = R.table_callbacks(list(callbacks))
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
        R.accept_tokens_of(_lc.Token)
        lark.parse("input 1\n")  # a version of lark-cython that does not fit this Lark fails here
    except Exception:  # noqa: BLE001 - the plain parser does the work
        return None
    return lark, lexers[-1]


_PARSING = threading.Lock()  # the parser's transformer holds the state of one parse


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
    layers, calls and blocks the file may write (the layer limit; see `reductions._ToAst.written`)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    text = blank_comments(text)
    parser = _parser()
    with _PARSING:
        fast = _accelerated() if len(text) >= _ACCELERATE_FROM else None
        try:
            program = None
            if fast is not None:
                R.BUILDER.start_file(file, max_items)
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
                R.BUILDER.start_file(file, max_items)
                program = parser.parse(text)
            braced = R.BUILDER.braced
        except UnexpectedInput as e:
            raise _syntax_error(e, text, file) from None
        finally:
            R.BUILDER.start_file(None)
    for named in braced:  # `@"block{k}-{i}"`: the expressions read after the parse (not re-entrant)
        named.parts.extend(_name_parts(named.name, file))
    return program.value if isinstance(program, R.Pos) else program


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
    if kind == "RPAR" and "RPAR" not in accepts and _open_bracket(before, "(", ")") is None:
        return "this `)` has no matching `(`"  # before the block's `>`: `1x1:4*c)` misses a `(`
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
    if "RPAR" in accepts and open_paren is not None and kind not in ("RPAR", "COMMA"):
        column = open_paren - before.rfind("\n", 0, open_paren)
        return f"the `(` at column {column} is not closed"
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


