"""Prometheus metrics of the ingest process, in a registry of its own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class IngestMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.received = Counter(
            "fitmon_ingest_messages_received",
            "MQTT messages received, by topic kind",
            ["kind"],
            registry=r,
        )
        self.stored = Counter(
            "fitmon_ingest_messages_stored",
            "v1 messages stored (batch items count singly)",
            ["kind"],
            registry=r,
        )
        self.duplicates = Counter(
            "fitmon_ingest_messages_duplicate",
            "v1 messages already stored, by (code, boot, seq)",
            ["kind"],
            registry=r,
        )
        self.dead_letters = Counter(
            "fitmon_ingest_dead_letters",
            "messages refused into the dead-letter store",
            ["reason"],
            registry=r,
        )
        self.wills = Counter(
            "fitmon_ingest_wills",
            "last wills received: applied, or stale (older boot)",
            ["result"],
            registry=r,
        )
        self.marked_offline = Counter(
            "fitmon_ingest_devices_marked_offline",
            "devices marked offline after silence",
            registry=r,
        )
        self.batches = Counter("fitmon_ingest_batches", "batches committed", registry=r)
        self.db_errors = Counter(
            "fitmon_ingest_database_errors", "failed database attempts (retried)", registry=r
        )
        self.batch_size = Histogram(
            "fitmon_ingest_batch_size",
            "MQTT messages per committed batch",
            buckets=(1, 10, 50, 100, 500, 1000, 2000, 5000, 10000, 20000),
            registry=r,
        )
        self.commit_lag = Histogram(
            "fitmon_ingest_commit_lag_seconds",
            "from arrival of a batch's oldest message to its commit",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r,
        )
        self.device_lag = Gauge(
            "fitmon_ingest_device_lag_seconds",
            "arrival minus device time of the newest message in the last batch",
            registry=r,
        )
        self.queue_depth = Gauge(
            "fitmon_ingest_queue_depth", "messages received, not yet committed", registry=r
        )
        self.held_bytes = Gauge(
            "fitmon_ingest_held_bytes",
            "payload bytes received, not yet committed (at most FITMON_MAX_HELD_BYTES)",
            registry=r,
        )
        self.connected = Gauge(
            "fitmon_ingest_connected", "1 while connected to the MQTT broker", registry=r
        )
