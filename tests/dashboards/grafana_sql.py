"""What Grafana does to a panel's SQL before PostgreSQL sees it, so tests can run the real thing.

Two passes, in Grafana's order: the browser replaces template variables (public/app/features/
templating/template_srv.ts with the SQL datasource's interpolateVariable), then the server expands
macros (pkg/tsdb/grafana-postgresql-datasource/macros.go). Only what fitmon's panels may use is
supported; anything else raises, as an unknown macro makes Grafana fail the query.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

ALL = "$__all"

# template_srv.ts: $var, [[var:fmt]], ${var}, ${var:fmt}, ${var.field:fmt}
_VARIABLE_RE = re.compile(
    r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^}]+))?(?::([^}]+))?\}"
)
# macros.go: `$name(args)`; every such call is a macro, and an unknown one is an error.
_MACRO_RE = re.compile(r"\$([_a-zA-Z0-9]+)\(([^)]*)\)")


class GrafanaSqlError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    multi: bool
    include_all: bool
    all_value: str | None
    options: tuple[str, ...]  # every value "All" stands for when there is no custom all value


def dashboard_variables(
    dashboard: Mapping[str, Any], options: Mapping[str, Sequence[str]]
) -> dict[str, Variable]:
    """The dashboard's template variables; `options` gives a query variable's values."""
    found: dict[str, Variable] = {}
    for raw in dashboard.get("templating", {}).get("list", []):
        name = raw["name"]
        if raw["type"] == "constant":
            values: tuple[str, ...] = (str(raw["query"]),)
        elif raw["type"] == "query":
            values = tuple(options.get(name, ()))
        else:
            raise GrafanaSqlError(f"variable {name}: type {raw['type']!r} is not supported here")
        found[name] = Variable(
            name,
            bool(raw.get("multi")),
            bool(raw.get("includeAll")),
            raw.get("allValue") or None,
            values,
        )
    return found


def _quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _format(values: list[str], variable: Variable, fmt: str | None) -> str:
    if fmt is None:
        # The SQL datasource's interpolateVariable: a lone value of a single-value variable goes
        # in raw (quotes doubled); multi-value or include-all variables become a quoted list.
        if len(values) == 1 and not (variable.multi or variable.include_all):
            return values[0].replace("'", "''")
        return ",".join(_quote_literal(v) for v in values)
    if fmt == "sqlstring":
        return ",".join(_quote_literal(v) for v in values)
    if fmt in {"csv", "raw"}:
        return ",".join(values)
    raise GrafanaSqlError(f"variable {variable.name}: format {fmt!r} is not supported here")


def replace_variables(
    sql: str,
    variables: Mapping[str, Variable],
    selection: Mapping[str, str | Sequence[str]],
    scoped: Mapping[str, str] | None = None,
) -> str:
    """Replace template variables; `selection[name]` is a value, a list of values, or ALL."""
    scoped = scoped or {}

    def replace(match: re.Match[str]) -> str:
        name = match[1] or match[2] or match[4]
        fmt = match[3] or match[6]
        if match[5]:
            raise GrafanaSqlError(f"${{{name}.{match[5]}}}: field paths are not supported here")
        if name in scoped:
            return scoped[name]
        variable = variables.get(name)
        if variable is None:
            return match[0]  # not a variable (a macro such as $__timeFilter): left for the server
        chosen = selection.get(name, ALL if variable.include_all else variable.options[:1])
        if chosen == ALL or (not isinstance(chosen, str) and list(chosen) == [ALL]):
            if variable.all_value is not None and fmt not in {"text", "percentencode"}:
                # template_srv.ts: a custom all value skips formatting and is expanded again
                return replace_variables(variable.all_value, variables, selection, scoped)
            values = list(variable.options)
        else:
            values = [chosen] if isinstance(chosen, str) else list(chosen)
        return _format(values, variable, fmt)

    return _VARIABLE_RE.sub(replace, sql)


def go_rfc3339_nano(moment: datetime) -> str:
    """Go's time.RFC3339Nano of the UTC time: no trailing zeros in the fraction, `Z`."""
    if moment.tzinfo is None:
        raise GrafanaSqlError(f"{moment!r} has no time zone")
    utc = moment.astimezone(UTC)
    fraction = f".{utc.microsecond:06d}".rstrip("0").rstrip(".")
    return utc.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"


def expand_macros(sql: str, time_from: datetime, time_to: datetime) -> str:
    start, end = go_rfc3339_nano(time_from), go_rfc3339_nano(time_to)

    def expand(match: re.Match[str]) -> str:
        name = match[1]
        args = [a.strip() for a in match[2].split(",")]
        if name == "__timeFilter":
            if not args[0]:
                raise GrafanaSqlError(f"missing time column argument for macro {name}")
            return f"{args[0]} BETWEEN '{start}' AND '{end}'"
        if name == "__timeFrom":
            return f"'{start}'"
        if name == "__timeTo":
            return f"'{end}'"
        if name == "__time":
            return f'{args[0]} AS "time"'
        if name == "__unixEpochFilter":
            low, high = int(time_from.timestamp()), int(time_to.timestamp())
            return f"{args[0]} >= {low} AND {args[0]} <= {high}"
        raise GrafanaSqlError(f"unknown macro {name!r} (fitmon panels use portable SQL only)")

    return _MACRO_RE.sub(expand, sql)


def render(
    sql: str,
    *,
    variables: Mapping[str, Variable],
    selection: Mapping[str, str | Sequence[str]],
    time_from: datetime,
    time_to: datetime,
    interval: str = "1h",
    interval_ms: int = 3_600_000,
) -> str:
    """The SQL Grafana would send to PostgreSQL for this time range and variable selection."""
    scoped = {"__interval": interval, "__interval_ms": str(interval_ms)}
    return expand_macros(replace_variables(sql, variables, selection, scoped), time_from, time_to)
