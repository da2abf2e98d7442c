"""What ingest's MQTT process and its worker processes (ingest.worker) pass each other.

Kept apart from the worker, so that the MQTT process loads neither the payload models nor the
database driver: it only receives, hands over and acknowledges (an import contract holds it so).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Chunk:
    """Numbered messages for a worker, as three columns (one pickled list each is far cheaper
    to pass than a record per message): the topic, the payload, and time.time() at arrival."""

    chunk_id: int
    topics: list[str]
    payloads: list[bytes]
    received_at: list[float]

    def __len__(self) -> int:
        return len(self.topics)


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
