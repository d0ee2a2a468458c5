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
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    res = subprocess.run([str(py), "-m", "pip", "install", "-q", "-c", str(root / "constraints.txt"),
                          f"{wheel}[torch]"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    res = subprocess.run([str(venv / "bin" / "netdsl"), "check", "resnet152.net"], cwd=elsewhere,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "60,192,808" in res.stdout
    res = subprocess.run([str(py), "-m", "netdsl", "check", "resnet152", "--json"], cwd=elsewhere,
                         capture_output=True, text=True)
    assert res.returncode == 0 and '"params": 60192808' in res.stdout
    code = ("import netdsl; m = netdsl.load('vgg19.net'); "
            "print(sum(p.numel() for p in m.parameters()))")
    res = subprocess.run([str(py), "-c", code], cwd=elsewhere, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == "143667240"
