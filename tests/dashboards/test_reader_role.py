"""The role Grafana signs in with, made by the script docker-compose runs, can run every panel
and can change nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from dashboards.payloads import PACKAGE_DIR
from tests.dashboards.conftest import Seed
from tests.dashboards.grafana_sql import ALL
from tests.dashboards.test_dashboards import BOARDS, PANELS, panel_named, run_sql

SCRIPT = PACKAGE_DIR / "postgres" / "create-grafana-reader.sh"


@pytest.fixture
def reader_url(database_url: str) -> Iterator[str]:
    if shutil.which("psql") is None:
        pytest.skip(
            "psql is not installed; the role script runs psql as the timescaledb image does"
        )
    params = psycopg.conninfo.conninfo_to_dict(database_url)
    role, password = f"grafana_reader_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    env = {
        **os.environ,
        "PGHOST": str(params.get("host", "127.0.0.1")),
        "PGPORT": str(params.get("port", 5432)),
        "PGPASSWORD": str(params.get("password", "")),
        "POSTGRES_USER": str(params.get("user", "postgres")),
        "POSTGRES_DB": str(params["dbname"]),
        "FITMON_GRAFANA_DB_USER": role,
        "FITMON_GRAFANA_DB_PASSWORD": password,
    }
    done = subprocess.run(["sh", str(SCRIPT)], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    try:
        yield psycopg.conninfo.make_conninfo(database_url, user=role, password=password)
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f'DROP ROLE IF EXISTS "{role}"')


def test_grafana_role_runs_every_panel(reader_url: str, seed: Seed) -> None:
    for uid, panel in PANELS:
        columns, _ = run_sql(reader_url, BOARDS[uid], panel, ALL)
        assert columns, f"{uid}: {panel['title']}"
    uid, devices_now = panel_named("Devices now")
    _, rows = run_sql(reader_url, BOARDS[uid], devices_now, [seed.site_b])
    assert rows == [{"online": 0, "offline": 1, "never_seen": 0}]


def test_grafana_role_cannot_write(reader_url: str, seed: Seed) -> None:
    with psycopg.connect(reader_url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("DELETE FROM dead_letters")
        # Even a session that turns read-only off has no write privilege.
        conn.execute("SET default_transaction_read_only = off")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE equipment SET model = 'x' WHERE code = %s", (seed.a1,))
