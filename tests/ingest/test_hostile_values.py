"""Values at and past every limit, and messages the database or the decoder cannot take: each is
stored exactly as sent or dead-lettered with its topic, its exact bytes and a reason, and the
rest of its chunk is stored (docs/protocol.md, "Limits")."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest

from devices.codes import site_of
from ingest.commit import commit_chunk
from ingest.decode import Decoder
from ingest.handoff import Chunk
from ingest.known_codes import KnownCodes
from ingest.writer import prepare_connection
from tests.support import (
    IngestProcess,
    Publisher,
    item_topic,
    load_registry,
    make_registry,
    scalar,
    usage,
    v1,
    wait_until,
)

ROOT = "fitness/v1"
INT64_MAX = 2**63 - 1
REFUSED_DETAIL = "the database refuses this detail"


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database_url) as connection:
        prepare_connection(connection)
        yield connection


@pytest.fixture
def refusing_database(database_url: str) -> Iterator[None]:
    """A trigger that makes the database refuse one fault detail, as it would any value it
    cannot hold: the stage after validation that ingest must survive too."""
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(f"""
            CREATE FUNCTION refuse_detail() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.detail = '{REFUSED_DETAIL}' THEN
                    RAISE EXCEPTION 'detail refused by the test trigger';
                END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER refuse_detail BEFORE INSERT ON fault_events
                FOR EACH ROW EXECUTE FUNCTION refuse_detail();
        """)
        try:
            yield
        finally:
            admin.execute("DROP TRIGGER refuse_detail ON fault_events")
            admin.execute("DROP FUNCTION refuse_detail()")


def _chunk(*messages: tuple[str, bytes]) -> Chunk:
    now = time.time()
    return Chunk(0, [t for t, _ in messages], [p for _, p in messages], [now] * len(messages))


def _json(message: dict[str, object]) -> bytes:
    return json.dumps(message, ensure_ascii=False).encode()


def _commit(conn: psycopg.Connection[Any], *messages: tuple[str, bytes]) -> dict[str, int]:
    known = KnownCodes(conn, 0)
    known.reload()
    conn.commit()
    committed = commit_chunk(conn, Decoder(ROOT, known), _chunk(*messages))
    return committed.dead_by_category


def _row(conn: psycopg.Connection[Any], sql: str, *params: object) -> tuple[Any, ...]:
    row = conn.execute(sql, params).fetchone()
    conn.commit()
    assert row is not None, (sql, params)
    return tuple(row)


def _letters(conn: psycopg.Connection[Any], code_like: str) -> list[tuple[Any, ...]]:
    rows = conn.execute(
        "SELECT topic, payload, category, reason FROM dead_letters WHERE topic LIKE %s",
        (f"{ROOT}/{code_like}%",),
    ).fetchall()
    conn.commit()
    return sorted(tuple(r) for r in rows)


def test_values_at_every_limit_are_stored_exactly_as_sent(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    registry = load_registry(database_url, make_registry(items=4))
    a, b, c, d = (e.code for e in registry.equipment)
    kiribati = timezone(timedelta(hours=14))
    ts = datetime.now(kiribati).replace(microsecond=999_999) - timedelta(seconds=1)
    started = ts - timedelta(days=30)
    sent_usage = usage(
        a,
        INT64_MAX,
        boot=INT64_MAX,
        reps=2**31 - 1,
        duration_s=14_400,
        ts=ts.isoformat(),
        started_at=started.isoformat(),
        energy_wh=5_000,
        avg_cadence_rpm=1_000,
        max_load_kg=0,
    )
    detail = "飞轮卡住 🙁 " * 100
    dead = _commit(
        conn,
        (item_topic(ROOT, a, "usage"), _json(sent_usage)),
        (
            item_topic(ROOT, b, "status"),
            _json(v1(b, 0, ts="2000-01-01T00:00:00Z", online=True, battery_pct=100, temp_c=-80)),
        ),
        (
            item_topic(ROOT, c, "fault"),
            _json(v1(c, 1, fault="MECH_JAM", severity="critical", state="raised", detail=detail)),
        ),
        (
            item_topic(ROOT, d, "birth"),
            _json(v1(d, 0, fw="v" * 64, model="智能" * 32, kind="air_walker", heartbeat_s=86_400)),
        ),
    )
    assert dead == {}
    assert _row(
        conn,
        "SELECT boot, seq, ts, started_at, duration_s, reps, energy_wh, avg_cadence_rpm, "
        "max_load_kg FROM usage_sessions WHERE code = %s",
        a,
    ) == (INT64_MAX, INT64_MAX, ts, started, 14_400.0, 2**31 - 1, 5_000.0, 1_000.0, 0.0)
    assert _row(conn, "SELECT ts, battery_pct, temp_c FROM status_reports WHERE code = %s", b) == (
        datetime(2000, 1, 1, tzinfo=UTC),
        100.0,
        -80.0,
    )
    assert _row(conn, "SELECT detail FROM fault_events WHERE code = %s", c) == (detail,)
    assert _row(conn, "SELECT fw, model, heartbeat_s FROM device_births WHERE code = %s", d) == (
        "v" * 64,
        "智能" * 32,
        86_400,
    )
    hour = started.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    assert _row(conn, "SELECT sessions, reps FROM usage_hourly WHERE code = %s", a) == (
        1,
        2**31 - 1,
    )
    assert _row(conn, "SELECT hour FROM usage_hourly WHERE code = %s", a) == (hour,)


def test_values_past_the_limits_are_dead_lettered_naming_field_and_limit_and_the_rest_stored(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    registry = load_registry(database_url, make_registry(items=2))
    a, b = (e.code for e in registry.equipment)
    now = datetime.now(UTC)
    topic = item_topic(ROOT, a, "usage")
    bad: list[tuple[dict[str, object], str]] = [
        (usage(a, 1, boot=INT64_MAX + 1), "boot: Input should be less than or equal to 9223372"),
        (usage(a, 2, reps=2**31), "reps: Input should be less than or equal to 2147483647"),
        (usage(a, 3, ts="1970-01-01T00:00:00Z"), "ts: Input should be greater than or equal to"),
        (
            usage(a, 4, ts=now.isoformat(), started_at=(now - timedelta(days=800)).isoformat()),
            "is more than 30 days before ts",
        ),
        (
            usage(a, 5, ts=now.isoformat(), started_at=(now + timedelta(minutes=6)).isoformat()),
            "started_at",
        ),
        (
            usage(
                a,
                6,
                ts=(now - timedelta(hours=1)).isoformat(),
                started_at=(now - timedelta(minutes=30)).isoformat(),
            ),
            "is after ts",
        ),
    ]
    infinite = _json(usage(a, 7, energy_wh=1.0)).replace(b'"energy_wh": 1.0', b'"energy_wh": 1e400')
    nul = _json(v1(a, 8, fault="TAMPER", severity="minor", state="raised", detail="a\x00b"))
    messages = [(topic, _json(message)) for message, _ in bad]
    messages += [(topic, infinite), (item_topic(ROOT, a, "fault"), nul)]
    good = (item_topic(ROOT, b, "usage"), _json(usage(b, 1)))
    dead = _commit(conn, *messages, good)
    assert sum(dead.values()) == len(messages)
    assert scalar(database_url, "SELECT count(*) FROM usage_sessions WHERE code = %s", b) == 1
    assert scalar(database_url, "SELECT count(*) FROM usage_sessions WHERE code = %s", a) == 0
    letters = _letters(conn, site_of(a))
    kept = {bytes(payload): reason for _, payload, _, reason in letters}
    for (message, says), (_, payload) in zip(bad, messages, strict=False):
        assert says in kept[payload], (message, kept[payload])
    assert "energy_wh: Input should be a finite number" in kept[infinite]
    assert "detail: Value error, must not contain the NUL character" in kept[nul]


@pytest.mark.usefixtures("refusing_database")
def test_what_the_database_refuses_is_dead_lettered_with_its_topic_and_exact_bytes(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    registry = load_registry(database_url, make_registry(items=3))
    a, b, c = (e.code for e in registry.equipment)
    site = site_of(a)
    refused = v1(c, 5, fault="MECH_JAM", severity="major", state="raised", detail=REFUSED_DETAIL)
    refused_item = (
        b'{ "v":1, "code":"%s", "boot":1, "seq":6, "ts":"%s",\n  "fault":"TAMPER",'
        % (
            c.encode(),
            datetime.now(UTC).isoformat().encode(),
        )
        + b' "severity":"minor", "state":"raised", "detail":"%s" }' % REFUSED_DETAIL.encode()
    )
    batch = b"[ %s ,\n %s , %s ]" % (_json(usage(a, 2)), refused_item, _json(v1(b, 3, online=True)))
    dead = _commit(
        conn,
        (item_topic(ROOT, a, "usage"), _json(usage(a, 1))),
        (item_topic(ROOT, c, "fault"), _json(refused)),
        (f"{ROOT}/{site}/batch", batch),
        (item_topic(ROOT, b, "usage"), _json(usage(b, 4))),
    )
    assert dead == {"db_refused": 2}
    assert (
        scalar(database_url, "SELECT count(*) FROM usage_sessions WHERE code LIKE %s", site + "%")
        == 3
    )
    assert scalar(database_url, "SELECT count(*) FROM status_reports WHERE code = %s", b) == 1
    assert scalar(database_url, "SELECT count(*) FROM fault_events WHERE code = %s", c) == 0
    letters = _letters(conn, site)
    assert [(topic, bytes(payload), category) for topic, payload, category, _ in letters] == [
        (item_topic(ROOT, c, "fault"), _json(refused), "db_refused"),
        (f"{ROOT}/{site}/batch", refused_item, "db_refused"),
    ]
    assert letters[1][3].startswith("batch item 1: could not be stored: detail refused by")


class _BrokenRegistry:
    """The registry's answers, except for one code, where looking it up fails unexpectedly."""

    known_equipment: frozenset[str] = frozenset()  # asks has_equipment of every code

    def __init__(self, known: KnownCodes, broken: str) -> None:
        self._known, self._broken = known, broken

    def has_equipment(self, code: str) -> bool:
        if code == self._broken:
            raise RuntimeError(f"lookup of {code} failed")
        return self._known.has_equipment(code)

    def has_site(self, site: str) -> bool:
        return self._known.has_site(site)


def test_a_message_that_fails_to_decode_is_dead_lettered_and_the_chunk_stored(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    registry = load_registry(database_url, make_registry(items=2))
    a, b = (e.code for e in registry.equipment)
    known = KnownCodes(conn, 0)
    known.reload()
    conn.commit()
    broken = (item_topic(ROOT, a, "usage"), _json(usage(a, 1)))
    chunk = _chunk(broken, (item_topic(ROOT, b, "usage"), _json(usage(b, 1))))
    committed = commit_chunk(conn, Decoder(ROOT, _BrokenRegistry(known, a)), chunk)
    assert committed.dead_by_category == {"decode_failed": 1}
    assert committed.result.stored == {"usage": 1}
    assert scalar(database_url, "SELECT count(*) FROM usage_sessions WHERE code = %s", b) == 1
    (letter,) = _letters(conn, site_of(a))
    assert (letter[0], bytes(letter[1]), letter[2]) == (*broken, "decode_failed")
    assert "lookup of" in letter[3]


@pytest.mark.usefixtures("refusing_database")
def test_a_refused_message_never_stops_a_worker_and_what_follows_is_stored(
    database_url: str,
    ingest_factory: Callable[..., IngestProcess],
    publisher: Publisher,
    topic_root: str,
) -> None:
    registry = load_registry(database_url, make_registry(items=1))
    code = registry.equipment[0].code
    ingest = ingest_factory()
    workers = ingest.worker_pids()
    refused = v1(code, 1, fault="MECH_JAM", severity="major", state="raised", detail=REFUSED_DETAIL)
    publisher.publish(item_topic(topic_root, code, "fault"), refused)
    for seq in range(2, 12):
        publisher.publish(item_topic(topic_root, code, "usage"), usage(code, seq))
    wait_until(
        lambda: (
            scalar(database_url, "SELECT count(*) FROM usage_sessions WHERE code = %s", code) == 10
        ),
        message="the messages after the refused one stored",
    )
    ingest.wait_for_metric("fitmon_ingest_dead_letters_total", 1, reason="db_refused")
    assert ingest.worker_pids() == workers
    assert (
        scalar(database_url, "SELECT payload FROM dead_letters WHERE code = %s", code)
        == json.dumps(refused).encode()
    )


def test_a_batch_item_with_a_number_too_long_to_read_is_dead_lettered_alone(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    registry = load_registry(database_url, make_registry(items=2))
    a, b = (e.code for e in registry.equipment)
    site = site_of(a)
    huge = _json(usage(a, 1)).replace(b'"reps": 12', b'"reps": ' + b"9" * 5_000)
    batch = b"[%s,%s]" % (huge, _json(usage(b, 1)))
    dead = _commit(conn, (f"{ROOT}/{site}/batch", batch), (f"{ROOT}/{site}/batch", b"[]"))
    assert dead == {"malformed_json": 1}  # the JSON parser takes numbers of 4,300 digits at most
    assert scalar(database_url, "SELECT count(*) FROM usage_sessions WHERE code = %s", b) == 1
    ((topic, payload, category, reason),) = _letters(conn, site)
    assert (topic, bytes(payload), category) == (f"{ROOT}/{site}/batch", huge, "malformed_json")
    assert reason.startswith("batch item 0: ")
    assert scalar(database_url, "SELECT online FROM gateway_state WHERE site_code = %s", site)
