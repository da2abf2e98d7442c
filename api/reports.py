"""Citizens' fault reports (扫码报修), public: the scan page posts here. Each is stored and handed
to the maintenance service in one transaction; a hazard takes the item out of service."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.auth import PUBLIC
from api.database import DbConnection
from api.problems import Problem, problem_responses
from devices.codes import CodeError
from maintenance.reports import DESCRIPTION_MAX, Category, file_report

router = APIRouter(
    prefix="/api/v1/reports", tags=["reports"], responses=problem_responses(404, 422)
)


class ReportIn(BaseModel):
    code: str = Field(max_length=32, description="the item's code, as printed on its tag")
    category: Category
    description: str = Field(min_length=1, max_length=DESCRIPTION_MAX)
    hazard: bool = Field(description="someone could be hurt: the item is taken out of use")
    phone: str | None = Field(
        default=None, pattern=r"^\+?[0-9 -]{5,20}$", description="for the follow-up call"
    )


class ReportOut(BaseModel):
    id: int
    code: str
    category: str
    hazard: bool
    received_at: datetime


@router.post("", status_code=202, openapi_extra=PUBLIC)
def add_report(body: ReportIn, conn: DbConnection) -> ReportOut:
    """Accepted: the maintenance service raises the alert and opens or joins the ticket."""
    try:
        report = file_report(
            conn,
            datetime.now(UTC),
            code=body.code.strip().upper(),
            category=body.category,
            hazard=body.hazard,
            description=body.description,
            phone=body.phone,
        )
    except CodeError as exc:
        raise Problem(422, "Invalid equipment code", str(exc)) from None
    except LookupError as exc:
        raise Problem(404, "Unknown equipment", str(exc)) from None
    except ValueError as exc:
        raise Problem(422, "Invalid report", str(exc)) from None
    return ReportOut(
        id=report.id,
        code=report.code,
        category=report.category,
        hazard=report.hazard,
        received_at=report.received_at,
    )
