"""How long raw telemetry is kept (FITMON_RAW_RETENTION_DAYS): on TimescaleDB, the retention
policies of the heartbeat and usage hypertables, set by `fitmon migrate` to follow the setting.

Plain PostgreSQL keeps raw rows until an operator deletes them: fitmon has no job there to drop
them, and a DELETE over the largest tables would scan and bloat them where dropping a chunk costs
nothing. The rollups the dashboards read never need the raw rows (docs/operations.md, "Database").
The setting's default and limits, and why, are in db/settings.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
import structlog

from db.settings import check_raw_retention_days

log = structlog.get_logger(__name__)
RAW_TABLES = ("status_reports", "usage_sessions")


@dataclass(frozen=True, slots=True)
class RetentionApplied:
    days: int
    replaced: tuple[str, ...]  # tables whose policy was added or changed
    kept: tuple[str, ...]  # tables whose policy already said so
    timescale: bool  # False: plain PostgreSQL, where raw rows are kept until deleted


_HYPERTABLES = """
SELECT hypertable_name::text FROM timescaledb_information.hypertables
WHERE hypertable_schema = current_schema() AND hypertable_name = ANY(%s)
"""
_POLICY_DAYS = """
SELECT hypertable_name::text, (config->>'drop_after')::interval = make_interval(days => %s)
FROM timescaledb_information.jobs
WHERE proc_name = 'policy_retention' AND hypertable_schema = current_schema()
  AND hypertable_name = ANY(%s)
"""


def apply_raw_retention(conn: psycopg.Connection[Any], days: int) -> RetentionApplied:
    """Make each raw hypertable's retention policy drop chunks older than `days`; a policy that
    already does is left alone, so running it again changes nothing. Commits its own work."""
    check_raw_retention_days(days)
    has_extension = conn.execute(
        "SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'"
    ).fetchone()
    if has_extension is None:
        log.info("raw telemetry is kept until deleted: retention needs TimescaleDB", days=days)
        return RetentionApplied(days, (), (), timescale=False)
    tables = [str(row[0]) for row in conn.execute(_HYPERTABLES, (list(RAW_TABLES),))]
    current = {str(name): bool(same) for name, same in conn.execute(_POLICY_DAYS, (days, tables))}
    replaced = tuple(sorted(t for t in tables if not current.get(t, False)))
    with conn.transaction():
        for table in replaced:
            conn.execute("SELECT remove_retention_policy(%s, if_exists => true)", (table,))
            conn.execute(
                "SELECT add_retention_policy(%s, drop_after => make_interval(days => %s))",
                (table, days),
            )
    if replaced:
        log.info("raw telemetry retention set", days=days, tables=list(replaced))
    kept = tuple(sorted(set(tables) - set(replaced)))
    return RetentionApplied(days, replaced, kept, timescale=True)
