"""Prometheus metrics of the notify process, in a registry of its own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class NotifyMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.attempts = Counter(
            "fitmon_notify_attempts",
            "messages sent, by channel kind and outcome (delivered, retry, dead)",
            ["kind", "outcome"],
            registry=r,
        )
        self.deliveries = Gauge(
            "fitmon_notify_deliveries",
            "deliveries by state: pending (waiting or retrying) and dead (after their last try)",
            ["status"],
            registry=r,
        )
        self.latency = Histogram(
            "fitmon_notify_delivery_seconds",
            "from the outbox row (the alert's or notice's commit) to its delivery",
            ["kind"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800),
            registry=r,
        )
        self.active = Gauge(
            "fitmon_notify_active", "1 while this process holds the notify lock", registry=r
        )
