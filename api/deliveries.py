"""Notification deliveries: what is pending, delivered or dead-lettered, and every attempt with
its receiver's answer. Managers see those of their districts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from api.auth import MANAGERS, Principal, hidden_unless_seen
from api.database import DbConnection
from api.problems import Problem, problem_responses
from notifications.delivery_log import delivery_attempts, get_delivery, list_deliveries

router = APIRouter(
    prefix="/api/v1/deliveries",
    tags=["notifications"],
    responses=problem_responses(401, 403, 404, 422),
)
Managers = Annotated[Principal, Depends(MANAGERS)]


class DeliveryOut(BaseModel):
    id: int
    event: str
    alert_id: int | None
    ticket_id: int | None
    kind: str
    lane: str
    crew_id: int | None
    crew_channel_id: int | None
    person_id: int | None
    severity: str
    site_code: str
    status: str
    attempts: int
    created_at: datetime
    due_at: datetime
    delivered_at: datetime | None
    message_key: str | None
    last_code: str | None
    last_detail: str | None


class AttemptOut(BaseModel):
    attempt: int
    at: datetime
    took_ms: int
    ok: bool
    code: str
    detail: str
    message_key: str
    grouped: int


class DeliveryDetail(DeliveryOut):
    attempt_log: list[AttemptOut]


@router.get("", openapi_extra=MANAGERS.openapi_extra)
def read_deliveries(
    conn: DbConnection,
    principal: Managers,
    status: Literal["pending", "delivered", "dead"] | None = None,
    crew_id: int | None = None,
    kind: Literal["webhook", "wecom", "dingtalk", "feishu", "email", "mqtt"] | None = None,
    before: Annotated[int | None, Query(description="page back: ids below this")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DeliveryOut]:
    rows = list_deliveries(
        conn,
        status=status,
        crew_id=crew_id,
        kind=kind,
        districts=principal.districts,
        before=before,
        limit=limit,
    )
    return [DeliveryOut.model_validate(r, from_attributes=True) for r in rows]


@router.get("/{delivery_id}", openapi_extra=MANAGERS.openapi_extra)
def read_delivery(delivery_id: int, conn: DbConnection, principal: Managers) -> DeliveryDetail:
    row = get_delivery(conn, delivery_id)
    if row is None:
        raise Problem(404, "Not found", f"there is no delivery {delivery_id}")
    hidden_unless_seen(principal, row.site_code, f"delivery {delivery_id}")
    attempts = [
        AttemptOut.model_validate(a, from_attributes=True)
        for a in delivery_attempts(conn, delivery_id)
    ]
    base = DeliveryOut.model_validate(row, from_attributes=True)
    return DeliveryDetail(**base.model_dump(), attempt_log=attempts)
