"""Why ingest refuses a message: the checks beyond the payload models, and the category and
reason of each dead letter (docs/protocol.md, "What fitmon cannot take")."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from devices.protocol import MAX_FUTURE_SKEW, MAX_REPORT_DELAY, Message, Usage
from ingest.decoded import MICROSECOND, DeadLetter, pg_micros
from ingest.json_items import NotAnArray

SKEW_US = MAX_FUTURE_SKEW // MICROSECOND
DELAY_US = MAX_REPORT_DELAY // MICROSECOND


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a message, or one item of a batch, came from: what its dead letter keeps."""

    topic: str
    payload: bytes  # the message's bytes; an item's own bytes within its batch
    arrived: datetime
    index: int | None = None  # the item's place in its batch

    def refuse(self, category: str, reason: str, code: str | None = None) -> DeadLetter:
        where = "" if self.index is None else f"batch item {self.index}: "
        return DeadLetter(self.topic, self.payload, self.arrived, category, where + reason, code)


def time_refusal(message: Message, arrived: datetime) -> tuple[str, str] | None:
    """Why `message`'s device times cannot be taken (category, reason), or None: a time more
    than 5 minutes ahead of its arrival, or a session that starts after the message reporting
    it or more than 30 days before it (docs/protocol.md, "Limits")."""
    latest = pg_micros(arrived) + SKEW_US
    ts = pg_micros(message.ts)
    if ts > latest:
        return "future", f"ts {message.ts.isoformat()} is more than 5 minutes in the future"
    if isinstance(message, Usage):
        started = pg_micros(message.started_at)
        at = message.started_at.isoformat()
        if started > latest:
            return "future", f"started_at {at} is more than 5 minutes ahead"
        if started > ts + SKEW_US:
            return "schema", f"usage.started_at {at} is after ts {message.ts.isoformat()}"
        if ts - started > DELAY_US:
            days = MAX_REPORT_DELAY.days
            reason = f"usage.started_at {at} is more than {days} days before ts {message.ts}"
            return "schema", reason
    return None


def describe(exc: ValidationError) -> str:
    """A one-line summary of a pydantic error: `field: message; ...` (at most five)."""
    parts = []
    for error in exc.errors(include_url=False)[:5]:
        location = ".".join(str(p) for p in error["loc"])
        parts.append(f"{location}: {error['msg']}" if location else error["msg"])
    more = f" (+{exc.error_count() - 5} more)" if exc.error_count() > 5 else ""
    return "; ".join(parts) + more


def category_of(exc: ValidationError) -> str:
    for error in exc.errors(include_url=False):
        if error["type"] == "json_invalid":
            return "malformed_json"
        if error["loc"] and error["loc"][-1] == "code":
            return "bad_check" if "check character" in error["msg"] else "bad_code"
    return "schema"


def not_a_batch(payload: bytes, problem: NotAnArray) -> tuple[str, str]:
    """The category and reason of a batch that is not a JSON array."""
    try:
        parsed = json.loads(payload)
    except (ValueError, RecursionError):
        return "malformed_json", f"batch: malformed JSON: {problem}"
    return "schema", f"batch must be a JSON array, got {type(parsed).__name__}"


def claimed_code(payload: bytes) -> str | None:
    """The code a refused item claims, for finding its dead letters: when it is printable text
    of a code's length at most, else None."""
    try:
        claimed = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    code = claimed.get("code") if isinstance(claimed, dict) else None
    if isinstance(code, str) and len(code) <= 32 and code.isprintable():
        return code
    return None
