"""Pacing as pure functions: the rate limit over a sliding window, grouping a burst by site, then
crew, then lane without dropping any, and the backoff's growth and jitter."""

from __future__ import annotations

import random

from notifications.pacing import Pending, RateLimit, backoff_s, plan, slots_now


def _pending(n: int, *, sites: int, crews: int = 1, severity: str = "critical") -> list[Pending]:
    return [Pending(i, severity, f"site{i % sites:02d}", i % crews, 1000.0 + i) for i in range(n)]


def test_rate_limit_counts_a_sliding_window() -> None:
    limit = RateLimit([(3, 10.0)])
    for t in (0.0, 1.0, 2.0):
        assert limit.available(t) == 3 - int(t)
        limit.record(t)
    assert limit.available(5.0) == 0
    assert limit.next_free(5.0) == 10.0  # the first send leaves the window
    assert limit.available(10.0) == 1
    assert RateLimit([]).available(0.0) is None


def test_feishu_minute_and_second_limits_both_hold() -> None:
    limit = RateLimit([(100, 60.0), (5, 1.0)])
    for _ in range(5):
        limit.record(0.5)
    assert limit.available(0.9) == 0
    assert limit.next_free(0.9) == 1.5
    assert limit.available(1.6) == 5


def test_a_receiver_that_says_it_is_full_blocks_the_lane() -> None:
    limit = RateLimit([(20, 60.0)])
    limit.block_until(30.0, now=0.0)
    assert limit.available(29.0) == 0
    assert limit.available(30.0) == 20


def test_what_fits_goes_one_message_each() -> None:
    groups = plan(_pending(5, sites=5), slots=5, max_items=20)
    assert [g.level for g in groups] == ["single"] * 5
    assert plan(_pending(5, sites=5), slots=None, max_items=20)[0].level == "single"


def test_a_burst_is_grouped_by_site_then_crew_then_lane_and_nothing_is_dropped() -> None:
    burst = _pending(60, sites=6, crews=2)
    by_site = plan(burst, slots=6, max_items=20)
    assert [g.level for g in by_site] == ["site"] * 6
    assert all(len({p.site_code for p in g.items}) == 1 for g in by_site)
    by_crew = plan(burst, slots=4, max_items=20)
    assert [g.level for g in by_crew] == ["crew"] * 4  # 2 crews of 30: 2 messages each
    assert all(len({p.crew_id for p in g.items}) == 1 for g in by_crew)
    for groups in (by_site, by_crew):
        assert sorted(p.id for g in groups for p in g.items) == list(range(60))
    lane = plan(burst, slots=2, max_items=20)
    assert [len(g.items) for g in lane] == [20, 20]  # the rest waits for the next slots
    later = plan([p for p in burst if p not in {q for g in lane for q in g.items}], 1, 20)
    assert len(later[0].items) == 20


def test_the_most_severe_and_oldest_go_first() -> None:
    mixed = [*_pending(10, sites=10, severity="minor"), Pending(99, "critical", "x", 0, 2000.0)]
    (first,) = plan(mixed, slots=1, max_items=1)
    assert first.items[0].id == 99


def test_slots_keep_half_for_what_follows_a_burst() -> None:
    assert slots_now(None, None, 0.0, 10.0) is None
    assert slots_now(15, 20, 0.0, 10.0) == 15
    assert slots_now(10, 20, 1.0, 10.0) == 0  # half used: wait to gather
    assert slots_now(10, 20, 10.0, 10.0) == 5
    assert slots_now(1, 20, 10.0, 10.0) == 1
    assert slots_now(0, 20, 99.0, 10.0) == 0


def test_backoff_doubles_to_its_cap_with_jitter() -> None:
    rng = random.Random(7)
    waits = [backoff_s(n, 2.0, 60.0, rng) for n in range(1, 9)]
    for n, wait in enumerate(waits, start=1):
        full = min(60.0, 2.0 * 2 ** (n - 1))
        assert full / 2 <= wait <= full
    assert len({round(backoff_s(3, 2.0, 60.0, rng), 6) for _ in range(20)}) > 10  # jittered
