"""Shared checks of the torchvision zoo (tests/test_tv_*.py): the reference numbers and state_dict
keys of every torchvision CNN builder (tests/fixtures/torchvision/<builder>.json, copied from
torchvision's own models), and outputs against hand-written reference modules with ported weights."""

from __future__ import annotations

import json
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "torchvision"


def fixture(name: str) -> dict:
    """{params, macs, input, state_dict: [[key, shape], ...]} of a torchvision builder."""
    return json.loads((FIXTURES / f"{name}.json").read_text())


def static_keys(name: str) -> list[list]:
    """The state_dict of the zoo network as netdsl knows it before any module exists
    (netdsl.state; tests/test_state.py checks it against real modules): [[key, shape], ...]."""
    import netdsl
    from netdsl.state import state_dict

    return [[k, list(s)] for k, s in state_dict(netdsl.check(name).net)]


def assert_torchvisions(name: str) -> None:
    """Params and MACs (at the builder's input size) and the state_dict keys, order and shapes of
    the zoo network equal torchvision's builder of that name."""
    import netdsl

    r, ref = netdsl.check(name), fixture(name)
    assert (r.total.params, r.total.macs) == (ref["params"], ref["macs"])
    assert static_keys(name) == ref["state_dict"]


def randomise(model) -> None:
    """Every floating state (weights, biases, running statistics) random, so that a wrong eps, a
    missing affine or a swapped running statistic changes the outputs."""
    import torch

    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if t.is_floating_point():
                if name.endswith("running_var"):
                    t.copy_(torch.rand(t.shape, generator=g) + 0.5)
                else:
                    scale = 1.0 if name.endswith("weight") and t.dim() == 1 else 0.0  # norms' weights near 1
                    t.copy_(torch.randn(t.shape, generator=g) * 0.1 + scale)


def same_outputs(net, ref, shape, rtol: float = 1e-4, atol: float = 1e-5) -> None:
    """The reference's weights, loaded by key (strict), give the reference's outputs (eval mode)."""
    import torch

    randomise(ref)
    net.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, *shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(net.eval()(x), ref.eval()(x), rtol=rtol, atol=atol)
