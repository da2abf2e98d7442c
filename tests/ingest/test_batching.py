"""Ingest cuts a backlog into transactions by message count and by payload bytes."""

from __future__ import annotations

from collections.abc import Callable

from cli.services import LocalBroker
from tests.support import (
    IngestProcess,
    Publisher,
    load_registry,
    make_registry,
    scalar,
    usage,
    wait_until,
)


def publish_batches(broker: LocalBroker, topic: str, codes: list[str], count: int) -> None:
    """`count` batch messages on `topic`, each a usage session of every item in `codes`."""
    publisher = Publisher(broker.url)
    try:
        for seq in range(count):
            batch: list[object] = [usage(code, seq) for code in codes]
            publisher.publish(topic, batch)
    finally:
        publisher.close()


def five_items(database_url: str) -> tuple[str, list[str]]:
    """Register a site with five items: (its code, theirs)."""
    registry = load_registry(database_url, make_registry(items=5))
    return registry.sites[0].code, [item.code for item in registry.equipment]


def stored(database_url: str, site: str) -> object:
    sql = "SELECT count(*) FROM usage_sessions WHERE code LIKE %s"
    return scalar(database_url, sql, site + "%")


def test_backlog_of_site_batches_is_committed_in_byte_bounded_transactions(
    database_url: str,
    broker: LocalBroker,
    ingest_factory: Callable[..., IngestProcess],
    topic_root: str,
) -> None:
    site, codes = five_items(database_url)
    # Each batch message is about 900 bytes: a transaction takes at most two of them.
    ingest_factory(FITMON_BATCH_MAX_BYTES="1000").stop()  # the session outlives the process
    publish_batches(broker, f"{topic_root}/{site}/batch", codes, 40)
    ingest = ingest_factory(FITMON_BATCH_MAX_BYTES="1000")
    wait_until(
        lambda: stored(database_url, site) == 200, message="200 sessions from 40 batch messages"
    )
    ingest.wait_for_metric("fitmon_ingest_messages_stored_total", 200, kind="usage")
    ingest.wait_for_metric("fitmon_ingest_held_bytes", 0)  # the last report is counted
    batches = ingest.metric("fitmon_ingest_batch_size_count")
    assert batches >= 20
    assert ingest.metric("fitmon_ingest_batch_size_bucket", le="10.0") == batches


def test_ingest_holds_at_most_its_byte_budget_of_a_backlog_and_still_stores_it_all(
    database_url: str,
    broker: LocalBroker,
    ingest_factory: Callable[..., IngestProcess],
    topic_root: str,
) -> None:
    site, codes = five_items(database_url)
    # A backlog of 300 batch messages of about 900 bytes; ingest may hold 64 KiB of them at once,
    # so no transaction can take more than about 73 (chunks are not cut by bytes here).
    settings = {"FITMON_MAX_HELD_BYTES": "65536", "FITMON_BATCH_MAX_BYTES": "10000000"}
    ingest_factory(**settings).stop()
    publish_batches(broker, f"{topic_root}/{site}/batch", codes, 300)
    ingest = ingest_factory(**settings)
    wait_until(
        lambda: stored(database_url, site) == 1500,
        message="1,500 sessions from 300 batch messages",
    )
    ingest.wait_for_metric("fitmon_ingest_messages_stored_total", 1500, kind="usage")
    ingest.wait_for_metric("fitmon_ingest_held_bytes", 0)  # the last report is counted
    transactions = ingest.metric("fitmon_ingest_batch_size_count")
    assert transactions >= 300 / 73
    assert ingest.metric("fitmon_ingest_batch_size_bucket", le="100.0") == transactions
