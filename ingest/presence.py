"""Device and gateway presence: traffic means online, a last will (unless stale) or silence means
offline, and every change is kept in device_presence with its reason.

Written in the transaction of the chunk whose messages it follows; the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

import psycopg
from psycopg.rows import class_row

from ingest.decoded import BirthRow, DecodedBatch, Traffic, WillEvent

# Traffic means online. `prev` reads the state before this statement (one snapshot for all of
# a WITH), so a presence row is written only when a device comes (back) online.
_DEVICES_SEEN = """
WITH seen AS (
    SELECT * FROM unnest(%(codes)b::text[], %(boots)b::int8[], %(at)b::timestamptz[])
        AS s(code, boot, at)
), prev AS (
    SELECT d.code, d.online FROM device_state d JOIN seen USING (code)
), up AS (
    INSERT INTO device_state AS d (code, boot, online, last_seen_at, online_changed_at)
    SELECT code, boot, true, at, at FROM seen
    ON CONFLICT (code) DO UPDATE SET
        boot = greatest(d.boot, excluded.boot),
        last_seen_at = greatest(d.last_seen_at, excluded.last_seen_at),
        online = true, offline_reason = NULL,
        online_changed_at = CASE WHEN d.online THEN d.online_changed_at
                                 ELSE excluded.online_changed_at END
)
INSERT INTO device_presence (code, at, online, reason, boot)
SELECT seen.code, seen.at, true, 'traffic', seen.boot
FROM seen LEFT JOIN prev USING (code) WHERE prev.online IS NOT TRUE
"""

_DEVICES_BORN = """
UPDATE device_state AS d
SET fw = b.fw, model = b.model, heartbeat_s = b.heartbeat_s, last_birth_at = b.ts
FROM unnest(%(codes)s::text[], %(boots)s::int8[], %(ts)s::timestamptz[], %(fw)s::text[],
            %(model)s::text[], %(hb)s::int4[]) AS b(code, boot, ts, fw, model, heartbeat_s)
WHERE d.code = b.code AND b.boot >= d.boot
  AND (d.last_birth_at IS NULL OR b.boot > d.boot OR b.ts >= d.last_birth_at)
"""

# docs/protocol.md: a will whose boot is older than the device's latest boot is stale and ignored.
_DEVICE_WILLS = """
WITH w AS (
    SELECT * FROM unnest(%(codes)s::text[], %(boots)s::int8[], %(at)s::timestamptz[])
        AS w(code, boot, at)
), prev AS (
    SELECT d.code, d.online FROM device_state d JOIN w USING (code)
), up AS (
    INSERT INTO device_state AS d (code, boot, online, online_changed_at, offline_reason)
    SELECT code, boot, false, at, 'will' FROM w
    ON CONFLICT (code) DO UPDATE SET
        online = false, offline_reason = 'will', boot = excluded.boot,
        online_changed_at = CASE WHEN d.online THEN excluded.online_changed_at
                                 ELSE d.online_changed_at END
    WHERE d.boot <= excluded.boot
    RETURNING d.code
), presence AS (
    INSERT INTO device_presence (code, at, online, reason, boot)
    SELECT w.code, w.at, false, 'will', w.boot
    FROM w JOIN up USING (code) LEFT JOIN prev USING (code) WHERE prev.online IS DISTINCT FROM false
)
SELECT count(*) AS applied FROM up
"""

_GATEWAYS_SEEN = """
INSERT INTO gateway_state AS g (site_code, online, last_seen_at, online_changed_at)
SELECT site, true, at, at FROM unnest(%(sites)b::text[], %(at)b::timestamptz[]) AS s(site, at)
ON CONFLICT (site_code) DO UPDATE SET
    online = true, last_seen_at = greatest(g.last_seen_at, excluded.last_seen_at),
    online_changed_at = CASE WHEN g.online THEN g.online_changed_at
                             ELSE excluded.online_changed_at END
"""

_GATEWAY_WILLS = """
WITH up AS (
    INSERT INTO gateway_state AS g (site_code, boot, online, online_changed_at)
    SELECT site, boot, false, at
    FROM unnest(%(sites)s::text[], %(boots)s::int8[], %(at)s::timestamptz[]) AS s(site, boot, at)
    ON CONFLICT (site_code) DO UPDATE SET
        online = false, boot = excluded.boot,
        online_changed_at = CASE WHEN g.online THEN excluded.online_changed_at
                                 ELSE g.online_changed_at END
    WHERE g.boot IS NULL OR g.boot <= excluded.boot
    RETURNING 1
) SELECT count(*) AS applied FROM up
"""

_MARK_SILENT_OFFLINE = """
WITH gone AS (
    UPDATE device_state SET online = false, offline_reason = 'silent', online_changed_at = %(now)s
    WHERE online
      AND last_seen_at < %(now)s
                         - make_interval(secs => %(beats)s * coalesce(heartbeat_s, %(hb)s)
                                                 + %(lag)s)
    RETURNING code, boot
), presence AS (
    INSERT INTO device_presence (code, at, online, reason, boot)
    SELECT code, %(now)s, false, 'silent', boot FROM gone
)
SELECT count(*) AS applied FROM gone
"""

# How far device_state.last_seen_at may lag behind a device's latest traffic (PresenceCache).
SEEN_LAG_S = 1.0


class SeenWrite(NamedTuple):
    """A device written online: its boot, and its arrival in epoch seconds."""

    code: str
    boot: int
    at_s: float


@dataclass(slots=True)
class PresenceWritten:
    applied: int = 0
    stale: int = 0
    seen_written: list[SeenWrite] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Count:
    applied: int


class PresenceCache:
    """The devices a worker wrote online lately, so that their traffic need not be written again
    within `window_s` of arrival time: last_seen_at is then at most that much behind, which
    matters when a backlog drains and a device's messages come in a burst.

    Safe because one worker sees all of a device's messages (ingest shares them out by site), so
    its will or a new boot reaches this cache before anything else, and because the silent-device
    check allows for the lag (a device is marked offline after three heartbeat intervals plus
    SEEN_LAG_S without traffic). Update it only with writes that committed.
    """

    def __init__(self, window_s: float = SEEN_LAG_S, max_devices: int = 500_000) -> None:
        self._window_s = window_s
        self._max_devices = max_devices
        self._written: dict[str, SeenWrite] = {}

    def fresh(self, seen: SeenWrite) -> bool:
        known = self._written.get(seen.code)
        return (
            known is not None
            and known.boot == seen.boot
            and 0 <= seen.at_s - known.at_s < self._window_s
        )

    def committed(self, written: list[SeenWrite]) -> None:
        if len(self._written) + len(written) > self._max_devices:
            self._written.clear()
        for seen in written:
            self._written[seen.code] = seen

    def clear(self) -> None:
        self._written.clear()

    def forget(self, codes: list[str]) -> None:
        for code in codes:
            self._written.pop(code, None)


def write_presence(
    conn: psycopg.Connection[Any],
    batch: DecodedBatch,
    born: list[BirthRow],
    presence: PresenceCache | None,
) -> PresenceWritten:
    """Write what `batch` tells of presence; `born` are its births that were new."""
    result = PresenceWritten()
    traffic = sorted(
        (code, event) for code, event in batch.presence.items() if isinstance(event, Traffic)
    )
    wills = sorted(
        (code, event) for code, event in batch.presence.items() if isinstance(event, WillEvent)
    )
    seen = [SeenWrite(code, event.boot, event.arrived.timestamp()) for code, event in traffic]
    if presence is not None:
        seen = [entry for entry in seen if not presence.fresh(entry)]
        presence.forget([code for code, _ in wills])
    result.seen_written = seen
    if seen:
        arrivals = {code: event.arrived for code, event in traffic}
        conn.execute(
            _DEVICES_SEEN,
            {
                "codes": [entry.code for entry in seen],
                "boots": [entry.boot for entry in seen],
                "at": [arrivals[entry.code] for entry in seen],
            },
        )
    if born:
        _write_births(conn, born)
    if wills:
        applied = _applied(
            conn,
            _DEVICE_WILLS,
            {
                "codes": [code for code, _ in wills],
                "boots": [w.boot for _, w in wills],
                "at": [w.received_at for _, w in wills],
            },
        )
        result.applied += applied
        result.stale += len(wills) - applied
    gateways = batch.gateway_presence.items()
    gateways_seen = sorted((site, at) for site, at in gateways if isinstance(at, datetime))
    if gateways_seen:
        conn.execute(
            _GATEWAYS_SEEN,
            {"sites": [s for s, _ in gateways_seen], "at": [at for _, at in gateways_seen]},
        )
    gateway_wills = sorted((site, w) for site, w in gateways if isinstance(w, WillEvent))
    if gateway_wills:
        applied = _applied(
            conn,
            _GATEWAY_WILLS,
            {
                "sites": [s for s, _ in gateway_wills],
                "boots": [w.boot for _, w in gateway_wills],
                "at": [w.received_at for _, w in gateway_wills],
            },
        )
        result.applied += applied
        result.stale += len(gateway_wills) - applied
    return result


def _write_births(conn: psycopg.Connection[Any], born: list[BirthRow]) -> None:
    """Each device's latest birth (by boot, then device time) sets its firmware and heartbeat."""
    latest: dict[str, BirthRow] = {}
    for row in born:
        known = latest.get(row.code)
        if known is None or (row.boot, row.ts) > (known.boot, known.ts):
            latest[row.code] = row
    rows = sorted(latest.values())
    conn.execute(
        _DEVICES_BORN,
        {
            "codes": [r.code for r in rows],
            "boots": [r.boot for r in rows],
            "ts": [r.ts for r in rows],
            "fw": [r.fw for r in rows],
            "model": [r.model for r in rows],
            "hb": [r.heartbeat_s for r in rows],
        },
    )


def _applied(conn: psycopg.Connection[Any], sql: str, params: dict[str, Any]) -> int:
    with conn.cursor(row_factory=class_row(_Count)) as cur:
        row = cur.execute(sql, params).fetchone()
    return row.applied if row else 0


def mark_silent_devices_offline(
    conn: psycopg.Connection[Any], now: datetime, heartbeats: int, default_heartbeat_s: int
) -> int:
    """Mark offline every device silent for `heartbeats` heartbeat intervals (plus the lag
    PresenceCache allows); returns how many. The caller commits."""
    params = {"now": now, "beats": heartbeats, "hb": default_heartbeat_s, "lag": SEEN_LAG_S}
    return _applied(conn, _MARK_SILENT_OFFLINE, params)
