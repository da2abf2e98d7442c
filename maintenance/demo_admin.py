"""The demo's administrator: a person who cannot sign in with a password, and a fresh API token of
theirs for the demo to print, so that its user can call the API's staff routes. Never commits."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Any

import psycopg

from maintenance.audit import Actor, record

DEMO_ADMIN_LOGIN = "demo-admin"

_PERSON = """
INSERT INTO people (login, name, role) VALUES (%s, 'Demo administrator', 'admin')
ON CONFLICT (login) DO UPDATE SET active = true, role = 'admin'
RETURNING id
"""
_CREDENTIAL = """
INSERT INTO credentials (token_hash, person_id, kind, name, created_at)
VALUES (%s, %s, 'api_token', 'fitmon demo', %s)
"""


def issue_demo_admin_token(conn: psycopg.Connection[Any], now: datetime) -> str:
    """Make (or find) the demo administrator and return a new API token of theirs; only its
    SHA-256 is stored, as api.auth resolves it. Each call adds a token; old ones stay valid."""
    row = conn.execute(_PERSON, (DEMO_ADMIN_LOGIN,)).fetchone()
    assert row is not None
    person_id = int(row[0])
    token = "fm_" + secrets.token_urlsafe(32)
    conn.execute(_CREDENTIAL, (hashlib.sha256(token.encode()).digest(), person_id, now))
    record(conn, now, Actor.rule("demo"), "person", person_id, "API token created", detail="demo")
    return token
