"""Turning received MQTT messages into validated v1 messages, or dead letters with a reason."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Protocol

from pydantic import ValidationError

from devices.protocol import (
    BATCH_ADAPTER,
    ITEM_ADAPTER,
    MAX_FUTURE_SKEW,
    MAX_PAYLOAD_BYTES,
    MODEL_BY_KIND,
    USAGE_BATCH_ADAPTER,
    Birth,
    Fault,
    Kind,
    Message,
    Status,
    TopicError,
    Usage,
    Will,
    parse_topic,
    too_far_ahead,
)
from ingest.handoff import Incoming

_MAX_FUTURE_SKEW_US = MAX_FUTURE_SKEW // timedelta(microseconds=1)

# A fleet publishes on a few topics per item, over and over: parse each once (its check character
# is pure-Python arithmetic). Only valid topics are cached, about 320 bytes each (10 MB at most);
# a bad one raises TopicError every time.
_parse_topic = lru_cache(maxsize=32_768)(parse_topic)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    topic: str
    payload: bytes
    received_at: datetime
    category: str  # a short label for metrics: bad_topic, oversized, not_utf8, malformed_json, ...
    reason: str  # what was wrong, with the value, for the people reading dead letters
    code: str | None = None


@dataclass(slots=True)
class WillEvent:
    site: str
    code: str | None  # None: the site gateway's will
    boot: int
    received_at: datetime


# A usage session as the row ingest stores: the fields of Usage, then its arrival. Its device
# times, ts and started_at, are microseconds since 2000-01-01 UTC (pg_micros), the binary form
# of a PostgreSQL timestamptz: the writer sends them as they are, since having psycopg dump a
# datetime whose time zone was read from JSON costs more than the rest of the row.
USAGE_ROW_FIELDS = (
    "code",
    "boot",
    "seq",
    "ts",
    "started_at",
    "duration_s",
    "reps",
    "energy_wh",
    "avg_cadence_rpm",
    "max_load_kg",
    "received_at",
)
UsageRow = tuple[Any, ...]

_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_PG_EPOCH_S = 946_684_800
_MICROSECOND = timedelta(microseconds=1)
_HOUR_US = 3_600_000_000
_PG_EPOCH_HOUR = _PG_EPOCH_S // 3600
_NONE_YET = -(1 << 63)


def pg_micros(moment: datetime) -> int:
    """`moment` as microseconds since 2000-01-01 UTC. Ingest checks and sums device times in
    this unit too: it is exact, and cheaper to reach than a datetime's timestamp()."""
    return (moment - _PG_EPOCH) // _MICROSECOND


def from_pg_micros(micros: int) -> datetime:
    return _PG_EPOCH + timedelta(microseconds=micros)


def epoch_hour(micros: int) -> int:
    """The UTC hour (hours since 1970) of a time in microseconds since 2000."""
    return micros // _HOUR_US + _PG_EPOCH_HOUR


def usage_row(message: Usage, ts: int, started: int, arrived: datetime) -> UsageRow:
    """The row of `message`, given its ts and started_at in microseconds since 2000."""
    return (
        message.code,
        message.boot,
        message.seq,
        ts,
        started,
        message.duration_s,
        message.reps,
        message.energy_wh,
        message.avg_cadence_rpm,
        message.max_load_kg,
        arrived,
    )


def usage_message(row: UsageRow) -> Usage:
    """The session a usage row was made of (for a dead letter: rows are what ingest keeps)."""
    fields = dict(zip(USAGE_ROW_FIELDS[:-1], row[:-1], strict=True))
    fields["ts"] = from_pg_micros(fields["ts"])
    fields["started_at"] = from_pg_micros(fields["started_at"])
    return Usage.model_construct(v=1, **fields)


@dataclass(slots=True)
class DecodedBatch:
    # Usage sessions go straight to rows, with the UTC hour of each one's start (epoch hours),
    # which the hourly rollup sums by.
    usage: list[UsageRow] = field(default_factory=list)
    usage_hours: list[int] = field(default_factory=list)
    status: list[tuple[Status, datetime]] = field(default_factory=list)
    faults: list[tuple[Fault, datetime]] = field(default_factory=list)
    births: list[tuple[Birth, datetime]] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    # Per device, the last presence event in arrival order: a will, or traffic (arrival, boot).
    presence: dict[str, WillEvent | tuple[datetime, int]] = field(default_factory=dict)
    gateway_presence: dict[str, WillEvent | datetime] = field(default_factory=dict)
    received_kinds: dict[str, int] = field(default_factory=dict)
    newest_device_us: int | None = None  # microseconds since 2000

    @property
    def newest_device_ts(self) -> float | None:  # epoch seconds
        newest = self.newest_device_us
        return None if newest is None else newest / 1_000_000 + _PG_EPOCH_S

    def saw_device_time(self, micros: int) -> None:
        if self.newest_device_us is None or micros > self.newest_device_us:
            self.newest_device_us = micros

    @property
    def message_count(self) -> int:
        return len(self.usage) + len(self.status) + len(self.faults) + len(self.births)


def describe(exc: ValidationError) -> str:
    """A one-line summary of a pydantic error: `field: message; ...` (at most five)."""
    parts = []
    for error in exc.errors(include_url=False)[:5]:
        location = ".".join(str(p) for p in error["loc"])
        parts.append(f"{location}: {error['msg']}" if location else error["msg"])
    more = f" (+{exc.error_count() - 5} more)" if exc.error_count() > 5 else ""
    return "; ".join(parts) + more


def _category(exc: ValidationError) -> str:
    for error in exc.errors(include_url=False):
        if error["type"] == "json_invalid":
            return "malformed_json"
        if error["loc"] and error["loc"][-1] == "code":
            return "bad_check" if "check character" in error["msg"] else "bad_code"
    return "schema"


@dataclass(frozen=True, slots=True)
class _Item:
    topic: str
    payload: bytes
    received_at: float


class RegistryView(Protocol):
    def has_equipment(self, code: str) -> bool: ...
    def has_site(self, site: str) -> bool: ...


class Decoder:
    def __init__(self, topic_root: str, registry: RegistryView) -> None:
        self._root = topic_root
        self._registry = registry

    def decode(self, received: Sequence[Incoming]) -> DecodedBatch:
        batch = DecodedBatch()
        for topic, payload, received_at in received:
            self._decode_one(_Item(topic, payload, received_at), batch)
        return batch

    def _decode_one(self, item: _Item, batch: DecodedBatch) -> None:
        arrived = datetime.fromtimestamp(item.received_at, UTC)

        def refuse(category: str, reason: str, code: str | None = None) -> None:
            batch.dead.append(DeadLetter(item.topic, item.payload, arrived, category, reason, code))

        try:
            topic = _parse_topic(item.topic, self._root)
        except TopicError as exc:
            batch.received_kinds["invalid"] = batch.received_kinds.get("invalid", 0) + 1
            refuse("bad_topic", str(exc))
            return
        kind_label = "batch" if topic.kind is None else topic.kind.value
        batch.received_kinds[kind_label] = batch.received_kinds.get(kind_label, 0) + 1
        if len(item.payload) > MAX_PAYLOAD_BYTES:
            refuse("oversized", f"payload of {len(item.payload)} bytes exceeds 64 KiB", topic.code)
            return
        if not item.payload.isascii():  # nearly all are: that check is much the cheaper
            try:
                item.payload.decode("utf-8")
            except UnicodeDecodeError as exc:
                refuse("not_utf8", f"payload is not UTF-8: {exc}", topic.code)
                return
        if topic.kind is None:
            self._decode_batch(item, topic.site, arrived, batch)
            return
        if topic.is_gateway:
            try:
                will = Will.model_validate_json(item.payload)
            except ValidationError as exc:
                refuse(_category(exc), f"gateway status must be a last will: {describe(exc)}")
                return
            if not self._registry.has_site(topic.site):
                refuse("unknown_code", f"unknown site {topic.site}")
                return
            batch.gateway_presence[topic.site] = WillEvent(topic.site, None, will.boot, arrived)
            return
        assert topic.code is not None
        try:
            message: Message = MODEL_BY_KIND[topic.kind].model_validate_json(item.payload)  # type: ignore[assignment]
        except ValidationError as exc:
            if topic.kind is Kind.STATUS:
                try:
                    will = Will.model_validate_json(item.payload)
                except ValidationError:
                    pass
                else:
                    if not self._registry.has_equipment(topic.code):
                        refuse("unknown_code", f"unknown equipment code {topic.code}", topic.code)
                        return
                    batch.presence[topic.code] = WillEvent(
                        topic.site, topic.code, will.boot, arrived
                    )
                    return
            refuse(_category(exc), f"{topic.kind.value}: {describe(exc)}", topic.code)
            return
        if message.code != topic.code:
            refuse(
                "code_mismatch",
                f"payload code {message.code} differs from topic code {topic.code}",
                message.code,
            )
            return
        self._accept(message, arrived, batch, item.topic, item.payload)

    def _decode_batch(self, item: _Item, site: str, arrived: datetime, batch: DecodedBatch) -> None:
        # A gateway flushing its items' sessions sends usage only: that is validated into dicts
        # and taken without a model per session. Any other batch is told apart item by item.
        usage_only = item.payload.count(b'"started_at"') == item.payload.count(b'"code"')
        try:
            if usage_only:
                sessions = USAGE_BATCH_ADAPTER.validate_json(item.payload)
            else:
                messages: list[Message] = BATCH_ADAPTER.validate_json(item.payload)
        except ValidationError as exc:  # a bad batch, or a mixed one after all
            self._decode_batch_items(item, site, arrived, batch, exc)
            return
        if usage_only:
            self._take_sessions(sessions, site, arrived, batch, item.topic)
        else:
            for index, one in enumerate(messages):
                self._accept_batch_item(one, site, arrived, batch, item.topic, None, index)
        batch.gateway_presence[site] = arrived

    def _decode_batch_items(
        self, item: _Item, site: str, arrived: datetime, batch: DecodedBatch, exc: ValidationError
    ) -> None:
        """The slow path: find the bad items, keep the good ones (each item stands alone)."""
        try:
            raw = json.loads(item.payload)
        except ValueError as json_exc:
            batch.dead.append(
                DeadLetter(
                    item.topic,
                    item.payload,
                    arrived,
                    "malformed_json",
                    f"batch: malformed JSON: {json_exc}",
                )
            )
            return
        if not isinstance(raw, list):
            batch.dead.append(
                DeadLetter(
                    item.topic,
                    item.payload,
                    arrived,
                    "schema",
                    f"batch must be a JSON array, got {type(raw).__name__}: {describe(exc)}",
                )
            )
            return
        for index, element in enumerate(raw):
            element_bytes = json.dumps(element, ensure_ascii=False).encode()
            try:
                one: Message = ITEM_ADAPTER.validate_json(element_bytes)
            except ValidationError as item_exc:
                code = element.get("code") if isinstance(element, dict) else None
                batch.dead.append(
                    DeadLetter(
                        item.topic,
                        element_bytes,
                        arrived,
                        _category(item_exc),
                        f"batch item {index}: {describe(item_exc)}",
                        code if isinstance(code, str) else None,
                    )
                )
                continue
            self._accept_batch_item(one, site, arrived, batch, item.topic, element_bytes, index)
        batch.gateway_presence.setdefault(site, arrived)

    def _take_sessions(
        self,
        sessions: list[dict[str, Any]],
        site: str,
        arrived: datetime,
        batch: DecodedBatch,
        topic: str,
    ) -> None:
        """Take a batch's valid usage sessions (validated as dicts): _accept_batch_item's checks,
        inlined, since this loop is what ingest spends most of its time in under load."""
        latest = pg_micros(arrived) + _MAX_FUTURE_SKEW_US
        has_equipment = self._registry.has_equipment
        rows, hours, presence = batch.usage, batch.usage_hours, batch.presence
        newest = _NONE_YET
        epoch, microsecond = _PG_EPOCH, _MICROSECOND
        for i, fields in enumerate(sessions):
            code = fields["code"]
            ts = (fields["ts"] - epoch) // microsecond  # pg_micros, inlined
            started = (fields["started_at"] - epoch) // microsecond
            if code[:11] != site or not has_equipment(code) or ts > latest or started > latest:
                refused = Usage.model_construct(**fields)
                self._accept_batch_item(refused, site, arrived, batch, topic, None, i)
                continue
            boot = fields["boot"]
            get = fields.get
            rows.append(
                (
                    code,
                    boot,
                    fields["seq"],
                    ts,
                    started,
                    fields["duration_s"],
                    fields["reps"],
                    get("energy_wh"),
                    get("avg_cadence_rpm"),
                    get("max_load_kg"),
                    arrived,
                )
            )
            hours.append(started // _HOUR_US + _PG_EPOCH_HOUR)  # epoch_hour, inlined
            presence[code] = (arrived, boot)
            if ts > newest:  # noqa: PLR1730 (max() would cost a call per session)
                newest = ts
        if newest != _NONE_YET:
            batch.saw_device_time(newest)

    def _accept_batch_item(
        self,
        message: Message,
        site: str,
        arrived: datetime,
        batch: DecodedBatch,
        topic: str,
        element_bytes: bytes | None,
        index: int,
    ) -> None:
        if message.code[:11] != site:
            raw = element_bytes or message.model_dump_json().encode()
            batch.dead.append(
                DeadLetter(
                    topic,
                    raw,
                    arrived,
                    "code_mismatch",
                    f"batch item {index}: equipment {message.code} is not at site {site}",
                    message.code,
                )
            )
            return
        self._accept(message, arrived, batch, topic, element_bytes, index)

    def _accept(
        self,
        message: Message,
        arrived: datetime,
        batch: DecodedBatch,
        topic: str,
        raw: bytes | None,
        index: int | None = None,
    ) -> None:
        """Store `message` in `batch` if its code is registered and its times are not too far
        ahead of its arrival (PROTOCOL.md), else dead-letter it. The hot path of ingest: times
        are compared as integers (pg_micros), since comparing datetimes of two time zones costs
        more."""
        code = message.code
        latest = pg_micros(arrived) + _MAX_FUTURE_SKEW_US
        ts = pg_micros(message.ts)
        if self._registry.has_equipment(code) and ts <= latest:
            kind = type(message)
            if kind is Usage:
                started = pg_micros(message.started_at)  # type: ignore[union-attr]
                if started <= latest:
                    batch.usage.append(usage_row(message, ts, started, arrived))  # type: ignore[arg-type]
                    batch.usage_hours.append(epoch_hour(started))
                else:
                    self._refuse(message, arrived, batch, topic, raw, index)
                    return
            elif kind is Status:
                batch.status.append((message, arrived))  # type: ignore[arg-type]
            elif kind is Fault:
                batch.faults.append((message, arrived))  # type: ignore[arg-type]
            else:
                batch.births.append((message, arrived))  # type: ignore[arg-type]
            batch.presence[code] = (arrived, message.boot)
            batch.saw_device_time(ts)
            return
        self._refuse(message, arrived, batch, topic, raw, index)

    def _refuse(
        self,
        message: Message,
        arrived: datetime,
        batch: DecodedBatch,
        topic: str,
        raw: bytes | None,
        index: int | None,
    ) -> None:
        """Dead-letter a valid message that _accept cannot take, with the reason."""
        if not self._registry.has_equipment(message.code):
            category, reason = "unknown_code", f"unknown equipment code {message.code}"
        elif too_far_ahead(message.ts, arrived):
            category = "future"
            reason = f"ts {message.ts.isoformat()} is more than 5 minutes in the future"
        else:
            assert isinstance(message, Usage)
            category = "future"
            reason = f"started_at {message.started_at.isoformat()} is more than 5 minutes ahead"
        payload = raw if raw is not None else message.model_dump_json().encode()
        where = "" if index is None else f"batch item {index}: "
        batch.dead.append(
            DeadLetter(topic, payload, arrived, category, where + reason, message.code)
        )
