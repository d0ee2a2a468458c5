"""The wheel carries the grammar, the zoo and the templates, and works from any folder."""

import subprocess
import sys
import zipfile

import pytest


@pytest.fixture(scope="module")
def wheel(tmp_path_factory, root):
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(root)],
                   check=True, capture_output=True, text=True)
    (whl,) = out.glob("netdsl-*.whl")
    return whl


@pytest.fixture(scope="module")
def root():
    from pathlib import Path

    return Path(__file__).resolve().parent.parent


def test_wheel_contents(wheel, root):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "netdsl/grammars/netdsl.lark" in names
    for net in (root / "networks").glob("*.net"):
        assert f"netdsl/networks/{net.name}" in names
    assert any(n.startswith("netdsl/templates/") for n in names)
    assert {"netdsl/schemas/check.schema.json", "netdsl/schemas/diff.schema.json"} <= names


@pytest.mark.slow
def test_wheel_in_fresh_venv(wheel, root, tmp_path):
    """The bare wheel in a fresh venv: its own dependencies (no torch) check and compile from any
    folder, and `netdsl.load` says how to get torch; with torch (the host's, for speed: the wheel
    installed beside it without dependencies) it builds modules."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    res = subprocess.run([str(py), "-m", "pip", "install", "-q", "-c", str(root / "constraints.txt"), str(wheel)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    res = subprocess.run([str(venv / "bin" / "netdsl"), "check", "resnet152.net"], cwd=elsewhere,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "60,192,808" in res.stdout
    res = subprocess.run([str(py), "-m", "netdsl", "compile", "googlenet"], cwd=elsewhere, capture_output=True,
                         text=True)
    assert res.returncode == 0 and "class GoogLeNet(nn.Module):" in res.stdout, res.stderr
    res = subprocess.run([str(py), "-c", "import netdsl; netdsl.load('vgg19')"], cwd=elsewhere,
                         capture_output=True, text=True)
    assert res.returncode != 0 and "netdsl[torch]" in res.stderr, res.stderr[-2000:]
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, text=True)
    code = ("import netdsl, sys; assert netdsl.__file__.startswith(sys.argv[1]), netdsl.__file__; "
            "m = netdsl.load('vgg19.net'); print(sum(p.numel() for p in m.parameters()))")
    res = subprocess.run([sys.executable, "-c", code, str(target)], cwd=elsewhere, capture_output=True, text=True,
                         env={**__import__("os").environ, "PYTHONPATH": str(target)})
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == "143667240"
