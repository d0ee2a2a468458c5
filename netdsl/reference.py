"""The op reference, generated from the registry (`ops.REGISTRY`): `netdsl ops` and docs/language.md.

`ops_text()` lists every op on one line, `op_text(name)` shows one with its arguments, and
`ops_markdown()` is the op section of docs/language.md, between the `BEGIN`/`END` markers
(`refresh(text)` replaces it; tests/test_reference.py checks the file against it). Nothing here
is written by hand: a new op or argument shows up everywhere by registering it.
"""

from __future__ import annotations

from . import ops
from .errors import closest

BEGIN = "<!-- BEGIN GENERATED: ops (netdsl/reference.py; regenerate with NETDSL_REGEN=1) -->"
END = "<!-- END GENERATED: ops -->"

# how each argument type is written
TYPES = {
    "int": "whole number",
    "pos_int": "whole number >= 1",
    "pair": "size: 3 or 3x3",
    "padding": 'padding: 1, 1x2 or "same"',
    "float": "number",
    "prob": "probability",
    "bool": "switch: true/false, or the name alone",
    "act": "activation",
    "dims": "sizes: 0x1x0x1",
    "str": "word",
    "int_or_none": "whole number or none",
}

# the kinds of ops a user writes as a layer; merges are written as blocks, `structural` ops are
# made by the expander (the residual shortcut)
LAYER_KINDS = tuple(k for k in ops.KINDS if k not in ("merge", "structural"))


def aliases(name: str) -> list[str]:
    return sorted(al for al, target in ops.ALIASES.items() if target == name)


def layers() -> list[ops.OpSpec]:
    return [s for s in ops.REGISTRY.values() if s.kind in LAYER_KINDS]


def others() -> list[ops.OpSpec]:
    return [s for s in ops.REGISTRY.values() if s.kind not in LAYER_KINDS]


def blocks_of(name: str) -> list[str]:
    """The block kinds that merge with this op (`inception<...>` and `concat<...>` for concat)."""
    return [k for k, op in ops.MERGE_BLOCKS.items() if op == name] + (["residual"] if name == "shortcut" else [])


def _default(a: ops.ArgSpec) -> str:
    if a.required:
        return "required"
    if a.default is None:
        return "-"
    if isinstance(a.default, bool):
        return str(a.default).lower()
    if isinstance(a.default, tuple):
        return "x".join(map(str, a.default))
    return str(a.default)


def _arg_row(spec: ops.OpSpec, a: ops.ArgSpec) -> tuple[str, ...]:
    where = "positional" if a.name in spec.positional else "name=value"
    return (a.name, TYPES.get(a.type, a.type), _default(a), ", ".join(a.aliases) or "-", where, a.doc or "")


def _names(spec: ops.OpSpec) -> str:
    als = aliases(spec.name)
    return spec.name + (f" ({', '.join(als)})" if als else "")


# ------------------------------------------------------------------ plain text: `netdsl ops`


def ops_text() -> str:
    """Every op on one line: its names and what it does."""
    width = max(len(_names(s)) for s in ops.REGISTRY.values())
    out = ["layers (write them in a chain: conv 3x3 x64 > relu):"]
    out += [f"  {_names(s):<{width}}  {s.doc}" for s in layers()]
    out += ["", "merges and structure (written as blocks: add<a | b>, residual<body>):"]
    out += [f"  {_names(s):<{width}}  {s.doc}" for s in others()]
    out += ["", "see `netdsl ops NAME` for the arguments of one; docs/language.md for the rules"]
    return "\n".join(out) + "\n"


def find(name: str) -> ops.OpSpec | None:
    return ops.lookup(name)


def unknown_op_message(name: str) -> str:
    hint = closest(name, ops.all_names())
    return f"no op named `{name}`" + (f" ({hint})" if hint else "") + "; `netdsl ops` lists them all"


def _one_of(group: tuple[str, ...]) -> str:
    names = " or ".join(f"`{n}`" for n in group)
    return (f"{names}: one thing said two ways, a layer writes one of them (its own replaces a "
            "`defaults` value of the other)")


def op_text(spec: ops.OpSpec) -> str:
    """One op: its names, meaning, how it is written, and a line per argument."""
    out = [_names(spec), f"  {spec.doc}", f"  kind: {spec.kind}"]
    blocks = blocks_of(spec.name)
    if blocks:
        out.append("  written as: " + ", ".join(f"{b}<...>" for b in blocks))
    if spec.positional:
        out.append("  positional: " + " ".join(spec.positional))
    if spec.stride_arg:
        out.append(f"  `/s` after the size sets `{spec.stride_arg}`")
    for group in spec.exclusive:
        out.append(f"  {_one_of(group)}")
    if not spec.args:
        out.append("  no arguments")
        return "\n".join(out) + "\n"
    out.append("  arguments:")
    rows = [_arg_row(spec, a) for a in spec.args]
    head = ("name", "type", "default", "aliases", "given", "meaning")
    widths = [max(len(r[i]) for r in (head, *rows)) for i in range(len(head))]
    for r in (head, *rows):
        out.append("    " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------ markdown: docs/language.md


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def _md_op(spec: ops.OpSpec) -> list[str]:
    out = [f"### `{spec.name}`", "", _md(spec.doc) + "."]
    facts = []
    als = aliases(spec.name)
    if als:
        facts.append("also written " + ", ".join(f"`{a}`" for a in als))
    blocks = blocks_of(spec.name)
    if blocks:
        facts.append("written as a block: " + ", ".join(f"`{b}<...>`" for b in blocks))
    if spec.positional:
        facts.append("positional: " + ", ".join(f"`{p}`" for p in spec.positional))
    if spec.fuses:
        facts.append("`bn` and `act=` add a batch norm and an activation after it")
    facts += [_one_of(group) for group in spec.exclusive]
    if facts:
        line = "; ".join(facts)
        out += ["", line[0].upper() + line[1:] + "."]
    if spec.args:
        out += ["", "| argument | type | default | aliases | given | meaning |", "|---|---|---|---|---|---|"]
        out += ["| " + " | ".join(_md(c) if c else "" for c in _arg_row(spec, a)) + " |" for a in spec.args]
    return out + [""]


def ops_markdown() -> str:
    """The generated part of docs/language.md: an index, then a section per op."""
    out = [BEGIN, "", "| op | kind | meaning |", "|---|---|---|"]
    out += [f"| [`{s.name}`](#{s.name}) | {s.kind} | {_md(s.doc)} |" for s in ops.REGISTRY.values()]
    out.append("")
    for spec in ops.REGISTRY.values():
        out += _md_op(spec)
    out.append(END)
    return "\n".join(out)


def refresh(text: str) -> str:
    """`text` (docs/language.md) with its generated part replaced by what the registry gives now."""
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[:start] + ops_markdown() + text[end:]


def generated_part(text: str) -> str:
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[start:end]
