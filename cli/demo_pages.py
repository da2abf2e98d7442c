"""The demo's pages: a crew that covers every district of the simulated city, with a member who
signs in with a password made for this run, and the lines the demo prints: a scan page and the
crew pages, so that its user sees a reported fault turn an item to "do not use" and a ticket
appear, in a browser."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg

from maintenance.audit import Actor
from maintenance.crews import add_crew_member, create_crew, set_crew_districts
from maintenance.people import AlreadyExists, create_person, set_password

DEMO_CREW_LOGIN = "demo-crew"
DEMO_CREW_NAME = "Demo crew"
_ACTOR = Actor.rule("demo")


@dataclass(frozen=True, slots=True)
class DemoCrew:
    login: str
    password: str


def prepare_demo_crew(database_url: str) -> DemoCrew:
    """Make (or find) the demo crew member and their crew, give the member a new password, and
    have the crew cover every district of the registry that no other crew covers."""
    now = datetime.now(UTC)
    password = secrets.token_urlsafe(9)
    with psycopg.connect(database_url) as conn:
        try:
            person_id = create_person(
                conn,
                now,
                login=DEMO_CREW_LOGIN,
                name="演示维修员 Demo crew member",
                role="crew",
                actor=_ACTOR,
                password=password,
            ).id
        except AlreadyExists:
            row = conn.execute("SELECT id FROM people WHERE login = %s", (DEMO_CREW_LOGIN,))
            person_id = int((row.fetchone() or (0,))[0])
            set_password(conn, now, person_id, password, _ACTOR)
        found = conn.execute("SELECT id FROM crews WHERE name = %s", (DEMO_CREW_NAME,)).fetchone()
        if found is None:
            crew_id = create_crew(
                conn, now, name=DEMO_CREW_NAME, actor=_ACTOR, supervisor_id=person_id
            ).id
            add_crew_member(conn, now, crew_id, person_id, _ACTOR)
        else:
            crew_id = int(found[0])
        districts = [
            str(r[0])
            for r in conn.execute(
                "SELECT DISTINCT division FROM sites WHERE division NOT IN "
                "(SELECT district FROM crew_districts WHERE crew_id <> %s) ORDER BY 1",
                (crew_id,),
            )
        ]
        set_crew_districts(conn, now, crew_id, districts, _ACTOR)
    return DemoCrew(DEMO_CREW_LOGIN, password)


def pages_banner(base_url: str, code: str, crew: DemoCrew) -> str:
    return f"""  scan page  {base_url}/q/{code}  (a tag's page; report a fault, tick "someone could
             get hurt", and it says "do not use" on the next load)
  crew pages {base_url}/crew  sign in as {crew.login} / {crew.password}"""
