"""The demo's crew: made (or found again) with a new password each run, covering every district,
and the lines the demo prints lead to a scan page and to the crew pages it can sign in to."""

from __future__ import annotations

import re
from collections.abc import Callable

import psycopg

from cli.demo_pages import pages_banner, prepare_demo_crew
from db.migrate import migrate
from tests.pages.support import page_client
from tests.support import load_registry, make_registry


def test_the_demo_crew_signs_in_to_the_pages_it_prints(
    fresh_database: Callable[[], str],
) -> None:
    url = fresh_database()
    migrate(url)
    registry = load_registry(url, make_registry(items=2))
    code = registry.equipment[0].code
    first = prepare_demo_crew(url)
    again = prepare_demo_crew(url)  # the demo run again on its database
    assert first.password != again.password
    banner = pages_banner("http://127.0.0.1:8000", code, again)
    assert f"http://127.0.0.1:8000/q/{code}" in banner
    login, password = re.findall(r"sign in as (\S+) / (\S+)", banner)[0]
    with psycopg.connect(url) as conn:
        covered = conn.execute(
            "SELECT c.name, d.district FROM crew_districts d JOIN crews c ON c.id = d.crew_id"
        ).fetchall()
    assert covered == [("Demo crew", code[:6])]
    with page_client(url) as pages:
        assert pages.get(f"/q/{code}").status_code == 200
        signed = pages.post("/crew/sign-in", data={"login": login, "password": password})
        assert signed.status_code == 200
        assert "我的工单" in signed.text
        stale = pages.post("/crew/sign-in", data={"login": login, "password": first.password})
        assert stale.status_code == 401
