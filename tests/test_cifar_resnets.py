"""CIFAR ResNet-20/56 with option-A shortcuts (akamaster's layout) and PreAct-ResNet-18 (kuangliu's
layout): params as published, MACs as torch counts them, state_dict keys equal to the hand-written
references, and outputs equal with the references' weights loaded by key."""

from __future__ import annotations

import pytest

import netdsl

torch = pytest.importorskip("torch")
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

try:  # tests/ on sys.path (rootdir-relative import) or tests/ as a package
    from reference.cifar_resnets import PARAMS, REFERENCES
    from tv import same_outputs
except ImportError:
    from tests.reference.cifar_resnets import PARAMS, REFERENCES
    from tests.tv import same_outputs

NAMES = sorted(REFERENCES)


@pytest.mark.parametrize("name", NAMES)
def test_params_macs_keys_and_outputs(name):
    r = netdsl.check(name)
    ref = REFERENCES[name]()
    assert r.total.params == PARAMS[name] == sum(p.numel() for p in ref.parameters())
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        ref.eval()(torch.zeros(1, 3, 32, 32))
    assert r.total.macs == counter.get_total_flops() // 2
    net = netdsl.load(name)
    assert [(k, v.shape) for k, v in net.state_dict().items()] == [(k, v.shape) for k, v in ref.state_dict().items()]
    same_outputs(net, ref, (3, 32, 32))


def test_option_a_shortcut_is_written_not_implied():
    """The zero channels are the text's (`subsample 2 > pad_channels 8`): without them the shapes do
    not merge and the error says so."""
    text = "input 16x8x8\nresidual<3x3/2:32 > 3x3:32 | subsample 2>\n"
    with pytest.raises(netdsl.NetdslError) as e:
        netdsl.checks(text)
    assert "16x4x4" in str(e.value) and "32x4x4" in str(e.value)
