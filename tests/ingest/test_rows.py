"""Device times in usage rows: microseconds since 2000-01-01 UTC, PostgreSQL's binary form."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

from ingest.decode import from_pg_micros, pg_micros

PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def test_device_times_become_exact_microseconds_whatever_their_offset() -> None:
    rng = random.Random(7)
    first, last = datetime(1900, 1, 1, tzinfo=UTC), datetime(2500, 1, 1, tzinfo=UTC)
    span = int((last - first).total_seconds())
    for _ in range(100_000):
        offset = timezone(timedelta(minutes=rng.randrange(-12 * 60, 14 * 60 + 1, 15)))
        moment = first + timedelta(
            seconds=rng.randrange(span), microseconds=rng.randrange(1_000_000)
        )
        local = moment.astimezone(offset)
        exact = (moment - PG_EPOCH) // timedelta(microseconds=1)
        assert pg_micros(local, local.timestamp()) == exact, local.isoformat()
        assert from_pg_micros(exact) == local
