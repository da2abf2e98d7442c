"""Buckets of local time and opening hours within them (devices.usage_periods), pure."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from devices.usage_periods import buckets, open_seconds, truncate

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")


def local(year: int, month: int, day: int, hour: int = 0, *, zone: ZoneInfo = SHANGHAI) -> datetime:
    return datetime(year, month, day, hour, tzinfo=zone)


def test_weeks_start_on_monday_and_months_on_the_first_local_midnight() -> None:
    wednesday = local(2026, 3, 4, 15)
    assert truncate(wednesday, "week", SHANGHAI) == local(2026, 3, 2)
    assert truncate(wednesday, "month", SHANGHAI) == local(2026, 3, 1)
    # 2026-02-28 20:00 UTC is already 1 March in Shanghai
    assert truncate(datetime(2026, 2, 28, 20, tzinfo=UTC), "month", SHANGHAI) == local(2026, 3, 1)


def test_buckets_cover_the_period_cut_at_its_ends() -> None:
    found = buckets(local(2026, 12, 30, 6), local(2027, 2, 2), "month", SHANGHAI, most=10)
    assert found == [
        (local(2026, 12, 1), local(2026, 12, 30, 6), local(2027, 1, 1)),
        (local(2027, 1, 1), local(2027, 1, 1), local(2027, 2, 1)),
        (local(2027, 2, 1), local(2027, 2, 1), local(2027, 2, 2)),
    ]
    with pytest.raises(ValueError, match="more than 48 hour buckets"):
        buckets(local(2026, 1, 1), local(2026, 1, 4), "hour", SHANGHAI, most=48)


def test_a_day_across_a_clock_change_is_23_hours_long() -> None:
    ((_, start, end),) = buckets(
        local(2026, 3, 29, zone=BERLIN), local(2026, 3, 30, zone=BERLIN), "day", BERLIN, most=5
    )
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=23)
    assert open_seconds(None, None, start, end, BERLIN) == 23 * 3600


@pytest.mark.parametrize(
    ("opens", "closes", "expected_hours"),
    [
        (None, None, 24.0),
        (time(6, 30), time(22), 15.5),
        (time(18), time(2), 8.0),  # past midnight: 18-24 today and 0-2 from the day before
        (time(8), time(8), 24.0),  # equal: all day
    ],
)
def test_opening_seconds_of_a_day(
    opens: time | None, closes: time | None, expected_hours: float
) -> None:
    day_start, day_end = local(2026, 3, 3), local(2026, 3, 4)
    assert open_seconds(opens, closes, day_start, day_end, SHANGHAI) == expected_hours * 3600


def test_opening_seconds_of_single_hours() -> None:
    def hour(at: int) -> float:
        return open_seconds(
            time(6, 30),
            time(22),
            local(2026, 3, 3, at),
            local(2026, 3, 3, at) + timedelta(hours=1),
            SHANGHAI,
        )

    assert [hour(5), hour(6), hour(7), hour(21), hour(22)] == [0, 1800, 3600, 3600, 0]
    overnight = open_seconds(
        time(18), time(2), local(2026, 3, 3, 1), local(2026, 3, 3, 3), SHANGHAI
    )
    assert overnight == 3600  # 01:00-02:00 of the window that opened the evening before
