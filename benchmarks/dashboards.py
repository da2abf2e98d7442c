"""Every dashboard panel's query time at 30 and at 90 days of data for a city of 10,000 items.

    .venv/bin/python -m benchmarks.dashboards [--items 10000] [--runs 15] [--embedded-postgres]

Two scratch databases built by the real migrations (FITMON_BENCH_DATABASE_URL, else
127.0.0.1:5432, else an embedded PostgreSQL) get the same registry (20 items a site, 25 sites a
district); one gets 30 days of usage rollups, device states, alerts, tickets and citizens' reports
ending now, the other 90 days, all by COPY straight into the tables, the hours noted as ingest
notes them and the rollups refreshed as the maintenance service refreshes them (their times
printed, and that of a minute's refresh). Each panel's SQL, expanded as Grafana expands it for
every district, site and type and for the dashboard's default time range cut to 30 days (a range
both sizes hold alike), runs `--runs` times after two warm-ups in each database, the runs taking
turns between the two, so that other load on the machine weighs on both sizes alike; the panels
whose default range is longer (90 days) then run over it at 90 days too. Printed: median and p95
at both sizes, the ratio of the medians (steadier than one of p95s on a shared machine) and the
longer range's p95. Target: p95 under 200 ms at 90 days and a ratio under 1.5 (the cost follows
the range shown, not the rows stored) for every panel that takes 5 ms or more at either size. The
same-run baseline is the first size, and a query summing usage_hourly over every stored row.

Plain PostgreSQL only: the TimescaleDB test server (PGlite) takes one row per statement.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from benchmarks.harness import bench_database
from dashboards.payloads import load_dashboards
from db.rollups import refresh_usage_rollups
from devices.codes import make_equipment_code, make_site_code
from tests.dashboards.grafana_sql import ALL, dashboard_variables, render

TARGET_P95_MS = 200.0
TARGET_RATIO = 1.5
# A panel that answers in a few milliseconds at both sizes is the round trip and the planner's
# whims: its ratio is printed, marked, and not judged (runs of the same code put such a panel at
# 0.9 one time and 2.2 the next).
JUDGED_FROM_MS = 5.0
ITEMS_PER_SITE, SITES_PER_DISTRICT = 20, 25
KINDS = ("air_walker", "smart_bike", "seated_push", "rider", "waist_twister")
ACTIVE_HOURS = 6  # hours of use per item and day, between 06:00 and 22:00 China time
BASELINE = "SELECT left(code, 11), sum(sessions) FROM usage_hourly GROUP BY 1"


def _copy(conn: psycopg.Connection[Any], table: str, columns: str, rows: Iterator[str]) -> None:
    with conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        batch: list[str] = []
        for row in rows:
            batch.append(row)
            if len(batch) == 50_000:
                copy.write("".join(batch))
                batch.clear()
        copy.write("".join(batch))


def load_registry(conn: psycopg.Connection[Any], items: int) -> list[str]:
    sites = max(1, items // ITEMS_PER_SITE)
    districts = [f"97{n:04d}" for n in range(max(1, sites // SITES_PER_DISTRICT))]
    site_codes = [str(make_site_code(districts[n % len(districts)], n + 1)) for n in range(sites)]
    codes = [str(make_equipment_code(site_codes[n % sites], n // sites + 1)) for n in range(items)]
    _copy(
        conn,
        "divisions",
        "code, name, population, level",
        (f"{d}\tDistrict {d}\t{400_000 + i * 1000}\tcounty\n" for i, d in enumerate(districts)),
    )
    _copy(
        conn,
        "sites",
        "code, name, latitude, longitude, opens_at, closes_at",
        (
            f"{s}\tSite {s}\t{31 + i % 50 / 100}\t{121 + i // 50 / 100}\t06:00\t22:00\n"
            for i, s in enumerate(site_codes)
        ),
    )
    _copy(
        conn,
        "equipment",
        "code, site_code, kind, installed_on, service_life_years",
        (
            f"{c}\t{c[:11]}\t{KINDS[i % len(KINDS)]}\t{2012 + i % 13}-0{1 + i % 9}-01\t8\n"
            for i, c in enumerate(codes)
        ),
    )
    now = datetime.now(UTC)
    _copy(
        conn,
        "device_state",
        "code, boot, online, last_seen_at, online_changed_at",
        (f"{c}\t1\t{'f' if i % 37 == 0 else 't'}\t{now}\t{now}\n" for i, c in enumerate(codes)),
    )
    return codes


def load_days(
    conn: psycopg.Connection[Any], codes: Sequence[str], first: datetime, days: int
) -> int:
    """Usage rollups, alerts, tickets and reports for `days` local days from `first`."""
    rng = random.Random(first.toordinal())
    now = datetime.now(UTC)

    def hourly() -> Iterator[str]:
        for day in range(days):
            start = first + timedelta(days=day)
            for code in codes:
                for hour in rng.sample(range(16), ACTIVE_HOURS):  # 06:00-22:00 local
                    at = start + timedelta(hours=hour + 6)
                    n = rng.randint(1, 4)
                    yield f"{code}\t{at.isoformat()}\t{n}\t{n * 20}\t{n * 95.0}\t{n * 1.5}\n"

    _copy(conn, "usage_hourly", "code, hour, sessions, reps, duration_s, energy_wh", hourly())
    conn.execute(  # as ingest notes them, for the rollups' refresh
        "INSERT INTO usage_rollup_pending (hour) SELECT DISTINCT hour FROM usage_hourly "
        "WHERE hour >= %s AND hour < %s",
        (first, first + timedelta(days=days)),
    )
    faulty = [
        (first + timedelta(days=d, hours=rng.uniform(0, 24)), rng.choice(codes))
        for d in range(days)
        for _ in range(len(codes) // 300)
    ]
    with conn.cursor() as cur:
        for raised, code in faulty:
            repaired = raised + timedelta(hours=rng.uniform(2, 120))
            closed = repaired if repaired < now else None
            row = cur.execute(
                "INSERT INTO tickets (code, site_code, status, severity, title, opened_at, "
                "due_at, resolved_at, closed_at, last_activity_at) VALUES "
                "(%s, %s, %s, 'major', 'bench', %s, %s, %s, %s, %s) "
                "ON CONFLICT (code) WHERE status <> 'closed' DO NOTHING RETURNING id",
                (
                    code,
                    code[:11],
                    "closed" if closed else "open",
                    raised,
                    raised + timedelta(hours=72),
                    closed,
                    closed,
                    closed or raised,
                ),
            ).fetchone()
            cur.execute(
                "INSERT INTO alerts (subject, site_code, rule, fault, severity, status, "
                "raised_at, closed_at, close_reason, ticket_id) VALUES "
                "(%s, %s, 'device_fault', %s, 'major', %s, %s, %s, %s, %s)",
                (
                    code,
                    code[:11],
                    rng.choice(("MECH_JAM", "TAMPER", "LOW_BATTERY")),
                    "closed" if closed or row is None else "open",
                    raised,
                    closed or (raised if row is None else None),
                    "resolved" if closed or row is None else None,
                    row[0] if row else None,
                ),
            )
    _copy(
        conn,
        "citizen_reports",
        "code, category, hazard, description, received_at",
        (
            f"{rng.choice(codes)}\tbroken\t{'t' if n % 3 == 0 else 'f'}\tbench\t"
            f"{first + timedelta(days=n / 5)}\n"
            for n in range(days * 5)
        ),
    )
    conn.commit()
    return days * len(codes) * ACTIVE_HOURS


def panels(now: datetime, max_days: int | None = None) -> list[tuple[str, str, str]]:
    """(dashboard uid, panel title, SQL) with every district, site and type selected, over the
    dashboard's default time range up to `now`, cut to the last `max_days` days if longer."""
    found = []
    for board in load_dashboards():
        span = board["time"]["from"].removeprefix("now-")
        days = int(span.removesuffix("d")) if span.endswith("d") else 7
        days = min(days, max_days or days)
        variables = dashboard_variables(board, {})
        for panel in board["panels"]:
            sql = render(
                panel["targets"][0]["rawSql"],
                variables=variables,
                selection={"district": ALL, "site": ALL, "kind": ALL},
                time_from=now - timedelta(days=days),
                time_to=now,
            )
            found.append((board["uid"], panel["title"], sql))
    return found


Timing = tuple[float, float]  # median and p95, ms


def _summary(timings: list[float]) -> Timing:
    return statistics.median(timings), statistics.quantiles(timings, n=20, method="inclusive")[18]


def measure(urls: Sequence[str], sql: str, runs: int) -> list[Timing]:
    """Median and p95 in milliseconds of `sql` in each database, the runs taking turns between
    them, so that whatever else loads the machine weighs on each alike."""
    timings: list[list[float]] = [[] for _ in urls]
    with contextlib.ExitStack() as stack:
        conns = [stack.enter_context(psycopg.connect(url, autocommit=True)) for url in urls]
        for attempt in range(runs + 2):
            for conn, times in zip(conns, timings, strict=True):
                started = time.perf_counter()
                conn.execute(sql.encode()).fetchall()
                if attempt >= 2:
                    times.append((time.perf_counter() - started) * 1000)
    return [_summary(times) for times in timings]


def load(url: str, items: int, spans: Sequence[tuple[datetime, int]], where: str) -> None:
    """The registry, then each (first day, days) of `spans`, rolled up as the maintenance
    service rolls them up."""
    with psycopg.connect(url) as conn:
        codes = load_registry(conn, items)
        for first, days in spans:
            started = time.perf_counter()
            rows = load_days(conn, codes, first, days)
            conn.commit()
            loaded = time.perf_counter()
            refreshed = refresh_usage_rollups(conn)
            print(
                f"loaded {days} days ({rows:,} usage_hourly rows) in {loaded - started:.0f} s "
                f"into {where}; rolled up {refreshed.hours:,} hours in "
                f"{time.perf_counter() - loaded:.0f} s",
                flush=True,
            )
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")


def minute_refresh(conn: psycopg.Connection[Any]) -> float:
    """What the maintenance service's refresh costs each minute in steady use: the latest hour
    noted again, recomputed with the whole local day it belongs to (median of 5, ms)."""
    times = []
    for _ in range(5):
        conn.execute("INSERT INTO usage_rollup_pending (hour) SELECT max(hour) FROM usage_hourly")
        conn.commit()
        started = time.perf_counter()
        refresh_usage_rollups(conn)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--embedded-postgres", action="store_true")
    args = parser.parse_args(argv)
    # The ratio compares like with like: ranges of at most 30 days, which both sizes hold alike.
    # A dashboard whose default range is longer (maintenance: 90 days) is also timed over it at
    # 90 days, for the p95 target: there it shows three times the days, by design.
    baseline = ("baseline", "sessions by site, every usage_hourly row", BASELINE)
    now = datetime.now(UTC)
    queries = [*panels(now, max_days=30), baseline]
    longer = [q for q in panels(now) if q not in queries]
    results: dict[str, list[Timing]] = {}
    full_range: dict[str, Timing] = {}
    today = datetime.now(UTC).replace(hour=16, minute=0, second=0, microsecond=0)
    recent, older = (today - timedelta(days=30), 30), (today - timedelta(days=90), 60)
    with (
        tempfile.TemporaryDirectory() as workdir,
        bench_database(Path(workdir) / "30", embedded=args.embedded_postgres) as (url30, where),
        bench_database(Path(workdir) / "90", embedded=args.embedded_postgres) as (url90, _),
    ):
        load(url30, args.items, [recent], where)
        load(url90, args.items, [recent, older], where)
        for _, title, sql in queries:
            results[title] = measure([url30, url90], sql, args.runs)
        for _, title, sql in longer:
            [full_range[title]] = measure([url90], sql, args.runs)
        with psycopg.connect(url90) as conn:
            took = minute_refresh(conn)
        print(f"a minute's refresh at 90 days (the latest hour and its day): {took:.0f} ms")
    print(
        f"\n{args.items:,} items; {args.runs} runs per query; times in ms (another load on this"
        " machine shows in them); ranges of at most 30 days, and the default range where longer\n"
    )
    print(
        f"{'dashboard':<20}{'panel':<58}{'30d med':>8}{'p95':>8}{'90d med':>8}{'p95':>8}"
        f"{'ratio':>7}{'full range p95':>15}"
    )
    worst_p95, worst_ratio = 0.0, 0.0
    for uid, title, _ in queries:
        (m30, p30), (m90, p90) = results[title]
        ratio = m90 / m30
        full = full_range.get(title)
        judged = max(m30, m90) >= JUDGED_FROM_MS
        if uid != "baseline":
            worst_ratio = max(worst_ratio, ratio if judged else 0.0)
            worst_p95 = max(worst_p95, p90, full[1] if full else 0.0)
        shown = f"{full[1]:15.1f}" if full else f"{'-':>15}"
        mark = " " if judged else "*"
        print(
            f"{uid:<20}{title[:57]:<58}{m30:8.1f}{p30:8.1f}{m90:8.1f}{p90:8.1f}{ratio:6.2f}{mark}"
            f"{shown}"
        )
    ok = worst_p95 < TARGET_P95_MS and worst_ratio < TARGET_RATIO
    print(
        f"\nworst panel p95 at 90 days {worst_p95:.1f} ms (target {TARGET_P95_MS:.0f}); worst "
        f"ratio {worst_ratio:.2f} (target {TARGET_RATIO}; * under {JUDGED_FROM_MS:.0f} ms at both "
        f"sizes, not judged): {'met' if ok else 'NOT met'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
