"""`fitmon verify`: compare a simulator's ledger with what fitmon stored; report each difference.

Exact for usage per item and hour, faults, births, heartbeats and dead letters; outages within a
tolerance, since fitmon learns of them from last wills and silence at its own clock. Where the
maintenance service runs, also the alerts and tickets the faults became (cli/verify_alerts.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click
import psycopg

from cli.settings import settings_from
from cli.verify_alerts import compare_alerts, maintenance_ran, wait_for_inbox
from cli.verify_reads import (
    CountedTable,
    StoredHour,
    dead_letters_under,
    messages_per_code,
    missing_equipment,
    offline_marks,
    stored_faults,
    stored_hours,
)
from cli.verify_report import Difference, OfflineComparison, VerifyReport
from db.settings import DatabaseSettings
from devices.codes import site_of
from devices.protocol import TopicError, parse_topic
from simulators.ledger import (
    FaultRow,
    HourlyRow,
    iter_hourly,
    read_bad,
    read_devices,
    read_faults,
    read_manifest,
    read_offline,
)

_MARGIN = timedelta(days=1)  # clock skew and late delivery move device times this little


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)


def _hourly_tuple(row: HourlyRow) -> tuple[int, int, float, float]:
    return row.sessions, row.reps, row.duration_s, row.energy_wh


def _compare_hourly(
    check: str,
    ledger: Iterator[HourlyRow],
    stored: Iterable[StoredHour],
    report: VerifyReport,
) -> None:
    """Merge two streams sorted by (hour, code): constant memory for a month of a city."""
    mine = next(ledger, None)
    compared = 0
    for row in stored:
        code, hour = row.code, row.hour
        key = (hour, code)
        while mine is not None and (mine.hour, mine.code) < key:
            report.differences.append(
                Difference(
                    check,
                    f"{mine.code} {mine.hour:%Y-%m-%d %H:00}Z",
                    str(_hourly_tuple(mine)),
                    "nothing",
                )
            )
            mine = next(ledger, None)
        found = (
            int(row.sessions),
            int(row.reps),
            float(row.duration_s),
            float(row.energy_wh or 0.0),
        )
        if mine is not None and (mine.hour, mine.code) == key:
            expected = _hourly_tuple(mine)
            compared += 1
            same = expected[:2] == found[:2] and all(
                _close(x, y) for x, y in zip(expected[2:], found[2:], strict=True)
            )
            if not same:
                report.differences.append(
                    Difference(check, f"{code} {hour:%Y-%m-%d %H:00}Z", str(expected), str(found))
                )
            mine = next(ledger, None)
        else:
            report.differences.append(
                Difference(check, f"{code} {hour:%Y-%m-%d %H:00}Z", "nothing", str(found))
            )
    while mine is not None:
        report.differences.append(
            Difference(
                check,
                f"{mine.code} {mine.hour:%Y-%m-%d %H:00}Z",
                str(_hourly_tuple(mine)),
                "nothing",
            )
        )
        mine = next(ledger, None)
    report.checked[check] = compared


def _compare_faults(
    conn: psycopg.Connection[Any], directory: Path, params: dict[str, Any], report: VerifyReport
) -> None:
    expected = {(f.code, f.boot, f.seq): f for f in read_faults(directory)}
    stored = {(r.code, r.boot, r.seq): r for r in stored_faults(conn, params)}
    for key, fault in expected.items():
        row = stored.get(key)
        name = f"{key[0]} boot {key[1]} seq {key[2]}"
        want = (fault.ts, fault.fault, fault.severity, fault.state, fault.detail)
        if row is None:
            report.differences.append(Difference("faults", name, str(want[1:4]), "nothing"))
            continue
        found = (row.ts, row.fault, row.severity, row.state, row.detail)
        if found != want:
            report.differences.append(Difference("faults", name, str(want), str(found)))
    for key in stored.keys() - expected.keys():
        row = stored[key]
        report.differences.append(
            Difference(
                "faults",
                f"{key[0]} boot {key[1]} seq {key[2]}",
                "nothing",
                str((row.fault, row.severity, row.state)),
            )
        )
    report.checked["faults"] = len(expected)


def _compare_counts(
    conn: psycopg.Connection[Any], directory: Path, params: dict[str, Any], report: VerifyReport
) -> None:
    devices = read_devices(directory)
    counted: tuple[tuple[str, CountedTable, str], ...] = (
        ("births", "device_births", "births"),
        ("heartbeats", "status_reports", "statuses"),
    )
    for check, table, attribute in counted:
        stored = messages_per_code(conn, table, params)
        for device in devices:
            want, got = getattr(device, attribute), stored.get(device.code, 0)
            if want != got:
                report.differences.append(Difference(check, device.code, str(want), str(got)))
        report.checked[check] = len(devices)


def _compare_dead_letters(
    conn: psycopg.Connection[Any],
    directory: Path,
    root: str,
    sites: set[str],
    since: datetime,
    report: VerifyReport,
) -> None:
    bad = read_bad(directory)
    expected = {(b.topic, b.sha256): b for b in bad}
    found: set[tuple[str, str]] = set()
    for letter in dead_letters_under(conn, root):
        key = (letter.topic, letter.sha256)
        if key in expected:
            found.add(key)
        elif letter.received_at >= since and _site_of(letter.topic, root) in sites:
            report.differences.append(
                Difference(
                    "dead_letters",
                    letter.topic,
                    "no bad message",
                    f"dead letter {letter.sha256[:12]}",
                )
            )
    for key, b in expected.items():
        if key not in found:
            report.differences.append(
                Difference("dead_letters", b.topic, f"{b.way} #{b.nonce} refused", "not stored")
            )
    report.bad_expected, report.bad_found = len(expected), len(found)


def _site_of(topic: str, root: str) -> str | None:
    try:
        return parse_topic(topic, root).site
    except TopicError:
        rest = topic[len(root) + 1 :].split("/")
        return rest[0] if rest else None


def _compare_offline(
    conn: psycopg.Connection[Any],
    directory: Path,
    params: dict[str, Any],
    *,
    comparable: bool,
    detect_after_s: float,
    tolerance_s: float,
    report: VerifyReport,
) -> None:
    """Count ledger outages long enough for fitmon to notice, and those it marked offline."""
    periods = read_offline(directory)
    marks: dict[str, list[datetime]] = {}
    for mark in offline_marks(conn, params):
        marks.setdefault(mark.code, []).append(mark.at)
    tolerance = timedelta(seconds=tolerance_s)
    shortest = timedelta(seconds=detect_after_s + tolerance_s)
    noticeable = [p for p in periods if p.end - p.start >= shortest]
    matched = sum(
        1
        for p in noticeable
        if any(p.start - tolerance <= at <= p.end + tolerance for at in marks.get(p.code, ()))
    )
    report.offline = OfflineComparison(
        comparable, len(periods), len(noticeable), matched, detect_after_s, tolerance_s
    )


def verify_ledger(
    database_url: str,
    directory: Path,
    *,
    offline_tolerance_s: float = 60.0,
    silence_heartbeats: int = 3,
    maintenance: bool | None = None,
    inbox_timeout_s: float = 60.0,
) -> VerifyReport:
    """Compare the ledger in `directory` with fitmon's database; read-only. The alerts are
    checked when `maintenance` says so, or (None) when a maintenance service has taken any of the
    city's faults; first, it waits up to `inbox_timeout_s` for the service to take them all."""
    manifest = read_manifest(directory)
    devices = read_devices(directory)
    codes = [d.code for d in devices]
    start = datetime.fromisoformat(manifest["start"])
    end = datetime.fromisoformat(manifest["end"])
    first_hour = start.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    hours = {"codes": codes, "start": first_hour, "end": end + timedelta(hours=1)}
    wide = {"codes": codes, "start": start - _MARGIN, "end": end + _MARGIN}
    # With real connection drops the broker publishes the will at once; otherwise ingest notices
    # an outage only after some heartbeats of silence (FITMON_OFFLINE_AFTER_HEARTBEATS).
    heartbeat_s = float(manifest["config"]["heartbeat_s"])
    detect_after = 0.0 if manifest.get("connection_drops") else silence_heartbeats * heartbeat_s
    report = VerifyReport()
    faults = read_faults(directory)
    if maintenance is None:
        maintenance = bool(faults) and maintenance_ran(database_url, codes)
        if not maintenance and faults:
            report.maintenance = (
                "alerts: not checked (no maintenance service has taken the city's faults; "
                "--maintenance to require it)"
            )
    if maintenance:
        waiting = wait_for_inbox(database_url, codes, inbox_timeout_s)
        if waiting:
            report.differences.append(
                Difference(
                    "maintenance_inbox",
                    "fault events",
                    "all taken",
                    f"{waiting} still waiting after {inbox_timeout_s:.0f} s",
                )
            )
    # One read-only transaction: a consistent snapshot, and server-side cursors need one.
    with psycopg.connect(database_url) as conn:
        conn.read_only = True
        for code in missing_equipment(conn, codes):
            report.differences.append(
                Difference("registry", code, "in the city", "unknown (import city.csv first)")
            )
        for source in ("usage_hourly", "usage_sessions"):
            stored = stored_hours(conn, source, hours)
            _compare_hourly(source, iter_hourly(directory), stored, report)
        _compare_faults(conn, directory, wide, report)
        _compare_counts(conn, directory, wide, report)
        sites = {site_of(code) for code in codes}
        since = datetime.fromisoformat(manifest.get("real_started_at") or manifest["start"])
        since -= timedelta(minutes=1)
        _compare_dead_letters(conn, directory, manifest["topic_root"], sites, since, report)
        _compare_offline(
            conn,
            directory,
            wide,
            comparable=manifest.get("mode") == "realtime",
            detect_after_s=detect_after,
            tolerance_s=offline_tolerance_s,
            report=report,
        )
        if maintenance:
            _compare_alerts(conn, faults, wide, report)
    return report


def _compare_alerts(
    conn: psycopg.Connection[Any],
    faults: list[FaultRow],
    params: dict[str, Any],
    report: VerifyReport,
) -> None:
    def differ(check: str, key: str, expected: str, found: str) -> None:
        report.differences.append(Difference(check, key, expected, found))

    episodes, alerts, critical = compare_alerts(conn, faults, params, differ)
    report.checked["alerts"] = episodes
    report.maintenance = (
        f"alerts: {episodes} raise episodes became {alerts} alerts; {critical} critical, "
        "each with a ticket and its item out of service"
    )


@click.command("verify")
@click.argument("ledger_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--database-url",
    help="fitmon's database (default: $FITMON_DATABASE_URL, else the development database)",
)
@click.option("--limit", default=50, show_default=True, help="differences to print at most")
@click.option(
    "--offline-tolerance-s",
    type=float,
    default=60.0,
    show_default=True,
    help="slack when matching offline periods with fitmon's presence marks",
)
@click.option(
    "--maintenance/--no-maintenance",
    default=None,
    help="check the alerts and tickets the faults became (default: if a maintenance service "
    "has taken any of the city's faults)",
)
@click.option(
    "--inbox-timeout-s",
    type=float,
    default=60.0,
    show_default=True,
    help="how long to wait for the maintenance service to take every fault event",
)
@click.option(
    "--silence-heartbeats",
    type=int,
    default=3,
    show_default=True,
    help="heartbeats of silence before ingest marks a device offline",
)
def verify(
    ledger_dir: Path,
    database_url: str | None,
    limit: int,
    offline_tolerance_s: float,
    silence_heartbeats: int,
    maintenance: bool | None,
    inbox_timeout_s: float,
) -> None:
    """Compare a simulator run's LEDGER_DIR with what fitmon stored; exit 1 on any difference."""
    settings = settings_from(DatabaseSettings, database_url=database_url)
    report = verify_ledger(
        settings.database_url.get_secret_value(),
        ledger_dir,
        offline_tolerance_s=offline_tolerance_s,
        silence_heartbeats=silence_heartbeats,
        maintenance=maintenance,
        inbox_timeout_s=inbox_timeout_s,
    )
    click.echo(report.render(limit))
    if not report.exact:
        raise SystemExit(1)
