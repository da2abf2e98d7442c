"""Device times in usage rows: microseconds since 2000-01-01 UTC, PostgreSQL's binary form."""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta, timezone

from pydantic import AwareDatetime, TypeAdapter

from devices.codes import make_equipment_code
from ingest.decode import Decoder
from ingest.decoded import epoch_hour, from_pg_micros, pg_micros
from tests.support import EveryCode

DEVICE_TIME = TypeAdapter(AwareDatetime)  # as ingest reads them: from JSON, in the sender's zone


def test_device_times_become_exact_microseconds_and_utc_hours_whatever_their_offset() -> None:
    rng = random.Random(7)
    first, last = datetime(1900, 1, 1, tzinfo=UTC), datetime(2500, 1, 1, tzinfo=UTC)
    span = int((last - first).total_seconds())
    for _ in range(20_000):
        moment = first + timedelta(
            seconds=rng.randrange(span), microseconds=rng.randrange(1_000_000)
        )
        zone = timezone(timedelta(minutes=rng.randrange(-12 * 60, 14 * 60 + 1, 15)))
        sent = DEVICE_TIME.validate_json(json.dumps(moment.astimezone(zone).isoformat()))
        days = moment.toordinal() - date(2000, 1, 1).toordinal()
        seconds = days * 86_400 + moment.hour * 3600 + moment.minute * 60 + moment.second
        micros = pg_micros(sent)
        assert micros == seconds * 1_000_000 + moment.microsecond, sent.isoformat()
        hours_since_1970 = (moment.toordinal() - date(1970, 1, 1).toordinal()) * 24 + moment.hour
        assert epoch_hour(micros) == hours_since_1970, sent.isoformat()
        assert from_pg_micros(micros) == moment


def test_a_batch_whose_times_change_offset_item_by_item_keeps_every_time_exact() -> None:
    """The batch path takes the epoch in each offset's own zone (to skip asking for offsets):
    times of many offsets, in any order, ts and started_at apart, stay exact."""
    site = "320705-0042"
    arrival = datetime.now(UTC)
    offsets = [8 * 60, 0, -(3 * 60 + 30), 14 * 60, 8 * 60, 5 * 60 + 30, 0, -12 * 60]
    sent = []
    for n, minutes in enumerate(offsets):
        zone = timezone(timedelta(minutes=minutes))
        other = timezone(timedelta(minutes=offsets[(n + 3) % len(offsets)]))
        ts = (arrival - timedelta(seconds=n * 37, microseconds=n * 1_001)).astimezone(zone)
        started = (ts - timedelta(seconds=90, microseconds=7)).astimezone(other if n % 2 else zone)
        code = str(make_equipment_code(site, n + 1))
        sent.append((code, ts, started))
    payload = json.dumps(
        [
            {
                "v": 1,
                "code": code,
                "boot": 1,
                "seq": n,
                "ts": ts.isoformat(),
                "started_at": started.isoformat(),
                "duration_s": 60.0,
                "reps": 5,
            }
            for n, (code, ts, started) in enumerate(sent)
        ]
    ).encode()
    batch = Decoder("fitness/v1", EveryCode()).decode(
        [f"fitness/v1/{site}/batch"], [payload], [arrival.timestamp()]
    )
    assert batch.dead == []
    assert [(r.code, r.ts, r.started_at) for r in batch.usage] == [
        (code, pg_micros(ts), pg_micros(started)) for code, ts, started in sent
    ]
