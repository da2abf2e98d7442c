"""Hypothesis strategies for fuzzing ingest: arbitrary bytes on valid and arbitrary topics, and
near-valid v1 messages and gateway batches whose fields sit at, just past or far past the limits
of devices/protocol.py, with wrong JSON types, odd Unicode, deep nesting and duplicate keys.

A message is built as ordered (key, value) pairs and rendered by hand, so that it can hold what
json.dumps cannot write: duplicate keys, NaN and 1e400, lone surrogate escapes.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from devices.catalog import EQUIPMENT_TYPES, FAULT_TYPES
from tests.ingest.fuzz_values import (
    ARRIVAL,
    CODES,
    DELAY,
    HUGE_INTS,
    INT32_MAX,
    INT64_MAX,
    KINDS,
    MAX_PAYLOAD,
    MIN_TIME,
    NON_FINITE,
    ODD_TEXT,
    OTHER_SITE,
    OTHER_SITE_CODE,
    ROOT,
    SAFE_TEXT,
    SITE,
    SKEW,
    UNKNOWN_CODE,
    US,
    WRONG_TYPES,
    Pairs,
    Raw,
    Sent,
    bad_times,
    choices,
    codes,
    floats,
    formatted,
    instants,
    ints,
    render,
    texts,
)

# -- messages -------------------------------------------------------------------------------------


def _fields(kind: str) -> dict[str, st.SearchStrategy[Any]]:
    text = {"fw": texts(64), "model": texts(64)}
    return {
        "birth": {
            **text,
            "kind": choices(sorted(EQUIPMENT_TYPES)),
            "heartbeat_s": ints(1, 86_400),
        },
        "status": {
            "online": st.one_of(
                st.booleans(),
                st.sampled_from([1, "true", None, 0, 0.0]),
            ),
            "battery_pct": st.one_of(st.none(), floats(0, 100)),
            "rssi_dbm": st.one_of(st.none(), floats(-200, 20)),
            "temp_c": st.one_of(st.none(), floats(-80, 120)),
            "tilt_deg": st.one_of(st.none(), floats(0, 180)),
        },
        "usage": {
            "duration_s": floats(0, 4 * 3600, lo_open=True),
            "reps": ints(0, INT32_MAX),
            "energy_wh": floats(0, 5000),
            "avg_cadence_rpm": floats(0, 1000),
            "max_load_kg": floats(0, 1000),
        },
        "fault": {
            "fault": choices(sorted(FAULT_TYPES)),
            "severity": choices(["critical", "major", "minor"]),
            "state": choices(["raised", "cleared"]),
            "detail": st.one_of(st.none(), texts(1000)),
        },
    }[kind]


_OPTIONAL = {"battery_pct", "rssi_dbm", "temp_c", "tilt_deg", "energy_wh", "avg_cadence_rpm"}
_OPTIONAL |= {"max_load_kg", "detail"}


def _in_range(lo: float, hi: float, *, lo_open: bool = False) -> st.SearchStrategy[Any]:
    edges = [hi, math.nextafter(hi, -math.inf), math.nextafter(lo, math.inf), int(hi)]
    edges += [] if lo_open else [lo, int(lo)]
    return st.one_of(st.floats(lo, hi, exclude_min=lo_open), st.sampled_from(edges))


def _valid_fields(kind: str) -> dict[str, st.SearchStrategy[Any]]:
    """Values a device may send for each of `kind`'s fields, the limits included."""

    def text(n: int) -> st.SearchStrategy[Any]:
        return st.one_of(
            SAFE_TEXT.filter(lambda t: 1 <= len(t) <= n),
            st.sampled_from(["a" * n, "😀" * n, "e\u0301" * (n // 2), "\u202eabc"]),
        )

    def whole(lo: int, hi: int) -> st.SearchStrategy[Any]:
        return st.one_of(st.integers(lo, hi), st.sampled_from([lo, hi]))

    return {
        "birth": {
            "fw": text(64),
            "model": text(64),
            "kind": st.sampled_from(sorted(EQUIPMENT_TYPES)),
            "heartbeat_s": whole(1, 86_400),
        },
        "status": {
            "online": st.booleans(),
            "battery_pct": st.one_of(st.none(), _in_range(0, 100)),
            "rssi_dbm": st.one_of(st.none(), _in_range(-200, 20)),
            "temp_c": st.one_of(st.none(), _in_range(-80, 120)),
            "tilt_deg": st.one_of(st.none(), _in_range(0, 180)),
        },
        "usage": {
            "duration_s": _in_range(0, 4 * 3600, lo_open=True),
            "reps": whole(0, INT32_MAX),
            "energy_wh": _in_range(0, 5000),
            "avg_cadence_rpm": _in_range(0, 1000),
            "max_load_kg": _in_range(0, 1000),
        },
        "fault": {
            "fault": st.sampled_from(sorted(FAULT_TYPES)),
            "severity": st.sampled_from(["critical", "major", "minor"]),
            "state": st.sampled_from(["raised", "cleared"]),
            "detail": st.one_of(st.none(), text(1000)),
        },
    }[kind]


@st.composite
def v1_message(draw: st.DrawFn, kind: str, *, code: Any = None) -> Pairs:
    """A message of `kind`: valid, then 0-3 of its fields replaced by near misses, removed,
    repeated (a duplicate key) or joined by extra fields, some deeply nested."""
    edges = [ARRIVAL + SKEW, ARRIVAL + SKEW + US, MIN_TIME, MIN_TIME - US, MIN_TIME + DELAY]
    ts = draw(
        st.one_of(instants(ARRIVAL - timedelta(days=400), ARRIVAL + SKEW), st.sampled_from(edges))
    )
    pairs: Pairs = [
        ("v", 1),
        ("code", code if code is not None else draw(st.sampled_from(CODES))),
        ("boot", draw(st.integers(0, 50))),
        ("seq", draw(st.integers(0, INT64_MAX))),
        ("ts", draw(formatted(ts))),
    ]
    if kind == "usage":
        started = draw(instants(max(ts - DELAY, MIN_TIME), min(ts + SKEW, ARRIVAL + SKEW)))
        pairs.append(("started_at", draw(formatted(started))))
    valid, near = _valid_fields(kind), _fields(kind)
    for name, strategy in valid.items():
        if name in _OPTIONAL and draw(st.booleans()):
            continue
        # Mostly valid: a message with every field at or past a limit tells one problem only.
        pairs.append((name, draw(st.one_of(strategy, strategy, strategy, near[name]))))
    for _ in range(draw(st.integers(0, 3))):
        pairs = draw(_mutated(pairs, kind, ts))
    return pairs


_EXTRA_NAMES = ["x", "extra", "V", "Code", "ts ", "", "\x00", "😀", "started_at", "online"]


@st.composite
def _mutated(draw: st.DrawFn, pairs: Pairs, kind: str, ts: datetime) -> Pairs:
    names = [name for name, _ in pairs]
    action = draw(st.sampled_from(["set", "set", "set", "drop", "duplicate", "extra", "nest"]))
    name = draw(st.sampled_from(names))
    value: Any = None
    if action in ("set", "duplicate"):
        value = draw(_near_miss(name, kind, ts))
    if action == "set":
        return [(n, value if n == name else v) for n, v in pairs]
    if action == "drop":
        return [(n, v) for n, v in pairs if n != name]
    if action == "duplicate":
        return [*pairs, (name, value)] if draw(st.booleans()) else [(name, value), *pairs]
    extra = draw(st.sampled_from(_EXTRA_NAMES))
    if action == "extra":
        return [*pairs, (extra, draw(st.one_of(WRONG_TYPES, ODD_TEXT, NON_FINITE, HUGE_INTS)))]
    depth = draw(st.sampled_from([1, 10, 100, 127, 128, 255, 256, 1000, 5000, 20_000]))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
    return [*pairs, ("x", Raw(opener * depth + "0" + closer * depth))]


def _near_miss(name: str, kind: str, ts: datetime) -> st.SearchStrategy[Any]:
    if name == "v":
        return st.sampled_from([0, 2, "1", None, 1.5, -1, True, 1.0, Raw("1e0")])
    if name == "code":
        return codes()
    if name in ("boot", "seq"):
        return ints(0, INT64_MAX)
    if name == "ts":
        return bad_times(ts)
    if name == "started_at":
        edges = [ts + SKEW, ts + SKEW + US, ts - DELAY, ts - DELAY - US, ts + timedelta(days=1)]
        return st.one_of(st.sampled_from(edges).flatmap(formatted), bad_times(ts))
    return _fields(kind).get(name, st.one_of(WRONG_TYPES, ODD_TEXT, NON_FINITE))


def item_topic(code: str, kind: str) -> str:
    return f"{ROOT}/{code[:11]}/{code}/{kind}"


def batch_topic(site: str = SITE) -> str:
    return f"{ROOT}/{site}/batch"


def topics() -> st.SearchStrategy[str]:
    """Topics for arbitrary payloads: valid ones of every shape, and every way to miss."""
    valid = [item_topic(c, k) for c in CODES[:2] for k in KINDS]
    valid += [batch_topic(), f"{ROOT}/{SITE}/gateway/status"]
    wrong = [
        item_topic(UNKNOWN_CODE, "usage"),
        item_topic(CODES[0], "selfie"),
        f"{ROOT}/{SITE}/gateway/usage",
        f"{ROOT}/{OTHER_SITE}/{CODES[0]}/usage",
        item_topic(CODES[0][:-1] + "0", "status"),
        item_topic(CODES[0], "usage") + "/",
        f"{ROOT}/{SITE}/batch/x",
        ROOT + "/" + SITE.replace("1", "\uff11") + "/batch",  # full-width ones
        batch_topic(OTHER_SITE),
        f"{ROOT}/{SITE}/{CODES[0]}/usage\x00",
        f"{ROOT}/{SITE}/\ud800/status",
        "fitness/v2/" + SITE + "/batch",
        "",
        "/",
        "#",
    ]
    return st.one_of(
        st.sampled_from(valid),
        st.sampled_from(wrong),
        st.text(max_size=40),
        st.text(max_size=40).map(lambda t: f"{ROOT}/{t}"),
    )


def _json_values() -> st.SearchStrategy[Any]:
    scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), SAFE_TEXT)
    return st.recursive(scalars, _containers, max_leaves=10)


def _containers(kids: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.lists(kids, max_size=4), st.dictionaries(SAFE_TEXT, kids, max_size=4))


@st.composite
def arbitrary_bytes(draw: st.DrawFn) -> bytes:
    """Bytes of any kind: random, text, JSON of any shape, broken UTF-8, broken v1 messages."""
    message = render(draw(v1_message(draw(st.sampled_from(KINDS))))).encode()
    payload: bytes = draw(
        st.one_of(
            st.binary(max_size=200),
            st.text(max_size=100).map(lambda t: t.encode()),
            _json_values().map(lambda v: render(v, ascii_only=False).encode()),
            st.sampled_from([b"\xff", b"\xed\xa0\x80", b"\xc0\xaf", b'{"a":"\xff"}', b""]),
            st.sampled_from([b"\xef\xbb\xbf" + message, message + b"x", message[:-1]]),
            st.sampled_from([b"[" + message + b"]", message + b"\n", b" " + message]),
        )
    )
    return payload


@st.composite
def item_messages(draw: st.DrawFn) -> Sent:
    """A near-valid message on its item topic (now and then on another kind's, or a will)."""
    kind = draw(st.sampled_from(KINDS))
    pairs = draw(v1_message(kind))
    code = next((v for n, v in pairs if n == "code"), CODES[0])
    topic_code = code if isinstance(code, str) and code in CODES else draw(st.sampled_from(CODES))
    topic_kind = draw(st.sampled_from([kind] * 6 + list(KINDS)))
    payload = render(pairs, ascii_only=draw(st.booleans())).encode()
    if draw(st.integers(0, 30)) == 0:  # at and just past the 64 KiB limit
        payload = _padded(payload, MAX_PAYLOAD + draw(st.integers(-1, 1)))
    return Sent(item_topic(topic_code, topic_kind), payload)


@st.composite
def wills(draw: st.DrawFn) -> Sent:
    boot = draw(ints(0, INT64_MAX))
    online = draw(st.sampled_from([False, False, True, None, 0, 0.0]))
    pairs: Pairs = [
        ("v", draw(st.sampled_from([1, 1, 2, "1", True, 1.0]))),
        ("online", online),
        ("boot", boot),
    ]
    code = draw(st.sampled_from([*CODES, UNKNOWN_CODE, "gateway"]))
    topic = f"{ROOT}/{SITE}/gateway/status" if code == "gateway" else item_topic(code, "status")
    return Sent(topic, render(pairs).encode())


def _padded(payload: bytes, size: int) -> bytes:
    """`payload` (a JSON object) grown to exactly `size` bytes by an extra string field."""
    if not payload.startswith(b"{") or len(payload) + 8 > size:
        return payload
    return b'{"pad":"' + b"p" * (size - len(payload) - 9) + b'",' + payload[1:]


@st.composite
def batches(draw: st.DrawFn) -> Sent:
    """A gateway batch mixing valid and near-valid items of every kind, other sites' items,
    and items that are no message at all; often usage only (ingest's fast path)."""
    usage_only = draw(st.booleans())
    items: list[str] = []
    for _ in range(draw(st.integers(0, 6))):
        choice = draw(st.integers(0, 9))
        if choice < 7:
            kind = "usage" if usage_only else draw(st.sampled_from(KINDS))
            code = draw(st.sampled_from([*CODES, *CODES, *CODES, OTHER_SITE_CODE, UNKNOWN_CODE]))
            pairs = draw(v1_message(kind, code=code))
            items.append(render(pairs, ascii_only=draw(st.booleans())))
        elif choice < 9:
            items.append(render(draw(_json_values()), ascii_only=False))
        else:
            items.append(
                draw(st.sampled_from(["[" * 3000 + "]" * 3000, "NaN", "1e400", '"\\ud800"']))
            )
    blank = draw(st.sampled_from(["", " ", "\n", " \t\r\n"]))
    payload = ("[" + blank + ("," + blank).join(items) + blank + "]").encode()
    if draw(st.integers(0, 40)) == 0:
        payload = draw(st.sampled_from([payload[:-1], payload + b",", b"{" + payload[1:]]))
    return Sent(batch_topic(), payload)


def fuzzed_messages() -> st.SearchStrategy[list[Sent]]:
    """One to three fuzzed messages for one chunk."""
    one = st.one_of(
        item_messages(),
        batches(),
        wills(),
        st.builds(Sent, topics(), arbitrary_bytes()),
    )
    return st.lists(one, min_size=1, max_size=3)
