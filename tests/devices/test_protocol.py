"""Topic grammar and payload models of protocol v1."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import Field, TypeAdapter, ValidationError

from devices.protocol import (
    BATCH_ADAPTER,
    USAGE_BATCH_ADAPTER,
    DeviceTime,
    Fault,
    Kind,
    Status,
    TopicError,
    Usage,
    Will,
    fields_of,
    parse_topic,
)
from ingest.device_times import device_micros

CODE = "320705-0042-007-4"
TS = "2026-11-20T08:00:00+08:00"


def test_item_topic_parses_to_site_code_and_kind() -> None:
    topic = parse_topic(f"fitness/v1/320705-0042/{CODE}/usage")
    assert (topic.site, topic.code, topic.kind) == ("320705-0042", CODE, Kind.USAGE)


def test_batch_and_gateway_topics_parse() -> None:
    assert parse_topic("fitness/v1/320705-0042/batch").is_batch
    assert parse_topic("fitness/v1/320705-0042/gateway/status").is_gateway


@pytest.mark.parametrize(
    ("topic", "message"),
    [
        ("fitness/v2/320705-0042/batch", "not under"),
        (f"fitness/v1/320705-0042/{CODE}/selfie", "unknown message kind"),
        ("fitness/v1/320705-0042/320705-0042-007-5/usage", "wrong check character"),
        (f"fitness/v1/320705-0043/{CODE}/usage", "is not at site"),
        ("fitness/v1/320705-0042/gateway/usage", "gateway publishes only status"),
        (f"fitness/v1/320705-0042/{CODE}/usage/extra", "is not <site>/<code>/<kind>"),
    ],
)
def test_bad_topics_are_refused_with_the_reason(topic: str, message: str) -> None:
    with pytest.raises(TopicError, match=message):
        parse_topic(topic)


def usage_body(**fields: object) -> dict[str, object]:
    """A valid usage payload, with `fields` changed or added."""
    body: dict[str, object] = {
        "v": 1,
        "code": CODE,
        "boot": 3,
        "seq": 9,
        "ts": TS,
        "started_at": TS,
        "duration_s": 60,
        "reps": 10,
    }
    return {**body, **fields}


def test_usage_accepts_extra_fields_from_compatible_extensions() -> None:
    body = usage_body(duration_s=61.5, reps=40, energy_wh=2.5, firmware_note="new in v1.1")
    usage = Usage.model_validate_json(json.dumps(body))
    assert usage.reps == 40
    assert usage.ts.utcoffset() is not None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"duration_s": 0}, "duration_s"),
        ({"duration_s": 4 * 3600 + 1}, "duration_s"),
        ({"reps": -1}, "reps"),
        ({"reps": "12"}, "reps"),
        ({"ts": "2026-11-20T08:00:00"}, "ts"),
        ({"v": 2}, "v"),
    ],
)
def test_usage_schema_violations_name_the_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        Usage.model_validate_json(json.dumps(usage_body(**change)))
    assert field in {str(e["loc"][0]) for e in info.value.errors()}


def test_fault_requires_a_catalog_code() -> None:
    body = {
        "v": 1,
        "code": CODE,
        "boot": 1,
        "seq": 1,
        "ts": TS,
        "severity": "major",
        "state": "raised",
    }
    assert Fault.model_validate_json(json.dumps({**body, "fault": "MECH_JAM"})).fault == "MECH_JAM"
    with pytest.raises(ValidationError, match="unknown fault code 'ROCKET'"):
        Fault.model_validate_json(json.dumps({**body, "fault": "ROCKET"}))


def test_will_payload_is_not_a_status() -> None:
    will = b'{"v":1,"online":false,"boot":7}'
    assert Will.model_validate_json(will).boot == 7
    with pytest.raises(ValidationError):
        Status.model_validate_json(will)


def test_batch_items_are_told_apart_by_their_fields() -> None:
    common = {"v": 1, "code": CODE, "boot": 1, "ts": TS}
    items = [
        {**common, "seq": 0, "fw": "1", "model": "m", "kind": "rider", "heartbeat_s": 60},
        {**common, "seq": 1, "online": True},
        {**common, "seq": 2, "started_at": TS, "duration_s": 5, "reps": 1},
        {**common, "seq": 3, "fault": "TAMPER", "severity": "major", "state": "raised"},
    ]
    kinds = [type(m).__name__ for m in BATCH_ADAPTER.validate_json(json.dumps(items))]
    assert kinds == ["Birth", "Status", "Usage", "Fault"]


USAGE_CASES = [
    {},
    {"energy_wh": 2.5, "avg_cadence_rpm": None, "firmware_note": "new in v1.1"},
    {"duration_s": 0},
    {"duration_s": 4 * 3600 + 1},
    {"reps": -1},
    {"reps": "12"},
    {"reps": 12.0},
    {"boot": True},
    {"ts": "2026-11-20T08:00:00"},
    {"started_at": "yesterday"},
    {"v": 2},
    {"code": CODE[:-1] + "5"},
    {"code": "320705-42-7"},
    {"energy_wh": -1},
    {"max_load_kg": "heavy"},
    {"started_at": None},
    {"started_at": "2026-02-30T08:00:00+08:00"},  # the shape of a time, but no such day
    {"ts": "1999-12-31T23:59:59Z"},
    {"ts": "2026-11-20T08:00:00+24:00"},
]


def _batch_verdict(payload: str) -> tuple[dict[str, Any] | None, set[tuple[Any, str]]]:
    """The one session of a batch as the batch schema takes it, or the errors it refuses it with
    (their places within the session)."""
    try:
        (fields,) = USAGE_BATCH_ADAPTER.validate_json(payload)
    except ValidationError as refused:
        return None, {(e["loc"][1:], e["type"]) for e in refused.errors()}
    return fields, set()


@pytest.mark.parametrize("change", USAGE_CASES)
def test_usage_batches_validated_as_dicts_get_the_verdict_of_the_usage_model(
    change: dict[str, object],
) -> None:
    """The same verdict once the batch's times are read (ingest.device_times): a time of the
    right shape passes the batch schema, and is refused as it is read."""
    payload = json.dumps([usage_body(**change)])
    try:
        expected = Usage.model_validate_json(payload[1:-1])
    except ValidationError as error:
        want = {(e["loc"], e["type"]) for e in error.errors()}
        fields, refused = _batch_verdict(payload)
        if fields is None:
            assert refused == want
        else:
            assert {loc for loc, _ in want} <= {("ts",), ("started_at",)}, want
            assert min(device_micros(fields["ts"]), device_micros(fields["started_at"])) < 0
    else:
        # The times stay text, of RFC 3339's shape: ingest reads them (ingest.device_times).
        (fields,) = USAGE_BATCH_ADAPTER.validate_json(payload)
        optional = {"energy_wh": None, "avg_cadence_rpm": None, "max_load_kg": None}
        texts = {name: json.loads(payload)[0][name] for name in ("ts", "started_at")}
        assert fields | texts == fields
        read = {name: TypeAdapter(DeviceTime).validate_python(text) for name, text in texts.items()}
        assert {"v": 1, **optional, **fields, **read} == expected.model_dump()


def test_only_a_model_whose_checks_sit_on_its_fields_becomes_a_dict_schema() -> None:
    class Checked(Usage):
        def model_post_init(self, context: object, /) -> None:
            if self.reps > self.duration_s * 100:
                raise ValueError("more reps than a person makes")

    with pytest.raises(TypeError, match="Checked has checks beyond its fields"):
        fields_of(Checked)

    class Counted(Usage):
        count: int = 0

    class Renamed(Usage):
        note: str | None = Field(default=None, alias="memo")

    with pytest.raises(TypeError, match=r"Counted\.count has a default other than None"):
        fields_of(Counted)
    with pytest.raises(TypeError, match=r"Renamed\.note has an alias"):
        fields_of(Renamed)
