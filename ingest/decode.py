"""Turning received MQTT messages into validated v1 messages, or dead letters with a reason."""

from __future__ import annotations

from collections.abc import Callable, Container, Iterator, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Protocol

from pydantic import ValidationError

from devices.codes import SITE_CODE_LENGTH, site_of
from devices.protocol import (
    BATCH_ADAPTER,
    ITEM_ADAPTER,
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
)
from ingest.decoded import (
    HOUR_US,
    PG_EPOCH_HOUR,
    BirthRow,
    DecodedBatch,
    FaultRow,
    StatusRow,
    Traffic,
    UsageRow,
    WillEvent,
    pg_micros,
)
from ingest.device_times import MIN_DEVICE_US, device_micros
from ingest.json_items import NotAnArray, split_json_array
from ingest.refusals import (
    DELAY_US,
    SKEW_US,
    Origin,
    category_of,
    claimed_code,
    describe,
    not_a_batch,
    time_refusal,
)

# A fleet publishes on a few topics per item, over and over: parse each once (its check character
# is pure-Python arithmetic). Only valid topics are cached, about 320 bytes each (10 MB at most);
# a bad one raises TopicError every time.
_parse_topic = lru_cache(maxsize=32_768)(parse_topic)
_new_row = tuple.__new__  # builds a UsageRow at half what its keyword-checking __new__ costs
_NONE_YET = -(1 << 63)


class RegistryView(Protocol):
    @property
    def known_equipment(self) -> Container[str]:
        """Codes surely registered, checked without a call; has_equipment answers for the rest."""

    def has_equipment(self, code: str) -> bool: ...
    def has_site(self, site: str) -> bool: ...


class Decoder:
    def __init__(self, topic_root: str, registry: RegistryView) -> None:
        self._root = topic_root
        self._registry = registry

    def decode(
        self, topics: Sequence[str], payloads: Sequence[bytes], received_at: Sequence[float]
    ) -> DecodedBatch:
        batch = DecodedBatch()
        for topic, payload, at in zip(topics, payloads, received_at, strict=True):
            self._decode_one(topic, payload, datetime.fromtimestamp(at, UTC), batch)
        return batch

    def decode_singly(
        self, topics: Sequence[str], payloads: Sequence[bytes], received_at: Sequence[float]
    ) -> Iterator[tuple[Origin, DecodedBatch]]:
        """Each message, and each item of a gateway batch, decoded on its own with its origin:
        for storing them one at a time when the database refuses a chunk."""
        for topic, payload, at in zip(topics, payloads, received_at, strict=True):
            arrived = datetime.fromtimestamp(at, UTC)
            items = self._batch_items(topic, payload)
            if items is None:
                single = DecodedBatch()
                self._decode_one(topic, payload, arrived, single)
                yield Origin(topic, payload, arrived), single
                continue
            site, texts = items
            if not texts:  # an empty batch: the gateway was heard, nothing more
                single = DecodedBatch()
                single.count_received("batch")
                single.gateway_presence[site] = arrived
                yield Origin(topic, payload, arrived), single
            for index, text in enumerate(texts):
                single = DecodedBatch()
                if index == 0:
                    single.count_received("batch")
                    single.gateway_presence[site] = arrived
                origin = Origin(topic, text.encode(), arrived, index)
                self._decode_item(origin, site, single)
                yield origin, single

    def _batch_items(self, topic: str, payload: bytes) -> tuple[str, list[str]] | None:
        """A well-formed gateway batch's site and items; None for anything else."""
        try:
            parsed = _parse_topic(topic, self._root)
            if parsed.kind is not None or len(payload) > MAX_PAYLOAD_BYTES:
                return None
            return parsed.site, split_json_array(payload.decode("utf-8"))
        except (TopicError, UnicodeDecodeError, NotAnArray):
            return None

    def _decode_one(
        self, topic_name: str, payload: bytes, arrived: datetime, batch: DecodedBatch
    ) -> None:
        origin = Origin(topic_name, payload, arrived)
        try:
            topic = _parse_topic(topic_name, self._root)
        except TopicError as exc:
            batch.count_received("invalid")
            batch.dead.append(origin.refuse("bad_topic", str(exc)))
            return
        batch.count_received("batch" if topic.kind is None else topic.kind.value)
        if len(payload) > MAX_PAYLOAD_BYTES:
            reason = f"payload of {len(payload)} bytes exceeds 64 KiB"
            batch.dead.append(origin.refuse("oversized", reason, topic.code))
            return
        if not payload.isascii():  # nearly all are: that check is much the cheaper
            try:
                payload.decode("utf-8")
            except UnicodeDecodeError as exc:
                reason = f"payload is not UTF-8: {exc}"
                batch.dead.append(origin.refuse("not_utf8", reason, topic.code))
                return
        if topic.kind is None:
            self._decode_batch(origin, topic.site, batch)
            return
        if topic.is_gateway:
            try:
                will = Will.model_validate_json(payload)
            except ValidationError as exc:
                reason = f"gateway status must be a last will: {describe(exc)}"
                batch.dead.append(origin.refuse(category_of(exc), reason))
                return
            if not self._registry.has_site(topic.site):
                batch.dead.append(origin.refuse("unknown_code", f"unknown site {topic.site}"))
                return
            batch.gateway_presence[topic.site] = WillEvent(topic.site, None, will.boot, arrived)
            return
        assert topic.code is not None
        try:
            message: Message = MODEL_BY_KIND[topic.kind].model_validate_json(payload)  # type: ignore[assignment]
        except ValidationError as exc:
            if topic.kind is Kind.STATUS and self._take_will(origin, topic.site, topic.code, batch):
                return
            reason = f"{topic.kind.value}: {describe(exc)}"
            batch.dead.append(origin.refuse(category_of(exc), reason, topic.code))
            return
        if message.code != topic.code:
            reason = f"payload code {message.code} differs from topic code {topic.code}"
            batch.dead.append(origin.refuse("code_mismatch", reason, message.code))
            return
        self._accept(message, origin, batch)

    def _take_will(self, origin: Origin, site: str, code: str, batch: DecodedBatch) -> bool:
        """Take a device's last will, sent on its status topic; False if it is not one."""
        try:
            will = Will.model_validate_json(origin.payload)
        except ValidationError:
            return False
        if not self._registry.has_equipment(code):
            batch.dead.append(origin.refuse("unknown_code", f"unknown equipment code {code}", code))
        else:
            batch.presence[code] = WillEvent(site, code, will.boot, origin.arrived)
        return True

    def _decode_batch(self, origin: Origin, site: str, batch: DecodedBatch) -> None:
        # A gateway flushing its items' sessions sends usage only: that is tried first, validated
        # into dicts and taken without a model per session (an item valid as usage is usage: it
        # has started_at). A mixed batch is told apart item by item; a bad one, item by item.
        payload = origin.payload
        item_origin = _item_origins(origin)
        try:
            sessions = USAGE_BATCH_ADAPTER.validate_json(payload)
        except ValidationError:
            try:
                messages: list[Message] = BATCH_ADAPTER.validate_json(payload)
            except ValidationError:
                self._decode_batch_items(origin, site, batch)
                return
            for index, one in enumerate(messages):
                self._accept_batch_item(one, site, item_origin(index), batch)
        else:
            self._take_sessions(sessions, site, origin.arrived, item_origin, batch)
        batch.gateway_presence[site] = origin.arrived

    def _decode_batch_items(self, origin: Origin, site: str, batch: DecodedBatch) -> None:
        """The slow path: find the bad items, keep the good ones (each item stands alone)."""
        try:
            texts = split_json_array(origin.payload.decode("utf-8"))
        except NotAnArray as exc:
            batch.dead.append(origin.refuse(*not_a_batch(origin.payload, exc)))
            return
        for index, text in enumerate(texts):
            self._decode_item(
                Origin(origin.topic, text.encode(), origin.arrived, index), site, batch
            )
        batch.gateway_presence[site] = origin.arrived  # the latest word from the gateway

    def _decode_item(self, origin: Origin, site: str, batch: DecodedBatch) -> None:
        try:
            one: Message = ITEM_ADAPTER.validate_json(origin.payload)
        except ValidationError as exc:
            code = claimed_code(origin.payload)
            batch.dead.append(origin.refuse(category_of(exc), describe(exc), code))
            return
        self._accept_batch_item(one, site, origin, batch)

    def _take_sessions(
        self,
        sessions: list[dict[str, Any]],
        site: str,
        arrived: datetime,
        item_origin: Callable[[int], Origin],
        batch: DecodedBatch,
    ) -> None:
        """Take a batch's valid usage sessions (validated as dicts, their times as text):
        _accept's checks, inlined, since this loop is what ingest spends most of its time in
        under load. A session that fails one is decoded on its own, by its model, which says
        what is wrong with it."""
        least, latest = MIN_DEVICE_US, pg_micros(arrived) + SKEW_US
        skew, delay = SKEW_US, DELAY_US
        known, has_equipment = self._registry.known_equipment, self._registry.has_equipment
        rows, hours, presence = batch.usage, batch.usage_hours, batch.presence
        seen = Traffic(arrived, -1)
        newest = _NONE_YET
        for i, fields in enumerate(sessions):
            code = fields["code"]
            ts = device_micros(fields["ts"])
            started = device_micros(fields["started_at"])
            if (  # DeviceTime's, time_refusal's, the site's (site_of, inlined) and the registry's
                not least <= ts <= latest
                or not least <= started <= latest
                or not -skew <= ts - started <= delay
                or code[:SITE_CODE_LENGTH] != site
                or (code not in known and not has_equipment(code))
            ):
                self._decode_item(item_origin(i), site, batch)
                continue
            boot = fields["boot"]
            get = fields.get
            rows.append(
                _new_row(
                    UsageRow,
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
                    ),
                )
            )
            hours.append(started // HOUR_US + PG_EPOCH_HOUR)  # epoch_hour, inlined
            if boot != seen.boot:  # a gateway's items mostly share one boot: one Traffic for them
                seen = Traffic(arrived, boot)
            presence[code] = seen
            if ts > newest:  # noqa: PLR1730 (max() would cost a call per session)
                newest = ts
        if newest != _NONE_YET:
            batch.saw_device_time(newest)

    def _accept_batch_item(
        self, message: Message, site: str, origin: Origin, batch: DecodedBatch
    ) -> None:
        if site_of(message.code) != site:
            reason = f"equipment {message.code} is not at site {site}"
            batch.dead.append(origin.refuse("code_mismatch", reason, message.code))
            return
        self._accept(message, origin, batch)

    def _accept(self, message: Message, origin: Origin, batch: DecodedBatch) -> None:
        """Store `message` in `batch` if its code is registered and its device times are
        plausible (docs/protocol.md, "Limits"), else dead-letter it."""
        code = message.code
        if not self._registry.has_equipment(code):
            batch.dead.append(origin.refuse("unknown_code", f"unknown equipment code {code}", code))
            return
        arrived = origin.arrived
        refused = time_refusal(message, arrived)
        if refused is not None:
            batch.dead.append(origin.refuse(*refused, code))
            return
        ts = pg_micros(message.ts)
        if isinstance(message, Usage):
            started = pg_micros(message.started_at)
            batch.usage.append(
                UsageRow(
                    code,
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
            )
            batch.usage_hours.append(started // HOUR_US + PG_EPOCH_HOUR)
        elif isinstance(message, Status):
            batch.status.append(
                StatusRow(
                    code,
                    message.boot,
                    message.seq,
                    message.ts,
                    message.online,
                    message.battery_pct,
                    message.rssi_dbm,
                    message.temp_c,
                    message.tilt_deg,
                    arrived,
                )
            )
        elif isinstance(message, Fault):
            batch.faults.append(
                FaultRow(
                    code,
                    message.boot,
                    message.seq,
                    message.ts,
                    message.fault,
                    message.severity.value,
                    message.state,
                    message.detail,
                    arrived,
                )
            )
        else:
            assert isinstance(message, Birth)
            batch.births.append(
                BirthRow(
                    code,
                    message.boot,
                    message.seq,
                    message.ts,
                    message.fw,
                    message.model,
                    message.kind,
                    message.heartbeat_s,
                    arrived,
                )
            )
        batch.presence[code] = Traffic(arrived, message.boot)
        batch.saw_device_time(ts)


def _item_origins(batch: Origin) -> Callable[[int], Origin]:
    """The origin of each item of a valid batch; its items' own bytes are found only when one of
    them is refused."""
    texts: list[str] = []

    def origin(index: int) -> Origin:
        if not texts:
            texts.extend(split_json_array(batch.payload.decode("utf-8")))
        return Origin(batch.topic, texts[index].encode(), batch.arrived, index)

    return origin
