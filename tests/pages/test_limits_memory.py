"""The rate limits' own bookkeeping (api/rate_limits.py): a flood of new addresses costs bounded
memory, entries that left their window are dropped, and an IPv6 host counts by its /64."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from starlette.requests import Request

from api import rate_limits
from api.rate_limits import PageLimits, client_of


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(rate_limits, "time", SimpleNamespace(monotonic=clock))
    return clock


def test_a_flood_of_new_addresses_keeps_at_most_max_clients(
    monkeypatch: pytest.MonkeyPatch, clock: Clock
) -> None:
    monkeypatch.setattr(rate_limits, "MAX_CLIENTS", 50)
    limits = PageLimits(misses="2/hour")
    for n in range(500):
        assert limits.hit("misses", f"10.0.{n // 256}.{n % 256}") is None
    assert len(limits) == 50
    # a client seen lately keeps its count; the least recently seen ones were let go
    limits.hit("misses", "10.0.1.243")
    assert limits.hit("misses", "10.0.1.243") == 3600
    assert limits.hit("misses", "10.0.0.0") is None


def test_entries_that_left_their_longest_window_are_dropped(clock: Clock) -> None:
    limits = PageLimits(views="2/minute", sign_ins="1/minute;3/hour")
    for n in range(10):
        limits.hit("views", f"192.0.2.{n}")
    limits.hit("sign_ins", "198.51.100.7")
    assert len(limits) == 11
    clock.now += 61  # past the views' minute, within the sign-ins' hour
    limits.hit("views", "192.0.2.200")
    assert len(limits) == 2  # the sign-in (still counted for its hour) and the new view
    assert limits.hit("sign_ins", "198.51.100.7") is None  # its minute is over
    assert limits.hit("sign_ins", "198.51.100.7") == 60  # 1 a minute, 2 of 3 an hour so far


def _request(host: str) -> Request:
    return Request({"type": "http", "client": (host, 50_000), "headers": []})


def test_an_ipv6_host_counts_by_its_64_and_ipv4_by_its_address() -> None:
    assert client_of(_request("2001:db8:1:2:aaaa::1")) == "2001:db8:1:2::/64"
    assert client_of(_request("2001:db8:1:2:ffff::9")) == "2001:db8:1:2::/64"
    assert client_of(_request("2001:db8:1:3::1")) == "2001:db8:1:3::/64"
    assert client_of(_request("::ffff:192.0.2.4")) == "192.0.2.4"
    assert client_of(_request("192.0.2.4")) == "192.0.2.4"
    assert client_of(_request("testclient")) == "testclient"
