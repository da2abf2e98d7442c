"""Abuse of the public pages: reports, sign-ins and guessed codes are limited per client."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from api.rate_limits import PageLimits
from devices.codes import make_equipment_code
from tests.pages.support import page_client
from tests.support import load_registry, make_registry

FORM = {"category": "dirty", "description": "座椅上有油漆"}


def test_reports_beyond_the_limit_are_429_and_not_stored(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    code = load_registry(database_url, make_registry(items=1)).equipment[0].code
    with page_client(database_url, PageLimits(reports="2/hour")) as pages:
        assert [pages.post(f"/q/{code}/report", data=FORM).status_code for _ in range(2)] == [
            201,
            201,
        ]
        refused = pages.post(f"/q/{code}/report", data=FORM)
    assert refused.status_code == 429
    assert 0 < int(refused.headers["retry-after"]) <= 3600
    count = conn.execute("SELECT count(*) FROM citizen_reports WHERE code = %s", (code,))
    assert count.fetchone() == (2,)


def test_guessing_codes_runs_out_and_then_even_a_real_code_is_refused(database_url: str) -> None:
    code = load_registry(database_url, make_registry(items=1)).equipment[0].code
    with page_client(database_url, PageLimits(misses="3/hour")) as pages:
        guesses = [str(make_equipment_code("970003-0001", n)) for n in range(1, 4)]
        assert [pages.get(f"/q/{g}").status_code for g in guesses] == [404, 404, 404]
        assert pages.get(f"/q/{code}").status_code == 429
        assert pages.post(f"/q/{code}/report", data=FORM).status_code == 429
    with page_client(database_url) as other_app:  # the count is per client and per process
        assert other_app.get(f"/q/{code}").status_code == 200


def test_the_public_lookup_spends_the_same_guesses_as_the_scan_page(database_url: str) -> None:
    code = load_registry(database_url, make_registry(items=1)).equipment[0].code
    with page_client(database_url, PageLimits(misses="3/hour")) as api:
        guesses = [str(make_equipment_code("970004-0001", n)) for n in range(1, 3)]
        found = [api.get(f"/api/v1/equipment/{g}").status_code for g in guesses]
        assert [*found, api.get("/api/v1/equipment/not-a-code").status_code] == [404, 404, 422]
        refused = api.get(f"/api/v1/equipment/{code}")
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) > 0
        assert api.get(f"/q/{code}").status_code == 429


def test_page_views_and_sign_ins_are_limited(database_url: str) -> None:
    code = load_registry(database_url, make_registry(items=1)).equipment[0].code
    with page_client(database_url, PageLimits(views="3/minute", sign_ins="2/minute")) as pages:
        assert [pages.get(f"/q/{code}").status_code for _ in range(4)] == [200, 200, 200, 429]
        tries = [
            pages.post("/crew/sign-in", data={"login": "nobody", "password": "wrong"}).status_code
            for _ in range(3)
        ]
    assert tries == [401, 401, 429]


def test_a_malformed_limit_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="bad rate limit 'ten/minute'"):
        PageLimits(views="ten/minute")
    with pytest.raises(ValueError, match="bad rate limit '0/day'"):
        PageLimits(reports="5/hour;0/day")
