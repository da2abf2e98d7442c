"""The fuzzed fleet and the values fuzzing draws from: each field's valid values, values at,
just past and far past the limits of devices/protocol.py, wrong JSON types, odd Unicode, bad
times; and rendering by hand, so that a message can hold what json.dumps cannot write (duplicate
keys, NaN and 1e400, lone surrogate escapes)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from devices.codes import make_equipment_code

# Hypothesis keeps caches (Unicode tables, constants) even without an example database: under the
# git-ignored .cache/, not in a .hypothesis folder at the repository root.
set_hypothesis_home_dir(Path(__file__).resolve().parents[2] / ".cache" / "hypothesis")

ROOT = "fitness/v1"
SITE = "970101-0001"  # the fuzzed fleet's site; division 97xxxx is no real one
OTHER_SITE = "970101-0002"
CODES = [str(make_equipment_code(SITE, n)) for n in (1, 2, 3, 4)]
SENTINEL_CODE = str(make_equipment_code(SITE, 9))  # never fuzzed: the sentinel's own item
OTHER_SITE_CODE = str(make_equipment_code(OTHER_SITE, 1))
UNKNOWN_CODE = str(make_equipment_code(SITE, 500))  # well-formed, not registered
KINDS = ("birth", "status", "usage", "fault")
# Arrival of every fuzzed message: fixed, so that times drawn around it replay exactly.
ARRIVAL = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
MIN_TIME = datetime(2000, 1, 1, tzinfo=UTC)
SKEW = timedelta(minutes=5)
DELAY = timedelta(days=30)
US = timedelta(microseconds=1)
INT32_MAX, INT64_MAX = 2**31 - 1, 2**63 - 1
MAX_PAYLOAD = 64 * 1024


@dataclass(frozen=True, slots=True)
class Raw:
    """A JSON token written as it is: NaN, 1e400, "\\ud800", a deep nesting."""

    text: str


@dataclass(frozen=True, slots=True)
class Sent:
    topic: str
    payload: bytes

    def __repr__(self) -> str:
        payload = self.payload
        if len(payload) <= 2000:
            return f"Sent(topic={self.topic!r}, payload={payload!r})"
        shown = f"{payload[:1000]!r}...{payload[-200:]!r}"
        return f"Sent(topic={self.topic!r}, payload={shown}, {len(payload)} bytes)"


Pairs = list[tuple[str, Any]]


def render(value: Any, *, ascii_only: bool = True) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, list) and value and all(isinstance(p, tuple) for p in value):
        items = (
            f"{render(k, ascii_only=ascii_only)}:{render(v, ascii_only=ascii_only)}"
            for k, v in value
        )
        return "{" + ",".join(items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(render(v, ascii_only=ascii_only) for v in value) + "]"
    if isinstance(value, dict):
        return render(list(value.items()), ascii_only=ascii_only)
    return json.dumps(value, ensure_ascii=ascii_only, allow_nan=True)


def rfc3339(moment: datetime, *, offset_min: int = 0, digits: int = 6, sep: str = "T") -> str:
    """`moment` in the zone `offset_min` minutes east of UTC, with `digits` fraction digits."""
    local = (moment + timedelta(minutes=offset_min)).replace(tzinfo=None)
    text = local.strftime("%Y-%m-%d") + sep + local.strftime("%H:%M:%S")
    if digits:
        text += "." + f"{local.microsecond:06d}{'0' * 12}"[:digits]
    if offset_min == 0:
        return text + "Z"
    sign = "+" if offset_min > 0 else "-"
    return f"{text}{sign}{abs(offset_min) // 60:02d}:{abs(offset_min) % 60:02d}"


# -- values ---------------------------------------------------------------------------------------

WRONG_TYPES = st.sampled_from(
    [None, True, False, "", "5", "1e3", [], [1], {}, {"a": 1}, 0, -1, 1.5, Raw("[[[[]]]]")]
)
NON_FINITE = st.sampled_from(
    [Raw("1e400"), Raw("-1e400"), Raw("NaN"), Raw("Infinity"), Raw("-Infinity"), Raw("1e-400")]
)
HUGE_INTS = st.sampled_from([2**63, 2**64, -(2**63) - 1, 10**30, 10**400])
ODD_TEXT = st.sampled_from(
    [
        "\x00",
        "a\x00b",
        Raw('"\\u0000"'),
        Raw('"\\ud800"'),
        Raw('"x\\udfff"'),
        Raw('"\\ud83d\\ude00"'),  # a valid surrogate pair: 😀
        "\u202eabc\u200f",  # right-to-left override and mark
        "😀" * 3,
        "e\u0301",  # a combining accent
        "\uff11\uff12\uff13",  # full-width digits
        "\ufeffbom",
        "\u2028\u2029",
        " ",
        "\t\n",
    ]
)
SAFE_TEXT = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"))


def ints(lo: int, hi: int) -> st.SearchStrategy[Any]:
    """Valid ints, the limits themselves, one past them, and ints in other JSON shapes."""
    return st.one_of(
        st.integers(lo, hi),
        st.sampled_from([lo, hi, lo + 1, hi - 1]),
        st.sampled_from([lo - 1, hi + 1]),
        HUGE_INTS,
        st.sampled_from([float(lo), Raw(f"{lo}.0"), Raw(f"{hi}e0"), str(hi), Raw("-0")]),
        WRONG_TYPES,
    )


def floats(lo: float, hi: float, *, lo_open: bool = False) -> st.SearchStrategy[Any]:
    inf = math.inf
    edges = [hi, math.nextafter(hi, -inf), math.nextafter(lo, inf), (lo + hi) / 2]
    edges += [] if lo_open else [lo, int(lo), -0.0 if lo == 0 else lo]
    past = [math.nextafter(hi, inf), hi + 1, lo - 1, math.nextafter(lo, -inf), int(hi) + 1]
    past += [lo, -0.0, 0] if lo_open else []
    return st.one_of(
        st.floats(lo, hi, exclude_min=lo_open),
        st.sampled_from(edges),
        st.sampled_from(past),
        st.sampled_from([5e-324, 2.2250738585072014e-308, Raw(f"{hi}0000000000000000001")]),
        NON_FINITE,
        HUGE_INTS,
        st.sampled_from([str(hi), True, Raw(f"{hi:.0f}e0")]),
        WRONG_TYPES,
    )


def texts(max_len: int) -> st.SearchStrategy[Any]:
    return st.one_of(
        SAFE_TEXT.filter(lambda t: 1 <= len(t) <= max_len),
        st.sampled_from(["a" * max_len, "😀" * max_len, "e\u0301" * (max_len // 2), "x"]),
        st.sampled_from(["a" * (max_len + 1), "😀" * (max_len + 1), ""]),
        ODD_TEXT,
        WRONG_TYPES,
    )


def choices(valid: list[str]) -> st.SearchStrategy[Any]:
    """One of `valid`, or a near miss: case, blanks, full-width letters, other types."""
    near = [v.upper() if v.islower() else v.lower() for v in valid] + [valid[0] + " "]
    near += ["".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in valid[0])]
    return st.one_of(st.sampled_from(valid), st.sampled_from(near), ODD_TEXT, WRONG_TYPES)


def codes(*, for_batch: bool = False) -> st.SearchStrategy[Any]:
    full_width = "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in CODES[0])
    wrong_check = CODES[0][:-1] + ("0" if CODES[0][-1] != "0" else "1")
    odd = [
        UNKNOWN_CODE,
        OTHER_SITE_CODE,
        wrong_check,
        full_width,
        CODES[0][:-1] + "x",
        CODES[0] + " ",
        CODES[0] + "\x00",
        Raw('"' + CODES[0][:5] + '\\u0000"'),
        Raw('"\\ud800' + CODES[0] + '"'),
        CODES[0].replace("-", "\u2011"),  # a non-breaking hyphen
    ]
    return st.one_of(st.sampled_from(CODES), st.sampled_from(odd), WRONG_TYPES)


def instants(lo: datetime, hi: datetime) -> st.SearchStrategy[datetime]:
    span = (hi - lo) // US
    return st.integers(0, span).map(lambda n: lo + n * US)


def formatted(moment: datetime) -> st.SearchStrategy[str]:
    """`moment` as RFC 3339, in any zone, with a fraction of 0-9 digits that holds it exactly,
    now and then with nonzero digits past the microsecond (which ingest must refuse)."""
    digits = st.sampled_from([6, 9])
    if moment.microsecond % 1000 == 0:
        digits = st.sampled_from([3, 6, 9])
    if moment.microsecond == 0:
        digits = st.sampled_from([0, 3, 6, 9])
    return st.builds(
        lambda off, d, sep, extra: (
            rfc3339(moment, offset_min=off, digits=d, sep=sep)
            .replace(f".{moment.microsecond:06d}000", f".{moment.microsecond:06d}{extra:03d}")
            .replace("Z", "z" if sep == "t" else "Z")
        ),
        st.one_of(st.sampled_from([0, 480, -840, 840, -1439, 1439]), st.integers(-840, 840)),
        digits,
        st.sampled_from(["T", "T", "t", " "]),
        st.one_of(st.just(0), st.integers(1, 999)),
    )


def bad_times(reference: datetime) -> st.SearchStrategy[Any]:
    """Times at or past the limits: 2000-01-01, 5 minutes ahead, the calendar's ends."""
    return st.one_of(
        st.sampled_from(
            [
                rfc3339(MIN_TIME),
                rfc3339(MIN_TIME - US),
                rfc3339(MIN_TIME, offset_min=480, digits=0),
                rfc3339(ARRIVAL + SKEW),
                rfc3339(ARRIVAL + SKEW + US, offset_min=-60),
                rfc3339(datetime(2100, 1, 1, tzinfo=UTC)),
                "0001-01-01T00:00:00+14:00",
                "0001-01-01T00:00:00-14:00",
                "9999-12-31T23:59:59.999999+14:00",
                "9999-12-31T23:59:59.999999-14:00",
                "1970-01-01T00:00:00Z",
                "1999-12-31T23:59:59.999999Z",
                rfc3339(reference)[:-1],  # no offset
                rfc3339(reference).replace("Z", "+00:00")[:-6],
                rfc3339(reference)[:10],
                rfc3339(reference).replace("2", "\uff12"),  # a full-width 2
                rfc3339(reference).replace("T", "\u2003"),
                "2026-12-31T23:59:60Z",
                "2026-02-30T00:00:00Z",
                "2026-06-01T24:00:00Z",
                "2026-06-01T12:00:00+24:00",
            ]
        ),
        st.integers(0, 2**40),
        WRONG_TYPES,
    )
