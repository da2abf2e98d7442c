"""Where notifications go: a person's own preferences (severities, channels, quiet hours,
language), read and changed by that person or an admin; and a crew's robots and webhooks, read
by staff of its districts and added or turned off by admins and its districts' managers.
Secrets (robot URLs with their keys, signing secrets) go in and never come back out."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from api.auth import MANAGERS, STAFF, Principal
from api.database import DbConnection
from api.problems import Problem, problem_responses
from maintenance.crews import get_crew
from notifications.preferences import (
    CrewChannel,
    PreferenceError,
    Preferences,
    add_crew_channel,
    get_preferences,
    list_crew_channels,
    remove_crew_channel,
    set_preferences,
)
from notifications.sealed import Sealer, SecretKeySettings

router = APIRouter(
    prefix="/api/v1", tags=["notifications"], responses=problem_responses(401, 403, 404, 422)
)
Staff = Annotated[Principal, Depends(STAFF)]
Managers = Annotated[Principal, Depends(MANAGERS)]
Severity = Literal["critical", "major", "minor"]
Language = Literal["zh", "en"]


def _sealer(request: Request) -> Sealer:
    """Built on first use from FITMON_SECRET_KEY (the notify process must be given the same)."""
    sealer: Sealer | None = getattr(request.app.state, "sealer", None)
    if sealer is None:
        sealer = request.app.state.sealer = Sealer(SecretKeySettings().secret_key)
    return sealer


SealerDep = Annotated[Sealer, Depends(_sealer)]


class PreferencesOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    person_id: int
    severities: list[str]
    channels: list[str]
    quiet_from: time | None
    quiet_until: time | None
    time_zone: str
    language: str
    webhook_url: str | None
    has_webhook_secret: bool
    updated_at: datetime | None


class PreferencesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    severities: list[Severity] = Field(min_length=1, description="which alerts to hear of")
    channels: list[Literal["email", "webhook"]] = Field(description="the person's own channels")
    quiet_from: time | None = Field(default=None, description="a critical alert breaks through")
    quiet_until: time | None = None
    time_zone: str = Field(default="Asia/Shanghai", max_length=64)
    language: Language = "zh"
    webhook_url: str | None = Field(default=None, max_length=2000)
    webhook_secret: SecretStr | None = Field(
        default=None, max_length=200, description="write-only; left out: the stored one is kept"
    )


class ChannelOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    crew_id: int
    kind: str
    name: str
    shown: str = Field(description="the URL without its key or token")
    has_secret: bool
    severities: list[str]
    language: str
    active: bool
    created_at: datetime


class ChannelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["webhook", "wecom", "dingtalk", "feishu"]
    name: str = Field(min_length=1, max_length=100)
    url: SecretStr = Field(description="write-only: a robot's URL carries its key")
    secret: SecretStr | None = Field(default=None, description="write-only signing secret")
    severities: list[Severity] = Field(default=["critical", "major", "minor"], min_length=1)
    language: Language = "zh"


def _own(principal: Principal, person_id: int) -> None:
    if principal.role != "admin" and principal.person_id != person_id:
        raise Problem(404, "Not found", f"there is no person {person_id} whose settings you keep")


def _prefs(found: Preferences | None, person_id: int) -> PreferencesOut:
    if found is None:
        raise Problem(404, "Not found", f"there is no person {person_id}")
    return PreferencesOut.model_validate(found)


@router.get("/people/{person_id}/notification-preferences", openapi_extra=STAFF.openapi_extra)
def read_preferences(person_id: int, conn: DbConnection, principal: Staff) -> PreferencesOut:
    _own(principal, person_id)
    return _prefs(get_preferences(conn, person_id), person_id)


@router.put("/people/{person_id}/notification-preferences", openapi_extra=STAFF.openapi_extra)
def change_preferences(
    person_id: int, body: PreferencesIn, conn: DbConnection, principal: Staff, sealer: SealerDep
) -> PreferencesOut:
    _own(principal, person_id)
    _prefs(get_preferences(conn, person_id), person_id)
    try:
        found = set_preferences(
            conn,
            sealer,
            datetime.now(UTC),
            person_id,
            severities=body.severities,
            channels=body.channels,
            quiet_from=body.quiet_from,
            quiet_until=body.quiet_until,
            time_zone=body.time_zone,
            language=body.language,
            webhook_url=body.webhook_url,
            webhook_secret=body.webhook_secret.get_secret_value() if body.webhook_secret else None,
            keep_webhook_secret=body.webhook_url is not None,
        )
    except PreferenceError as exc:
        raise Problem(422, "Invalid preferences", str(exc)) from None
    return _prefs(found, person_id)


def _crew_seen(conn: DbConnection, principal: Principal, crew_id: int) -> None:
    if get_crew(conn, crew_id, districts=principal.districts) is None:
        raise Problem(404, "Unknown crew", f"there is no crew {crew_id}")


def _channel(channel: CrewChannel) -> ChannelOut:
    return ChannelOut.model_validate(channel)


@router.get("/crews/{crew_id}/channels", openapi_extra=STAFF.openapi_extra)
def read_channels(crew_id: int, conn: DbConnection, principal: Staff) -> list[ChannelOut]:
    _crew_seen(conn, principal, crew_id)
    return [_channel(c) for c in list_crew_channels(conn, crew_id)]


@router.post("/crews/{crew_id}/channels", status_code=201, openapi_extra=MANAGERS.openapi_extra)
def add_channel(
    crew_id: int, body: ChannelIn, conn: DbConnection, principal: Managers, sealer: SealerDep
) -> ChannelOut:
    _crew_seen(conn, principal, crew_id)
    try:
        added = add_crew_channel(
            conn,
            sealer,
            crew_id,
            kind=body.kind,
            name=body.name,
            url=body.url.get_secret_value(),
            secret=body.secret.get_secret_value() if body.secret else None,
            severities=body.severities,
            language=body.language,
        )
    except PreferenceError as exc:
        raise Problem(422, "Invalid channel", str(exc)) from None
    return _channel(added)


@router.delete("/crews/{crew_id}/channels/{channel_id}", openapi_extra=MANAGERS.openapi_extra)
def turn_off_channel(
    crew_id: int, channel_id: int, conn: DbConnection, principal: Managers
) -> ChannelOut:
    """Turn a channel off: nothing more goes to it; its deliveries and their log stay."""
    _crew_seen(conn, principal, crew_id)
    removed = remove_crew_channel(conn, crew_id, channel_id)
    if removed is None:
        raise Problem(404, "Not found", f"crew {crew_id} has no active channel {channel_id}")
    return _channel(removed)
