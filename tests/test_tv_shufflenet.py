"""ShuffleNetV2 (x0.5, x1.0, x1.5, x2.0) in torchvision's layout: params and MACs as torchvision's
builders, state_dict keys and shapes identical, outputs equal to a hand-written reference."""

from __future__ import annotations

import pytest

import netdsl

try:  # tests/ on sys.path (rootdir-relative import) or tests/ as a package
    from tv import fixture, same_outputs, static_keys
except ImportError:
    from tests.tv import fixture, same_outputs, static_keys

NAMES = ["shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0"]


@pytest.mark.parametrize("name", NAMES)
def test_params_and_macs_are_torchvisions(name):
    r = netdsl.check(name)
    ref = fixture(name)
    assert (r.total.params, r.total.macs) == (ref["params"], ref["macs"])


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_keys_are_torchvisions(name):
    pytest.importorskip("torch")
    assert static_keys(name) == fixture(name)["state_dict"]


@pytest.mark.parametrize("name", ["shufflenet_v2_x0_5", "shufflenet_v2_x1_0"])
def test_outputs_equal_the_reference_with_its_weights(name):
    pytest.importorskip("torch")
    try:
        from reference.tv_shufflenet import WIDTHS, ShuffleNetV2
    except ImportError:
        from tests.reference.tv_shufflenet import WIDTHS, ShuffleNetV2
    same_outputs(netdsl.load(name, input_shape=(3, 64, 64)), ShuffleNetV2(WIDTHS[name]), (3, 64, 64))
