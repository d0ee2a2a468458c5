"""The PyTorch back end on every zoo network (parametrized over networks/, so new files are covered).

`netdsl.load` must be the network `netdsl.check` describes: the same parameters (trainable and
frozen), half the FLOPs that torch counts equal to check's MACs, the shapes check prints seen by
forward hooks in a real forward, and a forward that computes what the IR's graph means: every node
evaluated independently with torch.nn.functional from its op and arguments (tests/reference/
functional.py), with the model's weights and non-trivial batch-norm statistics.

(`netdsl.load` executes exactly the text `netdsl.compile` returns, so comparing the two proves
nothing; the generated text is pinned by tests/test_codegen.py.)
"""

from __future__ import annotations

import functools
import sys

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import netdsl
from netdsl import lower, ops
from netdsl.errors import NetdslError

try:  # tests/ on sys.path (pytest's rootdir-relative import of a non-package tests/)
    from reference import port
    from reference.functional import interpret
    from zoo import COURSE, FORWARD
except ImportError:  # tests/ is a package
    from tests.reference import port
    from tests.reference.functional import interpret
    from tests.zoo import COURSE, FORWARD

ZOO = list(COURSE)  # the course's networks (tests/zoo.py)
META = torch.device("meta")


@functools.cache
def report(name: str, shape: tuple | None = None):
    return netdsl.check(name, input_shape=shape)


@functools.cache
def small_shape(name: str) -> tuple[int, ...]:
    """The smallest square input the network accepts (a fast real forward), else its own."""
    shape = report(name).net.input_shape
    if len(shape) != 3:
        return tuple(shape)
    for side in (32, 64, 96, 128, 160, 224):
        if side > shape[1]:
            break
        try:
            report(name, (shape[0], side, side))
            return (shape[0], side, side)
        except NetdslError:
            continue
    return tuple(shape)


def expected_totals(r) -> tuple[int, int]:
    """Parameters and trainable parameters of the module: the network plus its train-only outputs."""
    params = r.total.params + sum(a.params for a in r.aux.values())
    trainable = r.total.trainable + sum(a.trainable for a in r.aux.values())
    return params, trainable


def randomize_state(model: torch.nn.Module, seed: int = 1) -> torch.nn.Module:
    """Weights with He's scale (activations keep their size, so that e.g. relu6's clipping at 6 is
    reached) and batch-norm statistics and affine parameters that are not the identity, so that an
    eps, a statistic or an affine flag lowered wrongly changes the output."""
    g = torch.Generator().manual_seed(seed)
    port.init_weights(model, g)
    port.randomize_batchnorm(model, g, only_batchnorm=False)
    return model


def assert_matches_graph(model: torch.nn.Module, net, x: torch.Tensor) -> None:
    """The model's eval-mode forward computes the IR's graph (tests/reference/functional.py)."""
    model.eval()
    with torch.no_grad():
        got = model(x.clone())
    want = interpret(model, net, x.clone())[net.output_node]
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5 * float(want.abs().max()))
    assert float(want.std()) > 0, "a degenerate output"


def exec_source(source: str) -> dict:
    namespace: dict = {"__name__": "netdsl_compiled_under_test"}
    exec(compile(source, "<compiled>", "exec"), namespace)  # noqa: S102 - the text under test
    return namespace


# ------------------------------------------------------------------------ counts (meta tensors)


@pytest.mark.parametrize("name", ZOO)
def test_parameters_equal_check(name):
    r = report(name)
    model = netdsl.load(name, device="meta")
    params = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert (params, trainable) == expected_totals(r)


@pytest.mark.parametrize("name", ZOO)
def test_half_the_counted_flops_equal_check_macs(name):
    r = report(name)
    model = netdsl.load(name, device="meta").eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        out = model(torch.zeros(1, *r.net.input_shape, device=META))
    assert counter.get_total_flops() == 2 * r.total.macs
    assert tuple(out.shape) == (1, *r.net.node(r.net.output_node)["shape"])


# ------------------------------------------------------------------------ a real forward


@pytest.mark.parametrize("name", FORWARD)
def test_real_forward_shapes_and_graph(name):
    """At a reduced input size: (1) forward hooks on every named module see the shapes check
    printed; (2) the eval forward computes what the IR's graph means (an independent functional
    evaluation of every node, non-trivial batch-norm statistics)."""
    shape = small_shape(name)
    r = report(name, shape)
    net = r.net
    torch.manual_seed(0)
    model = netdsl.load(name, input_shape=shape)

    # (1) shapes, in a training forward (train-only outputs run too)
    expected: dict[str, list] = {}
    for s in net.root.scopes():
        if s.module and s.path and s.output is not None:
            expected.setdefault(s.path, []).append(net.node(s.output)["shape"])
    for nid in net.op_nodes():
        node = net.node(nid)
        if node["op"] == "shortcut":
            if node.get("path") and ops.shortcut_plan(node["args"], node["in_shapes"]):
                for sub in ("", ".0", ".1"):  # the projection: nn.Sequential(conv 1x1, bn)
                    expected.setdefault(node["path"] + sub, []).append(node["shape"])
        elif node.get("path"):
            expected.setdefault(node["path"], []).append(node["shape"])
    seen: dict[str, list] = {}
    hooks = [m.register_forward_hook(lambda mod, args, out, p=p: seen.setdefault(p, []).append(tuple(out.shape[1:])))
             for p, m in model.named_modules() if p]
    x = torch.randn(2, *shape)
    with torch.no_grad():
        out = model.train()(x)
    for h in hooks:
        h.remove()
    main = out[0] if isinstance(out, tuple) else out
    assert tuple(main.shape[1:]) == net.node(net.output_node)["shape"]
    assert seen, "no module ran"
    for path, shapes in seen.items():
        assert path in expected, f"{path} is not in the IR"
        if len(set(expected[path])) == 1:  # a shared stateless module (relu) may run more often
            assert set(shapes) == set(expected[path]), path
        else:
            assert shapes == expected[path], path
    for path in expected:  # every module with parameters ran
        if _has(model, path) and any(p.numel() for p in model.get_submodule(path).parameters()):
            assert path in seen, f"{path} did not run"

    # (2) the forward is the IR's graph
    assert_matches_graph(randomize_state(model), net, x)


def _has(model, path: str) -> bool:
    try:
        model.get_submodule(path)
        return True
    except AttributeError:
        return False


# ------------------------------------------------------------------------ names and modes


def test_state_dict_keys_are_torchvisions():
    resnet = netdsl.load("resnet50", device="meta").state_dict()
    for key, shape in {"conv1.weight": (64, 3, 7, 7), "bn1.running_mean": (64,),
                       "layer1.0.downsample.0.weight": (256, 64, 1, 1), "layer1.0.downsample.1.running_var": (256,),
                       "layer3.4.conv2.weight": (256, 256, 3, 3), "layer4.2.bn3.running_var": (2048,),
                       "fc.weight": (1000, 2048), "fc.bias": (1000,)}.items():
        assert tuple(resnet[key].shape) == shape, key
    assert "layer1.1.downsample.0.weight" not in resnet and "layer2.1.downsample.0.weight" not in resnet
    assert len(resnet) == 320  # as torchvision's resnet50().state_dict()
    vgg = netdsl.load("vgg16", device="meta").state_dict()
    for key, shape in {"features.0.weight": (64, 3, 3, 3), "features.28.bias": (512,),
                       "classifier.0.weight": (4096, 25088), "classifier.6.bias": (1000,)}.items():
        assert tuple(vgg[key].shape) == shape, key
    assert len(vgg) == 32


def test_meta_device_allocates_nothing():
    model = netdsl.load("vgg19", device="meta")
    tensors = [*model.parameters(), *model.buffers()]
    assert tensors and all(t.is_meta for t in tensors)
    assert sum(p.numel() for p in model.parameters()) == 143_667_240


def test_googlenet_aux_outputs_in_training_only():
    model = netdsl.load("googlenet", device="meta")
    x = torch.zeros(2, 3, 224, 224, device=META)
    with torch.no_grad():
        out = model.train()(x)
        assert isinstance(out, tuple) and out._fields == ("logits", "aux2", "aux1")  # torchvision's order
        assert [tuple(o.shape) for o in out] == [(2, 1000)] * 3
        out = model.eval()(x)
    assert isinstance(out, torch.Tensor) and tuple(out.shape) == (2, 1000)


def test_frozen_parameters_do_not_train(tmp_path):
    p = tmp_path / "flowers.net"
    p.write_text("network flowers(classes=5)\nextends resnet18\nreplace fc = linear classes\nfreeze * except fc\n")
    model = netdsl.load(p, device="meta")
    assert {n for n, q in model.named_parameters() if q.requires_grad} == {"fc.weight", "fc.bias"}


def test_network_parameters_are_constructor_arguments():
    ns = exec_source(netdsl.compile("resnet50"))
    with META:
        model = ns["resnet50"](classes=10)
    assert sum(p.numel() for p in model.parameters()) == netdsl.check("resnet50", classes=10).total.params
    loaded = netdsl.load("resnet50", classes=10, device="meta")
    assert loaded.fc.out_features == 10 and type(loaded).__init__.__defaults__ == (10,)
    ns = exec_source(netdsl.compile("googlenet"))
    with META:
        g = ns["GoogLeNet"](classes=7)
    assert g.aux1.fc2.out_features == g.aux2.fc2.out_features == g.fc.out_features == 7
    ns = exec_source(netdsl.compile("vgg16"))
    with META:
        v = ns["VGG16"](classes=3, dropout=0.25)
    assert v.classifier[2].p == 0.25 and v.classifier[6].out_features == 3


def test_a_parameter_that_changes_the_structure_is_compiled_in():
    # at w=8 the shortcut is an identity; at any other w it would need a projection
    text = "network n(w=8, classes=4)\nconv 3x3 p1 x8\nresidual<3x3:w > 3x3:w>\ngap; flatten\nlinear classes\n"
    source = netdsl.compiles(text, input_shape=(3, 8, 8))
    assert "def __init__(self, w: int = 8, classes: int = 4) -> None:" in source
    ns = exec_source(source)
    model = ns["N"](classes=6).eval()
    assert model(torch.zeros(1, 3, 8, 8)).shape == (1, 6)
    with pytest.raises(ValueError, match=r"w=8 is compiled into this structure.*-D w="):
        ns["N"](w=16)


def test_a_width_that_keeps_every_shortcut_an_identity_is_an_argument():
    # the residual's input and output are both w wide whatever w is: no projection at any value
    text = "network n(w=8, classes=4)\nconv 3x3 p1 out=w\nresidual<3x3:w > 3x3:w>\ngap; flatten\nlinear classes\n"
    ns = exec_source(netdsl.compiles(text, input_shape=(3, 8, 8)))
    with META:
        model = ns["N"](w=16, classes=6)
    want = netdsl.checks(text, input_shape=(3, 8, 8), w=16, classes=6).total.params
    assert sum(p.numel() for p in model.parameters()) == want


def test_inplace_activation_never_overwrites_a_shared_tensor():
    # pre-activation residual: the relu's input is also the shortcut's input
    text = "define pre(c) = residual<bn > relu > 3x3:c > bn > relu > 3x3:c>\nconv 3x3 p1 x8\npre(8) x2\n"
    r = netdsl.checks(text, input_shape=(3, 8, 8))
    torch.manual_seed(0)
    model = randomize_state(netdsl.loads(text, input_shape=(3, 8, 8)))
    assert_matches_graph(model, r.net, torch.randn(2, 3, 8, 8))


def test_lowering_does_not_import_torch():
    import subprocess

    code = ("import sys, netdsl; from netdsl import lower, codegen\n"
            "codegen.generate(netdsl.check('googlenet'))\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_code_model_is_torch_free_data():
    model = lower.lower(netdsl.check("resnet18"))
    assert model.network.name == "ResNet18" and [c.name for c in model.classes] == ["Basic"]
    assert [p.name for p in model.classes[0].params] == ["in_channels", "c", "s"]


def test_train_only_output_inside_a_stage():
    text = "conv 3x3 p1 x8\nstage = { conv 3x3 p1 x8; aux a = gap > flatten > linear 10; conv 3x3 p1 x8 }\n" \
           "gap; flatten; linear 5\n"
    model = netdsl.loads(text, input_shape=(3, 16, 16))
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        out = model.train()(x)
        assert out._fields == ("logits", "a") and out.a.shape == (2, 10) and out.logits.shape == (2, 5)
        assert model.eval()(x).shape == (2, 5)


def test_feature_vector_input():
    text = "input 64\nlinear 32 bn act=relu > dropout 0.1 > linear 10 > bn affine=false\n"
    r = netdsl.checks(text)
    model = netdsl.loads(text).eval()
    assert isinstance(model.bn1, torch.nn.BatchNorm1d) and model(torch.randn(3, 64)).shape == (3, 10)
    assert sum(p.numel() for p in model.parameters()) == r.total.params


# ------------------------------------------------------------------------ random networks

_DEFINES = """define blk(c, s=1) = residual<3x3/s:c > 3x3:c act=none> > relu
define inc(a, b) = inception<1x1:a | 1x1:b > 3x3:a | pool 3x3/1 p1 > 1x1:b>
define se(c, r=4) = mul<id | gap > conv 1x1 out=(c/r) > relu > conv 1x1 out=c > sigmoid>
define dl(k) = concat<id | bn > relu > 1x1:(2*k) > bn > relu > 3x3:k>
define frac(c, n) = if n == 1 then 3x3:c else mean<3x3:c | frac(c, n-1) > frac(c, n-1)>
define sep(c, k, s=1) = relu > dw k/s padding=same > 1x1:c > bn
define pre(c) = residual<bn > relu > 3x3:c > bn > relu > 3x3:c>
define cell2(c, h, p) = add<h > 3x3:c | p > 1x1:c>
define dp(c) = residual(droppath=0.2)<3x3:c > 3x3:c>
define jn(c) = join(droppath=0.15, global_droppath=0.5)<3x3:c | 3x3:c > 3x3:c>
define hd(k) = gap > flatten > linear k
define wide(c, w=2) = 1x1:(c*w) > 3x3:(c*w) > 1x1:c
define trn = bn > relu > conv 1x1 ratio=0.5 > avgpool 2/2
"""


def _random_network(rng) -> str:
    """A random valid network mixing every construct (grown a statement at a time, each checked)."""
    lines = [f"network n(classes={rng.choice([3, 10])}, w={rng.choice([4, 8])})", "input 3x16x16",
             rng.choice(["defaults conv bias=false bn act=relu", ""]),
             rng.choice(["init kaiming", "init vgg", "init googlenet", ""]), _DEFINES, "s0 = conv 3x3 p1 x8"]
    ch = 8
    for i in range(rng.randint(1, 6)):
        for _ in range(4):
            c = rng.choice([4, 8, 12])
            st = rng.choice([
                f"conv 3x3/{rng.choice([1, 2])} p1 out=(w*{rng.choice([1, 2])})", f"blk({c}, s={rng.choice([1, 2])})",
                f"blk({c}) x{rng.choice([2, 3])}", f"inc({rng.choice([2, 4])}, {rng.choice([2, 6])})", f"se({ch})",
                f"dl({rng.choice([2, 4])}) x{rng.choice([1, 3])}", f"frac({c}, {rng.choice([1, 2, 3])})",
                f"sep({c}, {rng.choice([3, 5])}, {rng.choice([1, 2])})", f"pre({ch})", f"dp({ch})", f"jn({c})",
                f"wide({c})", "trn", "pool 2/2 ceil", "avgpool 3x3/1 p1", "dropout 0.5", "relu6",
                f"residual<3x3:{ch} > relu> x2", f"add<id | 3x3:{ch}> > sigmoid",
                f"concat<3x3:{c} | id | pool 3x3/1 p1>",
            ])
            st = (f"st{i} = " if rng.random() < 0.3 else "") + st
            extra = [f"aux a{i} = hd(classes)"] if rng.random() < 0.15 else []
            try:
                r = netdsl.checks("\n".join([*lines, st, *extra]) + "\n")
            except NetdslError:
                continue
            lines += [st, *extra]
            ch = r.net.node(r.net.output_node)["shape"][0]
            break
    if rng.random() < 0.3:  # a cell taking two tensors, when their sizes allow it
        cell = ["t1 = conv 3x3 p1 x8", "cell = cell2(8, t1, s0)"]
        try:
            netdsl.checks("\n".join([*lines, *cell]) + "\n")
            lines += cell
        except NetdslError:
            pass
    heads = ["gap; flatten; linear classes", "hd(classes)", "gap; flatten; dropout 0.2 > linear classes"]
    lines.append(rng.choice(heads))
    return "\n".join(lines) + "\n"


def test_random_networks():
    """Random networks: load() equals check() and computes the IR's graph."""
    import random

    from hypothesis import given, note, settings
    from hypothesis import strategies as st

    @settings(max_examples=12, deadline=None, derandomize=True, database=None)
    @given(st.integers(0, 2**32))
    def check_one(seed):
        text = _random_network(random.Random(seed))
        note(text)
        r = netdsl.checks(text)
        torch.manual_seed(0)
        model = netdsl.loads(text)
        assert (sum(p.numel() for p in model.parameters()),
                sum(p.numel() for p in model.parameters() if p.requires_grad)) == expected_totals(r)
        x = torch.randn(2, 3, 16, 16)
        with torch.no_grad():
            model.train()(x)
        assert_matches_graph(randomize_state(model), r.net, x)

    check_one()


def test_repeated_load_reuses_code_only_for_identical_input(tmp_path):
    """The source cache of build_module is keyed on every input that shapes the IR."""
    p = tmp_path / "net.net"
    p.write_text("conv 3x3 p1 x8\ngap; flatten\nlinear 4\n")
    a = netdsl.load(p, input_shape=(3, 8, 8))
    p.write_text("conv 3x3 p1 x16\ngap; flatten\nlinear 4\n")  # same name, new text
    b = netdsl.load(p, input_shape=(3, 8, 8))
    assert a.conv1.out_channels == 8 and b.conv1.out_channels == 16
    (tmp_path / "inc.net").write_text("define blk(c) = 3x3:c\n")
    q = tmp_path / "main.net"
    q.write_text('include "inc.net"\nblk(4)\n')
    c = netdsl.load(q, input_shape=(3, 8, 8))
    (tmp_path / "inc.net").write_text("define blk(c) = 3x3:c > 1x1:c\n")  # only the include changes
    d = netdsl.load(q, input_shape=(3, 8, 8))
    assert sum(p.numel() for p in d.parameters()) > sum(p.numel() for p in c.parameters())
    e = netdsl.load("resnet18", classes=7, device="meta")
    assert e.fc.out_features == 7


STAGES = """network n(classes=4)
define block(c) = residual<3x3:c > bn > relu > 3x3:c>
define stage(c, n) = block(c) * n
stage(8, 3)
conv 3x3/2 p1 x16
stage(16, 4)
gap; flatten; linear classes
"""


def test_a_repeat_counted_by_a_define_argument_is_a_loop():
    """`block(c) * n` in a define: one class whose constructor builds n blocks, for any n, with the
    keys and parameters of the network written with that n."""
    source = netdsl.compiles(STAGES, input_shape=(3, 16, 16))
    assert source.count("class Stage(") == 1 and "class Stage2" not in source
    assert '            self.add_module(f"block{i}", Block(c, c))' in source.splitlines()
    ns = exec_source(source)
    with META:
        stage = ns["Stage"](8, 8, 6)
    assert list(dict.fromkeys(k.split(".")[0] for k in stage.state_dict())) == [f"block{i}" for i in range(1, 7)]
    six = netdsl.checks(STAGES.replace("stage(8, 3)", "stage(8, 6)"), input_shape=(3, 16, 16))
    three = netdsl.checks(STAGES, input_shape=(3, 16, 16))
    block = (3 * 3 * 8 * 8 + 8) * 2 + 2 * 8  # two 3x3 convs with bias, one batch norm
    assert six.total.params - three.total.params == 3 * block
    assert sum(p.numel() for p in stage.parameters()) == 6 * block


def test_a_network_parameter_read_in_a_define_is_a_keyword_argument():
    text = ("network n(w=2, classes=4)\ndefine blk(c) = 1x1:(w*c) > relu > 1x1:c\n"
            "conv 3x3 p1 x8\nblk(8)\ngap; flatten; linear classes\n")
    source = netdsl.compiles(text, input_shape=(3, 8, 8))
    assert "    def __init__(self, in_channels: int, c: int, *, w: int) -> None:" in source
    ns = exec_source(source)
    with META:
        model = ns["N"](w=3)
    assert sum(p.numel() for p in model.parameters()) == netdsl.checks(text, input_shape=(3, 8, 8), w=3).total.params


def test_defaults_of_bn_and_the_activation_reach_fused_layers_and_projections():
    """`defaults bn eps=...` applies to every batch norm: written alone, fused (`conv ... bn`) and in
    a residual's projection; `defaults leaky_relu slope=...` to a fused `act=leaky_relu`."""
    text = ("defaults conv bias=false bn act=leaky_relu\ndefaults bn eps=1e-3 momentum=0.01\n"
            "defaults leaky_relu slope=0.2\nconv 3x3 p1 x8\nresidual<3x3/2:16 > 3x3:16>\nbn\ngap; flatten; linear 4\n")
    model = netdsl.loads(text, input_shape=(3, 8, 8), device="meta")
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    acts = [m for m in model.modules() if isinstance(m, torch.nn.LeakyReLU)]
    assert len(bns) == 5 and all((m.eps, m.momentum) == (1e-3, 0.01) for m in bns)
    assert acts and all(m.negative_slope == 0.2 for m in acts)
    text = text.replace("eps=1e-3 momentum=0.01", "affine=false")
    model = netdsl.loads(text, input_shape=(3, 8, 8), device="meta")
    assert sum(p.numel() for p in model.parameters()) == netdsl.checks(text, input_shape=(3, 8, 8)).total.params
    assert not any(m.affine for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
