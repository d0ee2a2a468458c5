"""`netdsl diff A B`: alignment, deltas, totals, JSON, per-side overrides, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from zoo import golden, report

from netdsl import diff, formats
from netdsl.cli import main

GOLDEN = Path(__file__).parent / "golden" / "diff"
CASES = {
    "resnet50_resnext50_32x4d.txt": ["diff", "resnet50", "resnext50_32x4d"],
    "resnet50_resnet50_transfer.txt": ["diff", "resnet50", "resnet50_transfer", "--depth", "1"],
    "vgg16_classes10.txt": ["diff", "vgg16", "vgg16", "-DB", "classes=10", "--depth", "1"],
    "resnet18_resnet34.json": ["diff", "resnet18", "resnet34", "--json", "--batch", "32", "--dtype", "bfloat16"],
}


def _run(capsys, argv) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("name", sorted(CASES))
def test_diff_golden(name, capsys):
    code, out, err = _run(capsys, CASES[name])
    assert code == 0, err
    golden(GOLDEN / name, out)


def _diff(a, b, a_over=None, b_over=None) -> diff.Diff:
    return diff.diff(diff.Side(report(a, **(a_over or {}))), diff.Side(report(b, **(b_over or {}))))


def test_a_network_against_itself_has_no_change():
    d = _diff("googlenet", "googlenet")
    assert {r.status for r in d.walk(None)} == {diff.SAME}
    assert all(a == b for _, a, b in d.totals())


def test_deeper_resnet_adds_blocks_where_they_are():
    d = _diff("resnet18", "resnet34")
    added = [r.name for r in d.walk(2) if r.status == diff.ADDED]
    assert added == ["layer1.2", "layer2.2", "layer2.3", "layer3.2", "layer3.3", "layer3.4", "layer3.5", "layer4.2"]
    assert [r.name for r in d.walk(1) if r.status == diff.CHANGED] == ["layer1", "layer2", "layer3", "layer4"]
    totals = {n: (a, b) for n, a, b in d.totals()}
    assert totals["params"] == (11_689_512, 21_797_672)


def test_the_other_way_round_removes_them():
    d = _diff("resnet34", "resnet18")
    assert sum(r.status == diff.REMOVED for r in d.walk(2)) == 8


def test_changed_head_only():
    d = _diff("vgg16", "vgg16", b_over={"classes": 10})
    changed = [r for r in d.walk(None) if r.status != diff.SAME]
    assert [r.name for r in changed] == ["classifier", "classifier.6"]
    assert changed[1].a.output_shape == (1000,) and changed[1].b.output_shape == (10,)


def test_json_matches_the_shipped_schema(capsys):
    jsonschema = pytest.importorskip("jsonschema")
    code, out, _ = _run(capsys, ["diff", "resnet50", "resnet50_transfer", "--json", "--depth", "0"])
    assert code == 0
    doc = json.loads(out)
    jsonschema.validate(doc, formats.schema("diff"))
    assert doc["totals"]["trainable_params"]["b"] == 6_147
    assert doc["rows"][-1]["status"] == "changed" and doc["rows"][-1]["name"] == "fc"


def test_per_side_input_and_overrides(capsys):
    code, out, err = _run(capsys, ["diff", "resnet18", "resnet18", "--input-b", "3x128x128", "-DA", "classes=10",
                                   "--depth", "1"])
    assert code == 0, err
    assert "B: resnet18  (resnet18.net, input 3x128x128 -> output 1000)" in out
    assert "A: resnet18(classes=10)" in out


def test_bad_side_is_a_located_error(capsys, monkeypatch):
    fixtures = Path(__file__).parent / "fixtures" / "errors"
    monkeypatch.chdir(fixtures)
    for name in ("shape_concat_branch_mismatch", "budget_exceeded_macs", "syntax_unclosed_block"):
        code, out, err = _run(capsys, ["diff", "lenet5", f"{name}.net"])
        assert code == 1 and out == ""
        assert err == (fixtures / f"{name}.expected").read_text(encoding="utf-8")


def test_unknown_side_is_a_usage_error(capsys):
    code, _, err = _run(capsys, ["diff", "resnet50", "resnet5O"])
    assert code == 2 and "resnet5O" in err
    code, _, err = _run(capsys, ["diff", "resnet50", "resnet50", "-DB", "clases=3"])
    assert code == 2 and "clases" in err


def test_training_memory_per_row_drops_by_what_freezing_saves():
    """resnet50 against resnet50_transfer (everything but fc frozen), per row, counted by hand:
    conv1 trains in A (weights + gradients, 9,408 float32 each) and its 64x112x112 output is kept by
    bn1 for backward; in B only its weights remain (a frozen prefix keeps nothing)."""
    d = _diff("resnet50", "resnet50_transfer")
    row = next(r for r in d.walk(1) if r.name == "conv1")
    a, b = d.training(row)
    assert a == 9408 * 4 * 2 + 64 * 112 * 112 * 4
    assert b == 9408 * 4
    assert d.training_delta(row) == b - a


def _rows(names):
    from netdsl.report import Row

    return [Row(name=n, op="relu", output_shape=(8, 4, 4), params=0, macs=0, depth=0, file="x.net", line=1,
                aux=False, children=[]) for n in names]


def test_long_flat_networks_align_in_linear_time(monkeypatch):
    """Two flat networks of 20,000 rows named mostly `relu`: the common start and end pair at
    once, and the matcher sees only the rows between (an exact match of the whole lists is
    quadratic: two 100k-layer networks took a minute)."""
    sizes = []
    real = diff.SequenceMatcher

    def spy(junk, a, b, autojunk):
        sizes.append((len(a), len(b), autojunk))
        return real(junk, a, b, autojunk=autojunk)

    monkeypatch.setattr(diff, "SequenceMatcher", spy)
    names = [f"conv{i}" if i % 3 == 0 else "relu" for i in range(20_000)]
    same = diff.align(_rows(names), _rows(names))
    assert [r.status for r in same] == [diff.SAME] * 20_000 and sizes == []
    inserted = names[:5] + ["sigmoid"] + names[5:10_000] + ["gelu"] + names[10_000:]
    rows = diff.align(_rows(names), _rows(inserted))
    assert [(r.status, r.b.name) for r in rows if r.status != diff.SAME] == [(diff.ADDED, "sigmoid"),
                                                                             (diff.ADDED, "gelu")]
    assert sizes == [(9_995, 9_997, True)]  # 10^8 pairs: names that recur often are junk
