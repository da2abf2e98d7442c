"""The target of a worker process: it imports the worker (the payload models, psycopg) there,
in the new process, never in ingest's MQTT process, which only names this function."""

from __future__ import annotations

from multiprocessing.connection import Connection
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ingest.settings import IngestSettings


def run_worker(settings: IngestSettings, index: int, inbox: Connection, outbox: Connection) -> None:
    from ingest.worker import main  # noqa: PLC0415 - the point of this module

    main(settings, index, inbox, outbox)
