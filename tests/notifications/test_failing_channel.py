"""A failing channel is retried with backoff, dead-lettered after its last try with every attempt
logged, and counted in the metric; while it fails, and while another hangs until its timeout,
the other channels deliver on time."""

from __future__ import annotations

import itertools
from typing import Any

import psycopg

from tests.maintenance.support import World, rows
from tests.notifications.robot_receiver import RobotReceiver
from tests.notifications.support import (
    add_channel,
    delivery_rows,
    notify_settings,
    raise_fault,
    running_notify,
)
from tests.support import wait_until


def test_failing_webhook_is_retried_then_dead_while_the_robot_delivers(
    database_url: str, conn: psycopg.Connection[Any], world: World, robots: RobotReceiver
) -> None:
    add_channel(conn, world.crew_id, robots.target("webhook", "down"), "Down system")
    add_channel(conn, world.crew_id, robots.target("wecom", "fine"), "WeCom group")
    robots.fail_next("webhook", "down", "503", times=100)
    settings = notify_settings(database_url, max_attempts=4, retry_first_s=0.2, retry_max_s=2)
    with running_notify(settings) as service:
        alert = raise_fault(conn, world.codes[0])
        wait_until(
            lambda: any(r.kind == "wecom" and world.codes[0] in r.text() for r in robots.received),
            message="the robot's message",
        )
        dead = wait_until(
            lambda: [
                r for r in delivery_rows(conn, "o.alert_id = %s", alert.id) if r["status"] == "dead"
            ],
            timeout=30,
            message="the webhook dead-lettered",
        )
        core = service.core
        assert core is not None
        wait_until(
            lambda: core.metrics.deliveries.labels("dead")._value.get() >= 1,
            message="the dead-letter gauge",
        )
        assert core.metrics.attempts.labels("webhook", "dead")._value.get() >= 1
        assert core.metrics.attempts.labels("webhook", "retry")._value.get() >= 3
    (webhook,) = dead
    assert webhook["kind"] == "webhook"
    assert webhook["attempts"] == 4
    assert webhook["last_code"] == "503"
    log = rows(
        conn,
        "SELECT attempt, ok, code, at FROM notification_attempts WHERE delivery_id = %s "
        "ORDER BY attempt",
        webhook["id"],
    )
    assert [(a, ok, code) for a, ok, code, _ in log] == [(n, False, "503") for n in (1, 2, 3, 4)]
    gaps = [(b[3] - a[3]).total_seconds() for a, b in itertools.pairwise(log)]
    # Backoff: at least half of 0.2, 0.4, 0.8 s (jitter), and the receiver saw each try.
    assert all(gap >= 0.1 * 2**n for n, gap in enumerate(gaps)), gaps
    assert len([r for r in robots.refused if r.name == "down"]) == 4
    robot = next(
        r for r in delivery_rows(conn, "o.alert_id = %s", alert.id) if r["kind"] == "wecom"
    )
    assert robot["status"] == "delivered"
    assert robot["attempts"] == 1


def test_a_channel_that_hangs_delays_no_other(
    database_url: str, conn: psycopg.Connection[Any], world: World, robots: RobotReceiver
) -> None:
    add_channel(conn, world.crew_id, robots.target("webhook", "hangs"), "Slow system")
    add_channel(conn, world.crew_id, robots.target("dingtalk", "fine"), "DingTalk group")
    add_channel(conn, world.crew_id, robots.target("feishu", "fine"), "Feishu group")
    robots.fail_next("webhook", "hangs", "timeout", times=1)  # held 3 s; our timeout is 2.5 s
    settings = notify_settings(database_url, send_timeout_s=2.5)
    with running_notify(settings):
        first = raise_fault(conn, world.codes[0])
        second = raise_fault(conn, world.codes[1], fault="PART_MISSING")
        wait_until(
            lambda: (
                [
                    r["status"]
                    for r in delivery_rows(conn, "o.alert_id IN (%s, %s)", first.id, second.id)
                ]
                == ["delivered"] * 6
            ),
            timeout=30,
            message="everything delivered once the hanging receiver answers again",
        )
    hung = rows(
        conn,
        "SELECT a.at, a.took_ms, a.code FROM notification_attempts a "
        "JOIN notification_deliveries d ON d.id = a.delivery_id "
        "JOIN notification_outbox o ON o.id = d.outbox_id "
        "WHERE o.alert_id = %s AND d.kind = 'webhook' ORDER BY a.attempt",
        first.id,
    )
    assert hung[0][2] == "timeout"
    assert hung[0][1] >= 2400
    hung_until = hung[0][0]
    others = [
        r
        for r in delivery_rows(conn, "o.alert_id IN (%s, %s)", first.id, second.id)
        if r["kind"] in ("dingtalk", "feishu")
    ]
    assert len(others) == 4
    # Both robots had both alerts before the hanging webhook's first try had even given up.
    assert all(r["delivered_at"] < hung_until for r in others), (others, hung_until)
    assert all(r["attempts"] == 1 for r in others)
