"""The scan page's fault report: a report with photos and a phone becomes an alert through the
maintenance loop's intake; every bad input gets a clear answer and stores nothing."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import psycopg
from fastapi.testclient import TestClient
from PIL import Image

from api.pages.photos import FORM_MAX_BYTES, PHOTO_EDGE
from maintenance.inbox import take_inbox
from tests.maintenance.support import settings
from tests.pages.support import photo_bytes, text_of
from tests.support import load_registry, make_registry

FORM = {"category": "unsafe", "description": "扶手断裂,边缘锋利", "hazard": "1"}


def stored(conn: psycopg.Connection[Any], code: str) -> tuple[int, int, int]:
    row = conn.execute(
        "SELECT (SELECT count(*) FROM citizen_reports WHERE code = %(c)s), "
        "(SELECT count(*) FROM photos p JOIN citizen_reports r ON r.id = p.report_id "
        " WHERE r.code = %(c)s), "
        "(SELECT count(*) FROM maintenance_inbox WHERE subject = %(c)s)",
        {"c": code},
    ).fetchone()
    conn.commit()
    assert row is not None
    return row[0], row[1], row[2]


def new_item(database_url: str) -> str:
    return load_registry(database_url, make_registry(items=1)).equipment[0].code


def test_a_report_with_a_photo_and_a_phone_becomes_a_critical_alert_and_a_ticket(
    database_url: str, conn: psycopg.Connection[Any], pages: TestClient
) -> None:
    code = new_item(database_url)
    gps = Image.Exif()
    gps[0x8825] = {2: (32.0, 3.0, 0.0), 4: (118.0, 47.0, 0.0)}  # GPSInfo: where it was taken
    big = photo_bytes(size=(3000, 2000), exif=gps.tobytes())
    response = pages.post(
        f"/q/{code}/report",
        data={**FORM, "phone": "138-0013-8000"},
        files=[("photos", ("seat.jpg", big, "image/jpeg"))],
    )
    assert response.status_code == 201, text_of(response.text)
    assert "138****8000" in response.text
    assert "13800138000" not in response.text
    report_id, phone = conn.execute(
        "SELECT id, phone FROM citizen_reports WHERE code = %s", (code,)
    ).fetchone() or (None, None)
    assert phone == "13800138000"
    assert f'id="report-id">{report_id}<' in response.text
    width, height, data = conn.execute(
        "SELECT width, height, data FROM photos WHERE report_id = %s", (report_id,)
    ).fetchone() or (0, 0, b"")
    assert (width, height) == (PHOTO_EDGE, PHOTO_EDGE * 2 // 3)
    with Image.open(io.BytesIO(data)) as kept:
        assert kept.format == "JPEG"
        assert not kept.getexif()  # where it was taken is not kept
    take_inbox(conn, datetime.now(UTC), settings(), limit=100_000)
    conn.commit()
    alert = conn.execute(
        "SELECT rule, fault, severity FROM alerts WHERE subject = %s", (code,)
    ).fetchall()
    assert alert == [("citizen_report", "unsafe", "critical")]
    status = conn.execute("SELECT service_status FROM equipment WHERE code = %s", (code,))
    assert status.fetchone() == ("out_of_service",)
    conn.commit()
    assert "停止使用" in text_of(pages.get(f"/q/{code}?lang=zh").text)


def test_a_bad_form_is_shown_again_with_every_problem_and_stores_nothing(
    database_url: str, conn: psycopg.Connection[Any], pages: TestClient
) -> None:
    code = new_item(database_url)
    response = pages.post(
        f"/q/{code}/report?lang=en",
        data={"category": "on_fire", "description": "  ", "phone": "call me"},
        files=[
            ("photos", ("notes.txt", b"not a picture", "image/jpeg")),
            ("photos", ("ok.png", photo_bytes("PNG"), "image/png")),
        ],
    )
    assert response.status_code == 422
    text = text_of(response.text)
    for problem in (
        "Choose what is wrong.",
        "Describe the problem",
        "That phone number is not valid.",
        "'notes.txt' is not a JPEG, PNG or WebP picture.",
    ):
        assert problem in text, problem
    assert 'value="call me"' in response.text  # what was typed is kept
    assert stored(conn, code) == (0, 0, 0)


def test_more_than_five_photos_or_an_oversize_photo_is_refused(
    database_url: str, conn: psycopg.Connection[Any], pages: TestClient
) -> None:
    code = new_item(database_url)
    small = photo_bytes(size=(50, 50))
    six = [("photos", (f"p{n}.jpg", small, "image/jpeg")) for n in range(6)]
    response = pages.post(f"/q/{code}/report?lang=en", data=FORM, files=six)
    assert response.status_code == 422
    assert "At most 5 photos." in text_of(response.text)
    oversize = small + b"\0" * (6 * 1024 * 1024)
    response = pages.post(
        f"/q/{code}/report?lang=zh",
        data=FORM,
        files=[("photos", ("big.jpg", oversize, "image/jpeg"))],
    )
    assert response.status_code == 422
    assert "超过 6 MB" in text_of(response.text)
    assert stored(conn, code) == (0, 0, 0)


def test_a_body_over_the_limit_is_413_before_it_is_read(
    database_url: str, conn: psycopg.Connection[Any], pages: TestClient
) -> None:
    code = new_item(database_url)
    response = pages.post(
        f"/q/{code}/report",
        content=b"x" * 16,
        headers={
            "Content-Type": "multipart/form-data; boundary=x",
            "Content-Length": str(FORM_MAX_BYTES + 1),
        },
    )
    assert response.status_code == 413
    assert stored(conn, code) == (0, 0, 0)


def test_a_retired_item_takes_no_report(
    database_url: str, conn: psycopg.Connection[Any], pages: TestClient
) -> None:
    code = new_item(database_url)
    conn.execute("UPDATE equipment SET service_status = 'retired' WHERE code = %s", (code,))
    conn.commit()
    response = pages.post(f"/q/{code}/report", data=FORM, headers={"Accept": "*/*"})
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert stored(conn, code) == (0, 0, 0)
