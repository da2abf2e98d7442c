"""What ingest's MQTT process and its worker processes (ingest.worker) pass each other.

Kept apart from the worker, so that the MQTT process loads neither the payload models nor the
database driver: it only receives, hands over and acknowledges.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ingest.settings import IngestSettings

# What the MQTT process hands over for each message: (topic, payload, time.time() at arrival).
Incoming = tuple[str, bytes, float]
Chunk = tuple[int, list[Incoming]]  # (chunk id, messages), to a worker


@dataclass(slots=True)
class Report:
    """What the worker tells the MQTT process: a committed chunk and what became of it, or an
    event between chunks (a failed database attempt, devices marked offline)."""

    chunk_id: int | None = None
    received_kinds: dict[str, int] = field(default_factory=dict)
    stored: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    dead_letters: dict[str, int] = field(default_factory=dict)  # category -> count
    wills_applied: int = 0
    wills_stale: int = 0
    newest_device_ts: float | None = None
    db_errors: int = 0
    marked_offline: int = 0
    ready: bool = False  # connected and the registry loaded: the worker can take chunks


def run_worker(settings: IngestSettings, index: int, inbox: Connection, outbox: Connection) -> None:
    """The target of a worker process: loads the worker there, not in the MQTT process."""
    from ingest.worker import main  # noqa: PLC0415 - the point of this module

    main(settings, index, inbox, outbox)
