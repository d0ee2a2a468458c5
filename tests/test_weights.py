"""Pretrained weights: `netdsl.load(..., weights=...)`, `netdsl check --weights`, the generated factory's
`weights=`, and transfer learning from a base network's checkpoint (netdsl/checkpoint.py).

Checkpoints are written here with torch.save from netdsl modules; every failure must be a
NetdslWeightsError whose message names the file and what differs.
"""

import os
import sys
import warnings
import zipfile

import pytest

torch = pytest.importorskip("torch")

import netdsl  # noqa: E402
from netdsl import NetdslWarning, NetdslWeightsError, UsageError  # noqa: E402
from netdsl.cli import main  # noqa: E402

BASE = """network base(classes=5)
input 1x8x8
body = conv 3x3 p1 x8 bias=false bn act=relu > conv 3x3 p1 x16 bias=false bn act=relu > gap > flatten
fc = linear classes
"""
TRANSFER = """network transfer(classes=5)
extends "base.net"(classes=7)
replace fc = linear classes
freeze body
"""


@pytest.fixture
def here(tmp_path, monkeypatch):
    """Work in tmp_path, so that messages show short relative file names."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def lenet_state(**kw):
    torch.manual_seed(0)
    return netdsl.load("lenet5", **kw).state_dict()


def same_state(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def failure(path, name="lenet5", **kw) -> str:
    with pytest.raises(NetdslWeightsError) as e:
        netdsl.load(name, weights=path, **kw)
    return str(e.value)


# ------------------------------------------------------------------ loading


def test_round_trip_resnet18(here):
    torch.manual_seed(0)
    a = netdsl.load("resnet18").eval()
    with torch.no_grad():  # running statistics that are not the initial ones
        for m in a.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
    torch.save(a.state_dict(), "r18.pth")
    torch.manual_seed(1)
    b = netdsl.load("resnet18", weights="r18.pth").eval()
    assert same_state(a.state_dict(), b.state_dict())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(a(x), b(x), rtol=0, atol=0)


@pytest.mark.parametrize("wrap", ["state_dict", "model"])
def test_nested_checkpoint(here, wrap):
    sd = lenet_state()
    torch.save({wrap: sd, "epoch": 3, "optimizer": {"lr": 0.1, "state": {}}}, "ckpt.pt")
    torch.manual_seed(5)
    m = netdsl.load("lenet5", weights="ckpt.pt")
    assert same_state(m.state_dict(), sd)


def test_checkpoint_without_batch_norm_step_counters(here):
    """Older checkpoints have no `num_batches_tracked` (batch norm did not count its steps): they still fit."""
    torch.manual_seed(0)
    sd = {k: v for k, v in netdsl.load("resnet18").state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(sd, "old.pth")
    m = netdsl.load("resnet18", weights="old.pth")
    assert all(torch.equal(m.state_dict()[k], v) for k, v in sd.items())
    assert int(m.bn1.num_batches_tracked) == 0


def test_loads_and_pathlike(here):
    sd = lenet_state()
    torch.save(sd, "lenet.pth")
    text = (netdsl.sources.resolve("lenet5")).read_text()
    m = netdsl.loads(text, weights=here / "lenet.pth")
    assert same_state(m.state_dict(), sd)


def test_weights_argument_is_checked():
    with pytest.raises(UsageError, match=r"netdsl.load: weights must be the path of a checkpoint file .* got int 3"):
        netdsl.load("lenet5", weights=3)


# ------------------------------------------------------------------ what does not fit


def test_missing_unexpected_and_mismatched_keys(here):
    sd = lenet_state()
    del sd["conv1.weight"], sd["conv1.bias"]
    sd["fc9.weight"] = torch.zeros(3)
    sd["fc3.weight"] = torch.zeros(5, 84)
    torch.save(sd, "bad.pth")
    assert failure("bad.pth") == (
        "error: checkpoint bad.pth: does not fit lenet5 (2 missing, 1 unexpected, 1 shape-mismatched keys)\n"
        "  2 missing from the checkpoint:\n"
        "    conv1.weight\n"
        "    conv1.bias\n"
        "  1 in the checkpoint but not in the network:\n"
        "    fc9.weight\n"
        "  1 with another shape:\n"
        "    fc3.weight: checkpoint 5x84, network 10x84\n"
        "  hint: the key names differ: was the checkpoint saved from another network or layout?"
    )


def test_shape_mismatch_only(here):
    torch.save(lenet_state(classes=5), "five.pth")
    assert failure("five.pth") == (
        "error: checkpoint five.pth: does not fit lenet5 (2 shape-mismatched keys)\n"
        "  2 with another shape:\n"
        "    fc3.weight: checkpoint 5x84, network 10x84\n"
        "    fc3.bias: checkpoint 5, network 10\n"
        "  hint: the layers match but their sizes differ: check the network's parameters (e.g. classes=...), "
        "or `replace` the differing stage in a network that extends this one"
    )
    assert netdsl.load("lenet5", weights="five.pth", classes=5) is not None


def test_many_keys_are_cut(here):
    torch.save(lenet_state(), "lenet.pth")
    text = failure("lenet.pth", "resnet18")
    assert text.startswith("error: checkpoint lenet.pth: does not fit resnet18 (101 missing, 9 unexpected, "
                           "1 shape-mismatched keys)\n  101 missing from the checkpoint:\n    bn1.weight\n")
    assert "    ... and 96 more\n" in text and "    ... and 4 more\n" in text
    assert "  1 with another shape:\n    conv1.weight: checkpoint 6x1x5x5, network 64x3x7x7\n" in text


def test_missing_file_and_directory(here):
    assert failure("nope.pth") == "error: checkpoint nope.pth: no such file"
    os.mkdir("adir")
    assert failure("adir") == "error: checkpoint adir: is a directory, not a checkpoint file"


def test_corrupt_files(here):
    torch.save(lenet_state(), "good.pth")
    data = open("good.pth", "rb").read()
    open("trunc.pth", "wb").write(data[: len(data) // 2])
    text = failure("trunc.pth")
    assert text.startswith("error: checkpoint trunc.pth: the file is corrupt or truncated (PytorchStreamReader "
                           "failed reading zip archive"), text
    open("random.pth", "wb").write(bytes(range(256)) * 8)
    assert failure("random.pth") == (
        "error: checkpoint random.pth: not a PyTorch checkpoint (the file is corrupt or was not written by "
        "torch.save)\n  hint: save the weights with torch.save(model.state_dict(), path)")
    open("text.pth", "w").write("root:x:0:0:root:/root:/bin/bash\n")  # torch raised IndexError on this one
    assert failure("text.pth") == failure("random.pth").replace("random.pth", "text.pth")
    torch.save(lenet_state(), "legacy.pth", _use_new_zipfile_serialization=False)
    data = open("legacy.pth", "rb").read()
    open("legacy.pth", "wb").write(data[: len(data) // 2])
    assert failure("legacy.pth").startswith("error: checkpoint legacy.pth: the file is ")
    open("empty.pth", "wb").close()
    assert failure("empty.pth") == "error: checkpoint empty.pth: the file is empty or truncated"
    with zipfile.ZipFile("other.zip", "w") as z:  # a zip archive that torch.save did not write
        z.writestr("hello.txt", "hi")
    assert failure("other.zip").startswith("error: checkpoint other.zip: the file is corrupt or truncated (")


def test_not_a_state_dict(here):
    hint = "\n  hint: save the weights with torch.save(model.state_dict(), path)"
    torch.save(torch.zeros(3), "tensor.pth")
    assert failure("tensor.pth") == ("error: checkpoint tensor.pth: holds a tensor, not a state_dict (a dict of "
                                     "tensors by key)" + hint)
    torch.save([torch.zeros(3)], "list.pth")
    assert failure("list.pth") == ("error: checkpoint list.pth: holds a list, not a state_dict (a dict of "
                                   "tensors by key)" + hint)
    torch.save({"conv1.weight": 1.5, "conv1.bias": [1, 2], "fine": torch.zeros(1)}, "values.pth")
    assert failure("values.pth") == (
        "error: checkpoint values.pth: 2 entries are not tensors by name: 'conv1.weight' (float), "
        "'conv1.bias' (list)\n  hint: a checkpoint is a state_dict, or a dict holding one under `state_dict` or "
        "`model`")


class Exploit:
    """Unpickling this would create a folder: what a malicious checkpoint could do."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def test_code_in_a_checkpoint_is_refused(here):
    sd = lenet_state()
    sd["conv1.weight"] = Exploit(str(here / "pwned"))
    torch.save(sd, "evil.pth")
    text = failure("evil.pth")
    assert text.startswith("error: checkpoint evil.pth: refused: it holds Python objects other than tensors, and "
                           "loading them could run code (Trying to load unsupported GLOBAL "), text
    assert text.endswith("\n  hint: netdsl reads checkpoints with torch.load(weights_only=True) and never runs code "
                         "from them; save only the weights: torch.save(model.state_dict(), path)")
    assert not (here / "pwned").exists()


def test_safetensors(here):
    save_file = pytest.importorskip("safetensors.torch", reason="safetensors is part of the test install").save_file
    sd = lenet_state()
    save_file({k: v.contiguous() for k, v in sd.items()}, "w.safetensors")
    assert same_state(netdsl.load("lenet5", weights="w.safetensors").state_dict(), sd)
    save_file({**{k: v.contiguous() for k, v in sd.items()}, "extra.weight": torch.zeros(2)}, "x.safetensors")
    assert failure("x.safetensors") == ("error: checkpoint x.safetensors: does not fit lenet5 (1 unexpected key)\n"
                                        "  1 in the checkpoint but not in the network:\n    extra.weight")
    open("bad.safetensors", "wb").write(b"not safetensors at all")
    assert failure("bad.safetensors").startswith("error: checkpoint bad.safetensors: not a readable .safetensors file")


def test_safetensors_without_the_package(here, monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.torch", None)
    open("w.safetensors", "wb").write(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    assert failure("w.safetensors") == (
        "error: checkpoint w.safetensors: reading a .safetensors file needs the safetensors package, which is "
        "not installed\n  hint: pip install safetensors (or pip install 'netdsl[safetensors]')")


# ------------------------------------------------------------------ transfer learning


@pytest.fixture
def transfer_files(here):
    (here / "base.net").write_text(BASE)
    (here / "transfer.net").write_text(TRANSFER)
    torch.manual_seed(0)
    base = netdsl.load("base.net", classes=7)
    torch.save(base.state_dict(), "base.pth")
    return base.state_dict()


def test_transfer_skips_replaced_stage(transfer_files):
    sd = transfer_files
    torch.manual_seed(3)
    fresh = netdsl.load("transfer.net").state_dict()
    torch.manual_seed(3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = netdsl.load("transfer.net", weights="base.pth")
    assert [str(w.message) for w in caught] == [
        "base.pth into transfer: skipped the keys of replaced stages:\n"
        "  fc.weight, fc.bias: replaced in transfer.net:3 (shapes 5x16 vs 7x16, 5 vs 7); kept as initialised"]
    assert caught[0].category is NetdslWarning and caught[0].filename == __file__
    got = m.state_dict()
    for k, v in got.items():  # the body is the checkpoint's, the head as initialised
        assert torch.equal(v, fresh[k] if k.startswith("fc.") else sd[k]), k
    assert {n for n, p in m.named_parameters() if p.requires_grad} == {"fc.weight", "fc.bias"}


def test_transfer_still_strict_outside_replaced_stages(transfer_files):
    sd = dict(transfer_files)
    del sd["body.0.weight"]
    torch.save(sd, "partial.pth")
    assert failure("partial.pth", "transfer.net") == (
        "error: checkpoint partial.pth: does not fit transfer (1 missing key)\n"
        "  1 missing from the checkpoint:\n"
        "    body.0.weight")


def test_resnet50_transfer_and_cli(here, capsys):
    torch.manual_seed(0)
    with torch.device("meta"):
        shapes = netdsl.load("resnet50").state_dict()
    sd = {k: torch.full(v.shape, 0.5) if v.is_floating_point() else torch.zeros(v.shape, dtype=v.dtype)
          for k, v in shapes.items()}
    torch.save(sd, "resnet50.pth")
    with pytest.warns(NetdslWarning) as caught:
        m = netdsl.load("resnet50_transfer", weights="resnet50.pth")
    assert str(caught[0].message).endswith(
        "fc.weight, fc.bias: replaced in resnet50_transfer.net:5 (shapes 3x2048 vs 1000x2048, 3 vs 1000); "
        "kept as initialised")
    assert torch.equal(m.layer4[2].conv3.weight, sd["layer4.2.conv3.weight"])
    assert m.fc.weight.shape == (3, 2048) and not torch.all(m.fc.weight == 0.5)
    assert [n for n, p in m.named_parameters() if p.requires_grad] == ["fc.weight", "fc.bias"]

    assert main(["check", "resnet50", "--weights", "resnet50.pth"]) == 0
    assert capsys.readouterr().out == "resnet50.pth fits resnet50: 320 tensors, 25,557,032 parameters\n"
    assert main(["check", "resnet50_transfer", "--weights", "resnet50.pth"]) == 0
    assert capsys.readouterr().out == (
        "resnet50.pth fits resnet50_transfer: 318 tensors, 23,508,032 parameters; skipped fc.weight, fc.bias: "
        "replaced in resnet50_transfer.net:5 (shapes 3x2048 vs 1000x2048, 3 vs 1000); kept as initialised\n")
    assert main(["check", "resnet50", "-D", "classes=10", "--weights", "resnet50.pth"]) == 1
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err == ("error: checkpoint resnet50.pth: does not fit resnet50 (2 shape-mismatched keys)\n"
                       "  2 with another shape:\n"
                       "    fc.weight: checkpoint 1000x2048, network 10x2048\n"
                       "    fc.bias: checkpoint 1000, network 10\n"
                       "  hint: the layers match but their sizes differ: check the network's parameters "
                       "(e.g. classes=...), or `replace` the differing stage in a network that extends this one\n")


def test_cli_missing_checkpoint(here, capsys):
    assert main(["check", "lenet5", "--weights", "nope.pth"]) == 1
    assert capsys.readouterr().err == "error: checkpoint nope.pth: no such file\n"


# ------------------------------------------------------------------ the generated factory


def factory_of(source: str, name: str):
    ns: dict = {"__name__": f"generated_{name}"}
    exec(compile(source, f"<{name}>", "exec"), ns)  # noqa: S102 - our own generated source
    assert "netdsl" not in source.replace("netdsl from", "").replace("generated by netdsl", "")
    return ns[name]


def test_generated_factory_weights(here):
    sd = lenet_state()
    torch.save({"model": sd}, "lenet.pth")
    lenet5 = factory_of(netdsl.compile("lenet5"), "lenet5")
    assert same_state(lenet5(weights="lenet.pth").state_dict(), sd)
    assert not same_state(lenet5().state_dict(), sd)
    torch.save(lenet_state(classes=5), "five.pth")
    with pytest.raises(RuntimeError, match="size mismatch for fc3.weight"):
        lenet5(weights="five.pth")
    assert same_state(lenet5(weights="five.pth", classes=5).state_dict(), lenet_state(classes=5))


def test_generated_factory_transfer(transfer_files):
    sd = transfer_files
    transfer = factory_of(netdsl.compile("transfer.net"), "transfer")
    m = transfer(weights="base.pth")
    for k, v in m.state_dict().items():
        if not k.startswith("fc."):
            assert torch.equal(v, sd[k]), k
    assert m.fc.weight.shape == (5, 16)
    assert {n for n, p in m.named_parameters() if p.requires_grad} == {"fc.weight", "fc.bias"}
    del sd["body.0.weight"]
    torch.save(sd, "partial.pth")
    with pytest.raises(RuntimeError, match=r"partial.pth does not fit Transfer: missing \['body.0.weight'\]"):
        transfer(weights="partial.pth")
