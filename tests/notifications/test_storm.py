"""A storm: 200 critical faults in one rate window across 20 sites reach a WeCom robot that
takes 20 messages a window as grouped messages, every fault named, none lost, none refused. The
window is 6 s here instead of a minute (the same setting in the receiver and in the core)."""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from typing import Any

import psycopg

from devices.codes import make_site_code
from tests.maintenance.support import add_person, rows
from tests.notifications.robot_receiver import RobotReceiver
from tests.notifications.support import (
    add_channel,
    delivery_rows,
    notify_settings,
    raise_fault,
    running_notify,
)
from tests.support import load_registry, make_registry, wait_until

WINDOW_S = 6.0
PER_WINDOW = 20
SITES, ITEMS = 20, 10


def _storm_world(database_url: str, conn: psycopg.Connection[Any]) -> tuple[int, list[str]]:
    district = f"97{os.getpid() % 10000:04d}"
    codes: list[str] = []
    for n in range(1, SITES + 1):
        site = str(make_site_code(district, n))
        registry = load_registry(database_url, make_registry(items=ITEMS, site=site))
        codes += [e.code for e in registry.equipment]
    row = conn.execute(
        "INSERT INTO crews (name, supervisor_id) VALUES (%s, %s) RETURNING id",
        (f"Storm crew {district}", add_person(conn, "crew", "Storm supervisor")),
    ).fetchone()
    assert row is not None
    conn.execute(
        "INSERT INTO crew_districts (crew_id, district) VALUES (%s, %s)", (row[0], district)
    )
    conn.commit()
    return int(row[0]), codes


def test_storm_of_200_faults_is_grouped_within_the_robots_limit(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    crew, codes = _storm_world(database_url, conn)
    # Spread over the sites: one fault at each site in turn, as a storm would arrive.
    codes.sort(key=lambda c: (c[12:15], c[:11]))
    with RobotReceiver(wecom_per_minute=PER_WINDOW, window_s=WINDOW_S) as robots:
        channel = add_channel(conn, crew, robots.target("wecom", "storm"), "Storm group")
        settings = notify_settings(
            database_url,
            rate_window_s=WINDOW_S,
            wecom_per_window=PER_WINDOW,
            group_wait_s=0.5,
        )
        with running_notify(settings):
            started = time.monotonic()
            for n, code in enumerate(codes):
                raise_fault(conn, code)
                # 200 faults over the window, as 200 in a minute would come over the minute.
                time.sleep(max(0.0, started + n * WINDOW_S / len(codes) - time.monotonic()))

            def all_delivered() -> list[dict[str, Any]]:
                found = delivery_rows(conn, "d.crew_channel_id = %s", channel.id)
                done = len(found) == len(codes) and all(r["status"] == "delivered" for r in found)
                return found if done else []

            delivered = wait_until(all_delivered, timeout=60, message="every fault delivered")
        messages = [r for r in robots.received if r.name == "storm"]
        refused = [r for r in robots.refused if r.name == "storm"]
    assert refused == []  # the robot's limit was never hit
    assert len(messages) < len(codes) / 5  # grouped ...
    texts = "\n".join(m.text() for m in messages)
    assert all(code in texts for code in codes)  # ... and every fault named
    # The log accounts for each: 200 deliveries in as many messages as the robot received.
    keys = Counter(r["message_key"] for r in delivered)
    assert sum(keys.values()) == len(codes)
    assert len(keys) == len(messages)
    said = sum(int(m.group(1)) for m in re.finditer(r"共 (\d+) 个", texts))
    singles = sum(1 for n in keys.values() if n == 1)
    assert said + singles == len(codes)  # grouped messages say how many they hold
    attempts = rows(
        conn,
        "SELECT count(*), bool_and(ok) FROM notification_attempts WHERE delivery_id = ANY(%s)",
        [r["id"] for r in delivered],
    )
    assert attempts == [(len(codes), True)]  # one attempt each, none failed
    # Any window of the robot's arrivals holds at most its limit.
    arrivals = sorted(m.at for m in messages)
    for i, at in enumerate(arrivals):
        assert sum(1 for t in arrivals[i:] if t < at + WINDOW_S) <= PER_WINDOW
