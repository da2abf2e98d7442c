"""What people and crews want: a person's severities, channels, quiet hours and language; a
crew's robots and webhooks. Secrets (robot URLs with their keys, signing secrets) are sealed
before they are stored and never read back out. Never commits: the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import psycopg
from psycopg.rows import class_row

from notifications.sealed import Sealer

SEVERITIES = ("critical", "major", "minor")
LANGUAGES = ("zh", "en")
PERSONAL_CHANNELS = ("email", "webhook")
CREW_CHANNEL_KINDS = ("webhook", "wecom", "dingtalk", "feishu")


class PreferenceError(ValueError):
    """A preference or channel that cannot be kept, saying which value and why."""


@dataclass(frozen=True, slots=True)
class Preferences:
    person_id: int
    severities: list[str]
    channels: list[str]
    quiet_from: time | None
    quiet_until: time | None
    time_zone: str
    language: str
    webhook_url: str | None
    has_webhook_secret: bool
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class CrewChannel:
    id: int
    crew_id: int
    kind: str
    name: str
    shown: str
    has_secret: bool
    severities: list[str]
    language: str
    active: bool
    created_at: datetime


# A person's preferences (`np`), with what a person who has set none gets: critical and major
# alerts, by e-mail, in Chinese, on China time. The API shows them and the fan-out follows them.
PREFERENCES_WITH_DEFAULTS = """coalesce(np.severities, '{critical,major}') AS severities,
       coalesce(np.channels, '{email}') AS channels, np.quiet_from, np.quiet_until,
       coalesce(np.time_zone, 'Asia/Shanghai') AS time_zone,
       coalesce(np.language, 'zh') AS language, np.webhook_url"""
PEOPLE_WITH_PREFERENCES = "people p LEFT JOIN notification_preferences np ON np.person_id = p.id"

_PREFS = f"""
SELECT p.id AS person_id, {PREFERENCES_WITH_DEFAULTS},
       np.webhook_secret IS NOT NULL AS has_webhook_secret, np.updated_at
FROM {PEOPLE_WITH_PREFERENCES} WHERE p.id = %s
"""

_UPSERT_PREFS = """
INSERT INTO notification_preferences (person_id, severities, channels, quiet_from, quiet_until,
                                      time_zone, language, webhook_url, webhook_secret, updated_at)
VALUES (%(person)s, %(severities)s, %(channels)s, %(quiet_from)s, %(quiet_until)s, %(zone)s,
        %(language)s, %(url)s, %(secret)s, %(now)s)
ON CONFLICT (person_id) DO UPDATE SET
    severities = EXCLUDED.severities, channels = EXCLUDED.channels,
    quiet_from = EXCLUDED.quiet_from, quiet_until = EXCLUDED.quiet_until,
    time_zone = EXCLUDED.time_zone, language = EXCLUDED.language,
    webhook_url = EXCLUDED.webhook_url,
    webhook_secret = CASE WHEN %(keep_secret)s THEN notification_preferences.webhook_secret
                          ELSE EXCLUDED.webhook_secret END,
    updated_at = EXCLUDED.updated_at
"""

_CHANNEL_COLUMNS = """id, crew_id, kind, name, shown, secret IS NOT NULL AS has_secret, severities,
language, active, created_at"""

_ADD_CHANNEL = f"""
INSERT INTO crew_channels (crew_id, kind, name, url_sealed, shown, secret, severities, language)
VALUES (%(crew)s, %(kind)s, %(name)s, %(url)s, %(shown)s, %(secret)s, %(severities)s,
        %(language)s)
ON CONFLICT (crew_id, name) DO NOTHING
RETURNING {_CHANNEL_COLUMNS}
"""
_CHANNELS = f"SELECT {_CHANNEL_COLUMNS} FROM crew_channels WHERE crew_id = %s ORDER BY id"
_REMOVE_CHANNEL = f"""
UPDATE crew_channels SET active = false WHERE crew_id = %s AND id = %s AND active
RETURNING {_CHANNEL_COLUMNS}
"""


def _check_common(severities: Sequence[str], language: str) -> None:
    if not severities or not set(severities) <= set(SEVERITIES):
        raise PreferenceError(f"severities must be some of {', '.join(SEVERITIES)}: {severities}")
    if language not in LANGUAGES:
        raise PreferenceError(f"language must be zh or en, not {language!r}")


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PreferenceError(f"a channel's URL must be http(s)://host/..., not {redact_url(url)}")
    if len(url) > 2000:
        raise PreferenceError("a channel's URL is at most 2000 characters")


def redact_url(url: str) -> str:
    """The URL without what makes it a secret: no query (WeCom's key, DingTalk's token), and the
    last path segment (Feishu's hook token) masked when it is long."""
    parts = urlsplit(url)
    path = parts.path
    head, _, last = path.rpartition("/")
    if len(last) > 12:
        path = f"{head}/{last[:4]}…"
    query = "?…" if parts.query else ""
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{path}{query}"


def get_preferences(conn: psycopg.Connection[Any], person_id: int) -> Preferences | None:
    with conn.cursor(row_factory=class_row(Preferences)) as cur:
        return cur.execute(_PREFS, (person_id,)).fetchone()


def set_preferences(
    conn: psycopg.Connection[Any],
    sealer: Sealer,
    now: datetime,
    person_id: int,
    *,
    severities: Sequence[str],
    channels: Sequence[str],
    quiet_from: time | None,
    quiet_until: time | None,
    time_zone: str,
    language: str,
    webhook_url: str | None,
    webhook_secret: str | None,
    keep_webhook_secret: bool,
) -> Preferences:
    """Replace a person's preferences. The webhook's secret is kept as it was when
    `keep_webhook_secret` (it is never read back, so a change of other fields omits it)."""
    _check_common(severities, language)
    if not set(channels) <= set(PERSONAL_CHANNELS):
        raise PreferenceError(f"channels must be some of email, webhook: {list(channels)}")
    if (quiet_from is None) != (quiet_until is None) or (
        quiet_from is not None and quiet_from == quiet_until
    ):
        raise PreferenceError("quiet hours need a start and a different end, or neither")
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise PreferenceError(f"unknown time zone {time_zone!r}") from None
    if webhook_url is not None:
        _check_url(webhook_url)
    if "webhook" in channels and webhook_url is None:
        raise PreferenceError("the webhook channel needs a webhook_url")
    conn.execute(
        _UPSERT_PREFS,
        {
            "person": person_id,
            "severities": list(dict.fromkeys(severities)),
            "channels": list(dict.fromkeys(channels)),
            "quiet_from": quiet_from,
            "quiet_until": quiet_until,
            "zone": time_zone,
            "language": language,
            "url": webhook_url,
            "secret": sealer.seal(webhook_secret) if webhook_secret else None,
            "keep_secret": keep_webhook_secret and not webhook_secret,
            "now": now,
        },
    )
    found = get_preferences(conn, person_id)
    assert found is not None
    return found


def add_crew_channel(
    conn: psycopg.Connection[Any],
    sealer: Sealer,
    crew_id: int,
    *,
    kind: str,
    name: str,
    url: str,
    secret: str | None = None,
    severities: Sequence[str] = SEVERITIES,
    language: str = "zh",
) -> CrewChannel:
    """Raises PreferenceError for a bad value, or when the crew has a channel of that name."""
    if kind not in CREW_CHANNEL_KINDS:
        raise PreferenceError(f"kind must be one of {', '.join(CREW_CHANNEL_KINDS)}: {kind!r}")
    if not name.strip() or len(name) > 100:
        raise PreferenceError("a channel's name is 1 to 100 characters")
    _check_common(severities, language)
    _check_url(url)
    if kind == "webhook" and not secret:
        raise PreferenceError("a webhook channel needs its signing secret")
    with conn.cursor(row_factory=class_row(CrewChannel)) as cur:
        added = cur.execute(
            _ADD_CHANNEL,
            {
                "crew": crew_id,
                "kind": kind,
                "name": name,
                "url": sealer.seal(url),
                "shown": redact_url(url),
                "secret": sealer.seal(secret) if secret else None,
                "severities": list(dict.fromkeys(severities)),
                "language": language,
            },
        ).fetchone()
    if added is None:
        raise PreferenceError(f"crew {crew_id} already has a channel named {name!r}")
    return added


def list_crew_channels(conn: psycopg.Connection[Any], crew_id: int) -> list[CrewChannel]:
    with conn.cursor(row_factory=class_row(CrewChannel)) as cur:
        return cur.execute(_CHANNELS, (crew_id,)).fetchall()


def remove_crew_channel(
    conn: psycopg.Connection[Any], crew_id: int, channel_id: int
) -> CrewChannel | None:
    """Turn a channel off (its deliveries and their log stay); None when there is no such one."""
    with conn.cursor(row_factory=class_row(CrewChannel)) as cur:
        return cur.execute(_REMOVE_CHANNEL, (crew_id, channel_id)).fetchone()
