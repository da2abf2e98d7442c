"""The division list (GB/T 2260) the migrations load, and the registry's check of a site's
division against it: county level, or a prefecture-level city without counties."""

from __future__ import annotations

import psycopg

from db.registry_writes import division_problems
from tests.support import scalar


def test_the_list_holds_every_county_level_division_in_force_with_its_parents(
    database_url: str,
) -> None:
    counties = (
        "SELECT count(*) FROM divisions WHERE level = 'county' AND in_force AND parent IS NOT NULL"
    )
    assert scalar(database_url, counties) == 2845  # the Ministry of Civil Affairs, 2024
    assert scalar(database_url, "SELECT name FROM divisions WHERE code = '320102'") == "玄武区"
    assert scalar(database_url, "SELECT parent FROM divisions WHERE code = '320102'") == "320100"
    assert scalar(database_url, "SELECT parent FROM divisions WHERE code = '320100'") == "320000"
    assert scalar(database_url, "SELECT name FROM divisions WHERE code = '653229'") == "和安县"


def test_a_site_is_in_a_county_level_division_and_a_withdrawn_code_keeps_its_sites(
    database_url: str,
) -> None:
    with psycopg.connect(database_url) as conn:
        problems = division_problems(
            conn, ["320102", "441900", "320705", "320100", "320000", "990000"]
        )
    assert set(problems) == {"320100", "320000", "990000"}
    assert "南京市, a prefecture" in problems["320100"]
    assert problems["990000"] == "division 990000 is not in the division list (GB/T 2260)"
    assert (
        scalar(database_url, "SELECT in_force FROM divisions WHERE code = '320705'") is False
    )  # 新浦区, merged into 海州区 in 2014: tags printed before keep their codes
