"""Device times in usage rows: microseconds since 2000-01-01 UTC, PostgreSQL's binary form."""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta, timezone

from pydantic import AwareDatetime, TypeAdapter

from ingest.decoded import epoch_hour, from_pg_micros, pg_micros

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
