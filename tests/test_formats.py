"""`netdsl check --format table|json|markdown|csv`, the shipped JSON Schema and the notebook HTML."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from zoo import ZOO, golden, report

from netdsl import formats
from netdsl.cli import main

GOLDEN = Path(__file__).parent / "golden" / "formats"
CASES = {  # golden file: arguments
    "resnet50_transfer_depth1.md": ["check", "resnet50_transfer", "--depth", "1", "--format", "markdown"],
    "googlenet_depth1.csv": ["check", "googlenet", "--depth", "1", "--format", "csv"],
    "lenet5.json": ["check", "lenet5", "--format", "json"],
}


def _run(capsys, argv) -> str:
    capsys.readouterr()
    assert main(argv) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(CASES))
def test_format_golden(name, capsys):
    golden(GOLDEN / name, _run(capsys, CASES[name]))


def test_every_zoo_network_matches_the_shipped_schema():
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(formats.schema("check"))
    validator.check_schema(formats.schema("check"))
    for name in ZOO:
        doc = json.loads(json.dumps(formats.to_json(report(name), 8, "bfloat16", "adamw")))
        errors = sorted(validator.iter_errors(doc), key=str)
        assert not errors, f"{name}: {errors[0]}"
        assert doc["schema_version"] == formats.SCHEMA_VERSION


def test_schema_rejects_a_wrong_document():
    jsonschema = pytest.importorskip("jsonschema")
    doc = formats.to_json(report("lenet5"))
    doc["params"] = "61,706"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, formats.schema("check"))


def test_json_flag_is_format_json(capsys):
    assert _run(capsys, ["check", "vgg11", "--json"]) == _run(capsys, ["check", "vgg11", "--format", "json"])


def test_csv_rows_are_the_table_rows(capsys):
    rows = list(csv.DictReader(io.StringIO(_run(capsys, ["check", "resnet50", "--format", "csv"]))))
    rep = report("resnet50")
    assert len(rows) == len(formats.flat_rows(rep, 2))
    assert sum(int(r["params"]) for r in rows if r["depth"] == "0") == rep.total.params
    assert rows[0]["name"] == "conv1" and rows[0]["output_shape"] == "64x112x112"


def test_markdown_escapes_pipes_and_lists_totals(capsys):
    text = _run(capsys, ["check", "googlenet", "--format", "markdown", "--depth", "1"])
    assert "| aux1 (train only) | aux_classifier(1000) |" in text
    assert "- Params: 6,998,552 (7.00M)" in text
    assert all(line.count("|") == 7 for line in text.splitlines() if line.startswith("| "))


def test_report_shows_as_html_in_a_notebook():
    page = report("densenet121")._repr_html_()
    assert page.startswith("<div class='netdsl-report'>") and page.count("<tr>") > 20
    assert "<td>7,978,856" not in page and "7,978,856" in page  # totals in the footer


def test_unknown_format_is_a_usage_error(capsys):
    assert main(["check", "lenet5", "--format", "yaml"]) == 2
    assert "invalid choice" in capsys.readouterr().err
