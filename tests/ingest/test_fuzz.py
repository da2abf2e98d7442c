"""Property-based fuzzing of ingest against the real database (tests/ingest/fuzz_check.py): every
fuzzed message is stored exactly or dead-lettered, and a valid message after it is stored.

A bounded, derandomized run; `python -m benchmarks.fuzz_ingest --examples N` runs a larger one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings

from tests.ingest.fuzz_check import Rig
from tests.ingest.fuzz_strategies import (
    arbitrary_bytes,
    batches,
    fuzzed_messages,
    item_messages,
    item_topic,
    topics,
)
from tests.ingest.fuzz_values import (
    CODES,
    Sent,
)

# derandomize: the same examples on every run (and no example database to keep, so no
# .hypothesis folder). too_slow and data_too_large: every example is a round trip to PostgreSQL,
# and some are 64 KiB payloads or deep nestings on purpose.
BOUNDED = settings(
    max_examples=350,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def rig(database_url: str) -> Iterator[Rig]:
    fuzz = Rig(database_url)
    yield fuzz
    fuzz.close()


@BOUNDED
@given(messages=fuzzed_messages())
def test_fuzzed_messages_are_stored_exactly_or_dead_lettered(
    rig: Rig, messages: list[Sent]
) -> None:
    assert rig.run(messages) == []


@BOUNDED
@given(message=item_messages())
def test_near_valid_messages_are_stored_exactly_or_dead_lettered(rig: Rig, message: Sent) -> None:
    assert rig.run([message]) == []


@BOUNDED
@given(batch=batches())
def test_batch_items_are_each_stored_exactly_or_dead_lettered(rig: Rig, batch: Sent) -> None:
    assert rig.run([batch]) == []


@settings(BOUNDED, max_examples=200)
@given(topic=topics(), payload=arbitrary_bytes())
def test_arbitrary_bytes_on_any_topic_are_stored_exactly_or_dead_lettered(
    rig: Rig, topic: str, payload: bytes
) -> None:
    assert rig.run([Sent(topic, payload)]) == []


# Failures the fuzzing found, each pinned with its smallest input: fixed ones as regression tests,
# open ones as strict xfails, so that a fix shows up as XPASS.
def _status(**fields: object) -> Sent:
    body = {"v": 1, "code": CODES[0], "boot": 1, "seq": 1, "ts": "2026-06-01T11:00:00Z"}
    return Sent(
        item_topic(CODES[0], "status"), json.dumps({**body, "online": True, **fields}).encode()
    )


@pytest.mark.parametrize("version", [True, 1.0])
def test_a_version_other_than_the_integer_1_is_refused(rig: Rig, version: object) -> None:
    assert rig.run([_status(v=version)]) == []


@pytest.mark.parametrize("online", [0, 0.0])
def test_a_status_with_online_0_is_refused_not_taken_for_a_last_will(
    rig: Rig, online: object
) -> None:
    assert rig.run([_status(online=online)]) == []


def test_a_time_finer_than_a_microsecond_is_refused_not_stored_cut(rig: Rig) -> None:
    assert rig.run([_status(ts="2026-06-01T11:00:00.0000001Z")]) == []


def test_messages_whose_topic_and_payload_join_alike_are_two_dead_letters(rig: Rig) -> None:
    topic = item_topic(CODES[0], "usage")
    # The digest once hashed topic + NUL + payload, alike for both. (A broker refuses a topic
    # with NUL, MQTT 5 section 1.5.4, so ingest should never see one.)
    assert rig.run([Sent(topic + "\x00", b""), Sent(topic, b"\x00")]) == []
