"""Formats of `netdsl check`: the table, JSON (with `schema_version`), Markdown, CSV and HTML.

The JSON document is described by `netdsl/schemas/check.schema.json` (shipped in the package);
a program can rely on it: fields are only ever added, and a change that removes or redefines one
raises the major number of `SCHEMA_VERSION`. Markdown, CSV and HTML list the same rows as the
table (down to `depth`), with exact integers.
"""

from __future__ import annotations

import csv
import html as _html
import io
import json
from importlib import resources

from . import report as R
from .cost import Report

SCHEMA_VERSION = "1.0"
FORMATS = ("table", "json", "markdown", "csv")
_COLUMNS = ("depth", "name", "op", "output_shape", "params", "macs", "file", "line", "train_only")


def schema(name: str = "check") -> dict:
    """A JSON Schema shipped with netdsl: `check` (this module's JSON) or `diff`."""
    return json.loads(resources.files("netdsl").joinpath("schemas", f"{name}.schema.json").read_text("utf-8"))


def to_json(report: Report, batch: int = 1, dtype: str = "float32", optimizer: str = "sgd",
            device: str = "cuda") -> dict:
    return {"schema_version": SCHEMA_VERSION, **R.to_json(report, batch, dtype, optimizer, device)}


def flat_rows(report: Report, depth: int | None) -> list[R.Row]:
    """The table's rows, down to `depth` (None: all), in table order."""
    return list(R._walk(R.rows(report), depth))


def _shape(r: R.Row) -> str:
    return R._fmt_shape(r.output_shape)


def _where(report: Report, r: R.Row) -> str:
    if not r.line:
        return ""
    return str(r.line) if r.file == report.net.file else f"{r.file}:{r.line}"


def _totals(report: Report, batch: int, dtype: str, optimizer: str) -> list[tuple[str, str]]:
    t = report.total
    out = [("Params", f"{t.params:,} ({R.human(t.params)})")]
    if report.frozen:
        out += [("Trainable params", f"{t.trainable:,}"), ("Frozen params", f"{report.frozen:,}")]
    out += [("MACs", f"{t.macs:,} ({R.human(t.macs)}; FLOPs = 2 x MACs = {R.human(2 * t.macs)})"),
            ("Activations", f"{t.activations:,} (conv and linear outputs, one image)"),
            ("Forward activation memory", f"{R.human_bytes(report.activation_bytes(batch, dtype))} "
                                          f"(batch {batch}, {dtype})"),
            ("Training memory estimate", f"{R.human_bytes(report.training_bytes(batch, dtype, optimizer))} "
                                         f"(batch {batch}, {dtype}, {optimizer})")]
    return out


def _title(report: Report) -> str:
    net = report.net
    out = net.node(net.output_node)["shape"]
    return f"{net.name}: input {R._fmt_shape(net.input_shape)} -> output {R._fmt_shape(out)}"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown(report: Report, depth: int | None = 2, batch: int = 1, dtype: str = "float32",
             optimizer: str = "sgd") -> str:
    lines = [f"**{_md_cell(_title(report))}**", "", "| Layer | Op | Output | Params | MACs | Line |",
             "|---|---|---|--:|--:|--:|"]
    for r in flat_rows(report, depth):
        name = "&nbsp;&nbsp;" * r.depth + r.name + (" (train only)" if r.aux and r.depth == 0 else "")
        lines.append(f"| {_md_cell(name)} | {_md_cell(r.op)} | {_shape(r)} | {r.params:,} | {r.macs:,} | "
                     f"{_md_cell(_where(report, r))} |")
    lines.append("")
    lines += [f"- {k}: {v}" for k, v in _totals(report, batch, dtype, optimizer)]
    return "\n".join(lines) + "\n"


def to_csv(report: Report, depth: int | None = 2) -> str:
    """One line per row, exact integers, `output_shape` as CxHxW; a header line first."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(_COLUMNS)
    for r in flat_rows(report, depth):
        w.writerow((r.depth, r.name, r.op, _shape(r), r.params, r.macs, r.file or "", r.line or "",
                    "true" if r.aux else "false"))
    return buf.getvalue()


def html(report: Report, depth: int | None = 2) -> str:
    """An HTML table (what a notebook shows for `netdsl.check(...)`)."""
    e = _html.escape
    rows = "".join(
        f"<tr><td style='text-align:left;padding-left:{0.3 + 1.2 * r.depth:.1f}em'>{e(r.name)}</td>"
        f"<td style='text-align:left'>{e(r.op)}</td><td>{e(_shape(r))}</td>"
        f"<td>{r.params:,}</td><td>{r.macs:,}</td></tr>"
        for r in flat_rows(report, depth))
    totals = "".join(f"<tr><th style='text-align:left'>{e(k)}</th><td colspan='4' style='text-align:left'>{e(v)}"
                     "</td></tr>" for k, v in _totals(report, 1, "float32", "sgd"))
    return (f"<div class='netdsl-report'><b>{e(_title(report))}</b><table>"
            "<thead><tr><th>Layer</th><th>Op</th><th>Output</th><th>Params</th><th>MACs</th></tr></thead>"
            f"<tbody>{rows}</tbody><tfoot>{totals}</tfoot></table></div>")


# A notebook shows a checked network as this table. Set here, where the table is written, so that
# the cost stage (which builds the Report) needs nothing of the formats after it; the orchestrator
# imports this module.
Report._repr_html_ = html


def render(report: Report, fmt: str, depth: int | None = 2, batch: int = 1, dtype: str = "float32",
           optimizer: str = "sgd", indent: int | None = None, device: str = "cuda") -> str:
    """The text of `netdsl check --format FMT` (ending in a newline)."""
    if fmt == "json":
        return json.dumps(to_json(report, batch, dtype, optimizer, device), indent=indent) + "\n"
    if fmt == "markdown":
        return markdown(report, depth, batch, dtype, optimizer)
    if fmt == "csv":
        return to_csv(report, depth)
    return R.table(report, depth, batch, dtype, optimizer, device) + "\n"
