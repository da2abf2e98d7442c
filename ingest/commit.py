"""Committing a chunk: all of it in one transaction, or, when anything in it cannot be written,
each message (and each item of a gateway batch) in a transaction of its own, so that what cannot
be stored is dead-lettered with its topic, its bytes and the reason, and the rest is stored.

A lost connection is not the chunk's fault: it goes to the caller (as psycopg.OperationalError),
who retries the whole chunk once the database is back (writes are idempotent). Any other error,
an OperationalError on a connection still open included (a statement timeout, a limit), is
about what the chunk holds.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
import structlog

from ingest.decode import Decoder
from ingest.decoded import DeadLetter, DecodedBatch
from ingest.handoff import Chunk
from ingest.presence import PresenceCache
from ingest.refusals import Origin
from ingest.writer import WriteResult, write_batch, write_dead_letters

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class Committed:
    """What became of a committed chunk's messages."""

    result: WriteResult
    dead: list[DeadLetter]
    received_kinds: dict[str, int]
    newest_device_ts: float | None  # epoch seconds

    @property
    def dead_by_category(self) -> dict[str, int]:
        return dict(Counter(letter.category for letter in self.dead))


def commit_chunk(
    conn: psycopg.Connection[Any],
    decoder: Decoder,
    chunk: Chunk,
    decoded: DecodedBatch | None = None,
    presence: PresenceCache | None = None,
) -> Committed:
    """Store and commit `chunk` (`decoded` is its decoding, when the caller has it)."""
    try:
        if decoded is None:
            decoded = decoder.decode(chunk.topics, chunk.payloads, chunk.received_at)
        result = write_batch(conn, decoded, presence)
        conn.commit()
    except Exception as exc:  # what the chunk holds, unless the connection was lost
        _lost_connection(conn, exc)
        log.error("chunk refused, storing it message by message", error=repr(exc))
        if presence is not None:
            presence.clear()  # what it saw of this chunk's wills and traffic is unsure now
        return _commit_singly(conn, decoder, chunk)
    if presence is not None:
        presence.committed(result.seen_written)
    return Committed(result, decoded.dead, decoded.received_kinds, decoded.newest_device_ts)


def _commit_singly(conn: psycopg.Connection[Any], decoder: Decoder, chunk: Chunk) -> Committed:
    outcome = Committed(WriteResult(), [], {}, None)
    for topic, payload, at in zip(chunk.topics, chunk.payloads, chunk.received_at, strict=True):
        try:
            singles = list(decoder.decode_singly([topic], [payload], [at]))
        except Exception as exc:
            _lost_connection(conn, exc)
            arrived = datetime.fromtimestamp(at, UTC)
            letter = Origin(topic, payload, arrived).refuse(
                "decode_failed", f"ingest could not decode it: {exc!r}"
            )
            outcome.received_kinds["invalid"] = outcome.received_kinds.get("invalid", 0) + 1
            outcome.dead.append(letter)
            _commit_dead_letter(conn, letter)
            continue
        for origin, single in singles:
            _commit_single(conn, origin, single, outcome)
    return outcome


def _commit_single(
    conn: psycopg.Connection[Any], origin: Origin, single: DecodedBatch, outcome: Committed
) -> None:
    for kind, count in single.received_kinds.items():
        outcome.received_kinds[kind] = outcome.received_kinds.get(kind, 0) + count
    newest = single.newest_device_ts
    if newest is not None and (outcome.newest_device_ts or newest) <= newest:
        outcome.newest_device_ts = newest
    try:
        result = write_batch(conn, single)
        conn.commit()
    except Exception as exc:
        _lost_connection(conn, exc)
        letter = _refused_by_database(origin, single, exc)
        outcome.dead.append(letter)
        _commit_dead_letter(conn, letter)
        return
    outcome.result.add(result)
    outcome.dead.extend(single.dead)


def _lost_connection(conn: psycopg.Connection[Any], exc: Exception) -> None:
    """Re-raise `exc` if the connection is gone (the caller retries the chunk); else roll back,
    for the refusal to be handled."""
    if conn.closed or conn.broken:
        if isinstance(exc, psycopg.OperationalError):
            raise exc
        raise psycopg.OperationalError("the connection was lost while writing a chunk") from exc
    conn.rollback()


def _refused_by_database(origin: Origin, single: DecodedBatch, exc: Exception) -> DeadLetter:
    code = next(
        (
            rows[0].code
            for rows in (single.usage, single.status, single.faults, single.births)
            if rows
        ),
        None,
    )
    problem = str(exc).strip() if isinstance(exc, psycopg.Error) else repr(exc)
    return origin.refuse("db_refused", f"could not be stored: {problem}", code)


def _commit_dead_letter(conn: psycopg.Connection[Any], letter: DeadLetter) -> None:
    """Keep a message the database refused. Should even that fail, the message is logged with
    its bytes and let go: a chunk must never stop ingest (nothing else is skipped)."""
    try:
        write_dead_letters(conn, [letter])
        conn.commit()
    except Exception as exc:
        _lost_connection(conn, exc)
        log.critical(
            "a refused message could not be kept as a dead letter either; it is logged here",
            topic=repr(letter.topic),
            payload=letter.payload.hex(),
            reason=letter.reason,
            error=repr(exc),
        )
