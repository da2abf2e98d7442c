"""Every field's limits (docs/protocol.md, "Limits"): a value at the limit validates, one past it
is refused with an error that names the field and the limit."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from devices.protocol import USAGE_BATCH_ADAPTER, Birth, Fault, Status, Usage, Will
from ingest.device_times import MIN_DEVICE_US, device_micros

CODE = "320705-0042-007-4"
TS = "2026-11-20T08:00:00+08:00"
BASE: dict[str, object] = {"v": 1, "code": CODE, "boot": 3, "seq": 9, "ts": TS}
BODIES: dict[type[BaseModel], dict[str, object]] = {
    Usage: {**BASE, "started_at": TS, "duration_s": 60.0, "reps": 10},
    Status: {**BASE, "online": True},
    Fault: {**BASE, "fault": "MECH_JAM", "severity": "major", "state": "raised"},
    Birth: {**BASE, "fw": "1.0", "model": "AW-200", "kind": "air_walker", "heartbeat_s": 60},
    Will: {"v": 1, "online": False, "boot": 3},
}

INT64_MAX = 2**63 - 1
INT32_MAX = 2**31 - 1

# (model, field, a value at the limit, a value past it, what the error says)
LIMITS: list[tuple[type[BaseModel], str, object, object, str]] = [
    (Usage, "boot", INT64_MAX, INT64_MAX + 1, "less than or equal to 9223372036854775807"),
    (Usage, "seq", INT64_MAX, INT64_MAX + 1, "less than or equal to 9223372036854775807"),
    (Usage, "boot", 0, -1, "greater than or equal to 0"),
    (Will, "boot", INT64_MAX, INT64_MAX + 1, "less than or equal to 9223372036854775807"),
    (Usage, "reps", INT32_MAX, INT32_MAX + 1, "less than or equal to 2147483647"),
    (Usage, "duration_s", 14_400, 14_400.001, "less than or equal to 14400"),
    (Usage, "duration_s", 0.001, 0, "greater than 0"),
    (Usage, "energy_wh", 5_000, 5_000.5, "less than or equal to 5000"),
    (Usage, "avg_cadence_rpm", 1_000, 1_000.5, "less than or equal to 1000"),
    (Usage, "max_load_kg", 1_000, 1_000.5, "less than or equal to 1000"),
    (Usage, "ts", "2000-01-01T00:00:00Z", "1999-12-31T23:59:59.999999Z", "2000-01-01T00:00:00Z"),
    (
        Usage,
        "started_at",
        "2000-01-01T08:00:00+08:00",
        "2000-01-01T07:59:59+08:00",
        "greater than or equal to 2000-01-01T00:00:00Z",
    ),
    (Status, "battery_pct", 100, 100.1, "less than or equal to 100"),
    (Status, "rssi_dbm", -200, -200.5, "greater than or equal to -200"),
    (Status, "temp_c", 120, 120.5, "less than or equal to 120"),
    (Status, "tilt_deg", 180, 180.5, "less than or equal to 180"),
    (Birth, "heartbeat_s", 86_400, 86_401, "less than or equal to 86400"),
    (Birth, "fw", "f" * 64, "f" * 65, "at most 64 characters"),
    (Birth, "model", "设备" * 32, "设备" * 32 + "!", "at most 64 characters"),
    (Birth, "fw", "1.0-β", "1.0\x00", "NUL"),
    (Fault, "detail", "卡" * 1000, "卡" * 1001, "at most 1000 characters"),
    (Fault, "detail", "stuck 🙁", "stuck\x00", "NUL"),
]


def _payload(model: type[BaseModel], field: str, value: object) -> bytes:
    return json.dumps({**BODIES[model], field: value}, ensure_ascii=False).encode()


@pytest.mark.parametrize(("model", "field", "at_limit", "past", "says"), LIMITS)
def test_value_at_the_limit_validates_and_one_past_it_is_refused_naming_field_and_limit(
    model: type[BaseModel], field: str, at_limit: object, past: object, says: str
) -> None:
    valid = model.model_validate_json(_payload(model, field, at_limit))
    assert getattr(valid, field) is not None
    with pytest.raises(ValidationError) as refused:
        model.model_validate_json(_payload(model, field, past))
    errors = refused.value.errors(include_url=False)
    assert [error["loc"] for error in errors] == [(field,)]
    assert says in errors[0]["msg"]


@pytest.mark.parametrize(
    "number", ["1e400", "-1e400", "NaN", "Infinity", "-Infinity"], ids=lambda n: n
)
@pytest.mark.parametrize(
    ("model", "field"),
    [(Usage, "duration_s"), (Usage, "energy_wh"), (Status, "temp_c"), (Status, "battery_pct")],
)
def test_a_number_that_is_not_finite_is_refused(
    model: type[BaseModel], field: str, number: str
) -> None:
    text = _payload(model, field, "__NUMBER__").replace(b'"__NUMBER__"', number.encode())
    with pytest.raises(ValidationError) as refused:
        model.model_validate_json(text)
    assert refused.value.errors(include_url=False)[0]["loc"] == (field,)


def test_the_usage_batch_fast_path_refuses_what_the_model_refuses() -> None:
    """Site batches of usage validate into dicts (USAGE_BATCH_ADAPTER): the same limits hold, the
    times' least value as ingest reads them (ingest.device_times)."""
    for model, field, at_limit, past, says in LIMITS:
        if model is not Usage:
            continue
        batch = b"[" + _payload(model, field, at_limit) + b"]"
        (fields,) = USAGE_BATCH_ADAPTER.validate_json(batch)
        if field in ("ts", "started_at"):
            assert device_micros(fields[field]) == MIN_DEVICE_US, field
            (fields,) = USAGE_BATCH_ADAPTER.validate_json(
                b"[" + _payload(model, field, past) + b"]"
            )
            assert device_micros(fields[field]) < MIN_DEVICE_US, field
            continue
        with pytest.raises(ValidationError) as refused:
            USAGE_BATCH_ADAPTER.validate_json(b"[" + _payload(model, field, past) + b"]")
        assert says in refused.value.errors(include_url=False)[0]["msg"], field


@pytest.mark.parametrize(
    "code",
    [
        "\uff13\uff120705-0042-007-4",
        "320705-0042-007-\u0664",
        "320705\u20110042-007-4",
        "320705-0042-007-4\n",
    ],
    ids=["full-width digit", "arabic-indic digit", "non-breaking hyphen", "trailing newline"],
)
def test_a_code_with_look_alike_characters_is_refused(code: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Usage.model_validate_json(json.dumps({**BODIES[Usage], "code": code}))
    assert refused.value.errors(include_url=False)[0]["loc"] == ("code",)
    assert "AAAAAA-SSSS-III-C" in refused.value.errors(include_url=False)[0]["msg"]


def test_a_lone_surrogate_escape_is_refused_as_json_that_is_not_unicode() -> None:
    text = json.dumps({**BODIES[Fault], "detail": "x"}).replace('"x"', '"\\ud800"')
    with pytest.raises(ValidationError) as refused:
        Fault.model_validate_json(text)
    assert refused.value.errors(include_url=False)[0]["type"] == "json_invalid"


@pytest.mark.parametrize("version", ["true", "1.0", "2", '"1"'])
@pytest.mark.parametrize("model", [Usage, Will])
def test_a_version_other_than_the_whole_number_1_is_refused(
    model: type[BaseModel], version: str
) -> None:
    text = _payload(model, "v", "__V__").replace(b'"__V__"', version.encode())
    with pytest.raises(ValidationError) as refused:
        model.model_validate_json(text)
    assert refused.value.errors(include_url=False)[0]["loc"] == ("v",)


def test_a_will_must_say_offline_as_false_not_as_a_number() -> None:
    for online in ("0", "true", "null"):
        text = _payload(Will, "online", "__O__").replace(b'"__O__"', online.encode())
        with pytest.raises(ValidationError):
            Will.model_validate_json(text)


@pytest.mark.parametrize(
    "written",
    [
        "1764642600",  # Unix seconds in a string
        "1764642600123",
        "2026-11-20T08:00:00.1234567Z",  # a seventh decimal would be cut
        "2026-11-20T08:00:00\\u002e1234567Z",  # the same, its dot escaped
        "2026-11-20T08:00:00,123Z",
        "2026-11-20T08:00Z",  # no seconds
        "2026-11-20T08:00:00+0800",
        "2026-11-20 08:00:00Z",
        "2026-11-20T08:00:00",  # no offset
    ],
)
@pytest.mark.parametrize("field", ["ts", "started_at"])
def test_a_time_that_is_not_rfc_3339_to_the_microsecond_is_refused(
    field: str, written: str
) -> None:
    text = _payload(Usage, field, "__T__").replace(b"__T__", written.encode())
    checks: list[tuple[Any, bytes]] = [
        (Usage.model_validate_json, text),
        (USAGE_BATCH_ADAPTER.validate_json, b"[" + text + b"]"),
    ]
    for validate, payload in checks:
        with pytest.raises(ValidationError) as refused:
            validate(payload)
        error = refused.value.errors(include_url=False)[0]
        assert error["loc"][-1] == field
        assert error["type"] == "rfc3339_time"


@pytest.mark.parametrize(
    "written",
    ["2026-11-20T08:00:00Z", "2026-11-20t08:00:00.123456z", "2026-11-20T22:00:00+14:00"],
)
def test_every_rfc_3339_form_is_read_to_the_microsecond(written: str) -> None:
    usage = Usage.model_validate_json(_payload(Usage, "ts", written))
    assert usage.ts.isoformat().replace("+00:00", "Z").lower() == written.lower().replace(
        "+00:00", "z"
    )
