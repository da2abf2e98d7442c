"""Device times read straight from their text, for the site batches' fast path (ingest.decode).

A site batch's usage items are validated with their times as text of RFC 3339's shape
(devices.protocol.DeviceTimeText): reading a time into a datetime in pydantic after checking its
shape, then taking its microseconds in Python, costs about two thirds more than reading the text
here. `device_micros` gives the very value and verdict of the payload models' DeviceTime: a time
they refuse reads below MIN_DEVICE_US, and its item is then decoded on its own, by its model,
which says what is wrong.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from pydantic import TypeAdapter, ValidationError

from devices.protocol import MIN_DEVICE_TIME, DeviceTime
from ingest.decoded import MICROSECOND, pg_micros

MIN_DEVICE_US: Final = pg_micros(MIN_DEVICE_TIME)
NOT_READ: Final = MIN_DEVICE_US - 1

# Local times are read without their offset, which is then taken off in microseconds.
_LOCAL_EPOCH: Final = datetime(2000, 1, 1)  # noqa: DTZ001
_DEVICE_TIME: Final = TypeAdapter(DeviceTime)
_from_text = datetime.fromisoformat


class _Offsets(dict[str, int | None]):
    """A UTC offset's text (`+08:00`) in microseconds, as DeviceTime reads it; None where it
    refuses the offset. Only texts of the offset's shape come here: at most 20,000."""

    def __missing__(self, text: str) -> int | None:
        try:
            moment = _DEVICE_TIME.validate_python(f"2020-01-01T00:00:00{text}")
        except ValidationError:
            micros = None
        else:
            offset = moment.utcoffset()
            micros = None if offset is None else offset // MICROSECOND
        self[text] = micros
        return micros


_OFFSETS: Final = _Offsets()


def device_micros(text: str) -> int:
    """`text`, a device time of RFC 3339's shape (DeviceTimeText; no other text may come here),
    as microseconds since 2000-01-01 UTC: less than MIN_DEVICE_US if DeviceTime refuses it
    (before MIN_DEVICE_TIME, or NOT_READ: no such time)."""
    offset: int | None
    if text[-1] in "Zz":
        local, offset = text[:-1], 0
    else:
        local, offset = text[:-6], _OFFSETS[text[-6:]]
        if offset is None:
            return NOT_READ
    if local[11:13] == "24":  # DeviceTime refuses hour 24; fromisoformat takes it from Python 3.14
        return NOT_READ
    try:
        return (_from_text(local) - _LOCAL_EPOCH) // MICROSECOND - offset
    except ValueError:  # a day, hour, minute or second that does not exist
        return NOT_READ
