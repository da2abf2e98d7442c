"""The pages in a real browser on a phone-sized screen: the scan page in both languages without
JavaScript, a fault report with a photo that becomes an alert and turns the item to "do not use",
and a crew member who moves the ticket to resolved. Screenshots: .artifacts/pages/."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from playwright.sync_api import Browser, expect

from maintenance.inbox import take_inbox
from tests.maintenance.support import make_world, settings
from tests.pages.browser import chromium, live_api, phone_page, screenshot
from tests.pages.support import PASSWORD, photo_bytes, with_password

# Generous: the machine may be busy, and a sign-in hashes a password (Argon2id) on purpose slowly.
expect.set_options(timeout=20_000)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def base_url(database_url: str) -> Iterator[str]:
    with live_api(database_url) as url:
        yield url


def test_the_scan_page_reads_in_both_languages_on_a_phone_without_javascript(
    database_url: str, conn: psycopg.Connection[Any], browser: Browser, base_url: str
) -> None:
    world = make_world(database_url, conn, items=1)
    conn.execute(
        "UPDATE sites SET address = '玄武湖公园东门', hotline = '025-12345678' WHERE code = %s",
        (world.site,),
    )
    conn.commit()
    page = phone_page(browser, javascript=False)
    page.goto(f"{base_url}/q/{world.codes[0]}")
    expect(page.locator("h1")).to_have_text("太空漫步机")
    expect(page.locator("#status")).to_have_text("正常使用")
    expect(page.locator("#safety")).to_contain_text("儿童须在成人看护下使用")
    screenshot(page, "scan-zh")
    page.click("#lang-switch")
    expect(page.locator("h1")).to_have_text("Air walker")
    expect(page.locator("#status")).to_have_text("In service")
    expect(page.locator("#report")).to_have_text("Report a fault")
    screenshot(page, "scan-en")
    page.context.close()


def test_a_fault_report_with_a_photo_becomes_an_alert_and_the_item_says_do_not_use(
    database_url: str,
    conn: psycopg.Connection[Any],
    browser: Browser,
    base_url: str,
    tmp_path: Path,
) -> None:
    world = make_world(database_url, conn, items=1)
    code = world.codes[0]
    photo = tmp_path / "broken-seat.jpg"
    photo.write_bytes(photo_bytes())
    page = phone_page(browser, javascript=False)
    page.goto(f"{base_url}/q/{code}")
    page.select_option("#category", "unsafe")
    page.fill("#description", "扶手断裂,有尖锐边缘")
    page.check("input[name=hazard]")
    page.set_input_files("#photos", str(photo))
    page.fill("#phone", "13800138000")
    page.click("button[type=submit]")
    expect(page.locator("#thanks")).to_have_text("报修已收到,谢谢!")
    expect(page.locator("#call-back")).to_contain_text("138****8000")
    screenshot(page, "report-received")
    report_id = int(page.locator("#report-id").inner_text())
    photos = conn.execute("SELECT count(*) FROM photos WHERE report_id = %s", (report_id,))
    assert photos.fetchone() == (1,)
    take_inbox(conn, datetime.now(UTC), settings(), limit=100_000)  # the maintenance service
    conn.commit()
    alerts = conn.execute(
        "SELECT rule, severity FROM alerts WHERE subject = %s", (code,)
    ).fetchall()
    conn.commit()
    assert alerts == [("citizen_report", "critical")]
    page.goto(f"{base_url}/q/{code}")
    expect(page.locator("#status")).to_contain_text("停止使用")
    screenshot(page, "scan-do-not-use")
    page.context.close()


def test_a_crew_member_signs_in_and_moves_the_ticket_to_resolved(
    database_url: str, conn: psycopg.Connection[Any], browser: Browser, base_url: str
) -> None:
    world = make_world(database_url, conn, items=1, members=1)
    login = with_password(conn, world.members[0])
    page = phone_page(browser)
    page.goto(f"{base_url}/q/{world.codes[0]}")
    page.fill("#description", "坐垫松动")
    page.check("input[name=hazard]")
    page.click("button[type=submit]")
    expect(page.locator("#thanks")).to_be_visible()
    take_inbox(conn, datetime.now(UTC), settings(), limit=100_000)
    conn.commit()
    page.goto(f"{base_url}/crew")
    page.fill("#login", login)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("我的工单")
    page.locator("#mine a").first.click()
    expect(page.locator("#ticket-status")).to_have_text("已分派")
    screenshot(page, "crew-ticket")
    page.click("button[value=start]")
    expect(page.locator("#ticket-status")).to_have_text("维修中")
    page.click("button[value=resolve]")
    expect(page.locator("#ticket-status")).to_have_text("已修复")
    screenshot(page, "crew-ticket-resolved")
    status = conn.execute(
        "SELECT status FROM tickets WHERE code = %s ORDER BY id DESC LIMIT 1", (world.codes[0],)
    ).fetchone()
    conn.commit()
    assert status == ("resolved",)
    page.context.close()
