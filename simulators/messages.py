"""Protocol v1 payloads, built as bytes directly: the simulator's hot path.

Tests parse every kind with devices.protocol's models, so this shortcut cannot drift from it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from simulators.rhythm import CHINA_TZ

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def datetime_of(ms: int) -> datetime:
    """An aware UTC datetime from integer milliseconds since the epoch (exact, no float)."""
    return _EPOCH + timedelta(milliseconds=ms)


def ms_of(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError(f"time must be timezone-aware, got {moment!r}")
    return (moment - _EPOCH) // timedelta(milliseconds=1)


class Rfc3339:
    """Formats milliseconds as RFC 3339 in China time (`2026-11-23T18:04:05.123+08:00`), fast."""

    def __init__(self) -> None:
        self._minutes: dict[int, str] = {}

    def __call__(self, ms: int) -> str:
        minute, rest = divmod(ms, 60_000)
        prefix = self._minutes.get(minute)
        if prefix is None:
            if len(self._minutes) > 4096:
                self._minutes.clear()
            moment = (_EPOCH + timedelta(minutes=minute)).astimezone(CHINA_TZ)
            prefix = self._minutes[minute] = moment.strftime("%Y-%m-%dT%H:%M:")
        second, milli = divmod(rest, 1000)
        return f"{prefix}{second:02d}.{milli:03d}+08:00"


def _head(code: str, boot: int, seq: int, ts: str) -> str:
    return f'{{"v":1,"code":"{code}","boot":{boot},"seq":{seq},"ts":"{ts}"'


def birth(
    code: str, boot: int, seq: int, ts: str, *, fw: str, model: str, kind: str, heartbeat_s: int
) -> bytes:
    return (
        f'{_head(code, boot, seq, ts)},"fw":{json.dumps(fw)},"model":{json.dumps(model)},'
        f'"kind":"{kind}","heartbeat_s":{heartbeat_s}}}'
    ).encode()


def status(
    code: str,
    boot: int,
    seq: int,
    ts: str,
    *,
    battery_pct: float,
    rssi_dbm: float,
    temp_c: float,
    tilt_deg: float,
) -> bytes:
    return (
        f'{_head(code, boot, seq, ts)},"online":true,"battery_pct":{battery_pct},'
        f'"rssi_dbm":{rssi_dbm},"temp_c":{temp_c},"tilt_deg":{tilt_deg}}}'
    ).encode()


def usage(
    code: str,
    boot: int,
    seq: int,
    ts: str,
    *,
    started_at: str,
    duration_s: float,
    reps: int,
    energy_wh: float | None,
    avg_cadence_rpm: float | None,
    max_load_kg: float | None,
) -> bytes:
    extra = ""
    if energy_wh is not None:
        extra += f',"energy_wh":{energy_wh}'
    if avg_cadence_rpm is not None:
        extra += f',"avg_cadence_rpm":{avg_cadence_rpm}'
    if max_load_kg is not None:
        extra += f',"max_load_kg":{max_load_kg}'
    return (
        f'{_head(code, boot, seq, ts)},"started_at":"{started_at}","duration_s":{duration_s},'
        f'"reps":{reps}{extra}}}'
    ).encode()


def fault(
    code: str,
    boot: int,
    seq: int,
    ts: str,
    *,
    fault_code: str,
    severity: str,
    state: str,
    detail: str | None,
) -> bytes:
    tail = "" if detail is None else f',"detail":{json.dumps(detail)}'
    return (
        f'{_head(code, boot, seq, ts)},"fault":"{fault_code}","severity":"{severity}",'
        f'"state":"{state}"{tail}}}'
    ).encode()


def will(boot: int) -> bytes:
    """The last will (docs/protocol.md, Topics): retained, QoS 1, on the status topic."""
    return f'{{"v":1,"online":false,"boot":{boot}}}'.encode()


def batch(items: list[bytes]) -> bytes:
    """A gateway batch: a JSON array of v1 messages, each carrying its own code."""
    return b"[" + b",".join(items) + b"]"
