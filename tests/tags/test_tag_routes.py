"""The tag routes against the real database: a sheet PDF rendered to images and its QR codes read
back to the right URLs, SVG and PNG tags, who may print what, and every bad request."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from typing import Any

import psycopg
import pypdfium2
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw
from pydantic import SecretStr

from api.app import create_app
from api.settings import ApiSettings
from devices.codes import make_equipment_code
from tests.api.conftest import api_client
from tests.api.roles_support import add_person, bearer, make_district, token_for
from tests.support import load_registry, make_registry
from tests.tags.conftest import PUBLIC_URL, decoded_qr_texts

_SVG = "{http://www.w3.org/2000/svg}"
_RUN = re.compile(r"M([\d.]+) ([\d.]+)h([\d.]+)v([\d.]+)h-[\d.]+z")


def admin_token(conn: psycopg.Connection[Any]) -> str:
    return token_for(conn, add_person(conn, "admin"))


def url_of(code: str) -> str:
    return f"{PUBLIC_URL}q/{code}"


def pages_as_images(pdf: bytes) -> list[Image.Image]:
    document = pypdfium2.PdfDocument(pdf)
    return [page.render(scale=200 / 72).to_pil() for page in document]


def page_texts(pdf: bytes) -> list[str]:
    document = pypdfium2.PdfDocument(pdf)
    return [page.get_textpage().get_text_bounded() for page in document]


def test_a_site_sheet_reads_back_page_by_page_as_its_items_urls(
    database_url: str, conn: psycopg.Connection[Any], tag_client: TestClient
) -> None:
    registry = load_registry(database_url, make_registry(items=12, kind="air_walker"))
    site = registry.sites[0].code
    conn.execute("UPDATE sites SET hotline = '0514-12345678' WHERE code = %s", (site,))
    conn.commit()
    codes = sorted(item.code for item in registry.equipment)

    response = tag_client.get(f"/api/v1/sites/{site}/tags.pdf", headers=bearer(admin_token(conn)))

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert "Link" not in response.headers
    images = pages_as_images(response.content)
    assert len(images) == 2  # L7173: ten labels a sheet
    assert decoded_qr_texts(images[0]) == [url_of(code) for code in codes[:10]]
    assert decoded_qr_texts(images[1]) == [url_of(code) for code in codes[10:]]
    first, second = page_texts(response.content)
    assert all(code in first for code in codes[:10])
    assert "太空漫步机" in first  # the embedded font carries the Chinese text
    assert "0514-12345678" in second
    assert "2028-05-01" in second  # installed 2020-05-01, eight years


def test_a_district_sheet_skips_used_labels_and_comes_in_linked_parts(
    database_url: str, conn: psycopg.Connection[Any], tag_client: TestClient
) -> None:
    home = make_district(database_url, conn)  # three items
    site = home.world.site
    more = make_registry(items=5, site=site)
    load_registry(database_url, more)
    retired = str(make_equipment_code(site, 5))
    conn.execute("UPDATE equipment SET service_status = 'retired' WHERE code = %s", (retired,))
    conn.commit()
    printable = sorted({*home.world.codes, *(e.code for e in more.equipment)} - {retired})
    path = f"/api/v1/districts/{home.district}/tags.pdf"

    first = tag_client.get(
        path, params={"stock": "L7160", "skip": 19, "limit": 3}, headers=bearer(home.manager)
    )

    assert first.status_code == 200, first.text
    pages = pages_as_images(first.content)
    assert len(pages) == 2  # labels 20 and 21 on the first sheet, the third on a new one
    assert decoded_qr_texts(pages[0]) == [url_of(code) for code in printable[:2]]
    assert decoded_qr_texts(pages[1]) == [url_of(printable[2])]
    following = re.fullmatch(r'<(.+)>; rel="next"', first.headers["Link"])
    assert following is not None
    rest = tag_client.get(following.group(1), headers=bearer(home.manager))
    assert rest.status_code == 200, rest.text
    assert "Link" not in rest.headers
    (page,) = pages_as_images(rest.content)
    assert decoded_qr_texts(page) == [url_of(code) for code in printable[3:]]


def test_an_svg_tag_drawn_from_its_path_reads_back_as_its_url(
    database_url: str, conn: psycopg.Connection[Any], tag_client: TestClient
) -> None:
    code = load_registry(database_url, make_registry(items=1, kind="rider")).equipment[0].code

    response = tag_client.get(
        f"/api/v1/equipment/{code}/tag.svg", headers=bearer(admin_token(conn))
    )

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(response.content)
    assert (root.get("width"), root.get("height")) == ("99.1mm", "57mm")
    texts = [text.text for text in root.iter(f"{_SVG}text")]
    assert texts[0] == code
    assert "健骑机" in texts
    assert "Rider" in texts
    # Draw the QR path's module runs at 10 px/mm, as any SVG viewer would, and read it.
    image = Image.new("L", (991, 570), 255)
    draw = ImageDraw.Draw(image)
    path = next(p for p in root.iter(f"{_SVG}path"))
    runs = _RUN.findall(path.get("d", ""))
    assert runs
    for x, y, width, height in (map(float, run) for run in runs):
        box = (
            round(x * 10),
            round(y * 10),
            round((x + width) * 10) - 1,
            round((y + height) * 10) - 1,
        )
        draw.rectangle(box, fill=0)
    assert decoded_qr_texts(image) == [url_of(code)]


def test_a_png_tag_reads_back_as_its_url_at_the_asked_resolution(
    database_url: str, conn: psycopg.Connection[Any], tag_client: TestClient
) -> None:
    code = load_registry(database_url, make_registry(items=1)).equipment[0].code

    response = tag_client.get(
        f"/api/v1/equipment/{code}/tag.png", params={"dpi": 150}, headers=bearer(admin_token(conn))
    )

    assert response.status_code == 200, response.text
    image = Image.open(io.BytesIO(response.content))
    assert image.format == "PNG"
    assert image.size == (round(99.1 * 150 / 25.4), round(57 * 150 / 25.4))
    assert decoded_qr_texts(image) == [url_of(code)]


def test_without_a_public_url_the_tag_points_where_the_request_came(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    code = load_registry(database_url, make_registry(items=1)).equipment[0].code
    with api_client(database_url) as client:
        response = client.get(
            f"/api/v1/equipment/{code}/tag.png", headers=bearer(admin_token(conn))
        )
    assert decoded_qr_texts(Image.open(io.BytesIO(response.content))) == [
        f"http://testserver/q/{code}"
    ]


def test_staff_print_only_their_districts_tags(
    database_url: str, conn: psycopg.Connection[Any], tag_client: TestClient
) -> None:
    home, other = make_district(database_url, conn), make_district(database_url, conn)
    code, site = home.world.codes[0], home.world.site
    for token in (home.manager, home.crew, home.supervisor):
        assert tag_client.get(f"/api/v1/equipment/{code}/tag.svg", headers=bearer(token)).is_success
    for token in (other.manager, other.crew):
        item = tag_client.get(f"/api/v1/equipment/{code}/tag.svg", headers=bearer(token))
        assert item.status_code == 404  # as if it did not exist
        sheet = tag_client.get(f"/api/v1/sites/{site}/tags.pdf", headers=bearer(token))
        assert sheet.status_code == 404
        district = tag_client.get(f"/api/v1/districts/{site[:6]}/tags.pdf", headers=bearer(token))
        assert district.status_code == 403
        assert site[:6] in district.json()["detail"]
    nobody = tag_client.get(f"/api/v1/equipment/{code}/tag.png")
    assert nobody.status_code == 401


def test_bad_requests_are_problems_that_say_what_was_wrong(
    database_url: str, conn: psycopg.Connection[Any], tag_client: TestClient
) -> None:
    token = admin_token(conn)
    registry = load_registry(database_url, make_registry(items=2))
    site, (kept, retired) = registry.sites[0].code, [e.code for e in registry.equipment]
    conn.execute("UPDATE equipment SET service_status = 'retired' WHERE code = %s", (retired,))
    conn.commit()
    wrong_check = kept[:-1] + ("0" if kept[-1] != "0" else "1")
    cases = {
        f"/api/v1/equipment/{wrong_check}/tag.svg": (422, "check character"),
        f"/api/v1/equipment/{make_equipment_code('970000-0001', 998)}/tag.svg": (
            404,
            "no equipment",
        ),
        f"/api/v1/equipment/{retired}/tag.png": (409, "retired"),
        f"/api/v1/equipment/{kept}/tag.png?dpi=5000": (422, "dpi"),
        f"/api/v1/sites/{site}/tags.pdf?stock=A4-24": (422, "stock"),
        f"/api/v1/sites/{site}/tags.pdf?skip=10": (422, "skip must be below 10 on L7173"),
        f"/api/v1/sites/{site}/tags.pdf?offset=1": (422, "offset 1 is past the 1 item"),
        f"/api/v1/sites/{site[:6]}-99/tags.pdf": (422, "site_code"),
        "/api/v1/sites/970000-0001/tags.pdf": (404, "no site"),
        "/api/v1/districts/970000/tags.pdf": (404, "no site is registered in district 970000"),
        "/api/v1/districts/97000X/tags.pdf": (422, "district"),
    }
    for path, (status, said) in cases.items():
        response = tag_client.get(path, headers=bearer(token))
        assert response.status_code == status, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert said in response.json()["detail"], (path, response.json())


def test_a_missing_tag_font_is_a_503_that_names_the_setting(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    code = load_registry(database_url, make_registry(items=1)).equipment[0].code
    settings = ApiSettings(
        env="test", database_url=SecretStr(database_url), tag_font="/nonexistent/font.ttc"
    )
    with TestClient(create_app(settings)) as client:
        response = client.get(
            f"/api/v1/equipment/{code}/tag.svg", headers=bearer(admin_token(conn))
        )
    assert response.status_code == 503
    assert "/nonexistent/font.ttc does not exist" in response.json()["detail"]
