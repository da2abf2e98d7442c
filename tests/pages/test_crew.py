"""The crew pages: signing in, my tickets, a ticket with its place, reports and history, the
actions it allows this person, repair photos, and someone else's ticket."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from maintenance.inbox import take_inbox
from tests.maintenance.support import make_world, settings
from tests.pages.support import (
    faulty_ticket,
    page_client,
    photo_bytes,
    sign_in,
    text_of,
    with_password,
)


def test_a_browser_not_signed_in_is_sent_to_sign_in_and_back(
    database_url: str, conn: psycopg.Connection[Any], pages: TestClient
) -> None:
    world = make_world(database_url, conn)
    response = pages.get("/crew/tickets/1", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/crew/sign-in?next=/crew/tickets/1"
    wrong = pages.post("/crew/sign-in", data={"login": "t-nobody", "password": "x"})
    assert wrong.status_code == 401
    assert "账号或密码不对" in wrong.text
    login = with_password(conn, world.members[0])
    sign_in(pages, login)
    home = pages.get("/crew")
    assert home.status_code == 200
    assert "我的工单" in home.text
    assert world.site in home.text  # its site, due for inspection
    out = pages.post("/crew/sign-out", follow_redirects=False)
    assert out.status_code == 303
    assert pages.get("/crew", follow_redirects=False).status_code == 303


def test_a_crew_member_sees_their_ticket_and_moves_it_to_resolved(
    database_url: str, conn: psycopg.Connection[Any], pages: TestClient
) -> None:
    world = make_world(database_url, conn, members=1)
    conn.execute(
        "UPDATE sites SET latitude = 32.05, longitude = 118.78, address = '中山路 8 号' "
        "WHERE code = %s",
        (world.site,),
    )
    conn.commit()
    ticket = faulty_ticket(conn, world.codes[0])
    sign_in(pages, with_password(conn, world.members[0]))
    home = pages.get("/crew")
    assert f'href="/crew/tickets/{ticket}"' in home.text
    page = pages.get(f"/crew/tickets/{ticket}?lang=en")
    assert page.status_code == 200
    text = text_of(page.text)
    for shown in (world.codes[0], "中山路 8 号", "Assigned", "Do not use", "opened"):
        assert shown in text, shown
    assert "https://uri.amap.com/marker?position=118.78,32.05" in page.text
    assert 'href="geo:32.05,118.78"' in page.text
    # A crew member's actions only: no verify, dismiss or assign.
    assert 'value="start"' in page.text
    assert 'value="verify"' not in page.text
    assert 'value="dismiss"' not in page.text
    for action in ("start", "resolve"):
        moved = pages.post(
            f"/crew/tickets/{ticket}/actions", data={"action": action}, follow_redirects=False
        )
        assert moved.status_code == 303, moved.text
    row = conn.execute("SELECT status FROM tickets WHERE id = %s", (ticket,)).fetchone()
    conn.commit()
    assert row == ("resolved",)
    history = text_of(pages.get(f"/crew/tickets/{ticket}").text)
    assert "start" in history
    assert "resolve" in history


def test_actions_the_state_or_the_role_does_not_allow_are_refused_with_the_reason(
    database_url: str, conn: psycopg.Connection[Any], pages: TestClient
) -> None:
    world = make_world(database_url, conn, members=1)
    ticket = faulty_ticket(conn, world.codes[0])
    sign_in(pages, with_password(conn, world.members[0]))
    verify = pages.post(f"/crew/tickets/{ticket}/actions", data={"action": "verify"})
    assert verify.status_code == 403
    assert "supervisor" in text_of(verify.text)
    resume = pages.post(f"/crew/tickets/{ticket}/actions", data={"action": "resume"})
    assert resume.status_code == 409
    hold = pages.post(f"/crew/tickets/{ticket}/actions", data={"action": "hold"})
    assert hold.status_code == 422  # a hold needs a reason
    bogus = pages.post(f"/crew/tickets/{ticket}/actions", data={"action": "explode"})
    assert bogus.status_code == 422
    row = conn.execute("SELECT status FROM tickets WHERE id = %s", (ticket,)).fetchone()
    conn.commit()
    assert row == ("assigned",)


def test_someone_elses_ticket_is_not_found_and_cannot_be_acted_on(
    database_url: str, conn: psycopg.Connection[Any], pages: TestClient
) -> None:
    home, other = make_world(database_url, conn), make_world(database_url, conn)
    ticket = faulty_ticket(conn, other.codes[0])
    sign_in(pages, with_password(conn, home.members[0]))
    assert pages.get(f"/crew/tickets/{ticket}").status_code == 404
    refused = pages.post(f"/crew/tickets/{ticket}/actions", data={"action": "start"})
    assert refused.status_code == 403
    photo = [("photos", ("fix.jpg", photo_bytes(), "image/jpeg"))]
    assert pages.post(f"/crew/tickets/{ticket}/photos", files=photo).status_code == 403
    assert pages.get(f"/crew/sites/{other.site}/inspect").status_code == 404
    row = conn.execute("SELECT status FROM tickets WHERE id = %s", (ticket,)).fetchone()
    conn.commit()
    assert row == ("assigned",)


def test_repair_photos_are_added_to_the_ticket_and_seen_only_in_its_district(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    home, other = make_world(database_url, conn), make_world(database_url, conn)
    ticket = faulty_ticket(conn, home.codes[0])
    with page_client(database_url) as crew, page_client(database_url) as stranger:
        sign_in(crew, with_password(conn, home.members[0]))
        photos = [("photos", (f"fix{n}.png", photo_bytes("PNG"), "image/png")) for n in range(2)]
        added = crew.post(f"/crew/tickets/{ticket}/photos", files=photos, follow_redirects=False)
        assert added.status_code == 303, added.text
        ids = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM photos WHERE ticket_id = %s ORDER BY id", (ticket,)
            )
        ]
        conn.commit()
        assert len(ids) == 2
        page = crew.get(f"/crew/tickets/{ticket}").text
        assert all(f'src="/crew/photos/{i}"' in page for i in ids)
        shown = crew.get(f"/crew/photos/{ids[0]}")
        assert shown.status_code == 200
        assert shown.headers["content-type"] == "image/jpeg"
        assert shown.content.startswith(b"\xff\xd8")
        sign_in(stranger, with_password(conn, other.members[0]))
        assert stranger.get(f"/crew/photos/{ids[0]}").status_code == 404
        not_photo = [("photos", ("x.jpg", b"GIF89a", "image/jpeg"))]
        assert crew.post(f"/crew/tickets/{ticket}/photos", files=not_photo).status_code == 422


def test_a_citizens_report_shows_on_the_ticket_with_the_phone_masked(
    database_url: str, conn: psycopg.Connection[Any], pages: TestClient
) -> None:
    world = make_world(database_url, conn, members=1)
    report = pages.post(
        f"/q/{world.codes[1]}/report",
        data={"category": "broken", "description": "链条断了", "phone": "13912345678"},
        files=[("photos", ("chain.jpg", photo_bytes(), "image/jpeg"))],
    )
    assert report.status_code == 201
    take_inbox(conn, datetime.now(UTC), settings(), limit=100_000)
    conn.commit()
    row = conn.execute(
        "SELECT id FROM tickets WHERE code = %s AND status <> 'closed'", (world.codes[1],)
    ).fetchone()
    conn.commit()
    assert row is not None
    sign_in(pages, with_password(conn, world.members[0]))
    page = pages.get(f"/crew/tickets/{row[0]}")
    text = text_of(page.text)
    assert "链条断了" in text
    assert "139****5678" in text
    assert "13912345678" not in text  # only in the call link
    assert 'href="tel:13912345678"' in page.text
    assert 'src="/crew/photos/' in page.text
