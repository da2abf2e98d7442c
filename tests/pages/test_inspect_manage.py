"""Recording a site's inspection from the checklist, and managers' view of their districts."""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi.testclient import TestClient

from tests.api.roles_support import add_person
from tests.maintenance.support import make_world
from tests.pages.support import PASSWORD, faulty_ticket, sign_in, text_of, with_password


def test_an_inspection_records_each_items_checklist_and_its_defects(
    database_url: str, conn: psycopg.Connection[Any], pages: TestClient
) -> None:
    world = make_world(database_url, conn, items=2)
    sign_in(pages, with_password(conn, world.members[0]))
    form = pages.get(f"/crew/sites/{world.site}/inspect?lang=en")
    assert form.status_code == 200
    assert f'name="item.{world.codes[0]}.limit_stop"' in form.text  # the air walker's own check
    assert "Foundation firm" in form.text
    answers = {
        f"item.{world.codes[1]}.fasteners": "defect",
        "site.surface": "defect",
        "note": "雨后积水",
    }
    recorded = pages.post(f"/crew/sites/{world.site}/inspect", data=answers)
    assert recorded.status_code == 201, recorded.text
    assert "2 defects found" in text_of(recorded.text)
    row = conn.execute(
        "SELECT findings, note, inspector_id FROM inspections WHERE site_code = %s", (world.site,)
    ).fetchone()
    conn.commit()
    assert row is not None
    findings, note, inspector = row
    assert inspector == world.members[0]
    assert note == "雨后积水"
    assert findings["checklist"] == "GB 19272-2024 Annex I"
    assert findings["items"][world.codes[1]]["fasteners"] == "defect"
    assert findings["items"][world.codes[0]]["fasteners"] == "ok"
    assert findings["defects"] == sorted(["site.surface", f"{world.codes[1]}.fasteners"])


def test_an_inspection_with_a_field_of_no_check_or_no_answer_is_refused(
    database_url: str, conn: psycopg.Connection[Any], pages: TestClient
) -> None:
    world, other = make_world(database_url, conn), make_world(database_url, conn)
    sign_in(pages, with_password(conn, world.members[0]))
    for bad in (
        {f"item.{other.codes[0]}.fasteners": "defect"},  # an item of another site
        {f"item.{world.codes[0]}.wings": "ok"},
        {"site.surface": "maybe"},
    ):
        assert pages.post(f"/crew/sites/{world.site}/inspect", data=bad).status_code == 422, bad
    assert pages.post(f"/crew/sites/{other.site}/inspect", data={}).status_code == 403
    assert pages.post("/crew/sites/123/inspect", data={}).status_code == 422
    count = conn.execute(
        "SELECT count(*) FROM inspections WHERE site_code IN (%s, %s)", (world.site, other.site)
    ).fetchone()
    conn.commit()
    assert count == (0,)


def test_a_manager_sees_the_figures_and_tickets_of_their_districts_only(
    database_url: str, conn: psycopg.Connection[Any], pages: TestClient
) -> None:
    mine, theirs = make_world(database_url, conn), make_world(database_url, conn)
    my_ticket = faulty_ticket(conn, mine.codes[0])
    their_ticket = faulty_ticket(conn, theirs.codes[0])
    manager = add_person(conn, "manager", districts=(mine.site[:6],), password=PASSWORD)
    sign_in(pages, with_password(conn, manager))
    assert pages.get("/crew", follow_redirects=False).headers["location"] == "/crew/manage"
    view = pages.get("/crew/manage?lang=en")
    assert view.status_code == 200
    text = text_of(view.text)
    assert "Good order" in text
    assert f'href="/crew/tickets/{my_ticket}"' in view.text
    assert f'href="/crew/tickets/{their_ticket}"' not in view.text
    assert mine.site[:6] in text
    # 2 of 3 items good: the one with a critical fault is out of service.
    assert "66.7 %" in text
    assert pages.get(f"/crew/manage?district={theirs.site[:6]}").status_code == 403
    assert pages.get("/crew/manage?status=closed").status_code == 422
    assert pages.get(f"/crew/tickets/{their_ticket}").status_code == 404


def test_a_crew_member_may_not_open_the_managers_view(
    database_url: str, conn: psycopg.Connection[Any], pages: TestClient
) -> None:
    world = make_world(database_url, conn)
    sign_in(pages, with_password(conn, world.members[0]))
    refused = pages.get("/crew/manage")
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("text/html")
