"""The public scan page: what it shows in both languages, "do not use" the moment an item is out
of service, clear errors for unknown and mistyped codes, and no more than that."""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi.testclient import TestClient

from devices.codes import make_equipment_code
from tests.pages.support import text_of
from tests.support import load_registry, make_registry


def test_the_scan_page_shows_the_item_its_site_and_how_to_use_it_in_chinese_by_default(
    database_url: str, conn: psycopg.Connection[Any], pages: TestClient
) -> None:
    code = load_registry(database_url, make_registry(items=1, kind="rider")).equipment[0].code
    conn.execute(
        "UPDATE sites SET address = '长江路1号', responsible_unit = '玄武区体育局', "
        "hotline = '025-8888 1234', opens_at = '06:00', closes_at = '21:30' WHERE code = %s",
        (code[:11],),
    )
    conn.commit()
    response = pages.get(f"/q/{code}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    text = text_of(response.text)
    for shown in (
        "健骑机",
        code,
        "长江路1号",
        "玄武区体育局",
        "06:00\u201321:30",
        "正常使用",
        "2028-05-01",
    ):
        assert shown in text, shown
    assert 'href="tel:025-88881234"' in response.text
    assert "儿童须在成人看护下使用" in text  # GB 19272 §5.8: instructions for use
    assert "坐稳、脚踩踏板后再用力" in text  # the rider's own
    assert '<form class="card" method="post"' in response.text
    assert "<script" not in response.text  # readable without JavaScript


def test_the_english_switch_is_a_link_and_is_remembered(
    database_url: str, pages: TestClient
) -> None:
    code = load_registry(database_url, make_registry(items=1)).equipment[0].code
    chinese = pages.get(f"/q/{code}")
    assert f'href="/q/{code}?lang=en"' in chinese.text
    english = pages.get(f"/q/{code}?lang=en")
    assert english.cookies.get("fitmon_lang") == "en"
    assert "Air walker" in english.text
    assert "In service" in english.text
    assert "Report a fault" in english.text
    assert '<html lang="en">' in english.text
    again = pages.get(f"/q/{code}")  # the cookie now says English
    assert "Air walker" in again.text
    assert "太空漫步机" in pages.get(f"/q/{code}?lang=zh").text


def test_an_item_out_of_service_or_retired_says_do_not_use(
    database_url: str, conn: psycopg.Connection[Any], pages: TestClient
) -> None:
    codes = [e.code for e in load_registry(database_url, make_registry(items=2)).equipment]
    conn.execute(
        "UPDATE equipment SET service_status = 'out_of_service' WHERE code = %s", (codes[0],)
    )
    conn.execute("UPDATE equipment SET service_status = 'retired' WHERE code = %s", (codes[1],))
    conn.commit()
    out = text_of(pages.get(f"/q/{codes[0]}").text)
    assert "停止使用" in out
    assert "正常使用" not in out
    assert "Do not use" in pages.get(f"/q/{codes[0]}?lang=en").text
    retired = text_of(pages.get(f"/q/{codes[1]}?lang=zh").text)
    assert "停止使用" in retired
    assert "已报废" in retired
    assert "提交报修" not in retired  # nothing to repair: a report would be ignored


def test_an_unknown_code_is_a_404_page_and_a_mistyped_one_says_which_character_is_wrong(
    database_url: str, pages: TestClient
) -> None:
    unknown = str(make_equipment_code("970002-0001", 7))
    response = pages.get(f"/q/{unknown}")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "未找到此编码的器材" in response.text
    code = load_registry(database_url, make_registry(items=1)).equipment[0].code
    mistyped = code[:-1] + ("0" if code[-1] != "0" else "1")
    response = pages.get(f"/q/{mistyped}")
    assert response.status_code == 422
    assert f"expected &#39;{code[-1]}&#39;" in response.text
    assert pages.get("/q/not-a-code").status_code == 422


def test_a_client_that_does_not_ask_for_html_gets_problem_details(
    database_url: str, pages: TestClient
) -> None:
    unknown = str(make_equipment_code("970002-0002", 7))
    response = pages.get(f"/q/{unknown}", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == f"no equipment is registered as {unknown}"


def test_the_page_shows_nothing_of_reports_or_people(
    database_url: str, conn: psycopg.Connection[Any], pages: TestClient
) -> None:
    code = load_registry(database_url, make_registry(items=1)).equipment[0].code
    conn.execute(
        "INSERT INTO citizen_reports (code, category, hazard, description, phone) "
        "VALUES (%s, 'broken', false, 'secret-description-text', '13912345678')",
        (code,),
    )
    conn.commit()
    page = pages.get(f"/q/{code}").text
    assert "secret-description-text" not in page
    assert "5678" not in page
    assert f"{code[:11]}-002" not in page  # no link to any other item
