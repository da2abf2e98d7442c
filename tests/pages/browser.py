"""A real browser for the pages' tests: Debian's chromium driven by Playwright, and the API served
by uvicorn in a thread of the test process. Screenshots go to .artifacts/pages/."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright
from pydantic import SecretStr

from api.app import create_app
from api.settings import ApiSettings
from db.embedded import free_port
from tests.support import wait_until

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / ".artifacts" / "pages"
PHONE: ViewportSize = {"width": 390, "height": 844}  # a common phone's CSS pixels


@contextmanager
def live_api(database_url: str) -> Iterator[str]:
    """The API on a free port of 127.0.0.1 until the block ends; yields its base URL."""
    app = create_app(ApiSettings(env="test", database_url=SecretStr(database_url)))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started or not thread.is_alive(), 20, "the API to start")
    if not server.started:
        raise RuntimeError("the API did not start: its thread ended")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def phone_page(browser: Browser, *, javascript: bool = True) -> Page:
    context = browser.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, java_script_enabled=javascript
    )
    return context.new_page()


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
