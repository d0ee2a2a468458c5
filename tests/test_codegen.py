"""`netdsl compile`: standalone PyTorch source that reads as hand-written, is ruff-clean and deterministic.

Golden files in tests/golden/ are regenerated with NETDSL_REGEN=1.
"""

from __future__ import annotations

import ast
import builtins
import keyword
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import netdsl
from netdsl.cli import main

try:  # tests/ on sys.path (rootdir-relative import) or tests/ as a package
    from conftest import REGEN
    from zoo import COURSE
except ImportError:  # pragma: no cover
    from tests.conftest import REGEN
    from tests.zoo import COURSE

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"
ZOO = list(COURSE)  # the course's networks (tests/zoo.py)


@pytest.mark.parametrize("name", ZOO)
def test_golden(name):
    text = netdsl.compile(name)
    path = GOLDEN / f"{name}.py"
    if REGEN:
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}: run NETDSL_REGEN=1 pytest {__file__}"
    assert text == path.read_text(encoding="utf-8")


def test_deterministic_across_runs_and_hash_seeds():
    first = {n: netdsl.compile(n) for n in ("googlenet", "nasnet_a_mobile", "fractalnet")}
    assert first == {n: netdsl.compile(n) for n in first}
    code = ("import sys, netdsl\n"
            "sys.stdout.write(''.join(netdsl.compile(n) for n in ('googlenet', 'nasnet_a_mobile', 'fractalnet')))\n")
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        assert out.stdout == "".join(first.values())


def _ruff() -> list[str] | None:
    exe = shutil.which("ruff")
    if exe:
        return [exe]
    try:
        subprocess.run([sys.executable, "-m", "ruff", "--version"], capture_output=True, check=True)
        return [sys.executable, "-m", "ruff"]
    except (subprocess.CalledProcessError, FileNotFoundError):
        return None


def test_zoo_sources_are_ruff_clean(tmp_path):
    ruff = _ruff()
    if ruff is None:
        pytest.skip("ruff is not installed")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")  # line length 120, the repo's rules
    for name in ZOO:
        (tmp_path / f"{name}.py").write_text(netdsl.compile(name), encoding="utf-8")
    (tmp_path / "odd_names.py").write_text(netdsl.compiles(ODD, input_shape=(3, 16, 16), name="odd.net"))
    # the repo's rules, and no unused arguments (ARG), pyflakes (F) and bugbear (B) findings
    check = subprocess.run([*ruff, "check", "--no-cache", "--extend-select", "ARG,F,B", "."], cwd=tmp_path,
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    fmt = subprocess.run([*ruff, "format", "--check", "--no-cache", "."], cwd=tmp_path, capture_output=True,
                         text=True)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_depth_is_data():
    r50 = netdsl.compile("resnet50").splitlines()
    r152 = netdsl.compile("resnet152").splitlines()
    assert len(r152) - len(r50) <= 3
    layer3 = "self.layer3 = nn.Sequential(Bottleneck(512, 256, s=2), *[Bottleneck(1024, 256) for _ in range(35)])"
    assert " " * 8 + layer3 in r152


def test_reads_like_torchvision():
    text = netdsl.compile("resnet50")
    for line in [
        "class Bottleneck(nn.Module):",
        "    def __init__(self, in_channels: int, c: int, s: int = 1) -> None:",
        "        self.conv2 = nn.Conv2d(c, c, kernel_size=3, stride=s, padding=1, bias=False)",
        "        self.conv3 = nn.Conv2d(c, 4 * c, kernel_size=1, bias=False)",
        "        if s != 1 or in_channels != 4 * c:",
        "        self.layer2 = nn.Sequential(Bottleneck(256, 128, s=2), *[Bottleneck(512, 128) for _ in range(3)])",
        "    def __init__(self, classes: int = 1000) -> None:",
        "        self.fc = nn.Linear(2048, classes)",
        "        x = self.layer3(x)  # resnet50.net:15, 1024x14x14",
        '                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")',
        "def resnet50(weights: str | None = None, **kwargs: Any) -> ResNet50:",
    ]:
        assert line in text.splitlines(), line
    g = netdsl.compile("googlenet")
    assert "def __init__(self, in_channels: int, n1: int, r3: int, n3: int, r5: int, n5: int, pp: int) -> None:" in g
    assert "        self.aux1 = AuxClassifier(512, classes)" in g
    assert "        x = self.inception4a(x)  # googlenet.net:" in g


# the most classes (helpers included) each generated zoo network may have: one per real block
# (mobilenet_v2 in torchvision's layout: Conv2dNormActivation, the inverted residual with and without
# its input added, the t = 1 block without expansion, the network)
MAX_CLASSES = {"mobilenet_v2": 5, "nasnet_a_mobile": 12, "fractalnet": 4, "densenet121": 4, "googlenet": 3,
               "resnet50": 2, "vgg16": 1}


@pytest.mark.parametrize("name", sorted(MAX_CLASSES))
def test_a_class_per_real_block(name):
    tree = ast.parse(netdsl.compile(name))
    classes = [n.name for n in tree.body if isinstance(n, ast.ClassDef)]
    assert len(classes) <= MAX_CLASSES[name], classes


def test_a_per_block_table_is_a_loop_over_its_rows():
    """MobileNetV2's Table 2 stays a table: one class for every row, a loop over the rows, and the
    repeat count of a row (`* (n - 1)`) a constructor argument that a loop counts."""
    # the course's MobileNetV2 before it took torchvision's keys: a define per row of Table 2
    text = netdsl.compile(str(Path(__file__).parent / "fixtures" / "mobilenet_v2_rows.net"))
    lines = text.splitlines()
    assert "class Bottlenecks(nn.Sequential):" in lines
    assert "            for i in range(2, n + 1):" in lines
    assert '                self.add_module(f"bottleneck{i}", Bottleneck(c, c, t, c, 1))' in lines
    assert "                for in_channels, cin, t, c, n, s in [" in lines
    assert "                    (32, 32, 6, 64, 4, 2)," in lines


@pytest.mark.parametrize("name", ZOO)
def test_imports_only_torch_and_locals_shadow_nothing(name):
    tree = ast.parse(netdsl.compile(name))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert [a.name for a in node.names] in (["torch"], ["random"]), ast.dump(node)
        elif isinstance(node, ast.ImportFrom):
            assert node.module in ("torch", "collections", "typing"), node.module
    forbidden = set(dir(builtins)) | set(keyword.kwlist) | {"torch", "nn", "Tensor", "self"}
    top = {n.name for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef):
            for node in ast.walk(fn):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    assert node.id not in forbidden and node.id not in top, (fn.name, node.id)
            for a in fn.args.args:
                assert a.arg == "self" or (a.arg not in forbidden and a.arg not in top), (fn.name, a.arg)


# A network whose names collide with Python's: builtins, keywords of Python (not of the language),
# the generated module's own names; and a file name that must not reach the code unescaped.
ODD = """network list(classes=10)
define blk(nn, int, torch=2, self=1) = residual<3x3:nn > 3x3:(int*torch/2*self)> > relu
define tensor(x) = conv 1x1 out=x
conv 3x3 p1 x8
stage = blk(8, 8) x2 > tensor(16)
gap; flatten
linear classes
"""


def test_python_names_from_the_input_are_made_safe(tmp_path):
    import torch

    path = tmp_path / 'we"ird\'\\name #1.net'
    path.write_text(ODD)
    source = netdsl.compile(path, input_shape=(3, 16, 16))
    ast.parse(source)
    assert '"""' not in source.split('"""')[1]  # the header docstring is one string
    ns: dict = {}
    exec(compile(source, "<odd>", "exec"), ns)  # noqa: S102
    assert ns["list_net"] is not list and ns["Tensor2"] is not ns["Tensor"]
    model = netdsl.load(path, input_shape=(3, 16, 16)).eval()
    assert model(torch.zeros(1, 3, 16, 16)).shape == (1, 10)
    assert sum(p.numel() for p in model.parameters()) == netdsl.check(path, input_shape=(3, 16, 16)).total.params


# ------------------------------------------------------------------------ the command line


def test_cli_compile_to_file_and_stdout(tmp_path, capsys):
    out = tmp_path / "googlenet.py"
    assert main(["compile", str(ROOT / "networks" / "googlenet.net"), "-o", str(out)]) == 0
    text = out.read_text()
    assert text == netdsl.compile("googlenet")
    assert "wrote" in capsys.readouterr().err
    assert main(["compile", "lenet5", "-o", "-"]) == 0
    assert capsys.readouterr().out == netdsl.compile("lenet5")
    assert main(["compile", "resnet18", "-D", "classes=10", "-o", "-"]) == 0
    assert "def __init__(self, classes: int = 10) -> None:" in capsys.readouterr().out


def test_cli_compile_into_a_missing_folder_is_a_usage_error(tmp_path, capsys):
    target = tmp_path / "missing_dir" / "x.py"
    assert main(["compile", "googlenet", "-o", str(target)]) == 2
    err = capsys.readouterr().err
    assert "missing_dir" in err and "Traceback" not in err
    assert not target.parent.exists() and list(tmp_path.iterdir()) == []


def test_cli_compile_keeps_the_old_file_on_error(tmp_path, capsys):
    target = tmp_path / "x.py"
    target.write_text("old")
    bad = tmp_path / "bad.net"
    bad.write_text("conv 3x3 x8\nlinear 10\n")  # linear needs a flattened input
    assert main(["compile", str(bad), "-o", str(target)]) == 1
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["bad.net", "x.py"]


def _other_value(v):
    if isinstance(v, bool):
        return not v
    if isinstance(v, int):
        return (v * 2, v + 1, v + 2)
    return (v / 2,)


# network parameters that shape a zoo network's structure (FractalNet's recursion depth): the generated
# class takes them, as netdsl.load does, and refuses a value other than the one it was compiled with
COMPILED_IN = {"fractalnet": {"columns"}}


@pytest.mark.parametrize("name", ZOO)
def test_constructor_arguments_build_the_network_check_describes(name):
    """The generated class takes every network parameter of the header; each gives, at another value,
    the network that `netdsl check NAME -D param=value` describes (the same parameters), as
    `netdsl.load` does; a parameter compiled into the structure is refused with a ValueError."""
    torch = pytest.importorskip("torch")
    import inspect

    from netdsl.errors import NetdslError

    ns: dict = {}
    exec(compile(netdsl.compile(name), f"{name}.py", "exec", dont_inherit=True), ns)  # noqa: S102
    report = netdsl.check(name)
    factory = ns[report.net.name]
    cls = inspect.signature(factory).return_annotation
    taken = list(inspect.signature(cls).parameters)
    assert taken == list(report.net.params)
    for param in taken:
        for value in _other_value(report.net.params[param]):
            try:
                want = netdsl.check(name, **{param: value})
            except NetdslError:
                continue
            if param in COMPILED_IN.get(name, ()):
                with pytest.raises(ValueError, match=f"{param}=.* is compiled into this structure"):
                    factory(**{param: value})
                break
            with torch.device("meta"):
                model = factory(**{param: value})
            got = sum(p.numel() for p in model.parameters())
            assert got == want.total.params + sum(a.params for a in want.aux.values()), (param, value)
            break
        else:
            raise AssertionError(f"no other value of {param} to try")
