"""Usage recorded before the migration that makes usage_daily a continuous aggregate stays in it
after the aggregate's scheduled refreshes, which cover only their 30-day window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import db.migrate
from db.migrate import migrate
from devices.codes import make_equipment_code
from tests.support import new_site_code
from tests.timescale.pglite import PGliteServer, connect, require_node
from tests.timescale.test_usage_hypertable import insert_usage

_POLICY_WINDOW = (
    "CALL refresh_continuous_aggregate('usage_daily', now() - INTERVAL '30 days', "
    "now() - INTERVAL '1 hour')"
)


def test_days_before_the_refresh_window_survive_the_aggregates_first_refresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node, _ = require_node()
    server = PGliteServer(tmp_path, node=node).start()
    try:
        every = db.migrate.load_migrations()
        before = [m for m in every if m.version < 10]  # 0010 turns usage_daily into the aggregate
        monkeypatch.setattr(db.migrate, "load_migrations", lambda: before)
        migrate(server.url)
        site = new_site_code()
        code = str(make_equipment_code(site, 1))
        now = datetime.now(UTC)
        with connect(server.url) as conn:
            conn.execute("INSERT INTO sites (code, name) VALUES (%s, 'Lake')", (site,))
            conn.execute(
                "INSERT INTO equipment (code, site_code, kind, installed_on) "
                "VALUES (%s, %s, 'smart_bike', '2024-01-01')",
                (code, site),
            )
            insert_usage(conn, code=code, seq=1, started_at=now - timedelta(days=90))
            insert_usage(conn, code=code, seq=2, started_at=now - timedelta(days=2))
        monkeypatch.setattr(db.migrate, "load_migrations", lambda: every)
        assert min(m.version for m in migrate(server.url)) == 10
        with connect(server.url) as conn:
            conn.autocommit = True
            conn.execute(_POLICY_WINDOW)  # what the hourly policy does
            conn.autocommit = False
            rows = conn.execute(
                "SELECT sessions FROM usage_daily WHERE code = %s ORDER BY day", (code,)
            ).fetchall()
    finally:
        server.stop()
    assert rows == [(1,), (1,)]
