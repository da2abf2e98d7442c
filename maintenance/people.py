"""People who sign in (admins, managers scoped to districts, crew members), their passwords
(Argon2id through argon2-cffi), and the making and hashing of bearer tokens (credentials.py keeps
them). Never commits: the caller owns the transaction."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, Literal

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from psycopg.rows import class_row

from maintenance.audit import Actor, record

Role = Literal["admin", "manager", "crew"]
ROLES: tuple[Role, ...] = ("admin", "manager", "crew")
TOKEN_PREFIX = "fm_"  # noqa: S105 - marks fitmon tokens, not a secret
LOGIN_RE = re.compile(r"[a-z0-9._-]{2,64}", re.ASCII)
DISTRICT_RE = re.compile(r"[0-9]{6}", re.ASCII)
PASSWORD_MIN = 10
PASSWORD_MAX = 256  # Argon2 takes any length; a bound keeps a request from buying CPU by the MB
_COMMON_PASSWORDS = frozenset(
    {"password", "password1", "password123", "1234567890", "0123456789", "qwertyuiop",
     "1q2w3e4r5t", "iloveyou12", "admin12345", "fitmon1234", "woaini1314", "abcdefghij"}
)  # fmt: skip


class PeopleError(ValueError):
    """Input that cannot be taken as it is: a weak password, a bad login, an unknown person."""


class AlreadyExists(PeopleError):
    pass


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> bytes:
    # 256 random bits need no slow hash: SHA-256 makes a stolen table useless and is one lookup.
    return hashlib.sha256(token.encode()).digest()


@cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()  # Argon2id, the RFC 9106 low-memory profile


@cache
def _decoy_hash() -> str:
    return _hasher().hash(secrets.token_urlsafe(16))


def check_password(password: str, *, login: str) -> None:
    """Raise PeopleError saying why `password` is too weak to keep."""
    if len(password) < PASSWORD_MIN:
        raise PeopleError(f"a password needs at least {PASSWORD_MIN} characters")
    if len(password) > PASSWORD_MAX:
        raise PeopleError(f"a password has at most {PASSWORD_MAX} characters")
    if len(set(password)) < 5:
        raise PeopleError("a password needs at least 5 different characters")
    lowered = password.lower()
    if login and login.lower() in lowered:
        raise PeopleError("a password must not contain the login")
    if lowered in _COMMON_PASSWORDS:
        raise PeopleError("this password is among the most common ones; choose another")


def hash_password(password: str, *, login: str) -> str:
    check_password(password, login=login)
    return _hasher().hash(password)


@dataclass(frozen=True, slots=True)
class Person:
    id: int
    login: str
    name: str
    role: str
    phone: str | None
    email: str | None
    active: bool
    created_at: datetime
    districts: list[str]  # a manager's own; a crew member's crew's
    crew_id: int | None


_PERSON = """
SELECT p.id, p.login, p.name, p.role, p.phone, p.email, p.active, p.created_at, m.crew_id,
       CASE p.role WHEN 'manager' THEN
           array(SELECT district FROM manager_districts WHERE person_id = p.id ORDER BY 1)
       ELSE array(SELECT district FROM crew_districts WHERE crew_id = m.crew_id ORDER BY 1)
       END AS districts
FROM people p LEFT JOIN crew_members m ON m.person_id = p.id
"""
# A person in `districts` (None: all) is a manager of one of them, or a member or supervisor of
# the crew that covers one of them.
_VISIBLE = """
(%(districts)s::text[] IS NULL
 OR EXISTS (SELECT 1 FROM manager_districts d
            WHERE d.person_id = p.id AND d.district = ANY(%(districts)s))
 OR EXISTS (SELECT 1 FROM crew_districts d JOIN crews c ON c.id = d.crew_id
            WHERE d.district = ANY(%(districts)s)
              AND (c.id = m.crew_id OR c.supervisor_id = p.id)))
"""
_GET_PERSON = f"{_PERSON} WHERE p.id = %(id)s AND {_VISIBLE}"
_LIST_PEOPLE = f"""{_PERSON} WHERE {_VISIBLE} AND (%(role)s::text IS NULL OR p.role = %(role)s)
  AND (%(active)s::boolean IS NULL OR p.active = %(active)s) ORDER BY p.id"""

_INSERT_PERSON = """
INSERT INTO people (login, name, role, password_hash, phone, email)
VALUES (%(login)s, %(name)s, %(role)s, %(hash)s, %(phone)s, %(email)s)
ON CONFLICT (login) DO NOTHING RETURNING id
"""


def _districts(districts: Iterable[str] | None) -> list[str] | None:
    return None if districts is None else sorted(districts)


def get_person(
    conn: psycopg.Connection[Any], person_id: int, *, districts: Iterable[str] | None = None
) -> Person | None:
    """The person, if one of `districts` (None: any) is theirs."""
    with conn.cursor(row_factory=class_row(Person)) as cur:
        return cur.execute(
            _GET_PERSON, {"id": person_id, "districts": _districts(districts)}
        ).fetchone()


def list_people(
    conn: psycopg.Connection[Any],
    *,
    districts: Iterable[str] | None = None,
    role: str | None = None,
    active: bool | None = None,
) -> list[Person]:
    params = {"districts": _districts(districts), "role": role, "active": active}
    with conn.cursor(row_factory=class_row(Person)) as cur:
        return cur.execute(_LIST_PEOPLE, params).fetchall()


def _check_districts(districts: Iterable[str]) -> list[str]:
    checked = sorted(set(districts))
    for district in checked:
        if not DISTRICT_RE.fullmatch(district):
            raise PeopleError(f"a district is a 6-digit administrative division, not {district!r}")
    return checked


def create_person(
    conn: psycopg.Connection[Any],
    now: datetime,
    *,
    login: str,
    name: str,
    role: Role,
    actor: Actor,
    password: str | None = None,
    phone: str | None = None,
    email: str | None = None,
    districts: Iterable[str] = (),
) -> Person:
    """A new person; `districts` are a manager's (a crew member's come from their crew). Without
    a password they cannot sign in, only hold API tokens. Raises PeopleError, AlreadyExists."""
    if not LOGIN_RE.fullmatch(login):
        raise PeopleError(f"a login is 2-64 of a-z, 0-9, '.', '_', '-'; not {login!r}")
    if not name.strip():
        raise PeopleError("a person needs a name")
    if role not in ROLES:
        raise PeopleError(f"role must be one of {', '.join(ROLES)}; not {role!r}")
    checked = _check_districts(districts)
    if checked and role != "manager":
        raise PeopleError("only a manager has districts of their own; a crew member has a crew's")
    password_hash = None if password is None else hash_password(password, login=login)
    row = conn.execute(
        _INSERT_PERSON,
        {
            "login": login,
            "name": name.strip(),
            "role": role,
            "hash": password_hash,
            "phone": phone,
            "email": email,
        },
    ).fetchone()
    if row is None:
        raise AlreadyExists(f"the login {login!r} is taken")
    person_id = int(row[0])
    if checked:
        set_manager_districts(conn, now, person_id, checked, actor)
    record(conn, now, actor, "person", person_id, "created", to_state=role, detail=login)
    created = get_person(conn, person_id)
    assert created is not None
    return created


def set_manager_districts(
    conn: psycopg.Connection[Any],
    now: datetime,
    person_id: int,
    districts: Iterable[str],
    actor: Actor,
) -> None:
    checked = _check_districts(districts)
    role = conn.execute("SELECT role FROM people WHERE id = %s", (person_id,)).fetchone()
    if role is None or role[0] != "manager":
        raise PeopleError(f"person {person_id} is not a manager")
    conn.execute("DELETE FROM manager_districts WHERE person_id = %s", (person_id,))
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO manager_districts (person_id, district) VALUES (%s, %s)",
            [(person_id, d) for d in checked],
        )
    record(conn, now, actor, "person", person_id, "districts set", detail=", ".join(checked))


_UPDATE_PERSON = """
UPDATE people SET name = coalesce(%(name)s, name), phone = coalesce(%(phone)s, phone),
                  email = coalesce(%(email)s, email), active = coalesce(%(active)s, active)
WHERE id = %(id)s RETURNING id
"""
_REVOKE_ALL = """
UPDATE credentials SET revoked_at = %s WHERE person_id = %s AND revoked_at IS NULL
"""


def update_person(
    conn: psycopg.Connection[Any],
    now: datetime,
    person_id: int,
    actor: Actor,
    *,
    name: str | None = None,
    phone: str | None = None,
    email: str | None = None,
    active: bool | None = None,
) -> Person | None:
    """Change what is given; deactivating someone also revokes their credentials."""
    if name is not None and not name.strip():
        raise PeopleError("a person needs a name")
    params = {"id": person_id, "name": name, "phone": phone, "email": email, "active": active}
    if conn.execute(_UPDATE_PERSON, params).fetchone() is None:
        return None
    if active is False:
        conn.execute(_REVOKE_ALL, (now, person_id))
    changed = ", ".join(k for k, v in params.items() if k != "id" and v is not None)
    record(conn, now, actor, "person", person_id, "updated", detail=changed or None)
    return get_person(conn, person_id)


def set_password(
    conn: psycopg.Connection[Any], now: datetime, person_id: int, password: str, actor: Actor
) -> None:
    """A new password; every session the person had is signed out (API tokens stay)."""
    row = conn.execute("SELECT login FROM people WHERE id = %s", (person_id,)).fetchone()
    if row is None:
        raise PeopleError(f"no person {person_id}")
    password_hash = hash_password(password, login=str(row[0]))
    conn.execute("UPDATE people SET password_hash = %s WHERE id = %s", (password_hash, person_id))
    conn.execute(
        "UPDATE credentials SET revoked_at = %s "
        "WHERE person_id = %s AND kind = 'session' AND revoked_at IS NULL",
        (now, person_id),
    )
    record(conn, now, actor, "person", person_id, "password set")


@dataclass(frozen=True, slots=True)
class _Login:
    id: int
    password_hash: str | None
    active: bool


def verify_password(conn: psycopg.Connection[Any], login: str, password: str) -> int | None:
    """The id of the active person whose login and password these are, else None. An unknown
    login costs the same Argon2 verification as a wrong password, so timing tells nothing; a
    hash made with weaker parameters than today's is replaced."""
    with conn.cursor(row_factory=class_row(_Login)) as cur:
        found = cur.execute(
            "SELECT id, password_hash, active FROM people WHERE login = %s", (login,)
        ).fetchone()
    stored = found.password_hash if found and found.password_hash else None
    hasher = _hasher()
    try:
        hasher.verify(stored or _decoy_hash(), password[: PASSWORD_MAX * 4])
    except (VerificationError, InvalidHashError):
        return None
    if found is None or stored is None or not found.active:
        return None
    if hasher.check_needs_rehash(stored):
        conn.execute(
            "UPDATE people SET password_hash = %s WHERE id = %s",
            (hasher.hash(password), found.id),
        )
    return found.id
