"""Cost: parameters, multiply-accumulates and memory of every layer, block and network.

Conventions (stated in `netdsl check`'s output):

* MACs count the multiply-adds of convolution and linear layers (the convention of the papers
  and of torchvision's GFLOPS figures); FLOPs = 2 x MACs.
* `activations` counts the output values of conv and linear layers for one image (timm's
  convention).
* Activation memory is every layer's output for a batch in the given dtype. The training
  estimate (weights, gradients, optimizer state, the tensors autograd saves, the peak of
  backward) is `memory.py`'s, through `Report.memory`.
* Train-time side outputs (`aux`) are excluded from the inference totals and listed apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import memory, ops
from .ir import Net, Scope, gc_paused
from .memory import DTYPE_BYTES, OPTIMIZER_STATES  # noqa: F401 - the figures' units, for report, budget, diff


def _is_aux(scope: Scope | None) -> bool:
    while scope is not None:
        if scope.aux:
            return True
        scope = scope.parent
    return False


@dataclass
class Totals:
    params: int = 0
    trainable: int = 0
    macs: int = 0
    activations: int = 0  # conv + linear outputs (timm's convention)
    outputs: int = 0  # every layer's output values
    layers: int = 0

    def add(self, node: dict) -> None:
        self.params += node["params"]
        self.trainable += node["params"] if node["trainable"] else 0
        self.macs += node["macs"]
        self.activations += node["activations"]
        self.outputs += node["out_numel"]
        self.layers += 1

    def merge(self, other: Totals) -> None:
        for f in ("params", "trainable", "macs", "activations", "outputs", "layers"):
            setattr(self, f, getattr(self, f) + getattr(other, f))


@dataclass
class Report:
    net: Net
    total: Totals
    aux: dict[str, Totals] = field(default_factory=dict)

    @property
    def frozen(self) -> int:
        return self.total.params - self.total.trainable

    def activation_bytes(self, batch: int = 1, dtype: str = "float32") -> int:
        return self.total.outputs * memory.check_batch(batch) * DTYPE_BYTES[memory.dtype_name(dtype)]

    def memory(self, batch: int = 1, dtype: str = "float32", optimizer: str = "sgd",
               device: str = "cuda", by_path: bool = False) -> memory.Memory:
        """The training-memory estimate of one step (train-only outputs included; see memory.py);
        `by_path`: with the bytes of every module path (`Memory.by_path`)."""
        with gc_paused():  # its simulation makes a few objects per layer, all alive to the end
            return memory.estimate(self.net, batch, dtype, optimizer, device, by_path)

    def training_bytes(self, batch: int = 1, dtype: str = "float32", optimizer: str = "sgd",
                       device: str = "cuda") -> int:
        """Peak bytes of one training step (`memory(...).peak`)."""
        return self.memory(batch, dtype, optimizer, device).peak


def analyze(net: Net) -> Report:
    """Annotate every node with params / macs / activations and total them."""
    nodes = net.graph.nodes
    total = Totals()
    aux: dict[str, Totals] = {}
    registry = ops.REGISTRY
    numel = ops.numel
    aux_of: dict[int, str | None] = {}  # per scope (by id): the label of the `aux` stage it lies in, if any
    input_node = net.input_node
    params = macs = activations = outputs = layers = trainable = 0
    for nid, node in nodes.items():
        if nid == input_node:
            continue
        spec = registry[node["op"]]
        args, ins, out = node["args"], node["in_shapes"], node["shape"]
        p = node["params"] = spec.params(args, ins, out)
        m = node["macs"] = spec.macs(args, ins, out)
        o = node["out_numel"] = numel(out)
        a = node["activations"] = spec.activations(args, ins, out)
        t = node.setdefault("trainable", True)
        scope = node["scope"]
        key = id(scope)
        if key in aux_of:
            aux_name = aux_of[key]
        else:
            aux_name = None
            s = scope
            while s is not None:
                if s.aux:
                    aux_name = s.label
                    break
                s = s.parent
            aux_of[key] = aux_name
        if aux_name is None:
            node["aux"] = False
            params += p
            trainable += p if t else 0
            macs += m
            activations += a
            outputs += o
            layers += 1
        else:
            node["aux"] = True
            aux.setdefault(aux_name, Totals()).add(node)
    total = Totals(params, trainable, macs, activations, outputs, layers)
    return Report(net, total, aux)


def scope_totals(net: Net, scope: Scope) -> Totals:
    t = Totals()
    for nid in scope.nodes():
        t.add(net.node(nid))
    return t
