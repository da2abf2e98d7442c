"""The audit trail: every change to an alert, a ticket or an item, with who made it (a person, a
device, or one of the system's rules), when, and from which state to which."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg.rows import class_row

ActorKind = Literal["person", "device", "system"]


@dataclass(frozen=True, slots=True)
class Actor:
    kind: ActorKind
    name: str  # a person's id, an equipment code, or a rule's name

    @classmethod
    def person(cls, person_id: int) -> Actor:
        return cls("person", str(person_id))

    @classmethod
    def device(cls, code: str) -> Actor:
        return cls("device", code)

    @classmethod
    def rule(cls, name: str) -> Actor:
        return cls("system", name)


_RECORD = """
INSERT INTO audit_trail (at, actor_kind, actor, entity, entity_id, action, from_state, to_state,
                         detail)
VALUES (%(at)s, %(kind)s, %(actor)s, %(entity)s, %(id)s, %(action)s, %(from)s, %(to)s, %(detail)s)
"""


def record(
    conn: psycopg.Connection[Any],
    at: datetime,
    actor: Actor,
    entity: str,
    entity_id: object,
    action: str,
    *,
    from_state: str | None = None,
    to_state: str | None = None,
    detail: str | None = None,
) -> None:
    conn.execute(
        _RECORD,
        {
            "at": at,
            "kind": actor.kind,
            "actor": actor.name,
            "entity": entity,
            "id": str(entity_id),
            "action": action,
            "from": from_state,
            "to": to_state,
            "detail": detail,
        },
    )


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    actor_kind: str
    actor: str
    action: str
    from_state: str | None
    to_state: str | None
    detail: str | None


_HISTORY = """
SELECT at, actor_kind, actor, action, from_state, to_state, detail FROM audit_trail
WHERE entity = %s AND entity_id = %s ORDER BY at, id
"""


def history(conn: psycopg.Connection[Any], entity: str, entity_id: object) -> list[AuditEntry]:
    with conn.cursor(row_factory=class_row(AuditEntry)) as cur:
        return cur.execute(_HISTORY, (entity, str(entity_id))).fetchall()
