"""`fitmon verify`, the maintenance part: what the maintenance service made of the ledger's faults.

Per item and fault code, the ledger's events in device order (boot, seq) form raise episodes (a
raise that is the first, or follows a clear, up to the next clear). What is exactly checkable:

- each device_fault alert was opened by one ledger raise: its raised_at is that raise's device
  time; no raise opened two alerts, and no alert lacks a raise;
- the alerts of an item and fault number at most its episodes, and at least the episodes less
  those the audit trail explains: a raise that came while the previous clear was still settling
  joins that alert ('raised again'), and an event older than one already taken is history only
  ('fault event out of order'; a late raise opens nothing, a late clear merges two episodes);
  with the clears settled and the events in order, alerts equal episodes;
- the last event decides the state: a raise leaves one alert open and not clearing (or closed
  with its ticket by a person); a clear leaves none (each is closed, or clearing until it settles);
  a closed alert was closed by its clear ('cleared') or with its ticket ('resolved');
- every critical alert opened or joined a ticket that takes the item out of service, and the item
  was taken out of service (the audit trail says so, or it is out of service while the ticket is
  open). A silenced alert (a maintenance window) needs no ticket.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from cli.verify_reads import (
    StoredAlert,
    fault_alerts,
    faults_taken,
    inbox_faults,
    merged_or_out_of_order,
    taken_out_of_service,
)
from simulators.ledger import FaultRow

Report = Callable[[str, str, str, str], None]  # check, key, expected, found


@dataclass(frozen=True, slots=True)
class _Faults:
    """One item's fault code in the ledger, in device order."""

    episodes: int
    raises: dict[datetime, str]  # device time of each raise -> its severity
    last_state: str


def _by_fault(faults: Sequence[FaultRow]) -> dict[tuple[str, str], _Faults]:
    events: defaultdict[tuple[str, str], list[FaultRow]] = defaultdict(list)
    for f in faults:
        events[f.code, f.fault].append(f)
    found = {}
    for key, rows in events.items():
        rows.sort(key=lambda f: (f.boot, f.seq))
        episodes, raised = 0, False
        for f in rows:
            if f.state == "raised" and not raised:
                episodes += 1
            raised = f.state == "raised"
        raises = {f.ts: f.severity for f in rows if f.state == "raised"}
        found[key] = _Faults(episodes, raises, rows[-1].state)
    return found


def wait_for_inbox(database_url: str, codes: Sequence[str], timeout_s: float) -> int:
    """Wait until the maintenance service has taken every fault event of `codes`; returns how many
    still wait (0 when it drained in time)."""
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(database_url, autocommit=True) as conn:
        while (waiting := inbox_faults(conn, codes)) and time.monotonic() < deadline:
            time.sleep(0.2)
    return waiting


def maintenance_ran(database_url: str, codes: Sequence[str]) -> bool:
    """Whether a maintenance service has taken any fault event of `codes`."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        return faults_taken(conn, codes) > 0


def compare_alerts(
    conn: psycopg.Connection[Any],
    faults: Sequence[FaultRow],
    params: dict[str, Any],
    differ: Report,
) -> tuple[int, int, int]:
    """Check the alerts against the ledger's faults; returns (episodes, alerts, critical alerts)."""
    ledger = _by_fault(faults)
    alerts: defaultdict[tuple[str, str], list[StoredAlert]] = defaultdict(list)
    for alert in fault_alerts(conn, params):
        alerts[alert.code, alert.fault].append(alert)
    slack = merged_or_out_of_order(conn, params)
    out_of_service = taken_out_of_service(conn, params)
    critical = 0
    for key in sorted(ledger.keys() | alerts.keys()):
        code, fault = key
        mine, theirs = ledger.get(key, _Faults(0, {}, "cleared")), alerts.get(key, [])
        _check_openers(code, fault, mine, theirs, differ)
        explained = slack.get(key, 0)
        if not mine.episodes - explained <= len(theirs) <= mine.episodes:
            why = f" ({explained} merged or out of order)" if explained else ""
            differ(
                "alerts",
                f"{code} {fault}",
                f"{mine.episodes} raise episode(s){why}",
                f"{len(theirs)} alert(s)",
            )
        _check_last_state(code, fault, mine.last_state, theirs, differ)
        for alert in theirs:
            if alert.severity == "critical" or mine.raises.get(alert.raised_at) == "critical":
                critical += 1
                _check_critical(alert, code in out_of_service, differ)
    episodes = sum(f.episodes for f in ledger.values())
    return episodes, sum(len(a) for a in alerts.values()), critical


def _check_openers(
    code: str, fault: str, mine: _Faults, theirs: list[StoredAlert], differ: Report
) -> None:
    openers = Counter(alert.raised_at for alert in theirs)
    for alert in theirs:
        if alert.raised_at not in mine.raises:
            differ(
                "alerts",
                f"{code} {fault} alert {alert.id}",
                "no raise at that time",
                f"raised {alert.raised_at.isoformat()}",
            )
    for at, count in openers.items():
        if count > 1 and at in mine.raises:
            ids = ", ".join(str(a.id) for a in theirs if a.raised_at == at)
            differ("alerts", f"{code} {fault} raised {at.isoformat()}", "one alert", ids)


def _check_last_state(
    code: str, fault: str, last_state: str, theirs: list[StoredAlert], differ: Report
) -> None:
    active = [a for a in theirs if a.status != "closed" and a.clearing_since is None]
    if last_state == "raised":
        closed_with_ticket = bool(theirs) and theirs[-1].close_reason == "resolved"
        if len(active) != 1 and not closed_with_ticket:
            differ("alert_open", f"{code} {fault}", "one open alert (raised last)", _ids(active))
    elif active:
        differ("alert_cleared", f"{code} {fault}", "closed or clearing (cleared)", _ids(active))
    for alert in theirs:
        if alert.status == "closed" and alert.close_reason not in ("cleared", "resolved"):
            differ(
                "alert_cleared",
                f"{code} {fault} alert {alert.id}",
                "closed by its clear or its ticket",
                f"closed: {alert.close_reason}",
            )


def _check_critical(alert: StoredAlert, audited: bool, differ: Report) -> None:
    key = f"{alert.code} {alert.fault} alert {alert.id}"
    if alert.silenced:
        return
    if alert.ticket_id is None:
        differ("tickets", key, "a ticket (critical)", "none")
        return
    if not alert.ticket_takes_out_of_service:
        differ("out_of_service", key, f"ticket {alert.ticket_id} takes it out", "it does not")
    held = not alert.ticket_closed and alert.service_status == "out_of_service"
    if not (audited or held):
        differ("out_of_service", key, "taken out of service", f"{alert.service_status}")


def _ids(alerts: list[StoredAlert]) -> str:
    return f"{len(alerts)} open: " + ", ".join(str(a.id) for a in alerts) if alerts else "none"
