"""The registry file as uploaded: the request body itself (its Content-Type names the format), or
the `file` field of a multipart/form-data form (what browsers, curl -F and generated clients send;
the part's file name or content type names the format). Either is refused (413) past
MAX_FILE_BYTES without reading the rest."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from api.problems import Problem
from devices.registry_files import MAX_FILE_BYTES, MEDIA_TYPES, FileFormat

FORM = "multipart/form-data"
FILE_FIELD = "file"
# Boundaries, part headers and any small fields around the file: a form may be this much larger.
_FORM_SLACK_BYTES = 64 * 1024
_EXTENSIONS: dict[str, FileFormat] = {f".{name}": name for name in MEDIA_TYPES}
_MEDIA = {media.split(";")[0]: name for name, media in MEDIA_TYPES.items()}
_WANTED = " or ".join(_MEDIA)

# The upload for the OpenAPI document: the file as the body (CSV or XLSX), or as a form's field.
_FILE_SCHEMA = {"type": "string", "format": "binary"}
UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": (
            f"the file itself, at most {MAX_FILE_BYTES} bytes: as the body, its Content-Type "
            f"{_WANTED}; or as the field `{FILE_FIELD}` of a {FORM} form, named *.csv or *.xlsx "
            "(else by the part's content type)"
        ),
        "content": {
            **{media: {"schema": _FILE_SCHEMA} for media in _MEDIA},
            FORM: {
                "schema": {
                    "type": "object",
                    "required": [FILE_FIELD],
                    "properties": {FILE_FIELD: {**_FILE_SCHEMA, "description": "CSV or XLSX"}},
                },
                "encoding": {FILE_FIELD: {"contentType": ", ".join(_MEDIA)}},
            },
        },
    }
}


def _too_large(size: str) -> Problem:
    detail = f"the upload is {size} bytes; a file may have at most {MAX_FILE_BYTES}"
    return Problem(413, "File too large", detail)


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


async def read_upload(request: Request) -> tuple[bytes, FileFormat]:
    """The uploaded file and its format. Raises Problem: 413 past MAX_FILE_BYTES, 415 for a file
    that is neither CSV nor XLSX, 400 for a malformed form, 422 for a form without its file."""
    media = _media_type(request.headers.get("content-type"))
    if media == FORM:
        return await _form_file(request)
    file_format = _MEDIA.get(media)
    if file_format is None:
        detail = f"send the file as {_WANTED}, or as the field {FILE_FIELD!r} of a {FORM} form"
        raise Problem(415, "Unsupported file type", f"{detail}; not {media!r}")
    return b"".join([chunk async for chunk in _limited(request, MAX_FILE_BYTES)]), file_format


async def _limited(request: Request, limit: int) -> AsyncGenerator[bytes, None]:
    """The request body's chunks, refused (413) once they add up to more than `limit`, or at
    once when its Content-Length says it will."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(declared)
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(f"over {limit}")
        yield chunk


async def _form_file(request: Request) -> tuple[bytes, FileFormat]:
    stream = _limited(request, MAX_FILE_BYTES + _FORM_SLACK_BYTES)
    # Parsed as request.form() would, but from the size-limited stream; the file part is
    # spooled (to disk past 1 MB), never held whole in memory until its size is known.
    parser = MultiPartParser(request.headers, stream, max_files=1, max_fields=20)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise Problem(400, "Invalid form", exc.message) from None
    try:
        upload = form.get(FILE_FIELD)
        if not isinstance(upload, UploadFile):
            what = "a text field" if upload is not None else "no such field"
            raise Problem(
                422,
                "Invalid request",
                f"the form needs the file in the field {FILE_FIELD!r} (as curl -F "
                f"{FILE_FIELD}=@city.csv sends it); it has {what}",
            )
        file_format = _part_format(upload)
        if upload.size is not None and upload.size > MAX_FILE_BYTES:
            raise _too_large(str(upload.size))
        return await upload.read(), file_format
    finally:
        await form.close()


def _part_format(upload: UploadFile) -> FileFormat:
    """By the file name's extension, else the part's content type: a browser on Windows sends a
    .csv file as application/vnd.ms-excel, so the name is the better witness."""
    name = (upload.filename or "").lower()
    for extension, file_format in _EXTENSIONS.items():
        if name.endswith(extension):
            return file_format
    media = _media_type(upload.content_type)
    if media in _MEDIA:
        return _MEDIA[media]
    raise Problem(
        415,
        "Unsupported file type",
        f"name the file *.csv or *.xlsx, or send it as {_WANTED}; not {upload.filename!r} "
        f"as {media or 'no content type'!r}",
    )
