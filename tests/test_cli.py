"""The command line: exit codes, JSON, zoo resolution, and no torch in the front end."""

import json
import subprocess
import sys

import pytest

from netdsl.cli import main

CARD = {
    "vgg_stage.net": "conv 3x3/1 p1 x64 *2; pool 2/2\n",
    "inception.net": "inception<1x1:64 | 1x1:96>3x3:128 | 1x1:16>5x5:32 | pool 3x3/1 p1>1x1:32>\n",
    "residual.net": "residual<3x3:64 > 3x3:64> x3\n",
}


def run(args, capsys):
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("name", sorted(CARD))
def test_design_card_snippets_check(tmp_path, capsys, name):
    p = tmp_path / name
    p.write_text(CARD[name])
    code, out, err = run(["check", str(p), "--json"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["input_shape"] == [3, 224, 224]


def test_card_semantics(tmp_path, capsys):
    import netdsl

    r = netdsl.checks(CARD["vgg_stage.net"])
    # two 3x3 convs of 64 (3->64, 64->64) with bias, then 2/2 max pooling
    assert r.total.params == (3 * 9 * 64 + 64) + (64 * 9 * 64 + 64)
    assert r.net.node(r.net.output_node)["shape"] == (64, 112, 112)
    r = netdsl.checks(CARD["inception.net"], input_shape=(192, 28, 28))
    assert r.net.node(r.net.output_node)["shape"] == (256, 28, 28)
    r = netdsl.checks(CARD["residual.net"], input_shape=(64, 56, 56))
    body = 2 * (64 * 9 * 64 + 64)
    assert r.total.params == 3 * body  # identity shortcuts: same shape in and out


def test_check_table_and_totals(capsys):
    code, out, _ = run(["check", "resnet50"], capsys)
    assert code == 0
    assert "25,557,032" in out and "4,089,184,256" in out
    assert "multiply-adds of conv and linear layers" in out
    assert "layer3.5" in out


def test_check_json_document(capsys):
    code, out, _ = run(["check", "resnet18.net", "--json", "-D", "classes=10"], capsys)
    assert code == 0
    doc = json.loads(out)
    for key in ("name", "input_shape", "output_shape", "params", "trainable_params", "macs", "activations",
                "layers"):
        assert key in doc
    assert doc["output_shape"] == [10]
    layer1 = next(x for x in doc["layers"] if x["name"] == "layer1")
    assert [c["name"] for c in layer1["children"]] == ["layer1.0", "layer1.1"]
    assert sum(x["params"] for x in doc["layers"]) == doc["params"]
    assert {"name", "op", "line", "output_shape", "params", "macs"} <= set(layer1["children"][0])


def test_input_override(capsys):
    code, out, _ = run(["check", "resnet18", "--json", "--input", "3x64x64"], capsys)
    assert json.loads(out)["input_shape"] == [3, 64, 64]


@pytest.mark.parametrize("args", [["check"], ["check", "resnet50", "--bogus"], ["frobnicate"],
                                  ["check", "no_such_network_anywhere"], ["check", "resnet50", "-D", "nope=1"],
                                  ["check", "resnet50", "--input", "3xfoo"]])
def test_usage_errors_exit_2(capsys, args):
    code, out, err = run(args, capsys)
    assert code == 2
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) <= 2


def test_folder_is_usage_error(tmp_path, capsys):
    code, _, err = run(["check", str(tmp_path)], capsys)
    assert code == 2 and "folder" in err


def test_non_utf8_is_usage_error(tmp_path, capsys):
    p = tmp_path / "latin1.net"
    p.write_bytes(b"conv 3x3 x64 # caf\xe9\n")
    code, _, err = run(["check", str(p)], capsys)
    assert code == 2 and "UTF-8" in err


def test_net_error_exit_1(tmp_path, capsys):
    p = tmp_path / "bad.net"
    p.write_text("conv 3x3 x64\nflatten\nconv 3x3 x8\n")
    code, _, err = run(["check", str(p)], capsys)
    assert code == 1
    assert err.startswith(f"{p}:3:1: error: conv needs a 4-D input (N, C, H, W)")
    assert "found:    a 2-D tensor (N, 3154176)" in err


def test_front_end_does_not_import_torch(tmp_path):
    code = ("import sys; from netdsl.cli import main; rc = main(['check', 'resnet152', '--json']); "
            "assert 'torch' not in sys.modules, 'torch imported'; sys.exit(rc)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 0, res.stderr


def test_python_dash_m_and_version():
    res = subprocess.run([sys.executable, "-m", "netdsl", "--version"], capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.startswith("netdsl ")
    res = subprocess.run([sys.executable, "-m", "netdsl", "check", "--help"], capture_output=True, text=True)
    assert res.returncode == 0 and "examples:" in res.stdout
