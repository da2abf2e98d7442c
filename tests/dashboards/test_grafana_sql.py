"""The test-side stand-in for Grafana's SQL expansion does what Grafana does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tests.dashboards.grafana_sql import (
    ALL,
    GrafanaSqlError,
    Variable,
    expand_macros,
    go_rfc3339_nano,
    replace_variables,
)

SITE = Variable("site", True, True, "SELECT code FROM sites", ("a", "b"))
KIND = Variable("kind", True, True, None, ("bike", "o'brien"))
TZ = Variable("tz", False, False, None, ("Asia/Shanghai",))
VARIABLES = {v.name: v for v in (SITE, KIND, TZ)}


def test_times_are_formatted_like_go_rfc3339_nano_in_utc() -> None:
    shanghai = timezone(timedelta(hours=8))
    assert go_rfc3339_nano(datetime(2019, 3, 10, 8, 0, tzinfo=shanghai)) == "2019-03-10T00:00:00Z"
    moment = datetime(2019, 3, 10, 0, 0, 1, 250_000, tzinfo=UTC)
    assert go_rfc3339_nano(moment) == "2019-03-10T00:00:01.25Z"


def test_time_macros_expand_as_grafana_postgres_does() -> None:
    start, end = datetime(2019, 1, 1, tzinfo=UTC), datetime(2019, 1, 2, tzinfo=UTC)
    sql = "WHERE $__timeFilter( ts ) AND x > $__timeFrom() AND y < $__timeTo()"
    assert expand_macros(sql, start, end) == (
        "WHERE ts BETWEEN '2019-01-01T00:00:00Z' AND '2019-01-02T00:00:00Z' "
        "AND x > '2019-01-01T00:00:00Z' AND y < '2019-01-02T00:00:00Z'"
    )


def test_an_unknown_macro_fails_the_query_as_in_grafana() -> None:
    now = datetime.now(UTC)
    with pytest.raises(GrafanaSqlError, match="__timeGroup"):
        expand_macros("SELECT $__timeGroup(ts, '1h')", now, now)


def test_multi_value_selection_becomes_a_quoted_list() -> None:
    sql = "IN ($kind) OR IN (${kind:sqlstring}) OR '${kind:csv}'"
    assert replace_variables(sql, VARIABLES, {"kind": ["bike", "o'brien"]}) == (
        "IN ('bike','o''brien') OR IN ('bike','o''brien') OR 'bike,o'brien'"
    )


def test_all_uses_the_custom_all_value_unquoted_or_every_option() -> None:
    selection = {"site": ALL, "kind": ALL}
    assert replace_variables("IN ($site)", VARIABLES, selection) == "IN (SELECT code FROM sites)"
    assert replace_variables("IN ($kind)", VARIABLES, selection) == "IN ('bike','o''brien')"


def test_a_single_value_variable_goes_in_raw_and_macros_are_left_alone() -> None:
    sql = "ts AT TIME ZONE '$tz' WHERE $__timeFilter(ts) AND $unknown = 1 AND i = $__interval"
    assert replace_variables(sql, VARIABLES, {}, {"__interval": "1h"}) == (
        "ts AT TIME ZONE 'Asia/Shanghai' WHERE $__timeFilter(ts) AND $unknown = 1 AND i = 1h"
    )
