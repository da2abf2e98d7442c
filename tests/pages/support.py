"""The pages' tests: a browser-like client (it asks for HTML), a crew member with a password,
photos made on the spot, and a fault taken by the maintenance service's own function."""

from __future__ import annotations

import html
import io
import re
from datetime import UTC, datetime
from typing import Any

import psycopg
from fastapi.testclient import TestClient
from PIL import Image
from pydantic import SecretStr

from api.app import create_app
from api.rate_limits import PageLimits
from api.settings import ApiSettings
from maintenance.audit import Actor
from maintenance.inbox import take_inbox
from maintenance.people import set_password
from tests.maintenance.support import settings, write_fault

HTML = {"Accept": "text/html,application/xhtml+xml"}
PASSWORD = "correct horse battery staple"


def page_client(database_url: str, limits: PageLimits | None = None) -> TestClient:
    """A client of a new app (its own rate limits) that asks for pages as a browser does."""
    app = create_app(ApiSettings(env="test", database_url=SecretStr(database_url)))
    if limits is not None:
        app.state.page_limits = limits
    return TestClient(app, headers=HTML)


def with_password(conn: psycopg.Connection[Any], person_id: int) -> str:
    """Give the person a password; returns their login."""
    set_password(conn, datetime.now(UTC), person_id, PASSWORD, Actor.rule("tests"))
    row = conn.execute("SELECT login FROM people WHERE id = %s", (person_id,)).fetchone()
    conn.commit()
    assert row is not None
    return str(row[0])


def sign_in(client: TestClient, login: str) -> None:
    response = client.post(
        "/crew/sign-in",
        data={"login": login, "password": PASSWORD, "next": "/crew"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def photo_bytes(fmt: str = "JPEG", size: tuple[int, int] = (640, 480), exif: bytes = b"") -> bytes:
    out = io.BytesIO()
    image = Image.new("RGB", size, (200, 40, 40))
    if exif:
        image.save(out, fmt, exif=exif)
    else:
        image.save(out, fmt)
    return out.getvalue()


def faulty_ticket(
    conn: psycopg.Connection[Any], code: str, *, fault: str = "STRUCTURE_TILT"
) -> int:
    """A critical fault on the item, taken by the maintenance service: its ticket's id."""
    write_fault(conn, code, 1, fault=fault, ts=datetime.now(UTC))
    take_inbox(conn, datetime.now(UTC), settings(), limit=100_000)
    conn.commit()
    row = conn.execute(
        "SELECT id FROM tickets WHERE code = %s AND status <> 'closed'", (code,)
    ).fetchone()
    conn.commit()
    assert row is not None
    return int(row[0])


def text_of(page: str) -> str:
    """The page's text without its tags and style sheet, whitespace squeezed."""
    body = re.sub(r"<style>.*?</style>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)))
