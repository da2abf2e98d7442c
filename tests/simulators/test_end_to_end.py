"""A simulated day through the real broker and ingest into the real database, checked by verify."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from cli.services import LocalBroker
from cli.verify import verify_ledger
from cli.verify_report import VerifyReport
from devices.registry_rows import Registry
from simulators.config import ConnectionMode, Misbehaviour, SimConfig
from simulators.ledger import read_manifest
from simulators.runner import RunOptions, RunResult, run_fleet
from tests.simulators.factories import ROUGH, make_city, make_config
from tests.support import IngestProcess, load_registry, wait_until


def run_against_fitmon(
    *, city: Registry, config: SimConfig, broker: LocalBroker, ledger_dir: Path, hours: float
) -> RunResult:
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    options = RunOptions(mqtt_url=broker.url, mqtt5=broker.supports_mqtt5)
    return asyncio.run(
        run_fleet(
            city,
            config,
            start=end - timedelta(hours=hours),
            end=end,
            ledger_dir=ledger_dir,
            options=options,
        )
    )


def wait_for_exact(
    database_url: str, ledger_dir: Path, timeout: float, offline_tolerance_s: float = 60.0
) -> VerifyReport:
    reports: list[VerifyReport] = []

    def exact() -> bool:
        reports.append(
            verify_ledger(database_url, ledger_dir, offline_tolerance_s=offline_tolerance_s)
        )
        return reports[-1].exact

    try:
        wait_until(exact, timeout, "verify to find fitmon exact", interval=1.0)
    except AssertionError:
        pytest.fail(f"verify still finds differences after {timeout} s:\n{reports[-1].render()}")
    return reports[-1]


@pytest.mark.parametrize("connection", [ConnectionMode.DEVICE, ConnectionMode.GATEWAY])
def test_accelerated_day_with_duplicates_late_and_bad_messages_verifies_exact(
    connection: ConnectionMode,
    broker: LocalBroker,
    database_url: str,
    topic_root: str,
    ingest_factory: Callable[..., IngestProcess],
    tmp_path: Path,
) -> None:
    city = make_city(sites=20, items=12)
    config = make_config(seed=11, misbehaviour=ROUGH, connection=connection, topic_root=topic_root)
    load_registry(database_url, city)  # before ingest starts, as `fitmon registry import` would
    ingest_factory()
    result = run_against_fitmon(
        city=city, config=config, broker=broker, ledger_dir=tmp_path, hours=24
    )
    assert result.unacknowledged == 0
    report = wait_for_exact(database_url, tmp_path, timeout=90)
    counters = read_manifest(tmp_path)["counters"]
    assert counters["duplicates"] > 100
    assert counters["late"] > 10
    assert counters["out_of_order_flushes"] > 0
    assert counters["reboots"] > 10
    assert report.bad_found == report.bad_expected == counters["bad"] > 100
    # about 2,600 item-hours on a mild day; the city's weather (drawn per division and day) can
    # cut use to a third or less
    assert report.checked["usage_hourly"] > 500
    assert report.checked["faults"] > 0


def test_verify_reports_each_difference_between_ledger_and_database(
    broker: LocalBroker,
    database_url: str,
    topic_root: str,
    ingest_factory: Callable[..., IngestProcess],
    tmp_path: Path,
) -> None:
    city = make_city(sites=2, items=10)
    config = make_config(seed=12, topic_root=topic_root)
    load_registry(database_url, city)
    ingest_factory()
    run_against_fitmon(city=city, config=config, broker=broker, ledger_dir=tmp_path, hours=6)
    wait_for_exact(database_url, tmp_path, timeout=60)
    codes = [e.code for e in city.equipment]
    with psycopg.connect(database_url, autocommit=True) as conn:
        hour_row = conn.execute(
            "UPDATE usage_hourly SET reps = reps + 1 WHERE (code, hour) = "
            "(SELECT code, hour FROM usage_hourly WHERE code = ANY(%s) ORDER BY hour, code "
            "LIMIT 1) RETURNING code",
            (codes,),
        ).fetchone()
        session = conn.execute(
            "DELETE FROM usage_sessions WHERE (code, boot, seq) = (SELECT code, boot, seq "
            "FROM usage_sessions WHERE code = ANY(%s) ORDER BY started_at DESC LIMIT 1) "
            "RETURNING code",
            (codes,),
        ).fetchone()
        beats = conn.execute(
            "DELETE FROM status_reports WHERE (code, boot, seq) = (SELECT code, boot, seq "
            "FROM status_reports WHERE code = ANY(%s) LIMIT 1) RETURNING code",
            (codes,),
        ).fetchone()
    assert hour_row
    assert session
    assert beats
    report = verify_ledger(database_url, tmp_path)
    found = {(d.check, d.key.split()[0]) for d in report.differences}
    assert found == {
        ("usage_hourly", hour_row[0]),
        ("usage_sessions", session[0]),
        ("heartbeats", beats[0]),
    }


def test_real_time_outages_reach_fitmon_through_last_wills(
    broker: LocalBroker,
    database_url: str,
    topic_root: str,
    ingest_factory: Callable[..., IngestProcess],
    tmp_path: Path,
) -> None:
    city = make_city(sites=1, items=8)
    outages = Misbehaviour(
        offline_per_day=10_000.0,
        offline_median_s=3.0,
        reboot_per_day=0.0,
        duplicate_share=0.02,
        skewed_share=0.0,
        bad_share=0.0,
    )
    config = make_config(
        seed=13, topic_root=topic_root, heartbeat_s=10, tick_s=5, misbehaviour=outages
    )
    load_registry(database_url, city)
    ingest_factory()
    start = datetime.now(UTC)
    options = RunOptions(mqtt_url=broker.url, mqtt5=broker.supports_mqtt5, realtime=True)
    result = asyncio.run(
        run_fleet(
            city,
            config,
            start=start,
            end=start + timedelta(seconds=15),
            ledger_dir=tmp_path,
            options=options,
        )
    )
    assert result.wall_s >= 14.0  # paced by the clock, not replayed
    report = wait_for_exact(database_url, tmp_path, timeout=30, offline_tolerance_s=2.0)
    assert read_manifest(tmp_path)["connection_drops"] is True
    assert report.offline is not None
    assert report.offline.comparable
    assert report.offline.noticeable >= 3
    assert report.offline.matched == report.offline.noticeable
