"""Setting up the maintenance loop's world in the test database: a site, its items, a crew for
its district with members and a supervisor; and device events written as ingest writes them."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from devices.codes import make_site_code, site_of
from maintenance.settings import MaintenanceSettings
from tests.support import load_registry, make_registry

_logins = itertools.count(1)
_divisions = itertools.count(1)  # 98xxxx: no real division; one per world, so one crew each


@dataclass(frozen=True)
class World:
    site: str
    codes: list[str]
    crew_id: int
    supervisor_id: int
    members: list[int]


def add_person(conn: psycopg.Connection[Any], role: str, name: str = "Test person") -> int:
    row = conn.execute(
        "INSERT INTO people (login, name, role) VALUES (%s, %s, %s) RETURNING id",
        (f"t{next(_logins)}-{role}", name, role),
    ).fetchone()
    assert row is not None
    return int(row[0])


def make_world(
    database_url: str, conn: psycopg.Connection[Any], *, items: int = 3, members: int = 2
) -> World:
    """A new site (in a division of its own) with `items` items, covered by a new crew."""
    site_code = str(make_site_code(f"98{next(_divisions):04d}", 1))
    registry = load_registry(database_url, make_registry(items=items, site=site_code))
    site = registry.sites[0].code
    supervisor = add_person(conn, "crew", "Supervisor")
    row = conn.execute(
        "INSERT INTO crews (name, supervisor_id) VALUES (%s, %s) RETURNING id",
        (f"Crew {site}", supervisor),
    ).fetchone()
    assert row is not None
    crew = int(row[0])
    conn.execute("INSERT INTO crew_districts (crew_id, district) VALUES (%s, %s)", (crew, site[:6]))
    people = [add_person(conn, "crew", f"Member {n}") for n in range(members)]
    for person in people:
        conn.execute(
            "INSERT INTO crew_members (crew_id, person_id) VALUES (%s, %s)", (crew, person)
        )
    conn.commit()
    return World(site, [e.code for e in registry.equipment], crew, supervisor, people)


def write_fault(
    conn: psycopg.Connection[Any],
    code: str,
    seq: int,
    *,
    fault: str = "MECH_JAM",
    severity: str = "critical",
    state: str = "raised",
    ts: datetime,
    boot: int = 1,
) -> None:
    """A fault event stored as ingest stores it (its trigger puts it in the maintenance inbox)."""
    conn.execute(
        "INSERT INTO fault_events "
        "(code, boot, seq, ts, fault, severity, state, detail, received_at) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (code, boot, seq, ts, fault, severity, state, f"{fault} {state}", ts),
    )
    conn.commit()


def settings(**overrides: Any) -> MaintenanceSettings:
    return MaintenanceSettings(env="test", **overrides)


def one(conn: psycopg.Connection[Any], sql: str, *params: object) -> Any:
    row = conn.execute(sql, params).fetchone()
    conn.commit()
    return None if row is None else row[0]


def rows(conn: psycopg.Connection[Any], sql: str, *params: object) -> list[tuple[Any, ...]]:
    found = [tuple(r) for r in conn.execute(sql, params).fetchall()]
    conn.commit()
    return found


__all__ = ["World", "add_person", "make_world", "one", "rows", "settings", "site_of", "write_fault"]
