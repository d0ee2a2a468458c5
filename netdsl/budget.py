"""Budgets: `assert` statements in `.net` files and `--assert` flags, over the analysed figures.

    assert macs < 4G
    assert params <= 25.6M
    assert memory(batch=32, dtype=bf16, optimizer=adamw) < 16GiB

A budget names a figure of the cost analysis (`METRICS`), a comparison and a limit with an
optional count suffix (K M G T: powers of 1000) or byte suffix (B KiB MiB GiB TiB: powers of
1024). Limits are compared exactly (a fraction, never a float). A file that `extends` another
inherits its budgets, except those on a figure it budgets itself (the same figure with the same
batch, dtype and optimizer): its own replace them. A violated budget is a located error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fractions import Fraction

from . import ast as A
from . import parse
from .cost import DTYPE_BYTES, OPTIMIZER_STATES, Report
from .errors import NetdslError, NetdslNameError, raise_collected
from .sources import SourceMap

COUNT_SUFFIXES = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
BYTE_SUFFIXES = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}
ARG_DEFAULTS = {"batch": 1, "dtype": "float32", "optimizer": "sgd"}
FLAG_FILE = "--assert"  # the file name errors about an `--assert` flag carry


@dataclass(frozen=True)
class Metric:
    name: str
    in_bytes: bool
    args: tuple[str, ...]  # which of batch / dtype / optimizer it takes
    value: Callable[[Report, dict], int]
    what: str  # for --help and the docs


METRICS = {m.name: m for m in (
    Metric("params", False, (), lambda r, a: r.total.params, "parameters (inference totals)"),
    Metric("trainable_params", False, (), lambda r, a: r.total.trainable, "parameters that train"),
    Metric("frozen_params", False, (), lambda r, a: r.frozen, "frozen parameters"),
    Metric("macs", False, (), lambda r, a: r.total.macs, "multiply-adds of conv and linear layers"),
    Metric("flops", False, (), lambda r, a: 2 * r.total.macs, "2 x MACs"),
    Metric("activations", False, (), lambda r, a: r.total.activations, "conv and linear outputs, one image"),
    Metric("layers", False, (), lambda r, a: r.total.layers, "expanded layers"),
    Metric("memory", True, ("batch", "dtype", "optimizer"),
           lambda r, a: r.training_bytes(a["batch"], a["dtype"], a["optimizer"]), "training memory estimate"),
    Metric("activation_memory", True, ("batch", "dtype"),
           lambda r, a: r.activation_bytes(a["batch"], a["dtype"]), "forward activation memory"),
    Metric("weight_memory", True, (), lambda r, a: r.total.params * 4, "float32 weights"),
)}

_COMPARE = {"<": lambda v, lim: v < lim, "<=": lambda v, lim: v <= lim, ">": lambda v, lim: v > lim,
            ">=": lambda v, lim: v >= lim, "==": lambda v, lim: v == lim, "!=": lambda v, lim: v != lim}
_QUANTITY = re.compile(r"([0-9.]+(?:[eE][-+]?[0-9]+)?)([A-Za-z]*)")


@dataclass(frozen=True)
class Budget:
    metric: Metric
    args: tuple[tuple[str, object], ...]  # every argument the metric takes, defaults filled in
    op: str
    limit: Fraction
    stmt: A.Assert

    @property
    def key(self) -> tuple:
        """What a budget of a file that extends another replaces: the same figure, same arguments."""
        return self.metric.name, self.args

    def figure(self) -> str:
        """`macs`, `memory(batch=32, dtype=bf16, optimizer=adamw)` (as written, defaults omitted)."""
        given = ", ".join(f"{a.name}={_value_text(a.value)}" for a in self.stmt.args)
        return f"{self.metric.name}({given})" if given else self.metric.name

    def value(self, report: Report) -> int:
        return self.metric.value(report, dict(self.args))

    def holds(self, report: Report) -> bool:
        return _COMPARE[self.op](self.value(report), self.limit)


def _value_text(e) -> str:
    return str(e.value) if isinstance(e, (A.Num, A.Str)) else e.id if isinstance(e, A.Name) else "?"


def _limit(st: A.Assert, metric: Metric) -> Fraction:
    m = _QUANTITY.fullmatch(st.limit)
    number, suffix = m.group(1), m.group(2)
    table = BYTE_SUFFIXES if metric.in_bytes else COUNT_SUFFIXES
    if suffix not in table:
        other = "a byte suffix (B, KiB, MiB, GiB, TiB)" if metric.in_bytes else "a count suffix (K, M, G, T)"
        raise NetdslNameError(
            f"`{suffix}` is not a unit of {metric.name}",
            span=st.limit_span,
            expected=f"a number with {other}, or a plain number",
            found=f"`{st.limit}`",
            hint=(f"{metric.name} is in bytes: write {number}{suffix[:1]}iB (powers of 1024)"
                  if metric.in_bytes and suffix[:1] in "KMGT" and suffix else
                  f"{metric.name} is a count, not bytes: write {number}{suffix[:1]} (powers of 1000)"
                  if not metric.in_bytes and suffix[:1] in "KMGT" and suffix else None),
        )
    return Fraction(number) * table[suffix]


def _arg(metric: Metric, ca: A.CallArg) -> tuple[str, object]:
    if ca.name is None or ca.name not in metric.args:
        takes = ", ".join(f"{a}=" for a in metric.args) or "no arguments"
        raise NetdslNameError(
            f"{metric.name} takes {takes}" if ca.name is None else f"{metric.name} has no argument `{ca.name}`",
            span=ca.span,
            expected=f"{metric.name}({', '.join(f'{a}=...' for a in metric.args)})" if metric.args
            else f"`{metric.name}` without arguments",
            found=f"`{ca.name}=`" if ca.name else "a positional argument",
        )
    value = ca.value.value if isinstance(ca.value, (A.Num, A.Str)) else getattr(ca.value, "id", None)
    choices = {"dtype": DTYPE_BYTES, "optimizer": OPTIMIZER_STATES}.get(ca.name)
    if choices is not None and value not in choices:
        raise NetdslNameError(f"unknown {ca.name} `{_value_text(ca.value)}`", span=ca.value.span,
                              expected="one of " + ", ".join(choices), found=f"`{_value_text(ca.value)}`")
    if ca.name == "batch" and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise NetdslNameError("the batch size is a whole number of at least 1", span=ca.value.span,
                              expected="batch=32", found=f"`{_value_text(ca.value)}`")
    return ca.name, value


def budget_of(st: A.Assert) -> Budget:
    """Check an `assert` statement (figure, arguments, unit) and return its budget."""
    from .errors import closest

    metric = METRICS.get(st.metric)
    if metric is None:
        raise NetdslNameError(
            f"unknown figure `{st.metric}` in a budget",
            span=st.metric_span,
            expected="one of " + ", ".join(METRICS),
            found=f"`{st.metric}`",
            hint=closest(st.metric, METRICS),
        )
    given = dict(ARG_DEFAULTS)
    seen: set[str] = set()
    for ca in st.args:
        name, value = _arg(metric, ca)
        if name in seen:
            raise NetdslNameError(f"`{name}` is given twice", span=ca.span)
        seen.add(name)
        given[name] = value
    args = tuple((a, given[a]) for a in metric.args)
    return Budget(metric, args, st.op, _limit(st, metric), st)


def _budgets(program: A.Program | None) -> list[Budget]:
    if program is None:
        return []
    return [budget_of(st) for st in program.stmts if isinstance(st, A.Assert)]


def collect(linked) -> list[Budget]:
    """The budgets of a linked program: its own, then its base's on figures it does not budget itself."""
    own = _budgets(linked.program)
    mine = {b.key for b in own}
    inherited = [b for b in _budgets(linked.base.program if linked.base else None) if b.key not in mine]
    return inherited + own


def _human(metric: Metric, n: int) -> str:
    from .report import human, human_bytes

    return human_bytes(n) if metric.in_bytes else human(n)


def violation(budget: Budget, report: Report) -> NetdslError:
    value = budget.value(report)
    st = budget.stmt
    return NetdslError(
        f"budget exceeded: {budget.figure()} {_human(budget.metric, value)}, limit {st.op} {st.limit}",
        span=st.span,
        expected=f"{budget.figure()} {st.op} {_exact(budget.limit)}",
        found=f"{value:,}",
    )


def _exact(limit: Fraction) -> str:
    return f"{limit.numerator:,}" if limit.denominator == 1 else f"{float(limit):,.6g}"


def enforce(report: Report, budgets: Iterable[Budget]) -> None:
    """Raise every violated budget (one error each, all at once)."""
    raise_collected([violation(b, report) for b in budgets if not b.holds(report)])


def flag_budgets(texts: Iterable[str]) -> tuple[list[Budget], SourceMap]:
    """The budgets of `--assert` flags, each parsed as the statement `assert TEXT`."""
    smap = SourceMap()
    out = []
    for i, text in enumerate(texts, start=1):
        name = FLAG_FILE if i == 1 else f"{FLAG_FILE}#{i}"
        source = f"assert {text}"
        smap.add(name, source)
        try:
            program = parse.parse(source, name)
            stmts = program.stmts
            if len(stmts) != 1 or not isinstance(stmts[0], A.Assert):
                raise NetdslNameError("--assert takes one budget", span=stmts[-1].span if stmts else None,
                                      expected="a budget like `macs < 4G`", found=f"`{text}`")
            out.append(budget_of(stmts[0]))
        except NetdslError as e:
            raise e.with_sources(smap) from None
    return out, smap


def enforce_flags(report: Report, texts: Iterable[str]) -> None:
    """Check the `--assert` budgets against a report (located in the flag's own text)."""
    budgets, smap = flag_budgets(texts)
    try:
        enforce(report, budgets)
    except NetdslError as e:
        raise e.with_sources(smap) from None
