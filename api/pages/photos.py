"""Photos sent with a fault report or a repair: read from a size-limited multipart form, checked
to be a JPEG, PNG or WebP picture by decoding it (Pillow), turned upright, scaled to at most
PHOTO_EDGE pixels and stored as a JPEG without metadata (a phone's photo says where it was taken).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from fastapi import Request
from PIL import Image, ImageOps, UnidentifiedImageError
from psycopg.rows import class_row
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException

PHOTOS_MAX = 5
PHOTO_MAX_MB = 6
PHOTO_MAX_BYTES = PHOTO_MAX_MB * 1024 * 1024
PHOTO_EDGE = 2048
_PIXELS_MAX = 60_000_000  # a 12-50 MP phone photo passes; a decompression bomb does not
_TEXT_FIELDS_MAX_BYTES = 64 * 1024
FORM_MAX_BYTES = PHOTOS_MAX * PHOTO_MAX_BYTES + _TEXT_FIELDS_MAX_BYTES
_FORMATS = {"JPEG", "MPO", "PNG", "WEBP"}  # MPO: the JPEG some phones write


class FormTooLarge(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class PhotoError(ValueError):
    """`key` names the message in api.pages.i18n; `name` the file the citizen chose."""

    def __init__(self, key: str, name: str) -> None:
        super().__init__(f"{key}: {name}")
        self.key = key
        self.name = name


@dataclass(frozen=True, slots=True)
class Upload:
    name: str
    data: bytes


@dataclass(frozen=True, slots=True)
class PreparedPhoto:
    content_type: str
    width: int
    height: int
    data: bytes


async def read_form(request: Request) -> tuple[dict[str, str], list[Upload]]:
    """The form's text fields (the last of each name) and its non-empty files, the form closed.
    Raises FormTooLarge (411, 413, 400) before reading more than FORM_MAX_BYTES, more than
    2 * PHOTOS_MAX files (more than PHOTOS_MAX is the caller's clear error), or a text field
    over 64 KiB."""
    declared = request.headers.get("content-length")
    if declared is None or not declared.isdigit():
        raise FormTooLarge(411, "send the form with a Content-Length")
    if int(declared) > FORM_MAX_BYTES:
        raise FormTooLarge(413, f"a form may have at most {FORM_MAX_BYTES} bytes, not {declared}")
    try:
        form = await request.form(
            max_files=2 * PHOTOS_MAX, max_fields=1000, max_part_size=_TEXT_FIELDS_MAX_BYTES
        )
    except MultiPartException as exc:
        raise FormTooLarge(400, exc.message) from None
    try:
        fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        uploads = []
        for value in form.getlist("photos"):
            if not isinstance(value, UploadFile) or not value.filename:
                continue  # a file input left empty still sends a part with no name
            data = await value.read(PHOTO_MAX_BYTES + 1)
            if data:
                uploads.append(Upload(value.filename[:120], data))
    finally:
        await form.close()
    return fields, uploads


def prepare_photo(upload: Upload) -> PreparedPhoto:
    """Raises PhotoError: too large, or not a picture of an accepted format."""
    if len(upload.data) > PHOTO_MAX_BYTES:
        raise PhotoError("err_photo_size", upload.name)
    try:
        with Image.open(io.BytesIO(upload.data)) as image:
            if image.format not in _FORMATS or image.width * image.height > _PIXELS_MAX:
                raise PhotoError("err_photo_type", upload.name)
            image.load()
            upright = ImageOps.exif_transpose(image)
            upright.thumbnail((PHOTO_EDGE, PHOTO_EDGE))
            rgb = upright.convert("RGB")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, SyntaxError):
        raise PhotoError("err_photo_type", upload.name) from None
    out = io.BytesIO()
    rgb.save(out, "JPEG", quality=85, optimize=True)  # no EXIF passed: none is written
    return PreparedPhoto("image/jpeg", rgb.width, rgb.height, out.getvalue())


@dataclass(frozen=True, slots=True)
class StoredPhoto:
    id: int
    report_id: int | None
    ticket_id: int | None
    taken_by: int | None
    width: int
    height: int
    created_at: datetime


_INSERT = """
INSERT INTO photos (report_id, ticket_id, taken_by, content_type, width, height, data, created_at)
VALUES (%(report)s, %(ticket)s, %(by)s, %(type)s, %(width)s, %(height)s, %(data)s, %(now)s)
RETURNING id
"""
_COLUMNS = "id, report_id, ticket_id, taken_by, width, height, created_at"
_OF_TICKET = f"SELECT {_COLUMNS} FROM photos WHERE ticket_id = %s ORDER BY id"
_OF_REPORTS = f"SELECT {_COLUMNS} FROM photos WHERE report_id = ANY(%s) ORDER BY id"
# The site a photo belongs to, for who may see it.
_GET = """
SELECT p.content_type, p.data, coalesce(t.site_code, left(r.code, 11)) AS site_code
FROM photos p LEFT JOIN tickets t ON t.id = p.ticket_id
LEFT JOIN citizen_reports r ON r.id = p.report_id
WHERE p.id = %s
"""


def insert_photo(
    conn: psycopg.Connection[Any],
    now: datetime,
    photo: PreparedPhoto,
    *,
    report_id: int | None = None,
    ticket_id: int | None = None,
    taken_by: int | None = None,
) -> int:
    row = conn.execute(
        _INSERT,
        {
            "report": report_id,
            "ticket": ticket_id,
            "by": taken_by,
            "type": photo.content_type,
            "width": photo.width,
            "height": photo.height,
            "data": photo.data,
            "now": now,
        },
    ).fetchone()
    assert row is not None
    return int(row[0])


def photos_of_ticket(conn: psycopg.Connection[Any], ticket_id: int) -> list[StoredPhoto]:
    with conn.cursor(row_factory=class_row(StoredPhoto)) as cur:
        return cur.execute(_OF_TICKET, (ticket_id,)).fetchall()


def photos_of_reports(conn: psycopg.Connection[Any], report_ids: list[int]) -> list[StoredPhoto]:
    with conn.cursor(row_factory=class_row(StoredPhoto)) as cur:
        return cur.execute(_OF_REPORTS, (report_ids,)).fetchall()


def get_photo(conn: psycopg.Connection[Any], photo_id: int) -> tuple[str, bytes, str] | None:
    """The photo's content type, bytes and site code."""
    row = conn.execute(_GET, (photo_id,)).fetchone()
    return None if row is None else (str(row[0]), bytes(row[1]), str(row[2]))
