"""Crews: each covers districts (one crew per district), has members who take its tickets and a
supervisor who assigns, verifies and is told of overdue work. Never commits."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row

from maintenance.audit import Actor, record
from maintenance.people import DISTRICT_RE, AlreadyExists, PeopleError


@dataclass(frozen=True, slots=True)
class Crew:
    id: int
    name: str
    supervisor_id: int | None
    created_at: datetime
    districts: list[str]
    members: list[int]
    member_names: list[str]  # in the order of `members`


_CREW = """
SELECT c.id, c.name, c.supervisor_id, c.created_at,
       array(SELECT district FROM crew_districts WHERE crew_id = c.id ORDER BY 1) AS districts,
       array(SELECT person_id FROM crew_members WHERE crew_id = c.id ORDER BY 1) AS members,
       array(SELECT p.name FROM crew_members m JOIN people p ON p.id = m.person_id
             WHERE m.crew_id = c.id ORDER BY m.person_id) AS member_names
FROM crews c
WHERE (%(districts)s::text[] IS NULL
       OR EXISTS (SELECT 1 FROM crew_districts d
                  WHERE d.crew_id = c.id AND d.district = ANY(%(districts)s)))
"""
_GET_CREW = f"{_CREW} AND c.id = %(id)s"
_LIST_CREWS = f"{_CREW} ORDER BY c.id"


def get_crew(
    conn: psycopg.Connection[Any], crew_id: int, *, districts: Iterable[str] | None = None
) -> Crew | None:
    """The crew, if it covers one of `districts` (None: any)."""
    params = {"id": crew_id, "districts": None if districts is None else sorted(districts)}
    with conn.cursor(row_factory=class_row(Crew)) as cur:
        return cur.execute(_GET_CREW, params).fetchone()


def list_crews(
    conn: psycopg.Connection[Any], *, districts: Iterable[str] | None = None
) -> list[Crew]:
    params = {"districts": None if districts is None else sorted(districts)}
    with conn.cursor(row_factory=class_row(Crew)) as cur:
        return cur.execute(_LIST_CREWS, params).fetchall()


def _check_supervisor(conn: psycopg.Connection[Any], supervisor_id: int | None) -> None:
    if supervisor_id is None:
        return
    row = conn.execute("SELECT active FROM people WHERE id = %s", (supervisor_id,)).fetchone()
    if row is None or not row[0]:
        raise PeopleError(f"no active person {supervisor_id} to supervise the crew")


def create_crew(
    conn: psycopg.Connection[Any],
    now: datetime,
    *,
    name: str,
    actor: Actor,
    supervisor_id: int | None = None,
    districts: Iterable[str] = (),
) -> Crew:
    """Raises AlreadyExists for a taken name or a district another crew covers."""
    if not name.strip():
        raise PeopleError("a crew needs a name")
    _check_supervisor(conn, supervisor_id)
    row = conn.execute(
        "INSERT INTO crews (name, supervisor_id, created_at) VALUES (%s, %s, %s) "
        "ON CONFLICT (name) DO NOTHING RETURNING id",
        (name.strip(), supervisor_id, now),
    ).fetchone()
    if row is None:
        raise AlreadyExists(f"there is a crew named {name.strip()!r} already")
    crew_id = int(row[0])
    record(conn, now, actor, "crew", crew_id, "created", detail=name.strip())
    set_crew_districts(conn, now, crew_id, districts, actor)
    crew = get_crew(conn, crew_id)
    assert crew is not None
    return crew


def update_crew(
    conn: psycopg.Connection[Any],
    now: datetime,
    crew_id: int,
    actor: Actor,
    *,
    name: str | None = None,
    supervisor_id: int | None = None,
) -> Crew | None:
    if name is not None and not name.strip():
        raise PeopleError("a crew needs a name")
    _check_supervisor(conn, supervisor_id)
    taken = conn.execute(
        "SELECT 1 FROM crews WHERE name = %s AND id <> %s", (name, crew_id)
    ).fetchone()
    if name is not None and taken is not None:
        raise AlreadyExists(f"there is a crew named {name.strip()!r} already")
    row = conn.execute(
        "UPDATE crews SET name = coalesce(%s, name), supervisor_id = coalesce(%s, supervisor_id) "
        "WHERE id = %s RETURNING id",
        (None if name is None else name.strip(), supervisor_id, crew_id),
    ).fetchone()
    if row is None:
        return None
    detail = f"name {name!r}" if name else ""
    if supervisor_id is not None:
        detail = f"{detail} supervisor {supervisor_id}".strip()
    record(conn, now, actor, "crew", crew_id, "updated", detail=detail or None)
    return get_crew(conn, crew_id)


def set_crew_districts(
    conn: psycopg.Connection[Any],
    now: datetime,
    crew_id: int,
    districts: Iterable[str],
    actor: Actor,
) -> None:
    """The districts the crew covers, replacing the ones it had; a district covered by another
    crew is an AlreadyExists naming that crew."""
    checked = sorted(set(districts))
    for district in checked:
        if not DISTRICT_RE.fullmatch(district):
            raise PeopleError(f"a district is a 6-digit administrative division, not {district!r}")
    other = conn.execute(
        "SELECT district, crew_id FROM crew_districts WHERE district = ANY(%s) AND crew_id <> %s "
        "ORDER BY 1 LIMIT 1",
        (checked, crew_id),
    ).fetchone()
    if other is not None:
        raise AlreadyExists(f"district {other[0]} is covered by crew {other[1]} already")
    conn.execute("DELETE FROM crew_districts WHERE crew_id = %s", (crew_id,))
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO crew_districts (crew_id, district) VALUES (%s, %s)",
            [(crew_id, d) for d in checked],
        )
    record(conn, now, actor, "crew", crew_id, "districts set", detail=", ".join(checked))


def add_crew_member(
    conn: psycopg.Connection[Any], now: datetime, crew_id: int, person_id: int, actor: Actor
) -> None:
    """A crew member belongs to one crew: adding them here moves them from any other."""
    person = conn.execute("SELECT role, active FROM people WHERE id = %s", (person_id,)).fetchone()
    if person is None or not person[1]:
        raise PeopleError(f"no active person {person_id}")
    if person[0] != "crew":
        raise PeopleError(f"person {person_id} is a {person[0]}, not a crew member")
    before = conn.execute(
        "SELECT crew_id FROM crew_members WHERE person_id = %s", (person_id,)
    ).fetchone()
    if before is not None and before[0] == crew_id:
        return
    conn.execute("DELETE FROM crew_members WHERE person_id = %s", (person_id,))
    conn.execute(
        "INSERT INTO crew_members (crew_id, person_id) VALUES (%s, %s)", (crew_id, person_id)
    )
    moved = f" (from crew {before[0]})" if before is not None else ""
    record(conn, now, actor, "crew", crew_id, "member added", detail=f"person {person_id}{moved}")


def remove_crew_member(
    conn: psycopg.Connection[Any], now: datetime, crew_id: int, person_id: int, actor: Actor
) -> bool:
    removed = conn.execute(
        "DELETE FROM crew_members WHERE crew_id = %s AND person_id = %s RETURNING person_id",
        (crew_id, person_id),
    ).fetchone()
    if removed is not None:
        record(conn, now, actor, "crew", crew_id, "member removed", detail=f"person {person_id}")
    return removed is not None


def works_in_crew(conn: psycopg.Connection[Any], crew_id: int, person_id: int) -> bool:
    """Whether the person is an active member or the supervisor of the crew."""
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM people p WHERE p.id = %(person)s AND p.active AND ("
        " EXISTS (SELECT 1 FROM crew_members WHERE crew_id = %(crew)s AND person_id = p.id)"
        " OR EXISTS (SELECT 1 FROM crews WHERE id = %(crew)s AND supervisor_id = p.id)))",
        {"crew": crew_id, "person": person_id},
    ).fetchone()
    return bool(row and row[0])
