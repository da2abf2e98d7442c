"""FITMON_RAW_RETENTION_DAYS on TimescaleDB: `fitmon migrate` sets the retention policies of the
raw hypertables to the setting, leaves them alone when they already say so, and replaces them when
the setting changes."""

from __future__ import annotations

from db.migrate import Migration, migrate
from db.retention import RAW_TABLES, apply_raw_retention
from db.settings import DEFAULT_RAW_RETENTION_DAYS
from tests.timescale.pglite import connect

_POLICIES = """
SELECT hypertable_name::text, job_id, config->>'drop_after' FROM timescaledb_information.jobs
WHERE proc_name = 'policy_retention' ORDER BY hypertable_name
"""


def _policies(url: str) -> dict[str, tuple[int, str]]:
    with connect(url) as conn:
        return {name: (job, after) for name, job, after in conn.execute(_POLICIES).fetchall()}


def test_the_retention_policies_follow_the_setting_and_change_with_it(
    timescale_migrated: list[Migration], timescale_url: str
) -> None:
    first = _policies(timescale_url)
    assert set(first) == set(RAW_TABLES)
    assert {after for _, after in first.values()} == {"400 days"}
    try:
        assert migrate(timescale_url, raw_retention_days=90) == []
        changed = _policies(timescale_url)
        assert {name: after for name, (_, after) in changed.items()} == {
            "status_reports": "90 days",
            "usage_sessions": "90 days",
        }
        migrate(timescale_url, raw_retention_days=90)  # the same setting: nothing replaced
        assert _policies(timescale_url) == changed
        with connect(timescale_url) as conn:
            again = apply_raw_retention(conn, 90)
        assert (again.timescale, again.replaced, again.kept) == (True, (), RAW_TABLES)
    finally:  # the session's database as the migrations left it, for the other tests
        migrate(timescale_url, raw_retention_days=DEFAULT_RAW_RETENTION_DAYS)
    assert {after for _, after in _policies(timescale_url).values()} == {"400 days"}
