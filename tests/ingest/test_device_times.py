"""Device times read from their text (ingest.device_times) get DeviceTime's verdict and value, and
a site batch whose time names no time keeps its other sessions."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from devices.protocol import USAGE_BATCH_ADAPTER, DeviceTime, Usage, batch_topic, item_topic
from devices.topics import GATEWAY
from ingest.decode import Decoder
from ingest.decoded import pg_micros
from ingest.device_times import MIN_DEVICE_US, device_micros
from tests.support import EveryCode, usage

DEVICE_TIME: TypeAdapter[datetime] = TypeAdapter(DeviceTime)
SITE = "320705-0042"
CODES = ("320705-0042-007-4", "320705-0042-008-2", "320705-0042-009-0")


def _model_micros(text: str) -> int | None:
    """What the payload models make of `text`: its microseconds since 2000, or None if refused."""
    try:
        moment = DEVICE_TIME.validate_python(text)
    except ValidationError:
        return None
    return pg_micros(moment)


def _fast_micros(text: str) -> int | None:
    micros = device_micros(text)
    return micros if micros >= MIN_DEVICE_US else None


def _two(low: int, high: int) -> st.SearchStrategy[str]:
    """Two digits, mostly within [low, high] but any two digits too."""
    return st.one_of(st.integers(low, high), st.integers(0, 99)).map(lambda n: f"{n:02d}")


# Text of RFC 3339's shape (the pattern USAGE_BATCH_ADAPTER checks), mostly naming real times.
SHAPED = st.builds(
    lambda year, month, day, sep, hour, minute, second, fraction, offset: (
        f"{year:04d}-{month}-{day}{sep}{hour}:{minute}:{second}{fraction}{offset}"
    ),
    st.one_of(st.integers(1999, 2100), st.integers(0, 9999)),
    _two(1, 12),
    _two(1, 31),
    st.sampled_from("Tt"),
    _two(0, 23),
    _two(0, 59),
    _two(0, 60),
    st.one_of(st.just(""), st.from_regex(r"\A\.[0-9]{1,6}\Z")),
    st.one_of(
        st.sampled_from(["Z", "z", "+08:00", "-00:00", "+05:45", "-12:00", "+14:00"]),
        st.builds(
            lambda sign, hours, minutes: f"{sign}{hours}:{minutes}",
            st.sampled_from("+-"),
            _two(0, 23),
            _two(0, 59),
        ),
    ),
)


@given(SHAPED)
def test_a_time_read_from_its_text_gets_device_times_verdict_and_value(text: str) -> None:
    assert USAGE_BATCH_ADAPTER.validate_python([usage(CODES[0], 1, ts=text)])  # the shape passes
    assert _fast_micros(text) == _model_micros(text), text


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-02T24:00:00Z",
        "2026-12-02T23:59:60Z",
        "2026-02-29T08:00:00+08:00",
        "2024-02-29T08:00:00+08:00",
        "2026-04-31T08:00:00Z",
        "0000-01-01T00:00:00Z",
        "1999-12-31T23:59:59.999999Z",
        "2000-01-01T00:00:00Z",
        "2000-01-01T08:00:00+08:00",
        "2000-01-01T07:59:59.999999+08:00",
        "9999-12-31T23:59:59.999999-01:00",
        "2026-12-02T08:00:00+23:59",
        "2026-12-02T08:00:00-23:59",
        "2026-12-02T08:00:00+24:00",
        "2026-12-02T08:00:00+00:60",
        "2026-12-02T08:00:00-00:00",
        "2026-12-02t08:00:00.5z",
        "2026-12-02T08:00:00.000001+08:00",
    ],
)
def test_edge_times_get_device_times_verdict_and_value(text: str) -> None:
    assert _fast_micros(text) == _model_micros(text), text


def test_a_batch_session_whose_time_names_no_day_is_dead_lettered_alone() -> None:
    now = time.time()
    sent = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 60))
    items = [
        usage(CODES[0], 1, ts=sent),
        usage(CODES[1], 2, ts=sent, started_at="2026-02-30T08:00:00+08:00"),
        usage(CODES[2], 3, ts=sent),
    ]
    payload = json.dumps(items, separators=(",", ":")).encode()
    topic = batch_topic(SITE, "fitness/v1")
    batch = Decoder("fitness/v1", EveryCode()).decode([topic], [payload], [now])
    assert [row.code for row in batch.usage] == [CODES[0], CODES[2]]
    (dead,) = batch.dead
    assert (dead.topic, dead.code) == (topic, CODES[1])
    assert json.loads(dead.payload) == items[1]
    with pytest.raises(ValidationError) as refused:
        Usage.model_validate_json(dead.payload)
    assert refused.value.errors()[0]["loc"] == ("started_at",)
    assert "started_at" in dead.reason


@pytest.mark.parametrize(
    "bad",
    [
        None,  # every session good: the fast path
        {"started_at": "2026-02-30T08:00:00+08:00"},  # a time read as no day: that session alone
        {"reps": -1},  # a session the batch schema refuses: item by item
    ],
)
def test_a_batch_after_its_gateways_will_in_one_chunk_is_the_gateways_latest_word(
    bad: dict[str, object] | None,
) -> None:
    now = time.time()
    sent = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 60))
    items = [usage(code, seq, ts=sent) for seq, code in enumerate(CODES, start=1)]
    items[1].update(bad or {})
    will = json.dumps({"v": 1, "online": False, "boot": 4}).encode()
    topics = [item_topic(SITE, GATEWAY, "status", "fitness/v1"), batch_topic(SITE, "fitness/v1")]
    payloads = [will, json.dumps(items).encode()]
    batch = Decoder("fitness/v1", EveryCode()).decode(topics, payloads, [now, now + 0.5])
    assert batch.gateway_presence == {SITE: datetime.fromtimestamp(now + 0.5, UTC)}
    assert len(batch.usage) == (3 if bad is None else 2)
    assert len(batch.dead) == (0 if bad is None else 1)
