"""The rhythm of outdoor exercise: peaks and quiet nights, weekends and holidays, and weather."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from simulators.ledger import iter_hourly
from simulators.rhythm import (
    CHINA_TZ,
    DAY_FACTOR,
    DayKind,
    Weather,
    day_kind,
    weather,
    weather_factor,
)
from tests.simulators.factories import make_city, make_config, simulate


def sessions_by_local(directory: Path) -> tuple[Counter[int], Counter[date]]:
    by_hour: Counter[int] = Counter()
    by_day: Counter[date] = Counter()
    for row in iter_hourly(directory):
        local = row.hour.astimezone(CHINA_TZ)
        by_hour[local.hour] += row.sessions
        by_day[local.date()] += row.sessions
    return by_hour, by_day


def test_peak_hours_carry_far_more_sessions_than_night_hours(tmp_path: Path) -> None:
    simulate(
        tmp_path, city=make_city(sites=5, items=10), config=make_config(heartbeat_s=3600), days=7
    )
    by_hour, _ = sessions_by_local(tmp_path / "ledger")
    morning, evening, night = by_hour[7], by_hour[19], by_hour[2] + by_hour[3]
    assert morning > 10 * max(night, 1)
    assert evening > 10 * max(night, 1)
    assert by_hour[13] < morning / 2  # the midday lull


def test_weekends_are_busier_than_workdays_in_the_same_weather(tmp_path: Path) -> None:
    city = make_city(sites=5, items=10)
    division = city.sites[0].code[:6]
    start = datetime(2026, 5, 11, tzinfo=UTC) - timedelta(hours=8)  # local midnight, mild May
    simulate(
        tmp_path, city=city, config=make_config(seed=3, heartbeat_s=3600), days=28, start=start
    )
    _, by_day = sessions_by_local(tmp_path / "ledger")
    mild = {
        d: n
        for d, n in by_day.items()
        if all(weather_factor(weather(3, division, d), h) == 1.0 for h in range(24))
    }
    weekend = [n for d, n in mild.items() if day_kind(d) is DayKind.WEEKEND]
    workday = [n for d, n in mild.items() if day_kind(d) is DayKind.WORKDAY]
    assert len(weekend) >= 2
    assert len(workday) >= 5
    assert sum(weekend) / len(weekend) > 1.1 * sum(workday) / len(workday)


def test_holidays_and_make_up_workdays_follow_the_official_calendar() -> None:
    assert day_kind(date(2026, 10, 1)) is DayKind.HOLIDAY  # National Day
    assert day_kind(date(2026, 2, 17)) is DayKind.HOLIDAY  # Spring Festival
    assert day_kind(date(2026, 10, 10)) is DayKind.WORKDAY  # a Saturday worked (调休)
    assert day_kind(date(2026, 11, 21)) is DayKind.WEEKEND
    assert day_kind(date(2026, 11, 23)) is DayKind.WORKDAY
    assert day_kind(date(2031, 10, 3)) is DayKind.HOLIDAY  # fixed-date fallback
    assert DAY_FACTOR[DayKind.HOLIDAY] > DAY_FACTOR[DayKind.WEEKEND] > DAY_FACTOR[DayKind.WORKDAY]


def test_rain_cold_and_midday_heat_cut_use() -> None:
    mild = Weather(18.0, 23.0, rain=False)
    assert weather_factor(mild, 7) == 1.0
    assert weather_factor(Weather(18.0, 21.0, rain=True), 7) < 0.5
    assert weather_factor(Weather(-2.0, 3.0, rain=False), 7) < 1.0
    assert weather_factor(Weather(-15.0, -9.0, rain=False), 7) < weather_factor(
        Weather(-2.0, 3.0, rain=False), 7
    )
    heat = Weather(30.0, 37.0, rain=False)
    assert weather_factor(heat, 13) < weather_factor(heat, 7) < 1.0


def test_weather_is_the_same_for_the_same_seed_district_and_day() -> None:
    day = date(2026, 7, 15)
    assert weather(1, "320102", day) == weather(1, "320105", day)  # one city, one sky
    july = [weather(1, "320102", day + timedelta(days=n)).mean_c for n in range(30)]
    january = [weather(1, "320102", date(2026, 1, 1) + timedelta(days=n)).mean_c for n in range(30)]
    assert sum(july) / 30 > sum(january) / 30 + 15
