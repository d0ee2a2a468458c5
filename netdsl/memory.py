"""Memory: the bytes one training step allocates, simulated tensor by tensor without torch.

`estimate(report, batch, dtype, optimizer, device)` follows one SGD-style step through the graph
as PyTorch runs it (`zero_grad(set_to_none=True)`, forward, backward, `optimizer.step()`) and
returns the peak together with what it is made of:

* **resident**: parameters and buffers (running statistics), the input batch, and the optimizer
  state of the trainable parameters (momentum: 1 value each, adam/adamw: 2).
* **saved activations**, counted by *storage*: what autograd keeps for backward, by the rule of
  each op in the registry (`ops.Saves`). An in-place ReLU's output and the next conv's input are
  one storage; a view (flatten) is its input's storage. Nothing is kept where nothing requires
  grad: a frozen prefix (no trainable parameter before it) saves no tensor, and a frozen conv
  keeps no input for dW. Extra tensors (max-pool's int64 indices, dropout's mask) are counted in
  their own dtype. Train-only outputs (`aux`) run and are trained: they are included.
* **forward transients**: outputs that no op keeps live from their producer to their last
  consumer; the forward peak is the largest sum of live storages.
* **backward**: in reverse order each op allocates the gradients of its inputs (views for
  flatten and concat), the gradients of its trainable parameters (kept), the temporaries of its
  backward kernels (`Saves.work`; `Saves.cpu_work` too when the device is "cpu": oneDNN's
  reorder copies, batch norm's buffer), frees its output's gradient and releases what it saved.
  A gradient handed on as is (add) or as views (concat, flatten) is one storage, freed when its
  last holder is done; slicing makes its input's gradient anew (`Saves.grad_new`).
  The backward peak is the largest sum along the way.
* **step**: gradients and optimizer state, plus Adam's temporary of one parameter tensor.

dtype: "float32"/"float64" are the dtype of the whole model; "float16"/"bfloat16" mean autocast:
parameters, their gradients and the optimizer state stay float32, the ops registered
`autocast="lower"` (conv, linear) run in the low precision on copies of their inputs and weights
(the copies are what they save), ops registered "fp32" produce float32, and the others follow
their inputs. In-place activations are the ones the lowering makes in place (the same rule as
`lower.Lowering._inplace_ok`: the only consumer of an op that keeps no reference to its output,
inside the same module).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import ops
from .errors import UsageError
from .ir import Net, Scope

DTYPES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8}  # torch's names, bytes per value
# the short names people write (torch's own aliases, and the mixed-precision shorthands)
DTYPE_ALIASES = {"fp32": "float32", "float": "float32", "fp16": "float16", "half": "float16",
                 "bf16": "bfloat16", "fp64": "float64", "double": "float64"}
DTYPE_BYTES = {**DTYPES, **{a: DTYPES[d] for a, d in DTYPE_ALIASES.items()}}
AUTOCAST = {"float16", "bfloat16"}


def dtype_name(dtype: str) -> str:
    """torch's name of a dtype written as torch names it or by a short name (bf16 -> bfloat16)."""
    name = DTYPE_ALIASES.get(dtype, dtype) if isinstance(dtype, str) else dtype
    if name not in DTYPES:
        raise UsageError(f"dtype must be one of {', '.join(DTYPE_BYTES)}, found {dtype!r}")
    return name


def check_batch(batch) -> int:
    if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
        raise UsageError(f"batch must be a whole number >= 1, found {batch!r}")
    return batch


OPTIMIZER_STATES = {"sgd": 0, "momentum": 1, "adam": 2, "adamw": 2}
DEVICES = ("cuda", "cpu")
_FIXED_BYTES = {"int64": 8, "bool": 1}


@dataclass
class StageMemory:
    """Bytes of one top-level stage: its parameters, their gradients and optimizer state, and the
    activations its layers save (at the end of the forward pass)."""

    name: str
    params: int = 0
    grads: int = 0
    optimizer: int = 0
    saved: int = 0


@dataclass
class Memory:
    """The estimate of one training step (bytes). `peak` = params + buffers + input + optimizer
    + the activations and gradients alive at that moment: `saved_at_peak` (what autograd still
    keeps), `grads_at_peak` (parameter gradients made so far) and `transient` (gradient and other
    temporary buffers)."""

    batch: int
    dtype: str
    optimizer: str
    device: str
    params: int  # parameter bytes
    buffers: int  # buffer bytes (running statistics)
    input: int
    optimizer_state: int
    grads: int  # every trainable parameter's gradient, as after backward
    saved: int  # saved activations at the end of the forward pass
    peak: int
    phase: str  # forward | backward | step: where the peak lies
    at: str  # the layer at the peak
    saved_at_peak: int
    grads_at_peak: int
    transient: int
    stages: list[StageMemory] = field(default_factory=list)
    # per module path (every layer and block with one): its parameters, gradients, optimizer state
    # and the activations it has saved at the end of the forward pass, in bytes (when asked for:
    # `estimate(..., by_path=True)`; empty otherwise)
    by_path: dict[str, int] = field(default_factory=dict)


# ------------------------------------------------------------------------ which activations run in place


def _module_scope(scope: Scope | None) -> Scope | None:
    while scope is not None and not scope.module:
        scope = scope.parent
    return scope


def inplace_nodes(net: Net) -> set[int]:
    """Activations the lowering runs in place: the only consumer of an op that keeps no reference
    to its output (`inplace_target`), both inside one module, every use of a shared module alike."""
    g = net.graph
    aux = set(net.aux_outputs.values())
    members: dict[int, set[int]] = {}

    def ok(nid: int) -> bool:
        node = g.nodes[nid]
        src = node["inputs"][0]
        if src == net.input_node or src in aux or g.out_degree(src) != 1:
            return False
        if not ops.REGISTRY[g.nodes[src]["op"]].inplace_target:
            return False
        scope = _module_scope(node["scope"])
        if scope is None or scope.kind == "network":
            return True
        if id(scope) not in members:
            members[id(scope)] = set(scope.nodes())
        return src in members[id(scope)] and src != scope.input

    candidates = [n for n in net.op_nodes() if ops.REGISTRY[g.nodes[n]["op"]].lowering.inplace]
    groups: dict[tuple, list[int]] = {}
    for n in candidates:
        node = g.nodes[n]
        key = (id(_module_scope(node["scope"])), node.get("name")) if ops.REGISTRY[node["op"]].shared else (n,)
        groups.setdefault(key, []).append(n)
    out: set[int] = set()
    for group in groups.values():
        if all(ok(n) for n in group):
            out.update(group)
    return out


# ------------------------------------------------------------------------ the simulation


class _Step:
    """One training step over the graph: storages, their sizes and who keeps them."""

    def __init__(self, net: Net, batch: int, dtype: str, device: str):
        self.net, self.g = net, net.graph
        self.batch, self.device = batch, device
        self.autocast = dtype in AUTOCAST
        self.act = DTYPE_BYTES[dtype]
        self.full = 8 if dtype == "float64" else 4  # parameters, their gradients, float32 ops
        self.order = net.op_nodes()
        self.inplace = inplace_nodes(net)
        self.storage: dict[int, int] = {}  # tensor (node id) -> storage id (the node that allocated it)
        self.size: dict[int, int] = {}  # storage id -> bytes
        self.nbytes: dict[int, int] = {}  # tensor -> bytes
        self.elt: dict[int, int] = {}  # tensor -> bytes per value
        self.rg: dict[int, bool] = {}  # tensor requires grad
        self.keeps: dict[int, list[int]] = {}  # node -> storages kept for its backward
        self.forward_extra: dict[int, int] = {}  # node -> bytes it makes and drops in forward (no backward)
        self.owner: dict[int, int] = {}  # storage -> node that made it
        self._next = -1
        self._build()

    def _new(self, nbytes: int, owner: int) -> int:
        sid = self._next
        self._next -= 1
        self.size[sid] = nbytes
        self.owner[sid] = owner
        return sid

    def _out_elt(self, nid: int, spec: ops.OpSpec) -> int:
        if not self.autocast:
            return self.full
        if spec.autocast == "lower":
            return self.act
        if spec.autocast == "fp32":
            return 4
        ins = self.g.nodes[nid]["inputs"]
        return max(self.elt[i] for i in ins) if ins else 4

    def _build(self) -> None:
        g, net, b = self.g, self.net, self.batch
        inp = net.input_node
        # local names for the per-node tables (a few lookups per layer on networks of 100k layers)
        rg, elt_of, nbytes, storage, size, owner = self.rg, self.elt, self.nbytes, self.storage, self.size, self.owner
        keeps, inplace, numel, registry = self.keeps, self.inplace, ops.numel, ops.REGISTRY
        elt_of[inp] = self.full
        nbytes[inp] = numel(net.input_shape) * b * self.full
        storage[inp] = inp
        size[inp] = 0  # resident, counted apart
        owner[inp] = inp
        rg[inp] = False
        for nid in self.order:
            node = g.nodes[nid]
            spec = registry[node["op"]]
            sv = spec.saves
            ins, a = node["inputs"], node["args"]
            params_train = node["params"] > 0 and node.get("trainable", True)
            differentiable = ins if sv.grad_inputs is None else [ins[k] for k in sv.grad_inputs]
            needs_grad = rg[nid] = params_train or any(rg[i] for i in differentiable)
            elt = self._out_elt(nid, spec) if self.autocast else self.full
            elt_of[nid] = elt
            nbytes[nid] = numel(node["shape"]) * b * elt
            if nid in inplace or sv.is_view(a, node["in_shapes"]):
                storage[nid] = storage[ins[0]]
            else:
                storage[nid] = nid
                size[nid] = nbytes[nid]
                owner[nid] = nid
            keep: list[int] = []
            if needs_grad:
                for i in sv.kept_inputs(a, node["in_shapes"], node["shape"]):
                    if sv.when == "params" and not params_train:
                        continue
                    if sv.when == "other" and not any(rg[j] for k, j in enumerate(ins) if k != i):
                        continue
                    if nid in inplace and sv.inplace_clone:  # the copy taken before overwriting
                        keep.append(self._new(nbytes[ins[i]], nid))
                    else:
                        keep.append(self._kept_input(nid, spec, ins[i]))
                if sv.output:
                    keep.append(storage[nid])
                if sv.extra is not None:
                    for values, kind in sv.extra(a, node["in_shapes"], node["shape"]):
                        keep.append(self._new(values * b * self._extra_elt(kind, elt), nid))
                if self.autocast and spec.autocast == "lower" and node["params"] and any(rg[i] for i in ins):
                    keep.append(self._new(node["params"] * self.act, nid))  # the low-precision weight copy
            elif sv.extra is not None:  # made all the same by the op's kernel (max-pool's indices, dropout's
                # mask), dropped at once
                self.forward_extra[nid] = sum(values * b * self._extra_elt(kind, elt) for values, kind
                                              in sv.extra(a, node["in_shapes"], node["shape"]) if kind != "act")
            keeps[nid] = keep

    def _kept_input(self, nid: int, spec: ops.OpSpec, src: int) -> int:
        """The storage an op keeps of an input: the input itself, or under autocast its cast copy."""
        if self.autocast and spec.autocast == "lower" and self.elt[src] != self.act:
            return self._new(self.nbytes[src] // self.elt[src] * self.act, nid)
        return self.storage[src]

    def _extra_elt(self, kind: str, elt: int) -> int:
        if kind == "act":
            return elt
        if kind == "mask":
            return 1 if self.device == "cuda" else elt
        return _FIXED_BYTES[kind]

    # ---- forward
    def forward(self) -> tuple[int, int, int, int]:
        """(peak bytes, node at the peak, kept bytes at the peak, bytes alive at the end) of the
        activations in forward."""
        g = self.g
        heads = {self.net.output_node, *self.net.aux_outputs.values()}
        pending: dict[int, int] = {}  # storage -> forward uses still to come
        for nid in self.order:
            for i in g.nodes[nid]["inputs"]:
                pending[self.storage[i]] = pending.get(self.storage[i], 0) + 1
        kept = {s for ks in self.keeps.values() for s in ks} | {self.storage[h] for h in heads}
        live: set[int] = set()
        cur = peak = kept_now = kept_at = 0
        at = self.order[0] if self.order else self.net.input_node
        for nid in self.order:
            # each storage once: an op that keeps its own output (relu, sigmoid) lists it twice
            new = [s for s in dict.fromkeys([self.storage[nid], *self.keeps[nid]]) if s not in live and s in self.size]
            for s in new:
                live.add(s)
                cur += self.size[s]
                kept_now += self.size[s] if s in kept else 0
            fw = ops.REGISTRY[g.nodes[nid]["op"]].saves.forward_work
            extra = fw(g.nodes[nid]["args"], g.nodes[nid]["in_shapes"], g.nodes[nid]["shape"]) * self.batch * \
                self.elt[nid] if fw else 0
            extra += self.forward_extra.get(nid, 0)
            if cur + extra > peak:
                peak, at, kept_at = cur + extra, nid, kept_now
            for i in g.nodes[nid]["inputs"]:
                s = self.storage[i]
                pending[s] -= 1
                if pending[s] == 0 and s not in kept and s in live:
                    live.discard(s)
                    cur -= self.size[s]
            s = self.storage[nid]
            if pending.get(s, 0) == 0 and s not in kept and s in live:
                live.discard(s)
                cur -= self.size[s]
        self.live_after_forward = live
        return peak, at, kept_at, cur

    # ---- backward
    def backward(self, start: int) -> tuple[int, int, int, int, int]:
        """(peak, node, saved, param grads, transient at the peak) of backward, from `start` bytes
        of activations alive at the end of forward."""
        g = self.g
        holders: dict[int, int] = {}  # storage -> nodes whose backward still keeps it
        for ks in self.keeps.values():
            for s in ks:
                holders[s] = holders.get(s, 0) + 1
        live = set(self.live_after_forward)
        saved = start
        grads: dict[int, int] = {}  # tensor -> its gradient's bytes
        for h in {self.net.output_node, *self.net.aux_outputs.values()}:
            if self.rg[h]:
                grads[h] = self.nbytes[h]
        gbytes = sum(grads.values())
        # a gradient split into views (concat's, flatten's backward) is one storage: it is freed
        # when the last of its views has been used, not part by part
        group: dict[int, int] = {}  # tensor -> the tensor whose gradient storage its gradient views
        members: dict[int, list[int]] = {}  # that tensor -> [views still unused, bytes of the storage]
        pgrads = 0
        peak, at, at_saved, at_pgrads, at_trans = saved + gbytes, self.order[-1] if self.order else 0, saved, 0, gbytes
        for nid in reversed(self.order):
            if not self.rg[nid] or nid not in grads:
                continue
            node = g.nodes[nid]
            spec = ops.REGISTRY[node["op"]]
            view = spec.saves.grad_is_view(node["args"], node["in_shapes"])
            made = 0
            partial = 0
            ins = node["inputs"]
            if spec.saves.grad_inputs is not None:  # the others are read for their shape only
                ins = [ins[k] for k in spec.saves.grad_inputs]
            for i in dict.fromkeys(ins):
                if not self.rg[i]:
                    continue
                if i in grads:  # accumulated into the existing buffer
                    partial += self.nbytes[i]
                elif not view:
                    grads[i] = self.nbytes[i]
                    made += self.nbytes[i]
                else:
                    grads[i] = 0  # a view of the output's gradient
            if node.get("trainable", True):
                pgrads += node["params"] * self.full
            sv = spec.saves
            per_image = sv.work(node["args"], node["in_shapes"], node["shape"]) if sv.work else 0
            if sv.cpu_work and self.device == "cpu" and (not sv.cpu_work_needs_input_grad or any(
                    self.rg[i] for i in node["inputs"])):
                per_image += sv.cpu_work(node["args"], node["in_shapes"], node["shape"], self.batch)
            if sv.grad_reduce and (node["params"] and node.get("trainable", True) or any(
                    self.rg[i] and self.nbytes[i] < self.nbytes[nid] for i in node["inputs"])):
                per_image += ops.numel(node["shape"])
            work = per_image * self.batch * self.elt[nid]
            gbytes += made + partial + work
            if saved + gbytes + pgrads > peak:
                peak, at, at_saved, at_pgrads, at_trans = saved + gbytes + pgrads, nid, saved, pgrads, gbytes
            gbytes -= partial + work
            if view:  # the output's gradient lives on in the inputs' views
                share = grads.pop(nid)
                root = group.pop(nid, None)
                if root is None:
                    root, members[nid] = nid, [0, share]
                else:
                    members[root][0] -= 1
                total = sum(self.nbytes[j] for j in ins)
                for i in ins:
                    if self.rg[i] and grads.get(i) == 0:
                        grads[i] = share if spec.saves.grad_alias else share * self.nbytes[i] // max(1, total)
                        group[i] = root
                        members[root][0] += 1
                if members[root][0] == 0:  # no input takes a view: the storage goes
                    gbytes -= members.pop(root)[1]
            else:
                done = grads.pop(nid)
                root = group.pop(nid, None)
                if root is None:
                    gbytes -= done
                else:
                    members[root][0] -= 1
                    if members[root][0] == 0:
                        gbytes -= members.pop(root)[1]
            for s in self.keeps[nid]:
                holders[s] -= 1
                if holders[s] == 0 and s in live:
                    live.discard(s)
                    saved -= self.size[s]
        return peak, at, at_saved, at_pgrads, at_trans


def estimate(net: Net, batch: int = 1, dtype: str = "float32", optimizer: str = "sgd",
             device: str = "cuda", by_path: bool = False) -> Memory:
    """The memory of one training step of `net` (costed by `cost.analyze`); see the module doc.
    `by_path`: also the bytes of every module path (`Memory.by_path`, for `netdsl diff`)."""
    batch, dtype = check_batch(batch), dtype_name(dtype)
    if optimizer not in OPTIMIZER_STATES:
        raise UsageError(f"optimizer must be one of {', '.join(OPTIMIZER_STATES)}, found {optimizer!r}")
    if device not in DEVICES:
        raise UsageError(f"device must be one of {', '.join(DEVICES)}, found {device!r}")
    sim = _Step(net, batch, dtype, device)
    full = sim.full
    params = buffers = trainable = largest = 0
    for nid in sim.order:
        node = net.node(nid)
        spec = ops.REGISTRY[node["op"]]
        params += node["params"]
        buffers += spec.buffers(node["args"], node["in_shapes"], node["shape"])
        if node.get("trainable", True):
            trainable += node["params"]
            largest = max(largest, node["params"])
    pbytes, bbytes = params * full, buffers * full
    grads = trainable * full
    state = grads * OPTIMIZER_STATES[optimizer]
    resident = pbytes + bbytes + sim.nbytes[net.input_node] + state
    f_peak, f_at, f_kept, f_end = sim.forward()
    b_peak, b_at, b_saved, b_pgrads, b_trans = sim.backward(f_end)
    step_temp = largest * full if optimizer in ("adam", "adamw") else 0
    phases = [("forward", f_peak, f_at, f_kept, 0, f_peak - f_kept),
              ("backward", b_peak, b_at, b_saved, b_pgrads, b_trans),
              ("step", grads + step_temp, sim.order[-1] if sim.order else 0, 0, grads, step_temp)]
    phase, top, at, at_saved, at_grads, at_trans = max(phases, key=lambda p: p[1])
    return Memory(batch, dtype, optimizer, device, pbytes, bbytes, sim.nbytes[net.input_node], state, grads, f_end,
                  resident + top, phase, _where(net, at), at_saved, at_grads, at_trans,
                  _stages(net, sim, full, OPTIMIZER_STATES[optimizer]),
                  _by_path(net, sim, full, OPTIMIZER_STATES[optimizer]) if by_path else {})


def _where(net: Net, nid: int) -> str:
    """A layer as the report names it: its path, or the op in its block (`layer1.0: add`)."""
    node = net.node(nid)
    if node.get("path"):
        return node["path"]
    scope = node["scope"]
    while scope is not None and not scope.path:
        scope = scope.parent
    return f"{scope.path}: {node['op']}" if scope is not None else node["op"]


def _by_path(net: Net, sim: _Step, full: int, states: int) -> dict[str, int]:
    """Training bytes per module path: parameters (with gradients and optimizer state where they
    train) and the activations saved after the forward pass, of every layer inside it."""
    out: dict[str, int] = {}
    above: dict[int, tuple[str, ...]] = {}  # id(scope) -> the paths of it and the scopes around it

    def scope_paths(scope) -> tuple[str, ...]:
        key = id(scope)
        if key not in above:
            chain, s = [], scope
            while s is not None and id(s) not in above:
                chain.append(s)
                s = s.parent
            known = above[id(s)] if s is not None else ()
            for c in reversed(chain):
                known = (*known, c.path) if c.path and c.path not in known else known
                above[id(c)] = known
        return above[key]

    def add(nid: int, n: int) -> None:
        node = net.graph.nodes[nid]
        paths = scope_paths(node["scope"]) if node["scope"] is not None else ()
        own = node.get("path")
        for p in paths if not own or own in paths else (*paths, own):
            out[p] = out.get(p, 0) + n

    for nid in sim.order:
        node = net.node(nid)
        add(nid, node["params"] * full * ((2 + states) if node.get("trainable", True) else 1))
    for s in sim.live_after_forward:
        owner = sim.owner.get(s)
        if owner is not None:
            add(owner, sim.size[s])
    return out


def _stages(net: Net, sim: _Step, full: int, states: int) -> list[StageMemory]:
    """Per top-level member of the network: parameters, gradients, optimizer state, saved bytes."""
    top: dict[int, StageMemory] = {}
    out: list[StageMemory] = []
    for mem in net.root.members:
        while isinstance(mem, Scope) and mem.collapsed_to is not None:
            mem = mem.collapsed_to
        if isinstance(mem, Scope):
            st = StageMemory(mem.path or mem.label)
            nodes = list(mem.nodes())
        else:
            st = StageMemory(net.node(mem).get("path") or net.node(mem)["op"])
            nodes = [mem]
        out.append(st)
        for n in nodes:
            top[n] = st
    for nid in sim.order:
        st = top.get(nid)
        if st is None:
            continue
        node = net.node(nid)
        st.params += node["params"] * full
        if node.get("trainable", True):
            st.grads += node["params"] * full
            st.optimizer += node["params"] * full * states
    for s in sim.live_after_forward:
        st = top.get(sim.owner.get(s))
        if st is not None:
            st.saved += sim.size[s]
    return out
