"""Every panel of every dashboard on a simulated city's day, sent through the real broker and ingest
into a database of its own: each query runs, and the usage panels' figures (sessions per site and
hour, per site and local day, per item, by weekday and hour) equal the simulator's ledger."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from cli.services import LocalBroker
from db.rollups import refresh_usage_rollups
from simulators.ledger import iter_hourly
from tests.dashboards.grafana_sql import ALL
from tests.dashboards.test_dashboards import BOARDS, COLUMNS, PANELS, run_sql
from tests.simulators.factories import ROUGH, make_city, make_config
from tests.simulators.test_end_to_end import run_against_fitmon, wait_for_exact
from tests.support import IngestProcess, load_registry, migrated_database

CHINA = timedelta(hours=8)


@pytest.fixture(scope="module")
def city_database(pg_admin_url: str) -> Iterator[str]:
    """A database of this module's own, so the panels over "all sites" see only the city."""
    with migrated_database(pg_admin_url, "fitmon_test_city") as url:
        yield url


def test_every_panel_runs_on_a_simulated_day_and_usage_equals_the_ledger(
    broker: LocalBroker,
    city_database: str,
    topic_root: str,
    ingest_factory: Callable[..., IngestProcess],
    tmp_path: Path,
) -> None:
    city = make_city(sites=3, items=8)
    config = make_config(seed=31, misbehaviour=ROUGH, topic_root=topic_root)
    load_registry(city_database, city)
    ingest_factory(FITMON_DATABASE_URL=city_database)
    run_against_fitmon(city=city, config=config, broker=broker, ledger_dir=tmp_path, hours=30)
    wait_for_exact(city_database, tmp_path, timeout=90)  # fitmon verify: the store is exact
    with psycopg.connect(city_database) as conn:  # what the maintenance service does each minute
        assert refresh_usage_rollups(conn).hours > 0  # from the hours ingest noted, no more
    ledger = list(iter_hourly(tmp_path))
    assert sum(r.sessions for r in ledger) > 100
    start = min(r.hour for r in ledger) - timedelta(days=1)
    end = datetime.now(UTC) + timedelta(hours=1)

    def panel(title: str, sites: Any = ALL) -> list[dict[str, Any]]:
        [(uid, found)] = [(u, p) for u, p in PANELS if p["title"] == title]
        return run_sql(city_database, BOARDS[uid], found, sites, start, end)[1]

    for uid, found in PANELS:
        columns, _ = run_sql(city_database, BOARDS[uid], found, ALL, start, end)
        assert columns == COLUMNS[found["title"]], (uid, found["title"])

    per_site_hour = Counter[tuple[str, datetime]]()
    per_site_day = Counter[str]()
    per_item = Counter[str]()
    per_cell = Counter[tuple[str, str]]()
    for row in ledger:
        per_site_hour[row.code[:11], row.hour] += row.sessions
        per_site_day[row.code[:11]] += row.sessions
        per_item[row.code] += row.sessions
        local = row.hour + CHINA
        per_cell[local.strftime("%a"), f"{local.hour:02d}"] += row.sessions
    for site in city.sites:
        hours = panel("Sessions per hour", [site.code])
        stored = {r["time"]: r["sessions"] for r in hours if r["sessions"]}
        ledger_hours = {h: n for (s, h), n in per_site_hour.items() if s == site.code and n}
        assert stored == ledger_hours, site.code
    by_site = {
        r["site"].rsplit(" · ", 1)[1]: r["sessions"] for r in panel("Sessions by site (local days)")
    }
    assert by_site == {s: n for s, n in per_site_day.items() if n}
    most = panel("Most used items")
    assert [(r["item"], r["sessions"]) for r in most] == sorted(
        per_item.items(), key=lambda kv: (-kv[1], kv[0])
    )[:10]
    cells = {(r["weekday"], h): r[h] for r in panel("Sessions by weekday and local hour of day")
             for h in r if h != "weekday" and r[h]}  # fmt: skip
    assert cells == {cell: n for cell, n in per_cell.items() if n}
    assert panel("Items")[0]["items"] == len(city.equipment)
