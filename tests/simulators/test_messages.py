"""Every payload the simulator builds is valid protocol v1, and every bad one is bad as intended."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from devices.protocol import (
    BATCH_ADAPTER,
    ITEM_ADAPTER,
    MAX_PAYLOAD_BYTES,
    TopicError,
    Usage,
    Will,
    kind_of,
    parse_topic,
    too_far_ahead,
)
from simulators import messages
from simulators.bad import BadWay
from simulators.config import ConnectionMode
from simulators.delivery import OP_RECONNECT, OP_RETAIN
from simulators.ledger import read_bad
from tests.simulators.factories import ROUGH, capture, make_city, make_config

ROOT = "test/fitness/v1"


def bad_payloads(directory: Path) -> set[tuple[str, str]]:
    return {(b.topic, b.sha256) for b in read_bad(directory)}


def sha256(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def test_every_good_item_message_parses_with_the_protocol_models(tmp_path: Path) -> None:
    city = make_city(sites=3, items=12)
    engine, emissions = capture(tmp_path, city=city, config=make_config(misbehaviour=ROUGH), days=1)
    bad = bad_payloads(tmp_path / "captured")
    now = datetime.now(UTC)
    kinds: set[str] = set()
    for _, _, op, topic, payload in emissions:
        if op > OP_RETAIN or (topic, sha256(payload)) in bad:
            continue
        parsed = parse_topic(topic, ROOT)
        message = ITEM_ADAPTER.validate_json(payload)
        assert message.code == parsed.code
        assert kind_of(message) == parsed.kind
        assert not too_far_ahead(message.ts, now)
        kinds.add(kind_of(message).value)
    assert kinds == {"birth", "status", "usage", "fault"}
    assert engine.counters.bad > 0


def test_gateway_batches_are_v1_arrays_of_their_own_site_under_64_kib(tmp_path: Path) -> None:
    city = make_city(sites=3, items=12)
    config = make_config(connection=ConnectionMode.GATEWAY, batch_window_s=60.0)
    _, emissions = capture(tmp_path, city=city, config=config, days=0.5)
    batches = [(t, p) for _, _, _, t, p in emissions if t.endswith("/batch")]
    assert batches
    sizes = []
    for topic, payload in batches:
        site = parse_topic(topic, ROOT).site
        items = BATCH_ADAPTER.validate_json(payload)
        assert all(m.code.startswith(site) for m in items)
        assert len(payload) <= MAX_PAYLOAD_BYTES
        sizes.append(len(items))
    assert max(sizes) > 1


def test_each_bad_message_is_bad_in_the_way_the_ledger_names(tmp_path: Path) -> None:
    city = make_city(sites=2, items=10)
    config = make_config(misbehaviour=ROUGH)
    _, emissions = capture(tmp_path, city=city, config=config, days=1)
    by_digest = {(t, sha256(p)): p for _, _, op, t, p in emissions if op <= OP_RETAIN}
    codes = {e.code for e in city.equipment}
    rows = read_bad(tmp_path / "captured")
    assert {r.way for r in rows} == {w.value for w in BadWay}
    assert len({(r.topic, r.sha256) for r in rows}) == len(rows), "every bad message is unique"
    for row in rows:
        payload = by_digest[(row.topic, row.sha256)]
        way = BadWay(row.way)
        if way is BadWay.MALFORMED_JSON:
            with pytest.raises(ValueError, match=r"Expecting|Unterminated|delimiter"):
                json.loads(payload)
        elif way is BadWay.NOT_UTF8:
            with pytest.raises(UnicodeDecodeError):
                payload.decode("utf-8")
        elif way is BadWay.SCHEMA_VIOLATION:
            json.loads(payload)
            with pytest.raises(ValidationError):
                Usage.model_validate_json(payload)
        elif way is BadWay.BAD_CHECK_CHARACTER:
            with pytest.raises(TopicError, match="check character"):
                parse_topic(row.topic, ROOT)
        elif way is BadWay.OVERSIZED:
            assert len(payload) > MAX_PAYLOAD_BYTES
        else:
            message = Usage.model_validate_json(payload)
            topic_code = parse_topic(row.topic, ROOT).code
            if way is BadWay.UNKNOWN_CODE:
                assert message.code == topic_code
                assert message.code not in codes
            elif way is BadWay.CODE_DIFFERS_FROM_TOPIC:
                assert message.code != topic_code
                assert topic_code in codes
            else:
                assert too_far_ahead(message.ts, datetime.now(UTC))


def test_reconnecting_devices_carry_the_protocol_will_of_their_current_boot(
    tmp_path: Path,
) -> None:
    city = make_city(sites=1, items=10)
    _, emissions = capture(tmp_path, city=city, config=make_config(misbehaviour=ROUGH), days=1)
    wills = [(t, Will.model_validate_json(p)) for _, _, op, t, p in emissions if op == OP_RECONNECT]
    assert wills
    assert all(t.endswith("/status") and not w.online for t, w in wills)


def test_timestamps_are_rfc3339_in_china_time_to_the_millisecond() -> None:
    fmt = messages.Rfc3339()
    for ms in (0, 1_795_132_800_123, 1_795_132_859_999, 1_795_176_000_001):
        text = fmt(ms)
        assert text.endswith("+08:00")
        assert datetime.fromisoformat(text) == messages.datetime_of(ms)
        assert messages.ms_of(datetime.fromisoformat(text)) == ms
