"""Ingest against the real broker and database: storing, duplicates, batches, bad input."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

from devices.codes import make_equipment_code, site_of
from tests.support import (
    IngestProcess,
    Publisher,
    birth,
    item_topic,
    load_registry,
    make_registry,
    scalar,
    usage,
    v1,
    wait_until,
)


def count(database_url: str, table: str, site: str) -> int:
    value = scalar(database_url, f"SELECT count(*) FROM {table} WHERE code LIKE %s", site + "%")
    assert isinstance(value, int)
    return value


def refusals(database_url: str, topic: str) -> list[str]:
    sql = "SELECT reason FROM dead_letters WHERE topic = %s ORDER BY reason"
    return [str(reason) for (reason,) in _fetch(database_url, sql, topic)]


def gateway_online(database_url: str, site: str) -> object:
    return scalar(database_url, "SELECT online FROM gateway_state WHERE site_code = %s", site)


def test_usage_is_stored_and_rolled_up_by_hour(
    database_url: str,
    ingest_factory: Callable[..., IngestProcess],
    publisher: Publisher,
    topic_root: str,
) -> None:
    registry = load_registry(database_url, make_registry(items=2))
    code = registry.equipment[0].code
    ingest_factory()
    started = datetime(2026, 11, 20, 7, 15, tzinfo=UTC)
    for seq in range(1, 4):
        publisher.publish(
            item_topic(topic_root, code, "usage"),
            usage(
                code,
                seq,
                reps=10 * seq,
                energy_wh=1.5,
                started_at=started.isoformat(),
            ),
        )
    wait_until(lambda: count(database_url, "usage_sessions", code) == 3, message="3 sessions")
    row = scalar(
        database_url,
        "SELECT row(sessions, reps, energy_wh)::text FROM usage_hourly "
        "WHERE code = %s AND hour = %s",
        code,
        started.replace(minute=0),
    )
    assert row == "(3,60,4.5)"


def test_duplicate_usage_is_stored_once_and_counted_once_in_rollup(
    database_url: str,
    ingest_factory: Callable[..., IngestProcess],
    publisher: Publisher,
    topic_root: str,
) -> None:
    registry = load_registry(database_url, make_registry(items=1))
    code = registry.equipment[0].code
    ingest = ingest_factory()
    message = usage(code, 7, reps=20)
    for _ in range(3):
        publisher.publish(item_topic(topic_root, code, "usage"), message)
    # the same message once more inside a site batch: still the same (code, boot, seq)
    publisher.publish(f"{topic_root}/{site_of(code)}/batch", [message])
    wait_until(
        lambda: ingest.metric("fitmon_ingest_messages_duplicate_total", kind="usage") == 3,
        message="3 duplicates counted",
    )
    assert count(database_url, "usage_sessions", code) == 1
    assert scalar(database_url, "SELECT sessions FROM usage_hourly WHERE code = %s", code) == 1
    assert scalar(database_url, "SELECT reps FROM usage_hourly WHERE code = %s", code) == 20


def test_every_kind_of_bad_input_is_dead_lettered_and_the_messages_around_it_are_stored(
    database_url: str,
    ingest_factory: Callable[..., IngestProcess],
    publisher: Publisher,
    topic_root: str,
) -> None:
    registry = load_registry(database_url, make_registry(items=2))
    code, other = registry.equipment[0].code, registry.equipment[1].code
    site = site_of(code)
    unknown = str(make_equipment_code(site, 999))
    bad_check = code[:-1] + ("0" if code[-1] != "0" else "1")
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    topic = item_topic(topic_root, code, "usage")
    bad: list[tuple[str, bytes | str | dict[str, object], str]] = [
        (topic, b'{"v": 1, "code": ', "Invalid JSON"),
        (topic, b'{"v": 1, "code": "\xff\xfe"}', "not UTF-8"),
        (topic, usage(code, 901, reps=-3), "reps"),
        (topic, {k: v for k, v in usage(code, 902).items() if k != "started_at"}, "started_at"),
        (item_topic(topic_root, unknown, "usage"), usage(unknown, 1), "unknown equipment code"),
        (topic, usage(bad_check, 903), "wrong check character"),
        (topic, usage(other, 904), "differs from topic code"),
        (topic, json.dumps(usage(code, 905, note="x" * 70_000)), "exceeds 64 KiB"),
        (topic, usage(code, 906, ts=future), "in the future"),
        (f"{topic_root}/{site}/{code}/selfie", usage(code, 907), "unknown message kind"),
    ]
    ingest = ingest_factory()
    seq = 0
    for bad_topic, payload, _ in bad:
        seq += 1
        publisher.publish(topic, usage(code, seq))
        publisher.publish(bad_topic, payload)
    publisher.publish(topic, usage(code, seq + 1))
    wait_until(
        lambda: count(database_url, "usage_sessions", code) == len(bad) + 1,
        message="every good message stored",
    )
    wait_until(
        lambda: ingest.metric("fitmon_ingest_dead_letters_total") >= len(bad),
        message="every bad message dead-lettered",
    )
    rows = {
        str(r)
        for (r,) in _fetch(
            database_url, "SELECT reason FROM dead_letters WHERE topic LIKE %s", topic_root + "%"
        )
    }
    for _, _, expected in bad:
        assert any(expected in reason for reason in rows), (expected, rows)
    raw = _fetch(
        database_url,
        "SELECT payload FROM dead_letters WHERE reason LIKE %s AND topic = %s",
        "%not UTF-8%",
        topic,
    )
    assert raw[0][0] == b'{"v": 1, "code": "\xff\xfe"}'


def test_site_batch_stores_good_items_and_dead_letters_each_bad_item(
    database_url: str,
    ingest_factory: Callable[..., IngestProcess],
    publisher: Publisher,
    topic_root: str,
) -> None:
    registry = load_registry(database_url, make_registry(items=3))
    a, b, c = (e.code for e in registry.equipment)
    site = site_of(a)
    foreign = str(make_equipment_code("110105-0001", 1))
    ingest_factory()
    publisher.publish(
        f"{topic_root}/{site}/batch",
        [
            birth(a, 0),
            usage(a, 1, reps=5),
            v1(b, 1, online=True, battery_pct=88.5),
            v1(c, 1, fault="MECH_JAM", severity="major", state="raised", detail="flywheel stuck"),
            {**usage(b, 2), "reps": "many"},
            usage(foreign, 1),
            {"v": 1},
        ],
    )
    wait_until(lambda: count(database_url, "fault_events", site) == 1, message="fault stored")
    assert count(database_url, "usage_sessions", site) == 1
    assert count(database_url, "status_reports", site) == 1
    assert count(database_url, "device_births", site) == 1
    reasons = refusals(database_url, f"{topic_root}/{site}/batch")
    assert len(reasons) == 3
    assert any("batch item 4" in r and "reps" in r for r in reasons)
    assert any("batch item 5" in r and "not at site" in r for r in reasons)
    assert any("batch item 6" in r for r in reasons)
    assert gateway_online(database_url, site) is True


def test_batch_of_usage_only_refuses_each_session_it_cannot_take_and_rolls_up_the_rest(
    database_url: str,
    ingest_factory: Callable[..., IngestProcess],
    publisher: Publisher,
    topic_root: str,
) -> None:
    """A gateway flushing sessions only takes ingest's fast path; its refusals must be the same."""
    registry = load_registry(database_url, make_registry(items=2))
    a, b = (e.code for e in registry.equipment)
    site = site_of(a)
    foreign = str(make_equipment_code("110105-0001", 1))
    unknown = str(make_equipment_code(site, 999))
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    india = timezone(timedelta(hours=5, minutes=30))
    started_at = (hour + timedelta(minutes=10, microseconds=123_457)).astimezone(india)
    started = started_at.isoformat()
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    ingest_factory()
    publisher.publish(
        f"{topic_root}/{site}/batch",
        [
            usage(a, 1, reps=5, started_at=started, energy_wh=1.25),
            usage(foreign, 1),
            usage(b, 1, reps=7, started_at=started),
            usage(unknown, 1),
            usage(a, 2, ts=future),
            usage(b, 2, started_at=future),
            usage(a, 3, reps=11, started_at=started),
        ],
    )
    wait_until(lambda: count(database_url, "dead_letters", site) == 3, message="3 refusals")
    assert count(database_url, "usage_sessions", site) == 3
    sql = "SELECT DISTINCT started_at FROM usage_sessions WHERE code = %s"
    assert _fetch(database_url, sql, a) == [(started_at,)]
    rollup = _fetch(
        database_url,
        "SELECT code, sessions, reps, energy_wh FROM usage_hourly "
        "WHERE hour = %s AND code LIKE %s ORDER BY code",
        hour,
        site + "%",
    )
    assert rollup == [(a, 2, 16, 1.25), (b, 1, 7, 0.0)]
    reasons = refusals(database_url, f"{topic_root}/{site}/batch")
    assert len(reasons) == 4
    assert any(r.startswith("batch item 1: ") and "not at site" in r for r in reasons)
    assert any(r.startswith("batch item 3: unknown equipment code") for r in reasons)
    assert any(r.startswith("batch item 4: ts ") and "future" in r for r in reasons)
    assert any(r.startswith("batch item 5: started_at ") for r in reasons)
    assert gateway_online(database_url, site) is True


def test_late_message_is_stored_at_its_device_time(
    database_url: str,
    ingest_factory: Callable[..., IngestProcess],
    publisher: Publisher,
    topic_root: str,
) -> None:
    registry = load_registry(database_url, make_registry(items=1))
    code = registry.equipment[0].code
    ingest_factory()
    three_days_ago = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    publisher.publish(
        item_topic(topic_root, code, "usage"),
        usage(
            code,
            1,
            ts=three_days_ago.isoformat(),
            started_at=three_days_ago.isoformat(),
        ),
    )
    wait_until(lambda: count(database_url, "usage_sessions", code) == 1, message="late session")
    assert (
        scalar(database_url, "SELECT started_at FROM usage_sessions WHERE code = %s", code)
        == three_days_ago
    )
    assert scalar(
        database_url, "SELECT hour FROM usage_hourly WHERE code = %s", code
    ) == three_days_ago.replace(minute=0, second=0)


def _fetch(database_url: str, sql: str, *params: object) -> list[tuple[object, ...]]:
    import psycopg  # noqa: PLC0415

    with psycopg.connect(database_url, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def test_item_imported_while_ingest_runs_is_accepted_at_once(
    database_url: str,
    ingest_factory: Callable[..., IngestProcess],
    publisher: Publisher,
    topic_root: str,
) -> None:
    early, late = make_registry(items=1), make_registry(items=1)
    ingest_factory(FITMON_REGISTRY_REFRESH_S="3600")
    early_code, late_code = early.equipment[0].code, late.equipment[0].code
    publisher.publish(item_topic(topic_root, early_code, "usage"), usage(early_code, 1))
    wait_until(
        lambda: scalar(
            database_url, "SELECT count(*) FROM dead_letters WHERE code = %s", early_code
        ),
        message="usage from an unregistered item dead-lettered",
    )
    load_registry(database_url, late)
    publisher.publish(item_topic(topic_root, late_code, "usage"), usage(late_code, 1))
    wait_until(
        lambda: count(database_url, "usage_sessions", late_code) == 1,
        message="the item imported after ingest started is stored",
    )


def test_code_found_unknown_is_looked_up_again_after_the_recheck_interval(
    database_url: str,
    ingest_factory: Callable[..., IngestProcess],
    publisher: Publisher,
    topic_root: str,
) -> None:
    registry = make_registry(items=1)
    code = registry.equipment[0].code
    ingest_factory(FITMON_REGISTRY_REFRESH_S="1")
    publisher.publish(item_topic(topic_root, code, "usage"), usage(code, 1))
    wait_until(
        lambda: scalar(database_url, "SELECT count(*) FROM dead_letters WHERE code = %s", code),
        message="usage from an unregistered item dead-lettered",
    )
    load_registry(database_url, registry)
    seq = iter(range(2, 10_000))

    def stored_after_resend() -> bool:
        publisher.publish(item_topic(topic_root, code, "usage"), usage(code, next(seq)))
        return count(database_url, "usage_sessions", code) > 0

    wait_until(stored_after_resend, timeout=10, interval=0.3, message="accepted after recheck")
