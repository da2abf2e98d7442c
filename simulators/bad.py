"""Bad messages in each of the ways docs/protocol.md lists; every one unique bytes (a nonce).

Each must end as its own dead letter, so `verify` can find every one by topic and digest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from devices.codes import make_equipment_code, parse_equipment_code
from devices.protocol import MAX_PAYLOAD_BYTES, Kind, item_topic
from simulators import messages

BAD_SEQ_BASE = 1_000_000_000  # far above any real seq: a bad message never shadows a good one
FUTURE_SKEW_MS = 3650 * 86_400_000  # a clock reset into the next decade


class BadWay(StrEnum):
    MALFORMED_JSON = "malformed_json"
    NOT_UTF8 = "not_utf8"
    SCHEMA_VIOLATION = "schema_violation"
    UNKNOWN_CODE = "unknown_code"
    BAD_CHECK_CHARACTER = "bad_check_character"
    CODE_DIFFERS_FROM_TOPIC = "code_differs_from_topic"
    OVERSIZED = "oversized"
    FUTURE_TIMESTAMP = "future_timestamp"


BAD_WAYS: tuple[BadWay, ...] = tuple(BadWay)


@dataclass(frozen=True, slots=True)
class BadMessage:
    way: BadWay
    topic: str
    payload: bytes


def wrong_check(code: str) -> str:
    """The code with a check character that fails ISO 7064 MOD 11-2."""
    right = parse_equipment_code(code).check
    return code[:-1] + ("0" if right != "0" else "1")


def unknown_code(code: str) -> str:
    """A well-formed code at the same site that no registry holds (item 999 is never generated)."""
    return str(make_equipment_code(parse_equipment_code(code).site, 999))


def make_bad(
    way: BadWay,
    *,
    root: str,
    site: str,
    code: str,
    other_code: str,
    boot: int,
    nonce: int,
    ms: int,
    ts: Callable[[int], str],
) -> BadMessage:
    """One bad message of `way` from item `code` at device time `ms`; `other_code` is registered."""
    seq = BAD_SEQ_BASE + nonce
    now = ts(ms)
    topic = item_topic(site, code, Kind.USAGE, root)

    def good(of: str, at: str = now) -> bytes:
        return messages.usage(
            of,
            boot,
            seq,
            at,
            started_at=at,
            duration_s=60.0,
            reps=nonce % 50,
            energy_wh=None,
            avg_cadence_rpm=None,
            max_load_kg=None,
        )

    if way is BadWay.MALFORMED_JSON:
        payload = good(code)[: -(7 + nonce % 5)]  # cut off mid-message
    elif way is BadWay.NOT_UTF8:
        payload = f'{{"v":1,"code":"{code}","seq":{seq},"ts":"{now}","note":"'.encode() + (
            b"\xff\xfe\xc3(" + f' {nonce}"}}'.encode()
        )
    elif way is BadWay.SCHEMA_VIOLATION:
        variant = nonce % 4
        text = good(code).decode()
        if variant == 0:
            text = text.replace('"duration_s":60.0', '"duration_s":-60.0')
        elif variant == 1:
            text = text.replace(f'"reps":{nonce % 50}', f'"reps":"{nonce % 50}"')
        elif variant == 2:
            text = text.replace(f',"ts":"{now}"', "")
        else:
            text = text.replace('{"v":1,', '{"v":2,')
        payload = text.encode()
    elif way is BadWay.UNKNOWN_CODE:
        stranger = unknown_code(code)
        topic = item_topic(site, stranger, Kind.USAGE, root)
        payload = good(stranger)
    elif way is BadWay.BAD_CHECK_CHARACTER:
        broken = wrong_check(code)
        topic = item_topic(site, broken, Kind.USAGE, root)
        payload = good(broken)
    elif way is BadWay.CODE_DIFFERS_FROM_TOPIC:
        payload = good(other_code if other_code != code else unknown_code(code))
    elif way is BadWay.OVERSIZED:
        body = good(code)
        pad = MAX_PAYLOAD_BYTES + 1000 - len(body)
        payload = body[:-1] + b',"pad":"' + b"x" * pad + b'"}'
    else:
        future = ts(ms + FUTURE_SKEW_MS)
        payload = good(code, future)
    return BadMessage(way, topic, payload)
