"""When people exercise outdoors: the daily rhythm, weekends and holidays, season and weather.

All in China Standard Time (UTC+8, no daylight saving), where the equipment stands.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, timedelta, timezone
from enum import StrEnum
from functools import lru_cache

CHINA_TZ = timezone(timedelta(hours=8))

# Relative use by local hour: morning exercise from dawn, a lull at noon, the after-dinner peak
# (square dancing time), quiet nights.
HOUR_WEIGHTS: tuple[float, ...] = (
    0.02,
    0.01,
    0.01,
    0.01,
    0.03,
    0.25,
    0.90,
    1.00,
    0.75,
    0.50,
    0.40,
    0.30,
    0.20,
    0.20,
    0.30,
    0.40,
    0.55,
    0.70,
    0.85,
    1.00,
    0.90,
    0.55,
    0.20,
    0.06,
)
HOUR_SHARE: tuple[float, ...] = tuple(w / sum(HOUR_WEIGHTS) for w in HOUR_WEIGHTS)


class DayKind(StrEnum):
    WORKDAY = "workday"
    WEEKEND = "weekend"
    HOLIDAY = "holiday"


DAY_FACTOR = {DayKind.WORKDAY: 1.0, DayKind.WEEKEND: 1.3, DayKind.HOLIDAY: 1.5}


def _span(first: str, last: str) -> set[date]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return {start + timedelta(days=n) for n in range((end - start).days + 1)}


# Public holidays and make-up workdays (调休) after the State Council's yearly notices; other years
# fall back to the fixed-date holidays.
_HOLIDAYS: dict[int, set[date]] = {
    2024: _span("2024-01-01", "2024-01-01")
    | _span("2024-02-10", "2024-02-17")
    | _span("2024-04-04", "2024-04-06")
    | _span("2024-05-01", "2024-05-05")
    | _span("2024-06-10", "2024-06-10")
    | _span("2024-09-15", "2024-09-17")
    | _span("2024-10-01", "2024-10-07"),
    2025: _span("2025-01-01", "2025-01-01")
    | _span("2025-01-28", "2025-02-04")
    | _span("2025-04-04", "2025-04-06")
    | _span("2025-05-01", "2025-05-05")
    | _span("2025-05-31", "2025-06-02")
    | _span("2025-10-01", "2025-10-08"),
    2026: _span("2026-01-01", "2026-01-03")
    | _span("2026-02-15", "2026-02-23")
    | _span("2026-04-04", "2026-04-06")
    | _span("2026-05-01", "2026-05-05")
    | _span("2026-06-19", "2026-06-21")
    | _span("2026-09-25", "2026-09-27")
    | _span("2026-10-01", "2026-10-07"),
}
_MAKEUP_WORKDAYS: set[date] = {
    date.fromisoformat(d)
    for d in (
        "2024-02-04",
        "2024-02-18",
        "2024-04-07",
        "2024-04-28",
        "2024-05-11",
        "2024-09-14",
        "2024-09-29",
        "2024-10-12",
        "2025-01-26",
        "2025-02-08",
        "2025-04-27",
        "2025-09-28",
        "2025-10-11",
        "2026-01-04",
        "2026-02-14",
        "2026-02-28",
        "2026-05-09",
        "2026-09-20",
        "2026-10-10",
    )
}


def day_kind(day: date) -> DayKind:
    holidays = _HOLIDAYS.get(day.year)
    if holidays is None:
        holidays = (
            _span(f"{day.year}-01-01", f"{day.year}-01-01")
            | _span(f"{day.year}-05-01", f"{day.year}-05-05")
            | _span(f"{day.year}-10-01", f"{day.year}-10-07")
        )
    if day in holidays:
        return DayKind.HOLIDAY
    if day in _MAKEUP_WORKDAYS:
        return DayKind.WORKDAY
    return DayKind.WEEKEND if day.weekday() >= 5 else DayKind.WORKDAY


@dataclass(frozen=True, slots=True)
class Climate:
    mean_c: float  # yearly mean of the daily mean temperature
    amplitude_c: float  # half the difference between July and January
    rain_summer: float  # chance of a rainy day in July
    rain_winter: float  # chance of a rainy (or snowy) day in January


# By province, the first two digits of the administrative code.
CLIMATES: dict[str, Climate] = {
    "11": Climate(12.5, 15.5, 0.40, 0.05),  # Beijing
    "23": Climate(4.5, 21.0, 0.40, 0.10),  # Heilongjiang
    "31": Climate(17.0, 12.0, 0.40, 0.25),  # Shanghai
    "32": Climate(16.0, 12.5, 0.40, 0.22),  # Jiangsu
    "44": Climate(22.5, 7.5, 0.55, 0.15),  # Guangdong
    "51": Climate(16.5, 10.0, 0.45, 0.15),  # Sichuan
}
DEFAULT_CLIMATE = CLIMATES["32"]


@dataclass(frozen=True, slots=True)
class Weather:
    mean_c: float
    max_c: float
    rain: bool

    @property
    def cold(self) -> bool:
        return self.mean_c < 3.0

    @property
    def hot(self) -> bool:
        return self.max_c >= 33.0

    def temperature_at(self, hour: int) -> float:
        """Temperature at a local hour: warmest at 15:00, coolest at 03:00."""
        return self.mean_c + (self.max_c - self.mean_c) * math.cos(2 * math.pi * (hour - 15) / 24)


@lru_cache(maxsize=8192)
def weather(seed: int, division: str, day: date) -> Weather:
    """The weather of a district on a day: the same for the same seed, whatever the run's window."""
    climate = CLIMATES.get(division[:2], DEFAULT_CLIMATE)
    rng = random.Random(f"weather/{seed}/{division[:4]}/{day.isoformat()}")  # a city shares it
    season = math.cos(2 * math.pi * (day.timetuple().tm_yday - 196) / 365.25)  # 1 in mid-July
    rain_chance = (
        climate.rain_winter + (climate.rain_summer - climate.rain_winter) * (season + 1) / 2
    )
    rain = rng.random() < rain_chance
    mean = climate.mean_c + climate.amplitude_c * season + rng.gauss(0, 2.5) - (2.0 if rain else 0)
    spread = rng.uniform(3.0, 7.0) - (2.0 if rain else 0.0)
    return Weather(round(mean, 1), round(mean + spread, 1), rain)


def weather_factor(today: Weather, hour: int) -> float:
    """How much the weather cuts use at a local hour (1 = not at all)."""
    factor = 1.0
    if today.rain:
        factor *= 0.3
    if today.mean_c < -10:
        factor *= 0.4
    elif today.cold:
        factor *= 0.65
    if today.hot:
        factor *= 0.8
        if 11 <= hour <= 16:  # nobody exercises in the midday heat
            factor *= 0.35
    return factor


def use_factor(seed: int, division: str, day: date, hour: int) -> float:
    """Expected use at a local day and hour relative to a mild workday's daily mean per hour."""
    return (
        24
        * HOUR_SHARE[hour]
        * DAY_FACTOR[day_kind(day)]
        * weather_factor(weather(seed, division, day), hour)
    )
