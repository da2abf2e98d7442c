"""The managers' dashboards (bureau overview, usage, maintenance, lifecycle) give the seeded
figures, and their 完好率, repair times, deadlines met, open tickets and MTBF are those
maintenance/figures.py computes (the API's figures): one number wherever a manager looks."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from db.rollups import refresh_usage_rollups
from maintenance.figures import (
    Period,
    Scope,
    closed_on_time,
    good_order,
    mtbf_per_kind,
    open_tickets,
    repair_times,
)
from tests.dashboards.conftest import DAY_1, DAY_2, WINDOW_FROM, WINDOW_TO, Seed, at
from tests.dashboards.managers_seed import (
    DISTRICT_NAME,
    POPULATION,
    ManagersSeed,
    insert_managers_rows,
)
from tests.dashboards.test_dashboards import run_panel


@pytest.fixture(scope="session")
def managers(database_url: str, seed: Seed) -> ManagersSeed:
    with psycopg.connect(database_url) as conn, conn.transaction():
        return insert_managers_rows(conn, seed)


def sites(seed: Seed) -> list[str]:
    return [seed.site_a, seed.site_b]


def test_bureau_overview_figures(database_url: str, seed: Seed, managers: ManagersSeed) -> None:
    assert run_panel(database_url, "Items", sites(seed))[1] == [{"items": 4}]
    _, good = run_panel(database_url, "Share in good order (完好率)", sites(seed))
    assert good == [{"good_order": 0.5}]
    _, online = run_panel(database_url, "Share online", sites(seed))
    assert online == [{"online": 0.25}]  # a1 of a1, a2, a3 (never heard) and b1
    _, tickets = run_panel(database_url, "Open and overdue tickets", sites(seed))
    assert tickets == [{"open_tickets": 2, "overdue_tickets": 1}]
    _, by_district = run_panel(database_url, "Share in good order by district", sites(seed))
    assert by_district == [
        {"district": seed.site_a[:6], "name": DISTRICT_NAME, "items": 4, "good": 2, "share": 0.5}
    ]


def test_good_order_is_the_figure_maintenance_computes(
    database_url: str, seed: Seed, managers: ManagersSeed
) -> None:
    with psycopg.connect(database_url) as conn:
        for site in sites(seed):
            total = good_order(conn, datetime.now(UTC), Scope(site=site))[0]
            _, rows = run_panel(database_url, "Share in good order (完好率)", [site])
            assert rows == [{"good_order": total.share}]
    assert total.share == 0.0  # site b: b1 alone, out of service


def test_sites_are_coloured_by_their_worst_item(
    database_url: str, seed: Seed, managers: ManagersSeed
) -> None:
    _, rows = run_panel(database_url, "Sites by worst status", sites(seed))
    assert [(r["site"], r["items"], r["status_rank"], r["worst_status"]) for r in rows] == [
        (seed.site_a, 3, 3, "out of order"),  # a1's open critical alert
        (seed.site_b, 1, 3, "out of order"),  # b1 out of service
    ]
    assert (rows[0]["latitude"], rows[0]["longitude"]) == (31.2, 121.4)


def test_sessions_today_against_last_week_counts_the_same_part_of_the_day(
    database_url: str, seed: Seed, managers: ManagersSeed
) -> None:
    this_hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    week = timedelta(days=7)
    with psycopg.connect(database_url) as conn:
        # local midnight is a whole UTC hour (UTC+8), so this hour is today's; last week's next
        # hour is later in that day than now is in today, so it is left out
        conn.execute(
            "INSERT INTO usage_hourly VALUES (%s, %s, 6, 60, 600, 0), (%s, %s, 4, 40, 400, 0), "
            "(%s, %s, 9, 90, 900, 0)",
            (seed.a3, this_hour, seed.a3, this_hour - week, seed.a3,
             this_hour - week + timedelta(hours=1)),
        )  # fmt: skip
        refresh_usage_rollups(conn, everything=True)
    try:
        _, rows = run_panel(
            database_url, "Sessions today against the same weekday last week", [seed.site_a]
        )
        assert rows == [{"sessions_today": 6, "same_weekday_last_week": 4, "change": 0.5}]
    finally:
        with psycopg.connect(database_url) as conn:
            conn.execute("DELETE FROM usage_hourly WHERE code = %s", (seed.a3,))
            refresh_usage_rollups(conn, everything=True)


def test_usage_by_district_type_site_and_item(
    database_url: str, seed: Seed, managers: ManagersSeed
) -> None:
    _, districts = run_panel(
        database_url, "Sessions by district and per 1,000 residents", sites(seed)
    )
    assert districts == [
        {
            "district": seed.site_a[:6],
            "name": DISTRICT_NAME,
            "sessions": 12,
            "population": POPULATION,
            "sessions_per_1000_residents": pytest.approx(12 * 1000 / POPULATION),
        }
    ]
    _, kinds = run_panel(database_url, "Sessions by equipment type", sites(seed))
    # smart bikes a2 (6) and b1 (3); the air walker a1 (3); a3 (seated push) not yet installed then
    # but in today's fleet, so it counts as an item of its type with no sessions
    assert [(r["kind"], r["sessions"], r["sessions_per_item"]) for r in kinds] == [
        ("smart_bike", 9, 4.5),
        ("air_walker", 3, 3.0),
        ("seated_push", 0, 0.0),
    ]
    _, by_site = run_panel(database_url, "Sessions by site (local days)", sites(seed))
    assert [r["sessions"] for r in by_site] == [9, 3]
    _, most = run_panel(database_url, "Most used items", sites(seed))
    assert [(r["item"], r["sessions"], r["reps"]) for r in most] == [
        (seed.a2, 6, 100),
        (seed.a1, 3, 30),
        (seed.b1, 3, 35),
    ]
    assert most[0]["hours_in_use"] == pytest.approx(290 / 3600)
    _, least = run_panel(database_url, "Least used items", sites(seed))
    # b1 is out of service, a4 retired: the items in service, unused first
    assert [(r["item"], r["sessions"]) for r in least] == [(seed.a3, 0), (seed.a1, 3), (seed.a2, 6)]


def test_heatmap_counts_sessions_by_local_weekday_and_hour(
    database_url: str, seed: Seed, managers: ManagersSeed
) -> None:
    _, rows = run_panel(database_url, "Sessions by weekday and local hour of day", sites(seed))
    assert [r["weekday"] for r in rows] == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    cells = {(r["weekday"], h): r[h] for r in rows for h in r if h != "weekday" and r[h]}
    # 2019-03-10 is a Sunday (local), 03-11 a Monday; the seed's hours in China time
    assert cells == {("Sun", "11"): 2, ("Sun", "15"): 1, ("Mon", "04"): 3, ("Mon", "09"): 2,
                     ("Mon", "18"): 4}  # fmt: skip


def test_opening_hours_in_use_and_energy_per_local_day(
    database_url: str, seed: Seed, managers: ManagersSeed
) -> None:
    _, rows = run_panel(database_url, "Share of opening hours in use per day", sites(seed))
    # fleet then: a1, a2 at site a (16 h open), b1 at site b (24 h): 32 h + 24 h = 201,600 s
    assert [r["time"] for r in rows] == [DAY_1, DAY_2]
    assert [r["utilisation"] for r in rows] == pytest.approx([150 / 201_600, 400 / 201_600])
    _, energy = run_panel(database_url, "Energy generated per day", sites(seed))
    assert [(r["time"], r["energy_wh"]) for r in energy] == [(DAY_1, 20.0), (DAY_2, 25.0)]


def test_maintenance_figures(database_url: str, seed: Seed, managers: ManagersSeed) -> None:
    _, by_crew = run_panel(database_url, "Open tickets by age and crew", sites(seed))
    assert by_crew == [
        {"crew": managers.crew, "tickets": 1, "under_1d": 0, "from_1d_to_3d": 1,
         "from_3d_to_7d": 0, "over_7d": 0, "overdue": 1},
        {"crew": "no crew", "tickets": 1, "under_1d": 1, "from_1d_to_3d": 0,
         "from_3d_to_7d": 0, "over_7d": 0, "overdue": 0},
    ]  # fmt: skip
    _, overdue = run_panel(database_url, "Overdue tickets", sites(seed))
    assert [(r["ticket"], r["item"], r["crew"]) for r in overdue] == [
        (managers.t3, seed.a2, managers.crew)
    ]
    _, repair = run_panel(database_url, "Mean time to repair", sites(seed))
    assert repair == [{"closed": 2, "mean_hours_to_resolve": 20.0, "mean_hours_to_close": 22.0}]
    _, on_time = run_panel(database_url, "Repaired within deadline by month and crew", sites(seed))
    assert on_time == [
        {"month": date(2019, 3, 1), "crew": managers.crew, "closed": 2, "on_time": 1, "share": 0.5}
    ]
    _, faults = run_panel(database_url, "Faults by type and site", sites(seed))
    assert [(r["fault"], r["site"], r["alerts"], r["critical"]) for r in faults] == [
        ("LOW_BATTERY", seed.name_a, 1, 0),
        ("STRUCTURE_TILT", seed.name_a, 1, 1),
        ("TAMPER", seed.name_b, 1, 0),
    ]
    _, repeated = run_panel(database_url, "Items with repeated faults", sites(seed))
    assert [(r["item"], r["failures"], r["fault_codes"], r["last_raised"]) for r in repeated] == [
        (seed.a2, 3, 3, at(11, 5))
    ]
    _, reports = run_panel(database_url, "Citizens' reports", sites(seed))
    assert reports == [
        {"category": "broken", "reports": 2, "hazards": 1, "items": 1},
        {"category": "dirty", "reports": 1, "hazards": 0, "items": 1},
    ]


def test_maintenance_panels_agree_with_maintenance_figures(
    database_url: str, seed: Seed, managers: ManagersSeed
) -> None:
    period = Period(WINDOW_FROM, WINDOW_TO)
    _, repair = run_panel(database_url, "Mean time to repair", sites(seed))
    _, mtbf = run_panel(database_url, "Mean time between failures", sites(seed))
    _, on_time = run_panel(database_url, "Repaired within deadline by month and crew", sites(seed))
    _, by_crew = run_panel(database_url, "Open tickets by age and crew", sites(seed))
    with psycopg.connect(database_url) as conn:
        times = [r for s in sites(seed) for r in repair_times(conn, period, Scope(site=s))[1:]]
        kinds = [mtbf_per_kind(conn, period, Scope(site=s))[0] for s in sites(seed)]
        shares = [closed_on_time(conn, period, Scope(site=s))[0] for s in sites(seed)]
        tickets = [open_tickets(conn, datetime.now(UTC), Scope(site=s))[0] for s in sites(seed)]
    assert sum(t.closed for t in times) == repair[0]["closed"] == 2
    resolve_hours = sum(t.closed * (t.mean_hours_to_resolve or 0) for t in times) / 2
    assert repair[0]["mean_hours_to_resolve"] == pytest.approx(resolve_hours)
    failures = sum(k.failures for k in kinds)
    assert mtbf == [
        {
            "failures": failures,
            "mtbf_hours": pytest.approx(sum(k.exposure_hours for k in kinds) / 4),
        }
    ]
    assert failures == 4  # a2: two device faults and a citizen's report; b1: one fault
    assert sum(s.on_time for s in shares) == on_time[0]["on_time"]
    assert sum(t.tickets for t in tickets) == sum(r["tickets"] for r in by_crew)
    assert sum(t.overdue for t in tickets) == sum(r["overdue"] for r in by_crew)


def test_lifecycle_figures(database_url: str, seed: Seed, managers: ManagersSeed) -> None:
    today = (datetime.now(UTC) + timedelta(hours=8)).date()
    _, counts = run_panel(database_url, "Items past or near their safe service life", sites(seed))
    assert counts == [{"past": 2, "within_90_days": 0}]  # a1 (2018), b1 (2022)
    _, items = run_panel(
        database_url, "Items past or near their safe service life, one by one", sites(seed)
    )
    assert [(r["item"], r["maker"], r["days_left"]) for r in items] == [
        (seed.a1, "Shuhua", (date(2018, 5, 1) - today).days),
        (seed.b1, None, (date(2022, 1, 1) - today).days),
    ]
    _, installs = run_panel(database_url, "Installs by year", sites(seed))
    a3_year = str((datetime.now(UTC) - timedelta(days=365)).year)
    expected = {"2009": 1, "2010": 1, "2012": 1, "2018": 1}
    expected[a3_year] = expected.get(a3_year, 0) + 1
    assert {r["year"]: r["items"] for r in installs} == expected
    _, ages = run_panel(database_url, "Age profile of the fleet", sites(seed))
    assert sum(r["items"] for r in ages) == 4  # a4 retired
    _, due = run_panel(database_url, "Replacement due per district and year", sites(seed))
    # a1 and b1 past their life: due this year; a2's ends in 2068, a3's in 8 years
    assert due == [
        {"district": seed.site_a[:6], "name": DISTRICT_NAME, "year": today.year, "items": 2}
    ]
