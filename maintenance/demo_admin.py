"""The demo's administrator: a person who cannot sign in with a password, and a fresh API token of
theirs for the demo to print, so that its user can call the API's staff routes. Never commits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

from maintenance.audit import Actor
from maintenance.credentials import create_api_token
from maintenance.people import AlreadyExists, create_person

DEMO_ADMIN_LOGIN = "demo-admin"
_FIND = "SELECT id FROM people WHERE login = %s AND active"


def issue_demo_admin_token(conn: psycopg.Connection[Any], now: datetime) -> str:
    """Make (or find) the demo administrator and return a new API token of theirs. Each call
    adds a token; old ones stay valid."""
    actor = Actor.rule("demo")
    try:
        person_id = create_person(
            conn,
            now,
            login=DEMO_ADMIN_LOGIN,
            name="Demo administrator",
            role="admin",
            actor=actor,
        ).id
    except AlreadyExists:
        row = conn.execute(_FIND, (DEMO_ADMIN_LOGIN,)).fetchone()
        if row is None:
            raise
        person_id = int(row[0])
    return create_api_token(conn, now, person_id, "fitmon demo", actor).token
