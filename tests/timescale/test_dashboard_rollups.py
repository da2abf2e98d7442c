"""The dashboards on TimescaleDB: usage_daily is a real-time continuous aggregate of usage_sessions
with the plain table's columns and figures, its policies are scheduled, and every panel's SQL runs.

PGlite crashes on COPY and pipelined executemany, so rows go in one INSERT at a time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg.rows import dict_row

from db.migrate import Migration
from devices.codes import make_equipment_code
from tests.dashboards.grafana_sql import ALL, dashboard_variables, render
from tests.dashboards.test_dashboards import BOARDS, COLUMNS, PANELS
from tests.support import new_site_code
from tests.timescale.pglite import connect
from tests.timescale.test_usage_hypertable import insert_usage

CHINA_MIDNIGHT = datetime(2025, 7, 1, 16, 0, tzinfo=UTC)  # local 2025-07-02 00:00


def test_usage_daily_is_a_continuous_aggregate_by_local_day(
    timescale_migrated: list[Migration], timescale_url: str
) -> None:
    site = new_site_code()
    code = str(make_equipment_code(site, 1))
    with connect(timescale_url) as conn:
        conn.execute("INSERT INTO sites (code, name) VALUES (%s, 'Lake')", (site,))
        conn.execute(
            "INSERT INTO equipment (code, site_code, kind, installed_on) "
            "VALUES (%s, %s, 'smart_bike', '2025-01-01')",
            (code, site),
        )
        starts = [
            CHINA_MIDNIGHT - timedelta(minutes=5),
            CHINA_MIDNIGHT,
            CHINA_MIDNIGHT + timedelta(hours=15, minutes=59),
        ]
        for seq, started_at in enumerate(starts, start=1):
            insert_usage(conn, code=code, seq=seq, started_at=started_at)
        insert_usage(conn, code=code, seq=2, started_at=CHINA_MIDNIGHT)  # a copy: stored once
        kind = conn.execute(
            "SELECT count(*) FROM timescaledb_information.continuous_aggregates "
            "WHERE view_name = 'usage_daily' AND NOT materialized_only"
        ).fetchone()
        rows = conn.execute(
            "SELECT day, sessions, reps, duration_s, energy_wh FROM usage_daily WHERE code = %s "
            "ORDER BY day",
            (code,),
        ).fetchall()
    assert kind == (1,)
    assert rows == [
        (CHINA_MIDNIGHT - timedelta(days=1), 1, 20, 90.0, 1.5),
        (CHINA_MIDNIGHT, 2, 40, 180.0, 3.0),
    ]


def test_rollup_policies_keep_raw_usage_for_a_period_and_rollups_for_good(
    timescale_migrated: list[Migration], timescale_url: str
) -> None:
    with connect(timescale_url) as conn:
        jobs = conn.execute(
            "SELECT hypertable_name, proc_name, config FROM timescaledb_information.jobs "
            "WHERE proc_name LIKE 'policy_%%' AND proc_name <> 'policy_job_stat_history_retention'"
        ).fetchall()
        rollup = conn.execute(
            "SELECT materialization_hypertable_name FROM "
            "timescaledb_information.continuous_aggregates WHERE view_name = 'usage_daily'"
        ).fetchone()
    assert rollup is not None
    found = {(name, proc): config for name, proc, config in jobs}
    assert found["usage_daily", "policy_refresh_continuous_aggregate"]["start_offset"] == "30 days"
    assert found["usage_daily", "policy_compression"]["compress_after"] == "60 days"
    assert found["usage_sessions", "policy_retention"]["drop_after"] == "400 days"
    assert not any(name in {"usage_hourly", "usage_daily"} and proc == "policy_retention"
                   for name, proc in found)  # fmt: skip


def test_every_panel_query_runs_on_timescaledb(
    timescale_migrated: list[Migration], timescale_url: str
) -> None:
    start, end = CHINA_MIDNIGHT - timedelta(days=2), CHINA_MIDNIGHT + timedelta(days=1)
    with connect(timescale_url) as conn:
        conn.row_factory = dict_row  # type: ignore[assignment]
        for uid, panel in PANELS:
            variables = dashboard_variables(BOARDS[uid], {})
            sql = render(
                panel["targets"][0]["rawSql"],
                variables=variables,
                selection={"site": ALL, "district": ALL, "kind": ALL},
                time_from=start,
                time_to=end,
            )
            cursor: Any = conn.execute(sql.encode())
            assert [c.name for c in cursor.description] == COLUMNS[panel["title"]], panel["title"]
            cursor.fetchall()
