"""Device protocol v1: topic grammar and payload models (docs/protocol.md).

Unknown extra fields are ignored so that compatible v1 extensions never break ingest; every field
the protocol names is checked strictly (no string-to-number coercion) and within limits that its
database column can hold exactly (docs/protocol.md, "Limits"), so what validates can be stored
as sent.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any, Final, Literal, NotRequired, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    GetCoreSchemaHandler,
    StrictBool,
    StrictInt,
    Tag,
    TypeAdapter,
)
from pydantic_core import PydanticUndefined, core_schema
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from devices.catalog import EQUIPMENT_TYPES, FAULT_TYPES, Severity
from devices.codes import parse_equipment_code
from devices.topics import (
    DEFAULT_TOPIC_ROOT,
    GATEWAY,
    Kind,
    Topic,
    TopicError,
    batch_topic,
    item_topic,
    parse_topic,
    subscription,
)

__all__ = [
    "BATCH_ADAPTER",
    "DEFAULT_TOPIC_ROOT",
    "GATEWAY",
    "ITEM_ADAPTER",
    "MAX_FUTURE_SKEW",
    "MAX_PAYLOAD_BYTES",
    "MAX_REPORT_DELAY",
    "MIN_DEVICE_TIME",
    "MODEL_BY_KIND",
    "PROTOCOL_VERSION",
    "USAGE_BATCH_ADAPTER",
    "Birth",
    "DeviceTime",
    "DeviceTimeText",
    "Fault",
    "Kind",
    "Message",
    "Status",
    "Topic",
    "TopicError",
    "Usage",
    "UsageFields",
    "Will",
    "batch_topic",
    "fields_of",
    "infer_kind",
    "item_topic",
    "kind_of",
    "parse_topic",
    "subscription",
    "too_far_ahead",
]

PROTOCOL_VERSION: Final = 1
MAX_PAYLOAD_BYTES: Final = 64 * 1024
MAX_FUTURE_SKEW: Final = timedelta(minutes=5)
MAX_SESSION_SECONDS: Final = 4 * 3600
# fitmon: the limits below are fitmon's (docs/protocol.md, "Limits"): each keeps a value within
# what its column holds exactly, or refuses what no working device sends.
INT32_MAX: Final = 2**31 - 1  # PostgreSQL integer
INT64_MAX: Final = 2**63 - 1  # PostgreSQL bigint
# The earliest device time taken: a clock that was never set reports 1970 or 2000.
MIN_DEVICE_TIME: Final = datetime(2000, 1, 1, tzinfo=UTC)
# How long before the message that reports it a session may have started: a device keeps
# sessions while it cannot send, but not for years.
MAX_REPORT_DELAY: Final = timedelta(days=30)


# Every message carries its code and a fleet repeats the same codes all day: remember the valid
# ones (about 120 bytes each; 12 MB for the largest cache). Bad codes are never cached, so each
# one raises CodeError, a ValueError that pydantic reports with its text.
@lru_cache(maxsize=100_000)
def _checked_code(value: str) -> str:
    parse_equipment_code(value)
    return value


EquipmentCodeStr = Annotated[str, AfterValidator(_checked_code)]


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain the NUL character (U+0000), which text cannot hold")
    return value


# Free text: PostgreSQL text holds any Unicode but NUL; JSON parsing already refuses a lone
# surrogate (not UTF-8).
Text = Annotated[str, AfterValidator(_no_nul)]
Counter64 = Annotated[int, Field(ge=0, le=INT64_MAX)]
# Not Literal[1]: pydantic's literal check takes `true` and `1.0` as 1, even when strict.
Version = Annotated[StrictInt, Field(ge=PROTOCOL_VERSION, le=PROTOCOL_VERSION)]


_RFC3339 = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)


def _rfc3339_shape() -> Any:
    return core_schema.custom_error_schema(
        core_schema.str_schema(pattern=_RFC3339, strict=True),
        custom_error_type="rfc3339_time",
        custom_error_message="Input should be an RFC 3339 time with a UTC offset (Z or "
        "+hh:mm) and at most 6 decimals of a second",
    )


class _Rfc3339:
    """A device time: RFC 3339 with a UTC offset (`Z` or `±hh:mm`) and at most 6 decimals of a
    second, checked on the string before it is read, then at or after MIN_DEVICE_TIME.

    The JSON parser alone would also read Unix seconds in a string, times without seconds or
    with `+hhmm`, and cut a seventh decimal off silently; all of it in pydantic-core, so that a
    site batch's hundred times cost little more than reading them.
    """

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> Any:
        instant = core_schema.datetime_schema(
            tz_constraint="aware", strict=False, ge=MIN_DEVICE_TIME
        )
        return core_schema.chain_schema([_rfc3339_shape(), instant])


class _Rfc3339Text:
    """A device time's text, of RFC 3339's shape but not read yet (see DeviceTimeText)."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> Any:
        return _rfc3339_shape()


DeviceTime = Annotated[datetime, _Rfc3339]
# The text of a device time, refused as DeviceTime refuses a string of another shape. Whoever
# takes it must still read it, and refuse what DeviceTime refuses of a string of this shape (a
# date or an offset that does not exist, a time before MIN_DEVICE_TIME): ingest.device_times.
DeviceTimeText = Annotated[str, _Rfc3339Text]

# Numbers must be finite: JSON has no NaN or infinity, but 1e400 parses to infinity.
_CONFIG = ConfigDict(strict=True, extra="ignore", frozen=True, allow_inf_nan=False)


class _Message(BaseModel):
    model_config = _CONFIG

    v: Version
    code: EquipmentCodeStr
    boot: Counter64
    seq: Counter64
    ts: DeviceTime


def _known_kind(value: str) -> str:
    if value not in EQUIPMENT_TYPES:
        raise ValueError(f"unknown equipment kind {value!r}")
    return value


class Birth(_Message):
    fw: Text = Field(min_length=1, max_length=64)
    model: Text = Field(min_length=1, max_length=64)
    kind: Annotated[str, AfterValidator(_known_kind)]
    heartbeat_s: int = Field(gt=0, le=86_400)


class Status(_Message):
    online: bool
    battery_pct: float | None = Field(default=None, ge=0, le=100)
    rssi_dbm: float | None = Field(default=None, ge=-200, le=20)
    temp_c: float | None = Field(default=None, ge=-80, le=120)
    tilt_deg: float | None = Field(default=None, ge=0, le=180)


class Usage(_Message):
    started_at: DeviceTime
    duration_s: float = Field(gt=0, le=MAX_SESSION_SECONDS)
    reps: int = Field(ge=0, le=INT32_MAX)
    # Bounds past what a person can do in a 4-hour session: a value beyond is a broken sensor.
    energy_wh: float | None = Field(default=None, ge=0, le=5_000)
    avg_cadence_rpm: float | None = Field(default=None, ge=0, le=1_000)
    max_load_kg: float | None = Field(default=None, ge=0, le=1_000)


def _known_fault(value: str) -> str:
    if value not in FAULT_TYPES:
        raise ValueError(f"unknown fault code {value!r}")
    return value


class Fault(_Message):
    fault: Annotated[str, AfterValidator(_known_fault)]
    severity: Severity
    state: Literal["raised", "cleared"]
    detail: Annotated[str, Field(max_length=1000), AfterValidator(_no_nul)] | None = None


def _offline(value: bool) -> bool:
    if value:
        raise ValueError("a last will says online: false")
    return value


class Will(BaseModel):
    """The last-will payload `{"v":1,"online":false,"boot":<boot>}` (docs/protocol.md)."""

    model_config = _CONFIG

    v: Version
    online: Annotated[StrictBool, AfterValidator(_offline)]
    boot: Counter64


Message = Birth | Status | Usage | Fault

MODEL_BY_KIND: Final[dict[Kind, type[_Message]]] = {
    Kind.BIRTH: Birth,
    Kind.STATUS: Status,
    Kind.USAGE: Usage,
    Kind.FAULT: Fault,
}


def infer_kind(item: Any) -> str | None:
    """The kind of a batch item, told by its distinguishing field (a batch has no kind topic)."""
    if isinstance(item, dict):
        for field, kind in (
            ("started_at", Kind.USAGE),
            ("fault", Kind.FAULT),
            ("heartbeat_s", Kind.BIRTH),
            ("online", Kind.STATUS),
        ):
            if field in item:
                return kind.value
    elif isinstance(item, _Message):
        return kind_of(item).value
    return None


def kind_of(message: _Message) -> Kind:
    for kind, model in MODEL_BY_KIND.items():
        if type(message) is model:
            return kind
    raise TypeError(f"not a v1 message: {type(message).__name__}")


BatchItem = Annotated[
    Annotated[Birth, Tag("birth")]
    | Annotated[Status, Tag("status")]
    | Annotated[Usage, Tag("usage")]
    | Annotated[Fault, Tag("fault")],
    Discriminator(
        infer_kind,
        custom_error_type="unknown_kind",
        custom_error_message="cannot tell the message kind (no started_at, fault, heartbeat_s "
        "or online field)",
    ),
]
BATCH_ADAPTER: Final = TypeAdapter(list[BatchItem])
ITEM_ADAPTER: Final = TypeAdapter(BatchItem)


def fields_of(model: type[_Message], *, times_as_text: bool = False) -> Any:
    """`model`'s fields as a TypedDict with the very same types, checks and configuration; with
    `times_as_text`, its device times as DeviceTimeText, which the caller must read.

    Validating into plain dicts gives what the model would hold without building a model
    instance per message, which is most of the cost of validating a site batch. A field with a
    default (all of them None) may be absent from the dict. Only a model whose checks all sit on
    its fields can be turned into one.
    """
    decorators = model.__pydantic_decorators__
    if (
        decorators.model_validators
        or decorators.field_validators
        or model.model_post_init is not BaseModel.model_post_init
    ):
        raise TypeError(f"{model.__name__} has checks beyond its fields")
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if info.default not in (None, PydanticUndefined) or info.default_factory is not None:
            raise TypeError(f"{model.__name__}.{name} has a default other than None")
        if info.alias is not None or info.validation_alias is not None:
            raise TypeError(f"{model.__name__}.{name} has an alias")
        annotation: Any = info.annotation
        if times_as_text and _Rfc3339 in info.metadata:
            annotation = DeviceTimeText
        elif times_as_text and _holds_device_time(annotation):
            raise TypeError(f"{model.__name__}.{name} holds a device time within another type")
        elif info.metadata:
            annotation = Annotated[(annotation, *info.metadata)]
        fields[name] = annotation if info.is_required() else NotRequired[annotation]
    make_typed_dict: Any = TypedDict  # called with fields found at run time, which mypy cannot see
    typed = make_typed_dict(f"{model.__name__}Fields", fields)
    config = model.model_config
    typed.__pydantic_config__ = ConfigDict(
        strict=config.get("strict", False),
        extra=config.get("extra", "ignore"),
        allow_inf_nan=config.get("allow_inf_nan", True),
    )
    return typed


def _holds_device_time(annotation: Any) -> bool:
    if _Rfc3339 in getattr(annotation, "__metadata__", ()):
        return True
    return any(_holds_device_time(arg) for arg in get_args(annotation))


UsageFields: Any = fields_of(Usage, times_as_text=True)
# A batch of usage sessions only, validated into plain dicts without telling kinds apart: three
# times as fast, and the same verdict once its times are read (ingest.device_times), since an
# item valid as Usage has started_at and so is told to be usage anyway. An item missing an
# optional field lacks its key (Usage would hold None).
USAGE_BATCH_ADAPTER: Final[TypeAdapter[list[dict[str, Any]]]] = TypeAdapter(list[UsageFields])


def too_far_ahead(moment: datetime, now: datetime) -> bool:
    """docs/protocol.md: a timestamp more than 5 minutes in the future is refused."""
    return moment - now > MAX_FUTURE_SKEW
