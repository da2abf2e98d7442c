"""What the registry routes take and give: the text, code and paging types they share, and the
problems they answer for a refused change or a district the caller does not see."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Response
from pydantic import BaseModel, Field, StringConstraints

from api.auth import Principal
from api.problems import Problem
from db.registry_edits import RegistryRefused
from devices.catalog import EQUIPMENT_TYPES

# No control characters: PostgreSQL's text cannot hold NUL, and none belongs in a name.
_PRINTABLE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"


_TRIMMED = StringConstraints(strip_whitespace=True, min_length=1)
Text100 = Annotated[str, _TRIMMED, Field(max_length=100, pattern=_PRINTABLE)]
Text200 = Annotated[str, _TRIMMED, Field(max_length=200, pattern=_PRINTABLE)]
Text500 = Annotated[str, _TRIMMED, Field(max_length=500, pattern=_PRINTABLE)]
Text2000 = Annotated[str, _TRIMMED, Field(max_length=2000, pattern=_PRINTABLE)]


class Retirement(BaseModel):
    """Why a site or an item is retired, for its history."""

    reason: Text2000


SITE_CODE = r"^[0-9]{6}-[0-9]{4}$"
DISTRICT = r"^[0-9]{6}$"
HOTLINE = r"^[0-9][0-9 -]{2,31}$"
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0)]
TOTAL_HEADER = "X-Total-Count"
PAGED: dict[int | str, dict[str, Any]] = {
    200: {
        "headers": {
            TOTAL_HEADER: {
                "description": "how many match in all (the page holds at most `limit`)",
                "schema": {"type": "integer"},
            }
        }
    }
}


def total(response: Response, count: int) -> None:
    response.headers[TOTAL_HEADER] = str(count)


def refused(exc: RegistryRefused) -> Problem:
    titles = {404: "Not registered", 409: "Conflict", 422: "Refused by the registry"}
    return Problem(exc.status, titles[exc.status], str(exc))


def not_your_district(principal: Principal, asked: str) -> Problem:
    """A 403 for asking about a district (or a site in one) outside the caller's districts."""
    mine = ", ".join(sorted(principal.districts or ())) or "none"
    return Problem(403, "Not your district", f"{asked} is outside your districts ({mine})")


def unknown_kind(kind: str) -> Problem:
    known = ", ".join(sorted(EQUIPMENT_TYPES))
    return Problem(422, "Unknown equipment type", f"{kind!r} is not one of {known}")
