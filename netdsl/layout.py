"""Layout: the PyTorch module tree of a network, the names of its modules and layers, and freezing.

`assign_names(net)` decides, top-down, which scopes become modules (define instances, blocks,
named stages and branches; a named stage of a single layer or module is that member), gives every
module and layer its attribute name and dotted path (the `state_dict` prefix), and marks the
layers `freeze` covers as not trainable. It runs after `shapes.infer` (a shortcut is a module
only when it projects) and records everything on the IR: `Scope.name`, `path`, `module`,
`sequential`, `members`, `collapsed_to`; node `name`, `path`, `trainable`.
"""

from __future__ import annotations

from . import ops
from .errors import NetdslNameError, Span, closest
from .ir import Net, Scope
from .names import RESERVED, Names


def _has_module(net: Net, nid: int) -> bool:
    node = net.node(nid)
    if node["op"] == "shortcut":  # a module only when it projects
        shape = node.get("shape")
        return shape is not None and ops.shortcut_plan(node["args"], node["in_shapes"]) is not None
    return ops.REGISTRY[node["op"]].lowering.module is not None


def _chain_like(net: Net, scope: Scope, members: list) -> bool:
    """True when the members run one after another (each takes the previous output)."""
    cur = scope.input
    for m in members:
        if isinstance(m, Scope):
            if m.input != cur or m.kind == "branch":
                return False
            cur = m.output
        else:
            n = net.node(m)
            spec = ops.REGISTRY[n["op"]]
            if n["inputs"] != [cur] or (spec.lowering.module is None and spec.lowering.seq_module is None):
                return False
            cur = m
    return cur == scope.output


def flatten_members(net: Net, scope: Scope) -> list:
    """Members of a module's namespace: nodes and sub-module scopes, through flattened blocks."""
    out: list = []
    for ch in scope.children:
        if isinstance(ch, Scope) and not ch.module and ch.name is None:
            out.extend(flatten_members(net, ch))
        else:
            out.append(ch)
    return out


def _decide(net: Net, scope: Scope, owner: Scope | None = None, define: bool = False) -> None:
    """Decide, top-down, which scopes become modules. `owner` is the module whose namespace the
    scope's members join when they are no modules of their own; `define`: the scope lies inside a
    define's class. Inside a define, anonymous blocks
    and branches or named stages that are no plain chain are not modules: their layers and sub-blocks are
    attributes of the define's class and its forward wires them (as hand-written NASNet cells
    hold `comb_iter_0_left`), while a chain-like branch stays an nn.Sequential (GoogLeNet's
    `branch2`)."""
    owner = scope if owner is None or scope.module else owner
    define = define or scope.kind == "define"
    for ch in scope.children:
        if not isinstance(ch, Scope):
            continue
        if ch.inline or ch.flat:  # inside a join block (FractalNet), or `...f(...)`: its layers belong to
            ch.module = False     # the enclosing module
            _decide(net, ch, owner, define)
            continue
        if ch.kind == "branch" and ch.label == "branch 1" and scope.kind == "block" and scope.label == "residual":
            # a residual's body, with a shortcut written beside it: its layers belong to the block
            # (as in every ResNet's BasicBlock: conv1, bn1, ... next to `downsample`)
            ch.module = False
            _decide(net, ch, owner, define)
            continue
        if ch.kind in ("block", "branch") and _written_names(ch):
            # an anonymous block or branch whose members have written names (`@branch1x1`): those
            # are attributes of the enclosing module, as in torchvision's Inception blocks
            ch.module = False
            _decide(net, ch, owner, define)
            continue
        if ch.kind == "block":
            ch.module = not define
        else:  # define, named, branch
            ch.module = True
        _decide(net, ch, owner, define and ch.kind != "define")
        if ch.kind == "define" and _seq_body(ch):
            ch.sequential = True  # `define f(c) = seq<...>`: an nn.Sequential of its layers, indexed
        elif ch.kind == "block" and ch.label == "seq" and ch.module:
            ch.sequential = _chain_like(net, ch, flatten_members(net, ch))
        if ch.kind in ("named", "branch"):
            members = flatten_members(net, ch)
            if not members:
                ch.module = False
            ch.sequential = ch.module and _chain_like(net, ch, members)
            if ch.module and not ch.sequential and define:
                ch.module = False
                _decide(net, ch, owner, define)


def _written_names(scope: Scope) -> bool:
    """Whether a scope holds, directly or through anonymous blocks and branches, an `@name`d item."""
    stack = list(scope.children)
    while stack:
        ch = stack.pop()
        if isinstance(ch, Scope):
            if ch.at_name:
                return True
            if ch.kind in ("block", "branch") or ch.inline or ch.flat:
                stack.extend(ch.children)
    return False


def _seq_body(scope: Scope) -> bool:
    """A define whose whole body is one `seq<...>` block."""
    kids = scope.children
    return len(kids) == 1 and isinstance(kids[0], Scope) and kids[0].kind == "block" and kids[0].label == "seq" \
        and not kids[0].module


def _collapse(net: Net, scope: Scope):
    """A named stage or branch made of a single node or module is that node or module."""
    if scope.kind not in ("named", "branch") or not scope.module:
        return None
    members = flatten_members(net, scope)
    if _seq_body(scope):  # `seq<conv ...> @shortcut`: an nn.Sequential as written, even of one layer
        return None
    if len(members) == 1 and not (isinstance(members[0], Scope) and members[0].at_name and scope is not members[0]):
        only = members[0]
        if isinstance(only, Scope) or _has_module(net, only):
            return only
    return None


def _name_module(net: Net, m: Scope) -> None:
    members = flatten_members(net, m)
    m.members = members
    explicit: dict[int, str] = {}
    spans: dict[str, Span] = {}
    for mem in members:
        if isinstance(mem, Scope) and mem.kind == "named":
            if mem.label in spans:
                raise NetdslNameError(
                    f"two modules named `{mem.label}` in {m.path or 'the network'}",
                    span=mem.span,
                    hint=f"the first is at line {spans[mem.label].line}, column {spans[mem.label].col}; "
                         "module names are unique in their parent module",
                )
            spans[mem.label] = mem.span
            explicit[id(mem)] = mem.label
    if m.sequential:
        # indices as nn.Sequential's, each after the one before (`@4` skips to 4: an optional layer
        # keeps the reference's positions); a written name replaces the index
        k = 0
        for mem in members:
            name = explicit.get(id(mem))
            if name is None:
                name = str(k)
                while name in spans:
                    k += 1
                    name = str(k)
            if name.isdigit():
                k = int(name)
            k += 1
            _set_name(net, m, mem, name)
        return
    alloc = Names(RESERVED, explicit.values())
    # count stems so that lone layers keep a bare name (fc, maxpool); one plan entry per member
    # that gets a name: (member, how, stem, numbered, key of a shared module)
    nodes = net.graph.nodes
    registry = ops.REGISTRY
    stems: dict[str, int] = {}
    shared: dict[tuple, str] = {}
    plan: list[tuple] = []
    for mem in members:
        if id(mem) in explicit:
            plan.append((mem, "explicit", None, False, None))
            continue
        if isinstance(mem, Scope):
            if mem.kind == "branch":
                stem = "branch" + mem.label.split()[-1]
                plan.append((mem, "branch", stem, False, None))
            else:
                stem = mem.label
                plan.append((mem, "scope", stem, False, None))
            stems[stem] = stems.get(stem, 0) + 1
            continue
        node = nodes[mem]
        op = node["op"]
        spec = registry[op]
        if op == "shortcut":
            if not _has_module(net, mem):
                continue
        elif spec.lowering.module is None:
            continue
        stem = spec.base_name
        if spec.shared:
            key = (op, tuple(sorted(node["args"].items())))
            plan.append((mem, "shared", stem, spec.numbered, key))
            if key in shared:
                continue
            shared[key] = ""
        else:
            plan.append((mem, "layer", stem, spec.numbered, None))
        stems[stem] = stems.get(stem, 0) + 1
    shared.clear()
    prefix = m.path + "." if m.path else ""
    for mem, how, stem, numbered, key in plan:
        if how == "layer":  # _set_name of a layer
            name = alloc.numbered(stem, numbered, stems[stem])
            node = nodes[mem]
            node["name"] = name
            node["path"] = prefix + name
        elif how == "explicit":
            _set_name(net, m, mem, explicit[id(mem)])
        elif how == "branch":
            _set_name(net, m, mem, alloc.claim(stem) if stem not in alloc.taken else alloc.numbered(stem, True, 2))
        elif how == "shared":
            if key not in shared:
                shared[key] = alloc.numbered(stem, numbered, stems[stem])
            _set_name(net, m, mem, shared[key])
        else:
            _set_name(net, m, mem, alloc.numbered(stem, numbered, stems[stem]))


def _set_name(net: Net, parent: Scope, mem, name: str) -> None:
    prefix = parent.path + "." if parent.path else ""
    if isinstance(mem, Scope):
        target = _collapse(net, mem) or mem
        if target is not mem:
            mem.name = name
            mem.path = prefix + name
            mem.module = False
            mem.collapsed_to = target
            _set_name(net, parent, target, name)
            return
        mem.name = name
        mem.path = prefix + name
        _name_module(net, mem)
    else:
        node = net.graph.nodes[mem]
        node["name"] = name
        node["path"] = prefix + name


def assign_names(net: Net) -> None:
    """Give every module and layer its attribute name and dotted path (state_dict prefix)."""
    root = net.root
    root.module = True
    _decide(net, root)
    input_node = net.input_node
    for nid, node in net.graph.nodes.items():
        if nid != input_node:
            node.setdefault("name", None)
            node.setdefault("path", None)
            node["trainable"] = True  # until a `freeze` covers it (_apply_freeze)
    _name_module(net, root)
    _apply_freeze(net)


def _apply_freeze(net: Net) -> None:
    if not net.frozen:
        return
    paths = {}
    for s in net.root.scopes():
        if s.path:
            paths[s.path] = s
    for nid in net.op_nodes():
        p = net.node(nid).get("path")
        if p:
            paths[p] = nid

    for name, span in net.frozen:
        if name != "*" and name not in paths:
            raise NetdslNameError(
                f"freeze: no layer or stage named `{name}`",
                span=span,
                expected="a stage name such as " + ", ".join(sorted(k for k in paths if "." not in k)[:10]),
                found=f"`{name}`",
                hint=closest(name, paths),
            )
    for name in net.frozen_except:
        if name not in paths:
            raise NetdslNameError(f"freeze ... except: no layer or stage named `{name}`",
                                  span=net.frozen[0][1], hint=closest(name, paths))
    frozen = {name for name, _ in net.frozen}
    kept = set(net.frozen_except)
    for nid in net.op_nodes():
        prefixes = _prefixes(_owner_path(net, nid))
        if ("*" in frozen or not frozen.isdisjoint(prefixes)) and kept.isdisjoint(prefixes):
            net.node(nid)["trainable"] = False


def _owner_path(net: Net, nid: int) -> str:
    """The dotted path of a layer, or of the nearest scope with one (a parameter-free op has none)."""
    n = net.node(nid)
    p = n.get("path") or ""
    scope = n["scope"]
    while not p and scope is not None:
        p = scope.path
        scope = scope.parent
    return p


def _prefixes(path: str) -> set[str]:
    """`a.b.c` -> {a, a.b, a.b.c}: the names a `freeze` can cover it by."""
    parts = path.split(".") if path else []
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
