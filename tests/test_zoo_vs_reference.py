"""Differential tests: zoo networks against the hand-written PyTorch references (tests/reference).

Per network: total parameters and MACs (FlopCounterMode on the meta device) equal netdsl's, and
stage by stage the reference modules (found with forward hooks) have netdsl's output shapes and
parameter counts.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

import netdsl  # noqa: E402
from netdsl.cost import scope_totals  # noqa: E402

try:  # tests/ on sys.path (pytest's rootdir-relative import of a non-package tests/)
    from reference import more
except ImportError:  # tests/ is a package
    from tests.reference import more


def _reference(name: str) -> tuple[nn.Module, tuple[int, int, int]]:
    builder, shape, _, _ = more.REFERENCE_MORE[name]
    with torch.device("meta"):
        model = builder()
    return model.eval(), shape


def _params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _run(model: nn.Module, shape, watched: list[nn.Module]) -> tuple[int, list[tuple[int, ...]]]:
    """MACs of one eval forward of a batch of 1, and the output shapes (C, H, W) of the watched
    modules in call order (a module called several times reports every call)."""
    seen: list[tuple[int, ...]] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: seen.append(tuple(out.shape[1:]))) for m in watched]
    try:
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            model(torch.zeros((1, *shape), device="meta"))
    finally:
        for h in hooks:
            h.remove()
    return counter.get_total_flops() // 2, seen


def _scopes(report, define: str | None = None, names: list[str] | None = None):
    """Scopes of the expansion, in order: the instances of a define, or the named stages."""
    out = []
    for s in report.net.root.scopes():
        if define is not None and s.kind == "define" and s.define == define:
            out.append(s)
        elif names is not None and s.kind == "named" and s.label in names and s.parent is report.net.root:
            out.append(s)
    if names is not None:
        out.sort(key=lambda s: names.index(s.label))
    return out


def _stages(report, scopes) -> tuple[list[tuple[int, ...]], list[int]]:
    net = report.net
    return ([net.node(s.output)["shape"] for s in scopes], [scope_totals(net, s).params for s in scopes])


def _totals_match(name: str, model: nn.Module, macs: int) -> None:
    r = netdsl.check(name)
    assert r.total.params == _params(model) == more.REFERENCE_MORE[name][2]
    assert r.total.macs == macs == more.REFERENCE_MORE[name][3]


def test_wrn28_10_blocks_match_reference():
    model, shape = _reference("wrn28_10")
    blocks = list(model.blocks)
    macs, seen = _run(model, shape, [model.conv1, *blocks])
    _totals_match("wrn28_10", model, macs)
    r = netdsl.check("wrn28_10")
    ours = [s for s in r.net.root.scopes() if s.kind == "define" and s.define in ("first_block", "wide_block")]
    shapes, params = _stages(r, _scopes(r, names=["conv1"]) + ours)
    assert len(ours) == 12
    assert shapes == seen
    assert params == [_params(model.conv1)] + [_params(b) for b in blocks]
    # the first block of each group projects its (pre-activated) input with a 1x1 convolution
    assert [b.shortcut is not None for b in blocks] == [s.define == "first_block" for s in ours]


def test_wrn28_10_dropout_option():
    r = netdsl.check("wrn28_10", dropout=0.3)
    drops = [r.net.node(n)["args"]["p"] for n in r.net.op_nodes() if r.net.node(n)["op"] == "dropout"]
    assert drops == [0.3] * 12
    assert r.total.params == more.REFERENCE_MORE["wrn28_10"][2]


def test_mobilenet_v2_blocks_match_reference():
    model, shape = _reference("mobilenet_v2")
    feats = list(model.features)
    macs, seen = _run(model, shape, feats)
    _totals_match("mobilenet_v2", model, macs)
    r = netdsl.check("mobilenet_v2")
    blocks = _scopes(r, define="inverted")
    assert len(blocks) == 17
    shapes, params = _stages(r, blocks)
    assert shapes == seen[1:18]
    assert params == [_params(m) for m in feats[1:18]]
    # residual connections exactly where torchvision has them (stride 1, in == out channels)
    residual = [any(c.kind == "block" and c.label == "residual" for c in s.scopes()) for s in blocks]
    assert residual == [m.use_res_connect for m in feats[1:18]]
    # the t = 1 block has no expansion convolution
    net = r.net
    first = [net.node(n)["op"] for n in blocks[0].nodes()]
    assert first.count("conv") + first.count("dw") == 2 == sum(isinstance(m, nn.Conv2d) for m in feats[1].modules())
    assert net.node(net.output_node)["shape"] == (1000,)


def test_fractalnet_blocks_match_reference():
    model, shape = _reference("fractalnet")
    macs, seen = _run(model, shape, [model.pool])  # the shared pool ends every block
    _totals_match("fractalnet", model, macs)
    r = netdsl.check("fractalnet")
    names = [f"block{i}" for i in range(1, 6)]
    shapes, params = _stages(r, _scopes(r, names=names))
    assert shapes == seen
    assert params == [_params(b) for b in model.blocks]


def test_fractalnet_joins_are_flat_and_numbered_by_column():
    r = netdsl.check("fractalnet")
    net = r.net
    joins = [net.node(n) for n in net.op_nodes() if net.node(n)["op"] == "join"]
    # per block: step 2 joins columns 1 and 2, step 4 joins all three (the reference's _join)
    assert [j["args"]["columns"] for j in joins] == [(1, 2), (0, 1, 2)] * 5
    assert all(j["args"]["droppath"] == 0.15 and j["args"]["global_droppath"] == 0.5 for j in joins)
    # columns as in the reference: column c is a chain of 2**c convolutions
    ref = more.FractalBlock(3, 8)
    assert [len(col) for col in ref.columns] == [1, 2, 4]
    last = joins[1]

    def convs_back(nid: int) -> int:  # convolutions on the path back to the previous join or the input
        n, count = nid, 0
        while net.node(n)["op"] not in ("join", "input"):
            count += net.node(n)["op"] == "conv"
            n = net.node(n)["inputs"][0]
        return count

    # block 1's final join: column 0 is one conv from the block input; column 1's last stretch is
    # one conv after join 1; column 2's is two convs after join 1
    assert [convs_back(i) for i in last["inputs"]] == [1, 1, 2]
    # one module per fractal block: the recursive expansion is inlined into it
    paths = [net.node(n)["path"] for n in net.op_nodes() if net.node(n)["op"] == "conv"]
    assert paths[:7] == [f"block1.fractal.conv{i}" for i in range(1, 8)]


def test_nasnet_a_mobile_cells_match_reference():
    model, shape = _reference("nasnet_a_mobile")
    cells = [model.cell_stem_0, model.cell_stem_1, *model.cells]
    macs, seen = _run(model, shape, [model.conv0, *cells])
    _totals_match("nasnet_a_mobile", model, macs)
    r = netdsl.check("nasnet_a_mobile")
    names = ["conv0", "cell_stem_0", "cell_stem_1", "cell_0", "cell_1", "cell_2", "cell_3", "reduction_cell_0",
             "cell_6", "cell_7", "cell_8", "cell_9", "reduction_cell_1", "cell_12", "cell_13", "cell_14", "cell_15"]
    shapes, params = _stages(r, _scopes(r, names=names))
    assert shapes == seen
    assert params == [_params(m) for m in (model.conv0, *cells)]
    assert shapes[-1] == (1056, 7, 7)


def test_nasnet_a_mobile_builds_small():
    r = netdsl.check("nasnet_a_mobile", input_shape=(3, 64, 64))
    assert r.total.params == more.REFERENCE_MORE["nasnet_a_mobile"][2]
    model, _ = _reference("nasnet_a_mobile")
    _, seen = _run(model, (3, 64, 64), [model.cells[-1]])
    cell_15 = _scopes(r, names=["cell_15"])[0]
    assert r.net.node(cell_15.output)["shape"] == seen[0]
