"""The store's live figures at a glance: what the demo prints while the chain runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import class_row


@dataclass(frozen=True, slots=True)
class LiveFigures:
    usage_sessions: int
    hourly_sessions: int  # the sum over usage_hourly: the rollup should match usage_sessions
    faults_raised: int
    status_reports: int
    dead_letters: int
    devices_online: int
    devices_offline: int
    open_alerts: int  # not closed (acknowledged ones too), of every rule
    open_tickets: int  # not closed
    out_of_service: int  # items not to be used until a ticket is closed


_LIVE_FIGURES = """
SELECT (SELECT count(*) FROM usage_sessions) AS usage_sessions,
       (SELECT coalesce(sum(sessions), 0) FROM usage_hourly)::bigint AS hourly_sessions,
       (SELECT count(*) FROM fault_events WHERE state = 'raised') AS faults_raised,
       (SELECT count(*) FROM status_reports) AS status_reports,
       (SELECT count(*) FROM dead_letters) AS dead_letters,
       (SELECT count(*) FILTER (WHERE online) FROM device_state) AS devices_online,
       (SELECT count(*) FILTER (WHERE NOT online) FROM device_state) AS devices_offline,
       (SELECT count(*) FROM alerts WHERE status <> 'closed') AS open_alerts,
       (SELECT count(*) FROM tickets WHERE status <> 'closed') AS open_tickets,
       (SELECT count(*) FROM equipment WHERE service_status = 'out_of_service') AS out_of_service
"""


def live_figures(conn: psycopg.Connection[Any]) -> LiveFigures:
    with conn.cursor(row_factory=class_row(LiveFigures)) as cur:
        row = cur.execute(_LIVE_FIGURES).fetchone()
    assert row is not None  # an aggregate without FROM always returns its one row
    return row
