"""The fuzzing property, checked against the real database: every fuzzed message (every item of a
gateway batch) is stored with exactly the values it was sent with, or dead-lettered with a
category, its exact bytes and its topic; a valid message sent after it is stored; and
commit_chunk raises nothing and leaves no transaction open.

The oracle reads what was sent with Python's json module and its own time parser, never with
ingest's models, and compares every stored column with the JSON value.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row

from db.registry_writes import upsert_registry
from devices.registry_rows import EquipmentRow, Registry, SiteRow
from ingest.commit import commit_chunk
from ingest.decode import Decoder
from ingest.handoff import Chunk
from ingest.known_codes import KnownCodes
from ingest.writer import dead_letter_digest, prepare_connection
from tests.ingest.fuzz_compare import MISSING, mismatch
from tests.ingest.fuzz_strategies import (
    item_topic,
)
from tests.ingest.fuzz_values import (
    ARRIVAL,
    CODES,
    INT64_MAX,
    MAX_PAYLOAD,
    OTHER_SITE,
    OTHER_SITE_CODE,
    ROOT,
    SENTINEL_CODE,
    SITE,
    Sent,
    rfc3339,
)

FLEET_PREFIX = SITE[:7] + "%"  # both fuzzed sites: 970101-
TABLES = {
    "usage": "usage_sessions",
    "status": "status_reports",
    "fault": "fault_events",
    "birth": "device_births",
}
_CLEAN = (
    ";".join(
        f"DELETE FROM {table} WHERE code LIKE '{FLEET_PREFIX}'"
        for table in [*TABLES.values(), "usage_hourly", "device_presence", "device_state"]
    )
    + f";DELETE FROM gateway_state WHERE site_code LIKE '{FLEET_PREFIX}'"
)
_COPIES = "SELECT digest, topic, payload, category, reason, copies FROM dead_letters "
_COPIES += "WHERE digest = ANY(%s)"
_ITEM_TOPIC = re.compile(
    rf"{re.escape(ROOT)}/(\d{{6}}-\d{{4}})/(\d{{6}}-\d{{4}}-\d{{3}}-[0-9X])/(birth|status|usage|fault)",
    re.ASCII,
)
_SITE_TOPIC = re.compile(rf"{re.escape(ROOT)}/(\d{{6}}-\d{{4}})/(batch|gateway/status)", re.ASCII)


# RFC 3339, and the ISO 8601 forms that name an instant as plainly (space or _ for T, no
# seconds, a comma, an offset without its colon): stored at that instant, they are stored exactly.
@dataclass(slots=True)
class Unit:
    """A message, or one item of a gateway batch: what either is stored or dead-lettered."""

    topic: str
    payload: bytes  # an item's own bytes within its batch
    obj: Any  # the JSON as Python reads it, MISSING if it is no JSON
    kind: str | None = None  # the table it may be stored in
    code: str | None = None  # the code it must carry (its item topic's)
    site: str | None = None  # the site its code must be at (its batch topic's)
    will_topic: bool = False  # a status topic: a last will is taken, neither stored nor refused

    @property
    def key(self) -> tuple[Any, Any, Any] | None:
        if not isinstance(self.obj, dict):
            return None
        code, boot, seq = (self.obj.get(k) for k in ("code", "boot", "seq"))
        if not isinstance(code, str) or type(boot) is not int or type(seq) is not int:
            return None
        return code, boot, seq

    def may_be_stored_as(self, kind: str) -> bool:
        key = self.key
        return (
            self.kind == kind
            and key is not None
            and (self.code is None or key[0] == self.code)
            and (self.site is None or key[0][:11] == self.site)
        )

    def is_will(self) -> bool:
        obj = self.obj
        if not self.will_topic or not isinstance(obj, dict):
            return False
        boot, v = obj.get("boot"), obj.get("v")
        return (
            type(v) is int
            and v == 1
            and obj.get("online") is False
            and type(boot) is int
            and 0 <= boot <= INT64_MAX
        )


def _json(data: bytes | str) -> Any:
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return json.loads(text)
    except (ValueError, RecursionError):
        return MISSING


def _array_items(text: str) -> list[str] | None:
    """The exact text of each item of the JSON array `text`, or None if it is not one."""
    decoder = json.JSONDecoder()
    try:
        if not isinstance(json.loads(text), list):
            return None
    except (ValueError, RecursionError):
        return None
    pos, items = text.index("[") + 1, list[str]()
    while True:
        while text[pos] in " \t\r\n,":
            pos += 1
        if text[pos] == "]":
            return items
        _, end = decoder.raw_decode(text, pos)
        items.append(text[pos:end])
        pos = end


def _infer_kind(obj: Any) -> str | None:
    """docs/protocol.md, "Batch items": the kind told by the field only that kind has."""
    if isinstance(obj, dict):
        for field, kind in (
            ("started_at", "usage"),
            ("fault", "fault"),
            ("heartbeat_s", "birth"),
            ("online", "status"),
        ):
            if field in obj:
                return kind
    return None


def units_of(sent: Sent) -> list[Unit]:
    topic, payload = sent.topic, sent.payload
    item = _ITEM_TOPIC.fullmatch(topic)
    if item is not None:
        _, code, kind = item.groups()
        return [Unit(topic, payload, _json(payload), kind, code, will_topic=kind == "status")]
    site_topic = _SITE_TOPIC.fullmatch(topic)
    if site_topic is None:
        return [Unit(topic, payload, _json(payload))]
    site, what = site_topic.groups()
    if what != "batch":
        return [Unit(topic, payload, _json(payload), will_topic=True)]
    try:
        texts = _array_items(payload.decode("utf-8")) if len(payload) <= MAX_PAYLOAD else None
    except RecursionError:
        texts = None
    except UnicodeDecodeError:
        texts = None
    if texts is None:
        return [Unit(topic, payload, _json(payload))]
    units = []
    for text in texts:
        obj = _json(text)
        units.append(Unit(topic, text.encode(), obj, _infer_kind(obj), site=site))
    return units


def storable_topic(topic: str) -> str:
    """A topic as a dead letter keeps it: text cannot hold NUL or a lone surrogate, which are
    kept as their backslash escapes (ingest.writer.storable_text)."""
    try:
        topic.encode()
    except UnicodeEncodeError:
        return topic.encode("utf-8", "backslashreplace").decode().replace("\x00", "\\x00")
    return topic.replace("\x00", "\\x00")


def digest(topic: str, payload: bytes) -> bytes:
    """Where to look for a dead letter: ingest's own key of it. Whether the letter found is the
    message's own is checked against its topic and bytes."""
    return dead_letter_digest(topic, payload)


def fleet_registry() -> Registry:
    kinds = ["air_walker", "rider", "smart_bike", "leg_press", "table_tennis", "seated_push"]
    sites = [SiteRow(s, f"Fuzzed site {s}", None, None, None) for s in (SITE, OTHER_SITE)]
    equipment = [
        EquipmentRow(code, code[:11], kind, "F-1", date(2021, 4, 1), 8, None)
        for code, kind in zip([*CODES, SENTINEL_CODE, OTHER_SITE_CODE], kinds, strict=True)
    ]
    return Registry(sites, equipment)


class Rig:
    """A worker's two connections and decoder over the fuzzed fleet, and a third for checking."""

    def __init__(self, database_url: str) -> None:
        with psycopg.connect(database_url) as conn, conn.transaction():
            upsert_registry(conn, fleet_registry())
        self.writer = psycopg.connect(database_url, autocommit=False)
        prepare_connection(self.writer)
        self.lookup = psycopg.connect(database_url, autocommit=True)
        self.check = psycopg.connect(database_url, autocommit=True, row_factory=dict_row)
        known = KnownCodes(self.lookup, recheck_s=3600)
        known.reload()
        self.decoder = Decoder(ROOT, known)
        self._numbers = itertools.count(1)
        # What became of the fuzzed messages and items: stored, dead (by category), will, ...
        self.outcomes: Counter[str] = Counter()

    def close(self) -> None:
        for conn in (self.writer, self.lookup, self.check):
            conn.close()

    def run(self, fuzzed: list[Sent]) -> list[str]:
        """Commit `fuzzed` and a valid sentinel after it in one chunk; what broke the property."""
        number = next(self._numbers)
        sentinel_body = {
            "v": 1,
            "code": SENTINEL_CODE,
            "boot": number,
            "seq": number,
            "ts": rfc3339(ARRIVAL),
            "started_at": rfc3339(ARRIVAL),
            "duration_s": 30.5,
            "reps": number % 100,
        }
        sentinel = Sent(item_topic(SENTINEL_CODE, "usage"), json.dumps(sentinel_body).encode())
        sent = [*fuzzed, sentinel]
        units = [unit for s in fuzzed for unit in units_of(s)]
        digests = sorted({digest(u.topic, u.payload) for u in units})
        self.check.execute(_CLEAN)
        before = {r["digest"]: r["copies"] for r in self.check.execute(_COPIES, [digests])}
        chunk = Chunk(
            number,
            [s.topic for s in sent],
            [s.payload for s in sent],
            [ARRIVAL.timestamp()] * len(sent),
        )
        problems: list[str] = []
        try:
            commit_chunk(self.writer, self.decoder, chunk)
        except Exception as exc:  # the property: nothing a device sends raises out of it
            problems.append(f"commit_chunk raised {exc!r}")
            self.writer.rollback()
        if self.writer.info.transaction_status != TransactionStatus.IDLE:
            problems.append(f"transaction left {self.writer.info.transaction_status.name}")
            self.writer.rollback()
        rows = {kind: self._rows(table) for kind, table in TABLES.items()}
        letters = {r["digest"]: r for r in self.check.execute(_COPIES, [digests])}
        sentinel_row = rows["usage"].pop((SENTINEL_CODE, number, number), None)
        if sentinel_row is None:
            problems.append("the valid message sent after the fuzzed ones was not stored")
        elif (why := mismatch("usage", sentinel_row, sentinel_body)) is not None:
            problems.append(f"the sentinel was stored wrong: {why}")
        problems += _check_units(units, rows, letters, before, self.outcomes)
        return problems

    def _rows(self, table: str) -> dict[tuple[Any, Any, Any], dict[str, Any]]:
        sql = f"SELECT * FROM {table} WHERE code LIKE %s"
        found = self.check.execute(sql, [FLEET_PREFIX]).fetchall()
        return {(r["code"], r["boot"], r["seq"]): r for r in found}


def _check_units(
    units: list[Unit],
    rows: dict[str, dict[tuple[Any, Any, Any], dict[str, Any]]],
    letters: dict[bytes, dict[str, Any]],
    before: dict[bytes, int],
    outcomes: Counter[str],
) -> list[str]:
    problems: list[str] = []
    stored_exactly: set[int] = set()
    accounted: set[int] = set()
    for kind, by_key in rows.items():
        for key, row in by_key.items():
            candidates = [
                i for i, u in enumerate(units) if u.may_be_stored_as(kind) and u.key == key
            ]
            exact = [i for i in candidates if mismatch(kind, row, units[i].obj) is None]
            if not exact:
                why = [mismatch(kind, row, units[i].obj) for i in candidates]
                sent = [units[i].payload[:300] for i in candidates]
                problems.append(f"{kind} row {key} matches nothing sent: {why} {sent}")
                accounted.update(candidates)  # reported once, as this row
                continue
            stored_exactly.add(exact[0])
            outcomes[f"stored {kind}"] += 1
            accounted.update(i for i in candidates if i != exact[0])  # duplicates
    # By what was sent (topic and bytes), not by ingest's digest of it: two different messages
    # must never share a dead letter.
    needed: dict[tuple[str, bytes], list[Unit]] = {}
    allowed: dict[tuple[str, bytes], int] = {}
    for i, unit in enumerate(units):
        if i in stored_exactly:
            continue
        pair = (unit.topic, unit.payload)
        allowed[pair] = allowed.get(pair, 0) + 1
        if unit.is_will():
            outcomes["taken as a will (or refused)"] += 1
        elif i not in accounted:
            needed.setdefault(pair, []).append(unit)
    for (topic, payload), count in allowed.items():
        sha = digest(topic, payload)
        letter = letters.get(sha)
        added = 0 if letter is None else letter["copies"] - before.get(sha, 0)
        missing = needed.get((topic, payload), [])
        if added < len(missing):
            problems.append(f"neither stored nor dead-lettered: {topic!r} {payload[:300]!r}")
        elif added > count:
            problems.append(f"dead-lettered {added} times, sent {count}: {letter}")
        if letter is None or not added:
            continue
        outcomes[f"dead-lettered {letter['category']}"] += added
        if not letter["category"] or not letter["reason"]:
            problems.append(f"dead letter without category or reason: {letter}")
        if bytes(letter["payload"]) != payload or letter["topic"] != storable_topic(topic):
            kept = (letter["topic"], bytes(letter["payload"][:300]))
            problems.append(f"dead letter of {(topic, payload[:300])!r} keeps {kept!r}")
    return problems
