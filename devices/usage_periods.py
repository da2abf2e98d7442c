"""Buckets of local time (hour, day, week from Monday, month) and the share of them a site is open.

Opening hours are wall-clock times in the city's time zone: `opens` to `closes` the same day, past
midnight when `closes` is earlier, all day when both are None or equal.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

Bucket = Literal["hour", "day", "week", "month"]
_HOUR = timedelta(hours=1)


def truncate(moment: datetime, bucket: Bucket, zone: ZoneInfo) -> datetime:
    """The start of the bucket that holds `moment` (as PostgreSQL's date_trunc with a zone)."""
    local = moment.astimezone(zone)
    if bucket == "hour":
        return local.replace(minute=0, second=0, microsecond=0)
    day = local.date()
    if bucket == "week":
        day -= timedelta(days=day.weekday())
    elif bucket == "month":
        day = day.replace(day=1)
    return datetime.combine(day, time(0), tzinfo=zone)


def following(boundary: datetime, bucket: Bucket, zone: ZoneInfo) -> datetime:
    """The start of the bucket after the one that starts at `boundary`."""
    if bucket == "hour":
        return (boundary.astimezone(UTC) + _HOUR).astimezone(zone)
    day = boundary.astimezone(zone).date()
    if bucket == "day":
        day += timedelta(days=1)
    elif bucket == "week":
        day += timedelta(days=7)
    else:
        day = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return datetime.combine(day, time(0), tzinfo=zone)


def buckets(
    start: datetime, end: datetime, bucket: Bucket, zone: ZoneInfo, *, most: int
) -> list[tuple[datetime, datetime, datetime]]:
    """(bucket start, period start, period end) for each bucket over [start, end): the period is
    the bucket cut to [start, end). More than `most` buckets is a ValueError."""
    found = []
    boundary = truncate(start, bucket, zone)
    while boundary < end:
        after = following(boundary, bucket, zone)
        found.append((boundary, max(boundary, start), min(after, end)))
        if len(found) > most:
            raise ValueError(f"more than {most} {bucket} buckets from {start} to {end}")
        boundary = after
    return found


def open_seconds(
    opens: time | None, closes: time | None, start: datetime, end: datetime, zone: ZoneInfo
) -> float:
    """Seconds of [start, end) within the opening hours."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)  # elapsed, not wall-clock, time
    if end <= start:
        return 0.0
    if opens is None or closes is None or opens == closes:
        return (end - start).total_seconds()
    first = start.astimezone(zone).date() - timedelta(days=1)  # yesterday's window may run on
    last = end.astimezone(zone).date()
    total = 0.0
    day = first
    while day <= last:
        window_start = datetime.combine(day, opens, tzinfo=zone).astimezone(UTC)
        close_day = day + timedelta(days=1) if closes < opens else day
        window_end = datetime.combine(close_day, closes, tzinfo=zone).astimezone(UTC)
        overlap = min(window_end, end) - max(window_start, start)
        total += max(0.0, overlap.total_seconds())
        day += timedelta(days=1)
    return total
