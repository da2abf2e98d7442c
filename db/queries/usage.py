"""Usage from the hourly rollups (usage_hourly) for an item, a site, a district or an equipment
type, bucketed in local time, with the opening time the items had and how much of it was in use.

In use: per item and hour, the session time that started in that hour, at most the hour's opening
time (a session counts in the hour it started, so a long one could otherwise fill a closed hour).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any, Literal
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import class_row

from devices.usage_periods import Bucket, open_seconds

Level = Literal["item", "site", "district", "type"]

# One constant clause per level, so that the planner sees a plain equality it can use an index for.
_LEVEL_CLAUSES: dict[Level, str] = {
    "item": "e.code = %(key)s",
    "site": "e.site_code = %(key)s",
    "district": "left(e.site_code, 6) = %(key)s",
    "type": "e.kind = %(key)s",
}
_SEES = "(%(districts)s::text[] IS NULL OR left(e.site_code, 6) = ANY(%(districts)s))"
_WITHIN = "(%(within)s::text IS NULL OR left(e.site_code, 6) = %(within)s)"


@dataclass(frozen=True, slots=True)
class UsageScope:
    level: Level
    key: str
    districts: frozenset[str] | None  # the reader's; None = all
    within: str | None = None  # a district that narrows a type

    def params(self) -> dict[str, Any]:
        seen = None if self.districts is None else sorted(self.districts)
        return {"key": self.key, "districts": seen, "within": self.within}

    def where(self) -> str:
        return f"{_LEVEL_CLAUSES[self.level]} AND {_SEES} AND {_WITHIN}"


@dataclass(frozen=True, slots=True)
class UsageSums:
    """One bucket's usage; `bucket` None for the whole period."""

    bucket: datetime | None
    sessions: int
    reps: int
    duration_s: float
    energy_wh: float
    items_used: int
    in_use_s: float


# Seconds of the hour from `u.hour` within the site's opening hours, in local wall time, as plain
# arithmetic per row: t is the hour's start in seconds from local midnight, o and c the opening
# and closing times; the day's window and the next day's are tried (an hour may cross midnight
# in a zone with a half-hour offset), and a window past midnight (c < o) is [0, c) and [o, ...).
_OPEN_S_OF_HOUR = """
CASE WHEN x.o IS NULL OR x.o = x.c THEN 3600
     WHEN x.o < x.c THEN
       greatest(0, least(x.t + 3600, x.c) - greatest(x.t, x.o))
       + greatest(0, least(x.t + 3600, x.c + 86400) - greatest(x.t, x.o + 86400))
     ELSE
       greatest(0, least(x.t + 3600, x.c) - x.t)
       + greatest(0, least(x.t + 3600, x.c + 86400) - greatest(x.t, x.o))
       + greatest(0, x.t + 3600 - greatest(x.t, x.o + 86400))
END
"""


def _usage_sql(scope: UsageScope) -> str:
    # Summed per item and bucket first, so that items are counted without a DISTINCT over rows.
    return f"""
WITH per_item AS (
    SELECT date_trunc(%(bucket)s, u.hour, %(tz)s) AS bucket, u.code,
           sum(u.sessions) AS sessions, sum(u.reps) AS reps, sum(u.duration_s) AS duration_s,
           sum(u.energy_wh) AS energy_wh,
           sum(least(u.duration_s, {_OPEN_S_OF_HOUR})) AS in_use_s
    FROM equipment e
    JOIN sites s ON s.code = e.site_code
    JOIN usage_hourly u ON u.code = e.code AND u.hour >= %(start)s AND u.hour < %(end)s
    CROSS JOIN LATERAL (
        SELECT extract(epoch FROM (u.hour AT TIME ZONE %(tz)s)::time)::double precision AS t,
               extract(epoch FROM s.opens_at)::double precision AS o,
               extract(epoch FROM s.closes_at)::double precision AS c
    ) AS x
    WHERE {scope.where()}
    GROUP BY 1, 2
)
SELECT bucket, sum(sessions)::bigint AS sessions, sum(reps)::bigint AS reps,
       sum(duration_s) AS duration_s, sum(energy_wh) AS energy_wh,
       count(DISTINCT code)::int AS items_used, sum(in_use_s) AS in_use_s
FROM per_item
GROUP BY GROUPING SETS ((bucket), ())
ORDER BY 1 NULLS LAST
"""


def usage_sums(
    conn: psycopg.Connection[Any],
    scope: UsageScope,
    *,
    start: datetime,
    end: datetime,
    bucket: Bucket,
    zone: ZoneInfo,
) -> list[UsageSums]:
    """Buckets with any usage, by start, then the whole period's row (bucket None); with no usage
    at all, none."""
    params = {**scope.params(), "start": start, "end": end, "bucket": bucket, "tz": zone.key}
    with conn.cursor(row_factory=class_row(UsageSums)) as cur:
        found = cur.execute(_usage_sql(scope), params).fetchall()
    return [] if len(found) == 1 and found[0].sessions is None else found


@dataclass(frozen=True, slots=True)
class ItemGroup:
    """Items that share their site's opening hours, their installation day and site retirement."""

    opens_at: time | None
    closes_at: time | None
    installed_on: date
    retired_at: datetime | None
    items: int


def _groups_sql(scope: UsageScope) -> str:
    return f"""
SELECT s.opens_at, s.closes_at, e.installed_on, s.retired_at, count(*)::int AS items
FROM equipment e JOIN sites s ON s.code = e.site_code
WHERE {scope.where()}
GROUP BY 1, 2, 3, 4
"""


def item_groups(conn: psycopg.Connection[Any], scope: UsageScope) -> list[ItemGroup]:
    with conn.cursor(row_factory=class_row(ItemGroup)) as cur:
        return cur.execute(_groups_sql(scope), scope.params()).fetchall()


def opening_seconds(
    groups: Iterable[ItemGroup], start: datetime, end: datetime, zone: ZoneInfo
) -> float:
    """The items' opening time in [start, end), summed over items: each counts from the local
    midnight of its installation day until its site retired."""
    periods: Counter[tuple[time | None, time | None, datetime, datetime]] = Counter()
    for group in groups:
        installed = datetime.combine(group.installed_on, time(0), tzinfo=zone)
        begins = max(start, installed)
        ends = end if group.retired_at is None else min(end, group.retired_at)
        if begins < ends:
            # Items installed before the period all share it: compute each distinct one once.
            key = (group.opens_at, group.closes_at, begins.astimezone(UTC), ends.astimezone(UTC))
            periods[key] += group.items
    return sum(
        items * open_seconds(opens, closes, begins, ends, zone)
        for (opens, closes, begins, ends), items in periods.items()
    )
