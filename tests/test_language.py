"""Language features, each checked against a hand-computed parameter count."""

import pytest

import netdsl
from netdsl.errors import NetdslError


def conv(cin, cout, k, bias=True):
    return cin * cout * k * k + (cout if bias else 0)


def params(text, shape=(3, 32, 32), **kw):
    return netdsl.checks(text, input_shape=shape, **kw)


def test_recursive_define_with_base_case():
    r = params("defaults conv bias=false bn act=relu\n"
               "define fractal(c, n) = if n == 1 then 3x3:c else mean<3x3:c | fractal(c, n-1) > fractal(c, n-1)>\n"
               "fractal(64, 3)\n")
    # f3 = join(conv, f2(f2)); f2 = join(conv, f1(f1)); 1 + 2*(1 + 2) = 7 convs, the first of each column sees 3 ch
    convs_3 = 3  # every column's first conv reads the 3 input channels
    total = convs_3 * (conv(3, 64, 3, False) + 128) + 4 * (conv(64, 64, 3, False) + 128)
    assert r.total.params == total


def test_recursion_without_base_case_is_limited():
    with pytest.raises(NetdslError) as e:
        params("define f(n) = f(n)\nf(1)\n")
    assert "base case" in str(e.value)


def test_dense_connectivity_with_identity_branch():
    r = params("defaults conv bias=false\n"
               "define dense_layer(k) = concat<id | bn > relu > 1x1:(4*k) > bn > relu > 3x3:k>\n"
               "conv 3x3 p1 x64\nblock = dense_layer(32) x3\n")
    cin = 64
    expected = conv(3, 64, 3, False)
    for _ in range(3):
        expected += 2 * cin + conv(cin, 128, 1, False) + 2 * 128 + conv(128, 32, 3, False)
        cin += 32
    assert r.total.params == expected
    assert r.net.node(r.net.output_node)["shape"] == (64 + 3 * 32, 32, 32)


def test_channel_attention_broadcast_multiply():
    r = params("define se(c, r=16) = mul<id | gap > conv 1x1 out=(c/r) > relu > conv 1x1 out=c > sigmoid>\n"
               "conv 3x3 p1 x64\nse(64)\n")
    assert r.total.params == conv(3, 64, 3) + conv(64, 4, 1) + conv(4, 64, 1)
    assert r.net.node(r.net.output_node)["shape"] == (64, 32, 32)


def test_cells_with_two_inputs():
    r = params("define cell(c, h, hp) = add<h > 3x3:c | hp > 1x1:c>\n"
               "s0 = conv 3x3 p1 x16\ns1 = conv 3x3 p1 x16\nc1 = cell(16, s1, s0)\nc2 = cell(16, c1, s1)\n")
    assert r.total.params == conv(3, 16, 3) + conv(16, 16, 3) + 2 * (conv(16, 16, 3) + conv(16, 16, 1))
    assert r.net.node(r.net.output_node)["inputs"]  # c2's add


def test_block_options_droppath():
    r = params("residual(droppath=0.1)<3x3:3 > 3x3:3>\nmean(droppath=0.15)<3x3:3 | id>\n")
    ops = [r.net.node(n)["op"] for n in r.net.op_nodes()]
    assert "droppath" in ops
    assert any(r.net.node(n)["args"].get("droppath") == 0.15 for n in r.net.op_nodes())
    with pytest.raises(NetdslError):
        params("mean(droppath=2)<3x3:3 | id>\n")


def test_defaults_apply_and_later_ones_override():
    r = params("defaults conv bias=false\ndefaults conv bias=true\nconv 3x3 x8\n")
    assert r.total.params == conv(3, 8, 3, True)
    r = params("defaults conv bn act=relu\nconv 3x3 x8 act=none\n")
    assert [r.net.node(n)["op"] for n in r.net.op_nodes()] == ["conv", "bn"]


def test_transfer_learning_extends_replace_freeze(tmp_path):
    p = tmp_path / "flowers.net"
    p.write_text("network flowers(classes=3)\nextends resnet50\nreplace fc = dropout 0.2 > linear classes\n"
                 "freeze * except fc\n")
    r = netdsl.check(p)
    head = 2048 * 3 + 3
    assert r.total.params == 25_557_032 - 2_049_000 + head
    assert r.total.trainable == head
    assert r.frozen == r.total.params - head


def test_extends_with_parameters(tmp_path):
    p = tmp_path / "t.net"
    p.write_text("extends resnet18(classes=10)\nfreeze conv1, bn1, layer1\n")
    r = netdsl.check(p)
    assert r.total.params == 11_689_512 - 513_000 + 5130
    assert r.frozen == 9408 + 128 + 2 * (2 * (64 * 64 * 9 + 128))


def test_include_brings_defines(tmp_path):
    (tmp_path / "blocks.net").write_text("define block(c) = 3x3:c > relu\n")
    (tmp_path / "main.net").write_text('include "blocks.net"\nblock(8) x2\n')
    assert netdsl.check(tmp_path / "main.net", input_shape=(3, 8, 8)).total.params == conv(3, 8, 3) + conv(8, 8, 3)


def test_network_params_and_arithmetic():
    r = params("network n(w=2, classes=5)\nconv 3x3 p1 out=(8*w)\ngap; flatten\nlinear classes\n", w=3)
    assert r.total.params == conv(3, 24, 3) + 24 * 5 + 5


def test_statement_only_file_takes_input_override():
    r = params("conv 3x3/1 p1 x64 *2; pool 2/2\n", shape=(1, 28, 28))
    assert r.net.node(r.net.output_node)["shape"] == (64, 14, 14)


def test_channels_in_the_billions_are_exact():
    r = params("conv 1x1 x3000000000\n", shape=(3, 1, 1))
    assert r.total.params == 3 * 3_000_000_000 + 3_000_000_000


def test_transfer_example_trains_only_the_new_head():
    r = netdsl.check("resnet50_transfer")
    head = 2048 * 3 + 3
    assert r.total.trainable == head
    assert r.frozen == 25_557_032 - (2048 * 1000 + 1000)
    assert r.total.params == r.frozen + head
    assert r.net.node(r.net.output_node)["shape"] == (3,)


def test_join_flattens_nested_joins_into_one_mean_per_step():
    fractal = ("define f(n) = if n == 1 then 3x3:4 > relu else join(droppath=0.15, global_droppath=0.5)<"
               "3x3:4 > relu | f(n - 1) > f(n - 1)>\n")
    r = params(fractal + "f(3)\n")
    joins = [r.net.node(n) for n in r.net.op_nodes() if r.net.node(n)["op"] == "join"]
    # f3 = join(conv, f2(f2)): the inner f2's join is kept, the outer one absorbs the last f2's join
    assert [len(j["inputs"]) for j in joins] == [2, 3]
    assert [j["args"]["columns"] for j in joins] == [(1, 2), (0, 1, 2)]
    assert joins[1]["args"]["droppath"] == 0.15 and joins[1]["args"]["global_droppath"] == 0.5
    assert r.total.params == 3 * conv(3, 4, 3) + 4 * conv(4, 4, 3)
    # the whole expansion is one module (f), its layers numbered in creation order
    convs = [r.net.node(n)["path"] for n in r.net.op_nodes() if r.net.node(n)["op"] == "conv"]
    assert convs == [f"f.conv{i}" for i in range(1, 8)]
    # four columns: joins at steps 2, 4, 6, 8 merge 2, 3, 2 and 4 columns
    r = params(fractal + "f(4)\n")
    joins = [r.net.node(n)["args"]["columns"] for n in r.net.op_nodes() if r.net.node(n)["op"] == "join"]
    assert joins == [(2, 3), (1, 2, 3), (2, 3), (0, 1, 2, 3)]


def test_mean_stays_a_nested_binary_mean():
    r = params("define f(n) = if n == 1 then 3x3:4 else mean<3x3:4 | f(n - 1) > f(n - 1)>\nf(3)\n")
    means = [r.net.node(n) for n in r.net.op_nodes() if r.net.node(n)["op"] == "mean"]
    assert [len(m["inputs"]) for m in means] == [2, 2, 2]


def test_join_keeps_a_named_inner_join():
    r = params("t = join<3x3:4 | join<3x3:4 | 3x3:4>>\nadd<t | t>\n")
    joins = [r.net.node(n) for n in r.net.op_nodes() if r.net.node(n)["op"] == "join"]
    assert [len(j["inputs"]) for j in joins] == [3]  # unnamed inner join: merged
    r = params("join<3x3:4 | { u = join<3x3:4 | 3x3:4> }>\n")
    joins = [r.net.node(n) for n in r.net.op_nodes() if r.net.node(n)["op"] == "join"]
    assert [len(j["inputs"]) for j in joins] == [2, 2]  # a named inner join is a tensor: kept
    with pytest.raises(NetdslError):
        params("join(columns=2)<3x3:4 | 3x3:4>\n")


def test_a_conv_sized_by_ratio_reports_its_channels():
    r = netdsl.checks("conv 3x3 p1 x64\nconv 1x1 ratio=0.5\n", input_shape=(3, 8, 8))
    rows = [n for n in r.net.op_nodes() if r.net.node(n)["op"] == "conv"]
    from netdsl import ops

    node = r.net.node(rows[-1])
    assert ops.REGISTRY["conv"].describe(node["args"], node["in_shapes"]) == "conv 1x1/1 x32 (ratio 0.5)"


@pytest.mark.parametrize(("text", "channels"), [
    ("defaults conv ratio=0.5\nconv 1x1 x8\n", 8),                # the layer's `x8` replaces the default ratio
    ("defaults conv x8\nconv 1x1 ratio=0.5\n", 32),               # and its ratio a default `x8`
    ("defaults conv x8\ndefaults conv ratio=0.25\nconv 1x1\n", 16),  # a later `defaults` replaces an earlier one
    ("defaults conv ratio=0.25\ndefaults conv x8\nconv 1x1\n", 8),
])
def test_output_channels_said_one_way_per_layer(text, channels):
    """`x64` and `ratio=` both give a conv's output channels: a layer writes one, and it wins over defaults."""
    r = netdsl.checks("input 64x8x8\n" + text)
    assert r.net.node(r.net.output_node)["shape"] == (channels, 8, 8)
    with pytest.raises(NetdslError, match="both give the output channels"):
        netdsl.checks("input 64x8x8\nconv 1x1 x8 ratio=0.5\n")


@pytest.mark.parametrize(("cond", "channels"),
                         [("c > 8", 16), ("c < 8", 3), ("c >= 16", 16), ("(c > 8) and (c < 32)", 16)])
def test_greater_and_less_than_in_a_condition(cond, channels):
    """`>` and `<` in an `if` are comparisons, not the chain's arrow or a block's bracket."""
    r = netdsl.checks(f"input 3x8x8\ndefine f(c) = if {cond} then conv 1x1 out=c else relu\nf(16)\n")
    assert r.net.node(r.net.output_node)["shape"] == (channels, 8, 8)
