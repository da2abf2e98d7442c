"""The delivery core end to end: a fault raised through the maintenance code reaches the crew's
robot, its signed webhook and its members' e-mail, with what is needed to fix the machine; the
outbox row is written in the alert's own transaction; preferences decide who hears what, when."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import httpx
import psycopg

from maintenance.alerts import Raise, raise_alert
from maintenance.audit import Actor
from notifications.channels.email import EmailChannel
from notifications.outbox import quiet_until
from notifications.preferences import set_preferences
from notifications.registry import build_channels
from notifications.sealed import Sealer
from tests.maintenance.support import World, one, settings
from tests.notifications.robot_receiver import RobotReceiver
from tests.notifications.support import (
    Mailbox,
    add_channel,
    delivery_rows,
    notify_settings,
    raise_fault,
    running_notify,
)
from tests.support import wait_until


def _email(conn: psycopg.Connection[Any], person: int, address: str) -> None:
    conn.execute("UPDATE people SET email = %s WHERE id = %s", (address, person))
    conn.commit()


def test_critical_fault_reaches_robot_webhook_and_email(
    database_url: str,
    conn: psycopg.Connection[Any],
    world: World,
    robots: RobotReceiver,
    mail: tuple[Mailbox, EmailChannel],
) -> None:
    mailbox, email = mail
    add_channel(conn, world.crew_id, robots.target("wecom", "crew-robot"), "WeCom group")
    add_channel(conn, world.crew_id, robots.target("webhook", "crew-hook"), "Dispatch system")
    member = f"m{world.members[0]}@crew.test"
    _email(conn, world.members[0], member)
    code = world.codes[0]
    settings = notify_settings(database_url)
    with httpx.Client() as http:
        channels = {**build_channels(settings, http), "email": email}
        with running_notify(settings, channels):
            alert = raise_fault(conn, code)
            wait_until(
                lambda: len([r for r in robots.received if code in r.text()]) >= 2,
                message="the robot and the webhook",
            )
            wait_until(
                lambda: any("告警" in str(m["Subject"]) for m in mailbox.to(member)),
                message="the member's e-mail",
            )
    robot = next(r for r in robots.received if r.kind == "wecom" and code in r.text())
    text = robot.text()
    site_name = one(conn, "SELECT name FROM sites WHERE code = %s", world.site)
    ticket = one(conn, "SELECT ticket_id FROM alerts WHERE id = %s", alert.id)
    for expected in ("太空漫步机", code, site_name, "结构倾斜", "严重", f"#{ticket}", "期限"):
        assert expected in text, (expected, text)
    assert f"/crew/tickets/{ticket}" in text  # the ticket link, as the robot's button/link
    hook = next(r for r in robots.received if r.kind == "webhook" and code in r.text())
    assert hook.headers["x-fitmon-signature"].startswith("v1=")  # the receiver checked it
    assert hook.payload["severity"] == "critical"
    # The member's e-mail: plain text and HTML, over STARTTLS with authentication.
    received = next(m for m in mailbox.to(member) if "告警" in str(m["Subject"]))
    plain = received.get_body(("plain",))
    html = received.get_body(("html",))
    assert plain is not None
    assert html is not None
    assert code in plain.get_content()
    assert "<strong>" in html.get_content()
    assert "结构倾斜" in str(received["Subject"])
    # Every attempt is in the log: one each, delivered.
    rows = delivery_rows(conn, "o.alert_id = %s", alert.id)
    assert {r["kind"] for r in rows} == {"wecom", "webhook", "email"}
    assert all(r["status"] == "delivered" and r["attempts"] == 1 for r in rows)
    logged = one(
        conn,
        "SELECT count(*) FROM notification_attempts WHERE ok AND delivery_id = ANY(%s)",
        [r["id"] for r in rows],
    )
    assert logged == 3


def test_outbox_row_is_written_in_the_transaction_of_its_alert(
    conn: psycopg.Connection[Any], world: World
) -> None:
    now = datetime.now(UTC)
    seen = Raise(world.codes[1], "device_fault", "major", now, fault="MECH_JAM")
    with conn.transaction() as tx:
        alert = raise_alert(conn, now, settings(), seen, Actor.device(world.codes[1]))
        assert one_in_tx(conn, alert.id) == 1  # written with the alert ...
        raise psycopg.Rollback(tx)  # ... and gone with it when its transaction fails
    assert one(conn, "SELECT count(*) FROM alerts WHERE subject = %s", world.codes[1]) == 0
    assert one(conn, "SELECT count(*) FROM notification_outbox WHERE alert_id = %s", alert.id) == 0
    committed = raise_fault(conn, world.codes[1], fault="MECH_JAM", severity="major")
    kinds = one(
        conn,
        "SELECT array_agg(kind ORDER BY kind) FROM notification_outbox "
        "WHERE alert_id = %s OR ticket_id = %s",
        committed.id,
        committed.ticket_id,
    )
    assert kinds == ["alert", "assigned"]  # ... and its ticket's assignment, with it


def one_in_tx(conn: psycopg.Connection[Any], alert_id: int) -> int:
    row = conn.execute(
        "SELECT count(*) FROM notification_outbox WHERE alert_id = %s", (alert_id,)
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_preferences_choose_severities_language_and_quiet_hours(
    database_url: str,
    conn: psycopg.Connection[Any],
    world: World,
    mail: tuple[Mailbox, EmailChannel],
) -> None:
    mailbox, email = mail
    quiet, english = world.members
    _email(conn, quiet, f"quiet{quiet}@crew.test")
    _email(conn, english, f"english{english}@crew.test")
    _email(conn, world.supervisor_id, f"sup{world.supervisor_id}@crew.test")
    now = datetime.now(UTC)
    sealer = Sealer(notify_settings(database_url).secret_key)
    start = (now - timedelta(hours=1)).astimezone(UTC).time().replace(microsecond=0)
    end = (now + timedelta(hours=1)).astimezone(UTC).time().replace(microsecond=0)
    common: dict[str, Any] = {
        "channels": ["email"],
        "webhook_url": None,
        "webhook_secret": None,
        "keep_webhook_secret": False,
    }
    set_preferences(
        conn,
        sealer,
        now,
        quiet,
        severities=["critical", "major", "minor"],
        quiet_from=start,
        quiet_until=end,
        time_zone="UTC",
        language="zh",
        **common,
    )
    set_preferences(
        conn,
        sealer,
        now,
        english,
        severities=["critical"],
        quiet_from=None,
        quiet_until=None,
        time_zone="Asia/Shanghai",
        language="en",
        **common,
    )
    set_preferences(
        conn,
        sealer,
        now,
        world.supervisor_id,
        severities=["major"],
        quiet_from=None,
        quiet_until=None,
        time_zone="Asia/Shanghai",
        language="zh",
        **common,
    )
    conn.commit()
    settings = notify_settings(database_url)
    with running_notify(settings, {"email": email}):
        major = raise_fault(conn, world.codes[0], fault="MECH_JAM", severity="major")
        critical = raise_fault(conn, world.codes[1], fault="PART_MISSING")
        wait_until(lambda: mailbox.to(f"english{english}@crew.test"), message="english mail")
        wait_until(lambda: mailbox.to(f"sup{world.supervisor_id}@crew.test"), message="sup")
        wait_until(lambda: mailbox.to(f"quiet{quiet}@crew.test"), message="critical in quiet")
    rows = delivery_rows(conn, "o.alert_id IN (%s, %s)", major.id, critical.id)
    told = {(r["person_id"], r["alert_id"]): r for r in rows}
    # The English speaker wants critical only, in English.
    assert (english, major.id) not in told
    (mail_en,) = mailbox.to(f"english{english}@crew.test")[:1]
    assert "Critical" in str(mail_en["Subject"])
    assert "part missing" in str(mail_en["Subject"])
    # The supervisor wants major only.
    assert (world.supervisor_id, critical.id) not in told
    assert told[(world.supervisor_id, major.id)]["status"] == "delivered"
    # Quiet hours: the critical alert broke through; the major one waits for their end.
    assert told[(quiet, critical.id)]["status"] == "delivered"
    held = told[(quiet, major.id)]
    assert held["status"] == "pending"
    assert held["due_at"] >= now + timedelta(minutes=59)


def test_quiet_hours_pass_midnight_in_the_persons_zone() -> None:
    at = datetime(2026, 3, 1, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai
    ends = quiet_until(at, "Asia/Shanghai", time(22), time(7))
    assert ends == datetime(2026, 3, 1, 23, 0, tzinfo=UTC)  # 07:00 the next morning there
    assert quiet_until(at, "Asia/Shanghai", time(8), time(22)) is None
    assert quiet_until(at, "UTC", time(15), time(16)) == datetime(2026, 3, 1, 16, tzinfo=UTC)
