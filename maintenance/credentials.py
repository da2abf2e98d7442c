"""Bearer credentials: sessions from signing in with a password, and API tokens that admins make
for integrations. Only a SHA-256 of each token is kept (maintenance.people.hash_token). Never
commits: the caller owns the transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import class_row

from maintenance.audit import Actor, record
from maintenance.people import PeopleError, Role, hash_token, new_token, verify_password


@dataclass(frozen=True, slots=True)
class Credential:
    token_id: str  # the hex of the token's SHA-256: names it without revealing it
    person_id: int
    kind: str
    name: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class Issued:
    token: str  # shown once; only its hash is kept
    credential: Credential


_CREDENTIAL_COLUMNS = """encode(token_hash, 'hex') AS token_id, person_id, kind, name, created_at,
expires_at, revoked_at"""
_INSERT_CREDENTIAL = f"""
INSERT INTO credentials (token_hash, person_id, kind, name, created_at, expires_at)
VALUES (%(hash)s, %(person)s, %(kind)s, %(name)s, %(now)s, %(expires)s)
RETURNING {_CREDENTIAL_COLUMNS}
"""


def _issue(
    conn: psycopg.Connection[Any],
    now: datetime,
    person_id: int,
    kind: str,
    name: str | None,
    expires_at: datetime | None,
) -> Issued:
    token = new_token()
    params = {
        "hash": hash_token(token),
        "person": person_id,
        "kind": kind,
        "name": name,
        "now": now,
        "expires": expires_at,
    }
    with conn.cursor(row_factory=class_row(Credential)) as cur:
        credential = cur.execute(_INSERT_CREDENTIAL, params).fetchone()
    assert credential is not None
    return Issued(token, credential)


def sign_in(
    conn: psycopg.Connection[Any], now: datetime, login: str, password: str, ttl: timedelta
) -> Issued | None:
    """A session for the person whose login and password these are; None says only "no"."""
    person_id = verify_password(conn, login, password)
    if person_id is None:
        return None
    return _issue(conn, now, person_id, "session", None, now + ttl)


def create_api_token(
    conn: psycopg.Connection[Any],
    now: datetime,
    person_id: int,
    name: str,
    actor: Actor,
    *,
    expires_at: datetime | None = None,
) -> Issued:
    """A token for an integration, acting as `person_id` with that person's role."""
    if not name.strip():
        raise PeopleError("an API token needs a name saying what uses it")
    if expires_at is not None and expires_at <= now:
        raise PeopleError(f"an API token cannot expire in the past ({expires_at.isoformat()})")
    active = conn.execute("SELECT active FROM people WHERE id = %s", (person_id,)).fetchone()
    if active is None or not active[0]:
        raise PeopleError(f"no active person {person_id} to hold the token")
    issued = _issue(conn, now, person_id, "api_token", name.strip(), expires_at)
    record(conn, now, actor, "person", person_id, "API token created", detail=name.strip())
    return issued


_LIST_TOKENS = f"""
SELECT {_CREDENTIAL_COLUMNS} FROM credentials
WHERE kind = 'api_token' AND (%(person)s::bigint IS NULL OR person_id = %(person)s)
ORDER BY created_at, token_hash
"""


def list_api_tokens(
    conn: psycopg.Connection[Any], *, person_id: int | None = None
) -> list[Credential]:
    with conn.cursor(row_factory=class_row(Credential)) as cur:
        return cur.execute(_LIST_TOKENS, {"person": person_id}).fetchall()


_REVOKE = f"""
UPDATE credentials SET revoked_at = coalesce(revoked_at, %(now)s)
WHERE token_hash = %(hash)s AND (%(kind)s::text IS NULL OR kind = %(kind)s)
RETURNING {_CREDENTIAL_COLUMNS}
"""


def revoke_token_id(
    conn: psycopg.Connection[Any], now: datetime, token_id: str, *, kind: str | None = None
) -> Credential | None:
    """Revoke the credential `token_id` names (idempotent); None when there is none."""
    try:
        token_hash = bytes.fromhex(token_id)
    except ValueError:
        return None
    with conn.cursor(row_factory=class_row(Credential)) as cur:
        params = {"now": now, "hash": token_hash, "kind": kind}
        return cur.execute(_REVOKE, params).fetchone()


def sign_out(conn: psycopg.Connection[Any], now: datetime, token: str) -> Credential | None:
    """Revoke the session `token` is; an API token is not signed out, only revoked by an admin."""
    return revoke_token_id(conn, now, hash_token(token).hex(), kind="session")


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds a valid credential, with what they may see."""

    person_id: int
    role: Role
    name: str
    crew_id: int | None
    districts: list[str] | None  # None: all (an admin)
    supervises: list[int]  # the crews whose supervisor they are


_HOLDER = """
SELECT p.id AS person_id, p.role, p.name, m.crew_id,
       CASE p.role
           WHEN 'admin' THEN NULL
           WHEN 'manager' THEN array(SELECT district FROM manager_districts
                                     WHERE person_id = p.id ORDER BY 1)
           ELSE array(SELECT d.district FROM crew_districts d JOIN crews c ON c.id = d.crew_id
                      WHERE c.id = m.crew_id OR c.supervisor_id = p.id ORDER BY 1)
       END AS districts,
       array(SELECT id FROM crews WHERE supervisor_id = p.id ORDER BY 1) AS supervises
FROM credentials c JOIN people p ON p.id = c.person_id
LEFT JOIN crew_members m ON m.person_id = p.id
WHERE c.token_hash = %(hash)s AND c.revoked_at IS NULL
  AND (c.expires_at IS NULL OR c.expires_at > %(now)s) AND p.active
"""


def credential_holder(conn: psycopg.Connection[Any], token: str, now: datetime) -> Holder | None:
    """The person a bearer token stands for, if it is known, unexpired and unrevoked."""
    with conn.cursor(row_factory=class_row(Holder)) as cur:
        return cur.execute(_HOLDER, {"hash": hash_token(token), "now": now}).fetchone()
