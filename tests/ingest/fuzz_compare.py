"""How the fuzzing checker reads what was sent and compares it with what was stored: its own
time parser and value comparison, never ingest's models."""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from tests.ingest.fuzz_values import ARRIVAL

MISSING = object()  # a key that is absent, or a payload that is no JSON
_COMMON = [("code", "text"), ("boot", "int"), ("seq", "int"), ("ts", "time")]
COLUMNS = {
    "usage": [
        *_COMMON,
        ("started_at", "time"),
        ("duration_s", "float"),
        ("reps", "int"),
        ("energy_wh", "float?"),
        ("avg_cadence_rpm", "float?"),
        ("max_load_kg", "float?"),
    ],
    "status": [
        *_COMMON,
        ("online", "bool"),
        *((name, "float?") for name in ("battery_pct", "rssi_dbm", "temp_c", "tilt_deg")),
    ],
    "fault": [
        *_COMMON,
        ("fault", "text"),
        ("severity", "text"),
        ("state", "text"),
        ("detail", "text?"),
    ],
    "birth": [
        *_COMMON,
        ("fw", "text"),
        ("model", "text"),
        ("kind", "text"),
        ("heartbeat_s", "int"),
    ],
}
_TIME = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt _](\d\d):(\d\d)(?::(\d\d)(?:[.,](\d+))?)?([Zz]|[+-]\d\d:?\d\d)",
    re.ASCII,
)


def parse_time(text: str) -> datetime | None:
    """The instant `text` names, when it names one to the microsecond; else None."""
    match = _TIME.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    fraction = fraction or ""
    if fraction[6:].strip("0"):
        return None  # finer than a microsecond: no timestamptz holds it
    if zone in "Zz":
        offset = timedelta(0)
    else:
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        offset = -offset if zone[0] == "-" else offset
    try:
        return datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second or 0),
            int((fraction + "000000")[:6]),
            tzinfo=timezone(offset),
        )
    except ValueError:
        return None


def value_matches(kind: str, stored: Any, sent: Any) -> bool:
    if kind.endswith("?"):
        if sent is MISSING or sent is None:
            return stored is None
        kind = kind[:-1]
    if stored is None or sent is MISSING:
        return False
    if kind == "int":
        return type(sent) is int and stored == sent
    if kind == "float":
        if type(sent) not in (int, float):
            return False
        try:
            value = float(sent)
        except OverflowError:
            return False
        return math.isfinite(value) and stored == value
    if kind == "bool":
        return type(sent) is bool and stored is sent
    if kind == "time":
        if not isinstance(sent, str):
            return False
        instant = parse_time(sent)
        try:
            return instant is not None and stored == instant
        except OverflowError:
            return False
    return type(sent) is str and stored == sent


def mismatch(kind: str, row: dict[str, Any], sent: Any) -> str | None:
    """What in `row` differs from the JSON object `sent`, or None if it holds it exactly."""
    if not isinstance(sent, dict):
        return f"a {type(sent).__name__} was sent, not an object"
    if type(sent.get("v")) is not int or sent["v"] != 1:
        return f"v is {sent.get('v')!r}, not the integer 1"
    for column, column_kind in COLUMNS[kind]:
        if not value_matches(column_kind, row[column], sent.get(column, MISSING)):
            return f"{column}: stored {row[column]!r}, sent {sent.get(column, '(absent)')!r}"
    if row["received_at"] != ARRIVAL:
        return f"received_at: stored {row['received_at']!r}, arrived {ARRIVAL!r}"
    return None
