"""The usage query API against the real database: buckets from the hourly rollups, utilisation of
the opening hours, every level, who may ask what, and every bad input."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from fastapi.testclient import TestClient

from devices.codes import make_equipment_code
from tests.api.roles_support import District, add_person, bearer, make_district, token_for

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY_1 = datetime(2026, 3, 2, tzinfo=SHANGHAI)  # a Monday
OPEN_HOURS = 15.5 * 3600  # 06:30-22:00


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database_url) as connection:
        yield connection


def use(
    conn: psycopg.Connection[Any], code: str, at: datetime, *, sessions: int, duration_s: float
) -> None:
    """An hourly rollup row as ingest keeps it."""
    conn.execute(
        "INSERT INTO usage_hourly (code, hour, sessions, reps, duration_s, energy_wh) "
        "VALUES (%s, %s, %s, %s, %s, %s)",
        (code, at, sessions, sessions * 20, duration_s, sessions * 0.5),
    )
    conn.commit()


@pytest.fixture
def district(database_url: str, conn: psycopg.Connection[Any]) -> District:
    """A site open 06:30-22:00 with three items (installed 2020) and some use on 2 and 3 March."""
    made = make_district(database_url, conn)
    conn.execute(
        "UPDATE sites SET opens_at = '06:30', closes_at = '22:00' WHERE code = %s",
        (made.world.site,),
    )
    one, two, three = made.world.codes
    use(conn, one, DAY_1.replace(hour=8), sessions=2, duration_s=1800)
    use(conn, two, DAY_1.replace(hour=23), sessions=1, duration_s=600)  # closed: not in use
    use(conn, three, DAY_1.replace(hour=6), sessions=1, duration_s=2400)  # open half the hour
    use(conn, one, DAY_1.replace(day=3, hour=21), sessions=1, duration_s=5000)  # a long one
    return made


def query(client: TestClient, token: str, **params: Any) -> Any:
    for name in ("start", "end"):
        if isinstance(params.get(name), datetime):
            params[name] = params[name].isoformat()
    return client.get("/api/v1/usage", params=params, headers=bearer(token))


def test_a_sites_days_count_use_within_the_opening_hours_as_utilisation(
    district: District, client: TestClient
) -> None:
    response = query(
        client, district.manager, level="site", key=district.world.site,
        start=DAY_1, end=DAY_1 + timedelta(days=2), bucket="day",
    )  # fmt: skip
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["items"], body["tz"], len(body["buckets"])) == (3, "Asia/Shanghai", 2)
    first, second = body["buckets"]
    assert datetime.fromisoformat(first["start"]) == DAY_1
    assert datetime.fromisoformat(first["end"]) == DAY_1 + timedelta(days=1)
    assert (first["sessions"], first["reps"], first["items_used"]) == (4, 80, 3)
    assert first["duration_s"] == 1800 + 600 + 2400
    assert first["open_s"] == 3 * OPEN_HOURS
    assert first["in_use_s"] == 1800 + 1800  # 08:00 all of it, 06:00 the open half, 23:00 none
    assert first["utilisation"] == pytest.approx(3600 / (3 * OPEN_HOURS))
    assert second["in_use_s"] == 3600  # a session counts in its hour, at most the hour
    assert second["duration_s"] == 5000
    total = body["total"]
    assert (total["sessions"], total["items_used"], total["in_use_s"]) == (5, 3, 7200)
    assert total["utilisation"] == pytest.approx(7200 / (6 * OPEN_HOURS))


def test_hours_weeks_and_months_are_every_bucket_of_the_period_empty_ones_too(
    district: District, client: TestClient
) -> None:
    site = district.world.site
    hours = query(
        client, district.crew, level="site", key=site,
        start=DAY_1, end=DAY_1 + timedelta(days=1), bucket="hour",
    ).json()["buckets"]  # fmt: skip
    assert len(hours) == 24
    assert [h["open_s"] / 3 for h in hours[5:8]] == [0, 1800, 3600]
    assert [h["in_use_s"] for h in hours[5:9]] == [0, 1800, 0, 1800]
    weeks = query(
        client, district.crew, level="site", key=site,
        start=DAY_1 + timedelta(days=2), end=DAY_1 + timedelta(days=14), bucket="week",
    ).json()["buckets"]  # fmt: skip
    starts = [datetime.fromisoformat(w["start"]) for w in weeks]
    assert starts == [DAY_1 + timedelta(days=2), DAY_1 + timedelta(days=7)]  # cut, then Monday
    assert weeks[0]["open_s"] == 3 * 5 * OPEN_HOURS
    months = query(
        client, district.crew, level="site", key=site,
        start=datetime(2026, 2, 1, tzinfo=SHANGHAI), end=datetime(2026, 4, 1, tzinfo=SHANGHAI),
        bucket="month",
    ).json()  # fmt: skip
    assert [m["sessions"] for m in months["buckets"]] == [0, 5]
    assert months["buckets"][0]["utilisation"] == 0
    assert months["buckets"][1]["open_s"] == 3 * 31 * OPEN_HOURS


def test_an_item_a_district_and_a_type_are_asked_the_same_way(
    database_url: str, conn: psycopg.Connection[Any], district: District, client: TestClient
) -> None:
    one = district.world.codes[0]
    period = {"start": DAY_1, "end": DAY_1 + timedelta(days=2), "bucket": "day"}
    item = query(client, district.manager, level="item", key=one, **period).json()
    assert (item["items"], item["total"]["sessions"], item["total"]["in_use_s"]) == (1, 3, 5400)
    whole = query(client, district.manager, level="district", key=district.district, **period)
    assert whole.json()["total"]["sessions"] == 5
    kind = query(client, district.manager, level="type", key="air_walker", **period).json()
    assert (kind["items"], kind["total"]["sessions"]) == (3, 5)  # only the manager's district
    admin = token_for(conn, add_person(conn, "admin"))
    narrowed = query(
        client, admin, level="type", key="air_walker", district=district.district, **period
    ).json()
    assert (narrowed["items"], narrowed["total"]["sessions"]) == (3, 5)
    none = query(
        client, admin, level="type", key="leg_press", district=district.district, **period
    ).json()
    assert (none["items"], none["total"]["sessions"], none["total"]["utilisation"]) == (0, 0, None)


def test_a_retired_site_stops_counting_opening_hours(
    conn: psycopg.Connection[Any], district: District, client: TestClient
) -> None:
    retired = DAY_1 + timedelta(hours=12)
    conn.execute("UPDATE sites SET retired_at = %s WHERE code = %s", (retired, district.world.site))
    conn.commit()
    body = query(
        client, district.manager, level="site", key=district.world.site,
        start=DAY_1, end=DAY_1 + timedelta(days=2),
    ).json()  # fmt: skip
    assert body["buckets"][0]["open_s"] == 3 * 5.5 * 3600  # 06:30 to noon
    assert body["buckets"][1]["open_s"] == 0
    assert body["buckets"][1]["utilisation"] is None


def test_callers_see_only_their_districts(
    database_url: str, conn: psycopg.Connection[Any], district: District, client: TestClient
) -> None:
    other = make_district(database_url, conn)
    period = {"start": DAY_1, "end": DAY_1 + timedelta(days=1)}
    site, code = district.world.site, district.world.codes[0]
    for token in (other.manager, other.crew):
        assert query(client, token, level="site", key=site, **period).status_code == 404
        assert query(client, token, level="item", key=code, **period).status_code == 404
        refused = query(client, token, level="district", key=district.district, **period)
        assert refused.status_code == 403
        narrowed = query(
            client, token, level="type", key="rider", district=district.district, **period
        )
        assert narrowed.status_code == 403
    nobody = client.get("/api/v1/usage", params={"level": "site", "key": site, **{
        k: v.isoformat() for k, v in period.items()}})  # fmt: skip
    assert nobody.status_code == 401


def test_bad_queries_are_problems_that_say_what_was_wrong(
    conn: psycopg.Connection[Any], district: District, client: TestClient
) -> None:
    admin = token_for(conn, add_person(conn, "admin"))
    site, code = district.world.site, district.world.codes[0]
    wrong_check = code[:-1] + ("0" if code[-1] != "0" else "1")
    start, end = DAY_1.isoformat(), (DAY_1 + timedelta(days=1)).isoformat()
    ok = {"level": "site", "key": site, "start": start, "end": end}
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({**ok, "level": "item", "key": wrong_check}, 422, "check character"),
        (
            {**ok, "level": "item", "key": str(make_equipment_code("970000-0001", 1))},
            404,
            "no equipment",
        ),
        ({**ok, "key": "970000-0001"}, 404, "no site"),
        ({**ok, "key": "9700000001"}, 422, "site code"),
        ({**ok, "level": "district", "key": "970000"}, 404, "no site is registered"),
        ({**ok, "level": "district", "key": "97000"}, 422, "6 digits"),
        ({**ok, "level": "type", "key": "trampoline"}, 422, "'trampoline' is not one of"),
        ({**ok, "district": site[:6]}, 422, "district narrows level=type only"),
        ({**ok, "level": "shelf"}, 422, "level"),
        ({**ok, "start": "2026-03-02T00:30:00+08:00"}, 422, "not on the hour"),
        ({**ok, "start": "2026-03-02T00:00:00"}, 422, "timezone"),
        ({**ok, "end": start}, 422, "is not after"),
        ({**ok, "bucket": "hour", "end": "2028-03-02T00:00:00+08:00"}, 422, "more than 10000"),
        ({**ok, "tz": "Mars/Olympus_Mons"}, 422, "not an IANA time zone"),
        ({**ok, "bucket": "fortnight"}, 422, "bucket"),
    ]
    for params, status, said in cases:
        response = client.get("/api/v1/usage", params=params, headers=bearer(admin))
        assert response.status_code == status, (params, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert said in response.json()["detail"], (params, response.json())


def test_opening_hours_past_midnight_count_the_small_hours_as_open(
    database_url: str, conn: psycopg.Connection[Any], client: TestClient
) -> None:
    night = make_district(database_url, conn)
    conn.execute(
        "UPDATE sites SET opens_at = '18:00', closes_at = '02:00' WHERE code = %s",
        (night.world.site,),
    )
    code = night.world.codes[0]
    use(conn, code, DAY_1.replace(hour=1), sessions=1, duration_s=3000)  # open (from the 1st)
    use(conn, code, DAY_1.replace(hour=3), sessions=1, duration_s=900)  # closed
    use(conn, code, DAY_1.replace(hour=17), sessions=1, duration_s=1800)  # closed
    use(conn, code, DAY_1.replace(hour=18), sessions=1, duration_s=1200)  # open
    body = query(
        client, night.manager, level="item", key=code,
        start=DAY_1, end=DAY_1 + timedelta(days=1), bucket="day",
    ).json()  # fmt: skip
    (day,) = body["buckets"]
    assert day["open_s"] == 8 * 3600  # 00:00-02:00 and 18:00-24:00
    assert (day["duration_s"], day["in_use_s"]) == (6900, 4200)
