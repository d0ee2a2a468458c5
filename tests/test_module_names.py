"""Module names written in the language: `@name`, `@0` indices, quoted names, `...f()` flattening
and `seq<...>` defines. Each network is checked against a hand-written PyTorch module with the
layout a reference (torchvision) has: the state_dict keys and shapes are equal, and with the
reference's weights loaded by key (strict) the outputs are equal."""

from __future__ import annotations

from collections import OrderedDict

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import netdsl  # noqa: E402


def _keys(m: nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    return [(k, tuple(v.shape)) for k, v in m.state_dict().items()]


def _same(net: nn.Module, ref: nn.Module, shape) -> None:
    """Equal keys and shapes; the reference's (randomised) weights loaded by key give its outputs."""
    assert _keys(net) == _keys(ref)
    torch.manual_seed(1)
    with torch.no_grad():
        for p in ref.state_dict().values():
            if p.is_floating_point():
                p.uniform_(0.5, 1.5)
    net.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, *shape)
    torch.testing.assert_close(net.eval()(x), ref.eval()(x), rtol=1e-5, atol=1e-5)


class ConvBNReLU(nn.Sequential):  # torchvision's Conv2dNormActivation, indexed 0, 1, 2
    def __init__(self, cin: int, cout: int, stride: int = 1, groups: int = 1):
        super().__init__(nn.Conv2d(cin, cout, 3, stride, 1, groups=groups, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class Inverted(nn.Module):  # torchvision's InvertedResidual (MobileNetV2), t = 2
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.use_res = stride == 1 and cin == cout
        self.conv = nn.Sequential(
            ConvBNReLU(cin, 2 * cin), ConvBNReLU(2 * cin, 2 * cin, stride, groups=2 * cin),
            nn.Conv2d(2 * cin, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        return x + self.conv(x) if self.use_res else self.conv(x)


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(ConvBNReLU(3, 8, 2), Inverted(8, 16, 2), Inverted(16, 16, 1),
                                      Inverted(16, 16, 1), ConvBNReLU(16, 32))
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(32, 10))

    def forward(self, x):
        x = self.features(x)
        x = nn.functional.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.classifier(x)


SMALL = """
input 3x32x32
defaults conv bias=false
define cbr(c, s=1, g=1) = seq<conv 3x3/s p1 out=c groups=g bn act=relu>
define layers(cin, c, s) = seq<cbr(2*cin) > cbr(2*cin, s=s, g=2*cin) > conv 1x1 out=c > bn> @conv
define inverted(cin, c, s) = if s == 1 and cin == c then residual<...layers(cin, c, s)> else ...layers(cin, c, s)
define row(cin, c, n, s) = inverted(cin, c, s) > inverted(c, c, 1) * (n - 1)
features = { cbr(8, s=2) > ...row(8, 16, 3, 2) > cbr(32) }
gap; flatten
classifier = dropout 0.2 > linear 10
"""


def test_seq_defines_flattened_rows_and_named_sequentials_give_torchvision_keys():
    net = netdsl.loads(SMALL, name="small.net")
    assert [k for k, _ in _keys(net)][:8] == [
        "features.0.0.weight", "features.0.1.weight", "features.0.1.bias", "features.0.1.running_mean",
        "features.0.1.running_var", "features.0.1.num_batches_tracked", "features.1.conv.0.0.weight",
        "features.1.conv.0.1.weight"]
    _same(net, Small(), (3, 32, 32))


def test_a_seq_define_is_an_indexed_sequential_in_the_source():
    src = netdsl.compiles(SMALL, name="small.net")
    assert "class Cbr(nn.Sequential):" in src
    assert "        super().__init__(\n            nn.Conv2d(" in src
    assert "self.0" not in src


class Dense(nn.Module):  # torchvision's DenseNet-style names in an OrderedDict Sequential
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(OrderedDict([
            ("conv0", nn.Conv2d(3, 8, 3, padding=1, bias=False)), ("norm0", nn.BatchNorm2d(8)),
            ("relu0", nn.ReLU(inplace=True)), ("pool0", nn.MaxPool2d(2)),
            ("block1-0", nn.Conv2d(8, 8, 1)),
        ]))
        self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Linear(8 * 16 * 16, 16), nn.ReLU(inplace=True),
                                        nn.Dropout(0.5), nn.Linear(16, 10))

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


DENSE = """
input 3x32x32
features = {
    conv 3x3 p1 x8 bias=false @conv0
    bn @norm0; relu @relu0; pool 2 @pool0
    conv 1x1 x8 @"block1-0"
}
flatten
classifier = linear 16 @1 > relu > linear 10 @4
"""


def test_written_names_quoted_names_and_skipped_indices():
    net = netdsl.loads(DENSE, name="dense.net")
    keys = [k for k, _ in _keys(net)]
    assert "features.block1-0.weight" in keys
    assert keys[-4:] == ["classifier.1.weight", "classifier.1.bias", "classifier.4.weight", "classifier.4.bias"]
    _same(net, Dense(), (3, 32, 32))
    src = netdsl.compiles(DENSE, name="dense.net")
    assert "from collections import OrderedDict" in src
    assert '("block1-0", nn.Conv2d(8, 8, kernel_size=1))' in src


class Quoted(nn.Module):  # a non-Sequential parent with a module name that is no identifier
    def __init__(self):
        super().__init__()
        self.add_module("block1-0", nn.Conv2d(3, 4, 3, padding=1))
        self.add_module("7", nn.Conv2d(3, 4, 1))
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        a = getattr(self, "block1-0")(x)
        b = getattr(self, "7")(x)
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(torch.cat([a, b], 1), 1), 1))


QUOTED = """
input 3x8x8
concat<conv 3x3 p1 x4 @"block1-0" | conv 1x1 x4 @7>
gap; flatten
fc = linear 2
"""


def test_quoted_and_numeric_names_in_a_module_with_a_forward():
    net = netdsl.loads(QUOTED, name="q.net")
    _same(net, Quoted(), (3, 8, 8))
    assert 'getattr(self, "block1-0")(x)' in netdsl.compiles(QUOTED, name="q.net")


def test_a_flattened_call_has_no_module_of_its_own():
    text = "input 3x8x8\ndefine two(c) = conv 1x1 out=c > relu > conv 1x1 out=c\ns = { ...two(4) > two(4) }\n"
    net = netdsl.loads(text)
    assert [k for k, _ in _keys(net)] == ["s.0.weight", "s.0.bias", "s.2.weight", "s.2.bias",
                                          "s.3.conv1.weight", "s.3.conv1.bias", "s.3.conv2.weight", "s.3.conv2.bias"]
    assert netdsl.checks(text).total.params == (3 * 4 + 4) + 3 * (4 * 4 + 4)
