"""Registry tests' set-up: made-up districts (98xxxx, 99xxxx) entered in the division list, as
the registry's write path requires of a site's division."""

from __future__ import annotations

import psycopg


def register_division(database_url: str, code: str) -> str:
    """Enter `code`'s division (its first 6 characters) as a county of no province; returns it."""
    division = code[:6]
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO divisions (code, name, level) VALUES (%s, %s, 'county') "
            "ON CONFLICT (code) DO NOTHING",
            (division, f"Test district {division}"),
        )
    return division
