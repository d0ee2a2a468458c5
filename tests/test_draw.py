"""`netdsl draw`: block diagrams of every zoo network, golden SVG/DOT/Mermaid text, bad input."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from zoo import ZOO, golden, report

import netdsl
from netdsl import diagram
from netdsl.cli import main
from netdsl.drawing import Drawing

GOLDEN = Path(__file__).parent / "golden" / "draw"
FIXTURES = Path(__file__).parent / "fixtures" / "errors"
CASES = {  # golden file: (network, depth, direction, format)
    "lenet5.svg": ("lenet5", 2, "TB", "svg"),
    "resnet18_depth3.svg": ("resnet18", 3, "TB", "svg"),
    "googlenet_depth1_lr.svg": ("googlenet", 1, "LR", "svg"),
    "mobilenet_v1.dot": ("mobilenet_v1", 2, "TB", "dot"),
    "googlenet.mmd": ("googlenet", 2, "TB", "mermaid"),
}
SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_draw_golden(name):
    net, depth, direction, fmt = CASES[name]
    golden(GOLDEN / name, Drawing(report(net), depth, direction).render(fmt))


def _boxes(svg_text: str) -> list[tuple[float, float, float, float]]:
    """The main rectangle of every box and frame."""
    root = ET.fromstring(svg_text)
    out = []
    for g in root.iter(f"{SVG}g"):
        if g.get("class") in ("box", "frame"):
            r = g.findall(f"{SVG}rect")[-1 if g.get("class") == "box" else 0]
            out.append(tuple(float(r.get(k)) for k in ("x", "y", "width", "height")))
    return out


def _overlap(a, b) -> bool:
    inside = a[0] <= b[0] and a[1] <= b[1] and b[0] + b[2] <= a[0] + a[2] and b[1] + b[3] <= a[1] + a[3]
    inside |= b[0] <= a[0] and b[1] <= a[1] and a[0] + a[2] <= b[0] + b[2] and a[1] + a[3] <= b[1] + b[3]
    apart = a[0] + a[2] <= b[0] or b[0] + b[2] <= a[0] or a[1] + a[3] <= b[1] or b[1] + b[3] <= a[1]
    return not (inside or apart)


@pytest.mark.parametrize("depth, direction", [(1, "LR"), (2, "TB")])
def test_every_zoo_network_draws_without_overlaps(depth, direction):
    for name in ZOO:
        d = Drawing(report(name), depth, direction)
        text = d.svg()
        boxes = _boxes(text)  # also: well-formed XML
        assert boxes, name
        # boxes and frames either nest or stay apart (sweep over boxes sorted by x)
        boxes.sort()
        for i, a in enumerate(boxes):
            for b in boxes[i + 1:]:
                if b[0] >= a[0] + a[2]:
                    break
                assert not _overlap(a, b), (name, a, b)
        assert f"<title>{report(name).net.name}</title>" in text
        assert d.dot().count("{") == d.dot().count("}")
        assert d.mermaid().startswith(f"flowchart {direction}")


def test_repeats_are_collapsed_and_branches_side_by_side():
    d = diagram.build(report("resnet50"), 2)
    layer1 = next(it for it in d.root.items if it.name == "layer1")
    assert [(it.op, it.count) for it in layer1.items] == [("bottleneck(64, 1)", 3)]
    g = diagram.build(report("googlenet"), 2)
    inc = next(it for it in g.root.items if it.name == "inception3a")
    heads = [b for a, b in inc.edges if a == diagram.IN]
    assert len(heads) == 4  # four branches leave the block's entry
    merge = [it for it in inc.items if it.kind == "merge"]
    assert len(merge) == 1 and sum(1 for a, b in inc.edges if b == inc.items.index(merge[0])) == 4


def test_title_block_and_box_text():
    text = Drawing(report("densenet121"), 2).svg()
    assert "densenet121</text>" in text and "input 3x224x224 -&gt; output 1000" in text
    assert "7,978,856 params (7.98M)" in text and "denseblock(32, 24)" in text


def test_deterministic_and_notebook_svg():
    a = netdsl.draw("nasnet_a_mobile", depth=2)
    b = netdsl.draw("nasnet_a_mobile", depth=2)
    assert a.svg() == b.svg() == a._repr_svg_()
    assert re.match(r'<svg xmlns="http://www.w3.org/2000/svg" width="[\d.]+" height="[\d.]+"', a.svg())


def test_cli_writes_the_file_by_extension(tmp_path, capsys):
    out = tmp_path / "net.dot"
    assert main(["draw", "lenet5", "-o", str(out)]) == 0
    assert out.read_text().startswith('digraph "lenet5"')
    assert "wrote" in capsys.readouterr().err
    assert main(["draw", "lenet5", "--format", "mermaid"]) == 0
    assert capsys.readouterr().out.startswith("flowchart TB")


def test_cli_usage_errors(capsys):
    assert main(["draw", "lenet5", "--depth", "0"]) == 2
    assert "--depth must be at least 1" in capsys.readouterr().err
    assert main(["draw", "lenet5", "--direction", "BT"]) == 2
    capsys.readouterr()


def test_bad_input_is_the_same_located_error_for_check_draw_and_diff(capsys, monkeypatch):
    """Every fixture of the error corpus: `draw` and `diff` fail exactly as `check` does."""
    monkeypatch.chdir(FIXTURES)
    cases = sorted(p.stem for p in FIXTURES.glob("*.net"))
    for name in cases:
        expected = (FIXTURES / f"{name}.expected").read_text(encoding="utf-8")
        for argv in (["draw", f"{name}.net"], ["diff", "lenet5", f"{name}.net", "--json"]):
            capsys.readouterr()
            code = main(argv)
            out = capsys.readouterr()
            assert (code, out.out, out.err) == (1, "", expected), argv


def test_check_diff_draw_do_not_import_torch(tmp_path):
    import subprocess
    import sys

    code = ("import sys; from netdsl.cli import main\n"
            f"for argv in (['check', 'googlenet', '--format', 'csv'], ['diff', 'resnet18', 'resnet34'],\n"
            f"             ['draw', 'googlenet', '-o', {str(tmp_path / 'g.svg')!r}]):\n"
            "    assert main(argv) == 0\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
