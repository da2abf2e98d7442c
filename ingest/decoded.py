"""What the decoder hands the writer: a chunk's accepted messages as rows, its dead letters and
its presence events.

Usage rows carry their device times, ts and started_at, as microseconds since 2000-01-01 UTC
(pg_micros), the binary form of a PostgreSQL timestamptz: the writer sends them as they are,
since having psycopg dump a datetime whose time zone was read from JSON costs more than the rest
of the row. Ingest checks and sums device times in this unit too: it is exact, and cheaper to
reach than a datetime's timestamp().
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
PG_EPOCH_S = 946_684_800  # 2000-01-01 UTC in seconds since 1970
MICROSECOND = timedelta(microseconds=1)
HOUR_US = 3_600_000_000
PG_EPOCH_HOUR = PG_EPOCH_S // 3600


def pg_micros(moment: datetime) -> int:
    """`moment` as microseconds since 2000-01-01 UTC."""
    return (moment - PG_EPOCH) // MICROSECOND


def from_pg_micros(micros: int) -> datetime:
    return PG_EPOCH + timedelta(microseconds=micros)


def epoch_hour(micros: int) -> int:
    """The UTC hour (hours since 1970) of a time in microseconds since 2000."""
    return micros // HOUR_US + PG_EPOCH_HOUR


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message, or one item of a gateway batch, that ingest cannot take: kept with the topic
    and the exact bytes it came with (an item's own bytes within its batch)."""

    topic: str
    payload: bytes
    received_at: datetime
    category: str  # a short label for metrics: bad_topic, oversized, not_utf8, malformed_json, ...
    reason: str  # what was wrong, with the value, for the people reading dead letters
    code: str | None = None


@dataclass(frozen=True, slots=True)
class WillEvent:
    site: str
    code: str | None  # None: the site gateway's will
    boot: int
    received_at: datetime


@dataclass(frozen=True, slots=True)
class Traffic:
    """A device was heard from: it is online, in this boot."""

    arrived: datetime
    boot: int


class UsageRow(NamedTuple):
    """A usage session as stored (the columns of usage_sessions, in their order)."""

    code: str
    boot: int
    seq: int
    ts: int  # microseconds since 2000-01-01 UTC
    started_at: int  # microseconds since 2000-01-01 UTC
    duration_s: float
    reps: int
    energy_wh: float | None
    avg_cadence_rpm: float | None
    max_load_kg: float | None
    received_at: datetime


class StatusRow(NamedTuple):
    code: str
    boot: int
    seq: int
    ts: datetime
    online: bool
    battery_pct: float | None
    rssi_dbm: float | None
    temp_c: float | None
    tilt_deg: float | None
    received_at: datetime


class FaultRow(NamedTuple):
    code: str
    boot: int
    seq: int
    ts: datetime
    fault: str
    severity: str
    state: str
    detail: str | None
    received_at: datetime


class BirthRow(NamedTuple):
    code: str
    boot: int
    seq: int
    ts: datetime
    fw: str
    model: str
    kind: str
    heartbeat_s: int
    received_at: datetime


@dataclass(slots=True)
class DecodedBatch:
    # Usage sessions, with the UTC hour of each one's start (epoch hours) for the hourly rollup.
    usage: list[UsageRow] = field(default_factory=list)
    usage_hours: list[int] = field(default_factory=list)
    status: list[StatusRow] = field(default_factory=list)
    faults: list[FaultRow] = field(default_factory=list)
    births: list[BirthRow] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    # Per device, the last presence event in arrival order: its will, or traffic.
    presence: dict[str, WillEvent | Traffic] = field(default_factory=dict)
    # Per site gateway: its will, or the arrival of a batch it sent.
    gateway_presence: dict[str, WillEvent | datetime] = field(default_factory=dict)
    received_kinds: dict[str, int] = field(default_factory=dict)
    newest_device_us: int | None = None  # microseconds since 2000

    @property
    def newest_device_ts(self) -> float | None:  # epoch seconds
        newest = self.newest_device_us
        return None if newest is None else newest / 1_000_000 + PG_EPOCH_S

    def saw_device_time(self, micros: int) -> None:
        if self.newest_device_us is None or micros > self.newest_device_us:
            self.newest_device_us = micros

    def count_received(self, kind: str) -> None:
        self.received_kinds[kind] = self.received_kinds.get(kind, 0) + 1
