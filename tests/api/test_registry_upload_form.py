"""The registry upload as a multipart/form-data form (the field `file`), as browsers, curl -F and
generated clients send it: CSV and XLSX by name or content type, the same dry run, report of bad
cells and size limit as the raw body, and a clear refusal of a form without its file."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook

from devices.codes import make_equipment_code
from devices.registry_files import MAX_FILE_BYTES, MEDIA_TYPES
from tests.api.roles_support import District, bearer, make_district
from tests.db.registry_support import register_division
from tests.support import scalar

IMPORT = "/api/v1/registry/import"
HEADER = ["site_code", "site_name", "equipment_code", "kind", "installed_on"]


@pytest.fixture
def district(database_url: str) -> District:
    with psycopg.connect(database_url) as conn:
        made = make_district(database_url, conn)
    register_division(database_url, made.district)
    return made


def _rows(district: District, site_number: int) -> list[list[str]]:
    site = f"{district.district}-{site_number}"
    return [
        [site, "Riverside", str(make_equipment_code(site, n)), "rider", f"202{n}-03-01"]
        for n in (1, 2)
    ]


def _csv(rows: list[list[str]]) -> bytes:
    return "\n".join(",".join(r) for r in [HEADER, *rows]).encode() + b"\n"


def _xlsx(rows: list[list[str]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in [HEADER, *rows]:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _sites(database_url: str, site: str) -> object:
    return scalar(database_url, "SELECT count(*) FROM equipment WHERE site_code = %s", site)


def test_a_csv_form_is_checked_by_dry_run_then_imported(
    client: TestClient, database_url: str, district: District
) -> None:
    manager = bearer(district.manager)
    rows = _rows(district, 8101)
    site = rows[0][0]
    files = {"file": ("city.csv", _csv(rows), "text/csv")}
    dry = client.post(IMPORT, params={"dry_run": "true"}, files=files, headers=manager)
    assert dry.status_code == 200, dry.text
    assert (dry.json()["items_created"], dry.json()["dry_run"]) == (2, True)
    assert _sites(database_url, site) == 0
    done = client.post(IMPORT, files=files, headers=manager)
    assert done.status_code == 200, done.text
    assert (done.json()["sites_created"], done.json()["items_created"]) == (1, 2)
    assert _sites(database_url, site) == 2


def test_an_xlsx_form_is_read_by_its_name_or_its_content_type(
    client: TestClient, database_url: str, district: District
) -> None:
    manager = bearer(district.manager)
    rows = _rows(district, 8102)
    by_name = {"file": ("city.XLSX", _xlsx(rows), "application/octet-stream")}
    done = client.post(IMPORT, files=by_name, headers=manager)
    assert done.status_code == 200, done.text
    assert done.json()["items_created"] == 2
    by_type = {"file": ("export", _xlsx(rows), MEDIA_TYPES["xlsx"])}
    again = client.post(IMPORT, files=by_type, headers=manager)
    assert again.status_code == 200, again.text
    assert again.json()["unchanged"] == 3  # the site and both items
    # a .csv a browser on Windows labels as Excel is still CSV: the name wins
    excel_csv = {"file": ("city.csv", _csv(rows), "application/vnd.ms-excel")}
    assert client.post(IMPORT, files=excel_csv, headers=manager).json()["unchanged"] == 3


def test_a_form_with_a_bad_cell_is_answered_with_every_bad_cell_and_writes_nothing(
    client: TestClient, database_url: str, district: District
) -> None:
    rows = _rows(district, 8103)
    rows[1][4] = "yesterday"
    files = {"file": ("city.csv", _csv(rows), "text/csv")}
    answer = client.post(IMPORT, files=files, headers=bearer(district.manager))
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert [(e["line"], e["column"]) for e in answer.json()["errors"]] == [(3, "installed_on")]
    assert _sites(database_url, rows[0][0]) == 0


def test_an_oversize_form_is_refused_as_a_problem(client: TestClient, district: District) -> None:
    manager = bearer(district.manager)
    huge = {"file": ("city.csv", b"x" * (MAX_FILE_BYTES + 1), "text/csv")}
    answer = client.post(IMPORT, files=huge, headers=manager)
    assert answer.status_code == 413
    assert answer.headers["content-type"] == "application/problem+json"
    assert str(MAX_FILE_BYTES) in answer.json()["detail"]

    # Without a Content-Length (chunked), the stream itself is cut off past the limit.
    boundary = "fitmonboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="city.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()

    def chunks() -> Iterator[bytes]:
        yield head
        for _ in range(MAX_FILE_BYTES // (1024 * 1024) + 2):
            yield b"x" * 1024 * 1024
        yield f"\r\n--{boundary}--\r\n".encode()

    form = f"multipart/form-data; boundary={boundary}"
    streamed = client.post(IMPORT, content=chunks(), headers={**manager, "Content-Type": form})
    assert streamed.status_code == 413, streamed.text
    assert "content-length" not in {k.lower() for k in streamed.request.headers}


@pytest.mark.parametrize(
    ("form", "status", "detail"),
    [
        ({"data": {"note": "hi"}}, 422, "has no such field"),
        ({"data": {"file": "site_code,site_name"}}, 422, "has a text field"),
        ({"files": {"upload": ("city.csv", b"a,b\n", "text/csv")}}, 422, "'file'"),
        ({"files": {"file": ("city.xls", b"\xd0\xcf", "application/vnd.ms-excel")}}, 415, ".xls"),
        ({"files": {"file": ("city.json", b"{}", "application/json")}}, 415, "application/json"),
    ],
)
def test_a_form_without_a_csv_or_xlsx_in_its_file_field_is_refused_saying_why(
    client: TestClient, district: District, form: dict[str, Any], status: int, detail: str
) -> None:
    if "files" not in form:  # a form of text fields only is still sent as multipart
        form = {**form, "files": {"other": ("x.txt", b"", "text/plain")}}
    answer = client.post(IMPORT, headers=bearer(district.manager), **form)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert detail in answer.json()["detail"]


def test_a_malformed_form_is_a_400_and_the_raw_body_still_works(
    client: TestClient, district: District
) -> None:
    manager = bearer(district.manager)
    broken = client.post(
        IMPORT, content=b"no parts", headers={**manager, "Content-Type": "multipart/form-data"}
    )
    assert broken.status_code == 400
    assert "boundary" in broken.json()["detail"]
    rows = _rows(district, 8104)
    raw = client.post(IMPORT, content=_csv(rows), headers={**manager, "Content-Type": "text/csv"})
    assert raw.status_code == 200, raw.text


def test_the_openapi_document_describes_the_body_and_the_form(client: TestClient) -> None:
    body = client.get("/openapi.json").json()["paths"][IMPORT]["post"]["requestBody"]
    assert set(body["content"]) == {"text/csv", MEDIA_TYPES["xlsx"], "multipart/form-data"}
    form = body["content"]["multipart/form-data"]
    assert form["schema"]["required"] == ["file"]
    assert form["schema"]["properties"]["file"]["format"] == "binary"
