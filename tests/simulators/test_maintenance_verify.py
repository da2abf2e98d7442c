"""A simulated day with many faults through the real broker, ingest and maintenance service:
verify finds every fault became its alert (and, if critical, a ticket and an item out of service),
and reports a deleted alert."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from cli.services import LocalBroker
from cli.verify import verify_ledger
from cli.verify_report import VerifyReport
from simulators.ledger import read_faults
from tests.maintenance.process import MaintenanceProcess
from tests.simulators.factories import ROUGH, make_city, make_config
from tests.simulators.test_end_to_end import run_against_fitmon
from tests.support import IngestProcess, load_registry, migrated_database, wait_until


@pytest.fixture(scope="module")
def database_url(pg_admin_url: str) -> Iterator[str]:
    """A database of this module's own: the maintenance service ticks with the real clock, and must
    not act on what other tests leave behind in the session's database."""
    with migrated_database(pg_admin_url, "fitmon_test_verify") as url:
        yield url


@pytest.fixture
def maintenance_service(database_url: str, tmp_path: Path) -> Iterator[MaintenanceProcess]:
    """`python -m maintenance` with a one-second ticker and settle time."""
    env = {
        "FITMON_DATABASE_URL": database_url,
        "FITMON_TICK_S": "1",
        "FITMON_CLEAR_SETTLE_S": "1",
        "FITMON_LOG_FORMAT": "console",
    }
    service = MaintenanceProcess(env, tmp_path / "maintenance.log").start(wait=False)
    yield service
    service.stop()


# A raise episode whose alert no audit entry can explain away: deleting it must show.
_UNEXPLAINED_ALERT = """
SELECT a.id, a.subject, a.fault FROM alerts a
WHERE a.rule = 'device_fault' AND a.subject = ANY(%(codes)s)
  AND NOT EXISTS (SELECT 1 FROM alerts b JOIN audit_trail au
                      ON au.entity = 'alert' AND au.entity_id = b.id::text
                  WHERE b.subject = a.subject AND b.fault = a.fault AND b.rule = a.rule
                    AND au.action = 'raised again')
  AND NOT EXISTS (SELECT 1 FROM audit_trail au
                  WHERE au.entity = 'equipment' AND au.entity_id = a.subject
                    AND au.action = 'fault event out of order' AND au.detail LIKE a.fault || ' %%')
ORDER BY a.id LIMIT 1
"""


_FORGET_NOTIFICATIONS = """
WITH outbox AS (DELETE FROM notification_outbox WHERE alert_id = %(alert)s RETURNING id),
     deliveries AS (
         DELETE FROM notification_deliveries WHERE outbox_id IN (SELECT id FROM outbox)
         RETURNING id)
DELETE FROM notification_attempts WHERE delivery_id IN (SELECT id FROM deliveries)
"""


def test_faults_become_alerts_tickets_and_items_out_of_service_as_verify_checks(
    broker: LocalBroker,
    database_url: str,
    topic_root: str,
    ingest_factory: Callable[..., IngestProcess],
    maintenance_service: MaintenanceProcess,
    tmp_path: Path,
) -> None:
    city = make_city(sites=2, items=10)
    config = make_config(seed=21, misbehaviour=ROUGH, topic_root=topic_root, wear_scale=40.0)
    load_registry(database_url, city)
    ingest_factory()
    result = run_against_fitmon(
        city=city, config=config, broker=broker, ledger_dir=tmp_path / "ledger", hours=24
    )
    assert result.unacknowledged == 0
    reports: list[VerifyReport] = []

    def exact() -> bool:
        assert maintenance_service.running, maintenance_service.log()
        reports.append(verify_ledger(database_url, tmp_path / "ledger", maintenance=True))
        return reports[-1].exact

    try:
        wait_until(exact, 90, "verify to find fitmon exact", interval=1.0)
    except AssertionError:
        pytest.fail(f"verify still finds differences:\n{reports[-1].render()}")
    report = reports[-1]
    print(report.render())
    assert report.checked["alerts"] > 10
    assert report.maintenance is not None
    # Which faults the day's wear and weather raise is drawn per day: criticals are checked
    # (each with a ticket and its item out of service) whenever the ledger has one.
    ledger_faults = read_faults(tmp_path / "ledger")
    if any(f.severity == "critical" and f.state == "raised" for f in ledger_faults):
        assert " 0 critical" not in report.maintenance

    codes = [e.code for e in city.equipment]
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(_UNEXPLAINED_ALERT, {"codes": codes}).fetchone()
        assert row is not None, "every alert's episode was merged or out of order"
        alert_id, code, fault = row
        conn.execute("UPDATE alerts SET ticket_id = NULL WHERE id = %s", (alert_id,))
        # What notifications made of it goes with it (no fitmon path deletes an alert).
        conn.execute(_FORGET_NOTIFICATIONS, {"alert": alert_id})
        conn.execute("DELETE FROM alerts WHERE id = %s", (alert_id,))
    found = verify_ledger(database_url, tmp_path / "ledger", maintenance=True, inbox_timeout_s=5)
    assert ("alerts", f"{code} {fault}") in {(d.check, d.key) for d in found.differences}
    assert {d.key.split()[0] for d in found.differences} == {code}, found.render()
