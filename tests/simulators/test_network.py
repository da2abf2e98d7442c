"""The network as it is: each misbehaviour occurs at its configured rate, and keeps the protocol."""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest

from devices.protocol import ITEM_ADAPTER, Birth
from simulators.config import Misbehaviour
from simulators.delivery import OP_RETAIN, Emission
from simulators.engine import Engine
from simulators.ledger import read_bad, read_offline
from simulators.messages import ms_of
from simulators.state import build_state
from tests.simulators.factories import ROUGH, START, capture, make_city, make_config

DAYS = 3


@pytest.fixture(scope="module")
def rough_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Engine, list[Emission], Path]:
    directory = tmp_path_factory.mktemp("rough")
    city = make_city(sites=20, items=12)
    engine, emissions = capture(
        directory, city=city, config=make_config(misbehaviour=ROUGH), days=DAYS
    )
    return engine, emissions, directory / "captured"


def good_messages(emissions: list[Emission], ledger: Path) -> list[tuple[int, str, bytes]]:
    """(simulated send time, topic, payload) of every publish but the bad ones."""
    bad = {(b.topic, b.sha256) for b in read_bad(ledger)}
    return [
        (at, topic, payload)
        for at, _, op, topic, payload in emissions
        if op <= OP_RETAIN and (topic, hashlib.sha256(payload).hexdigest()) not in bad
    ]


def test_duplicates_are_byte_identical_resends_at_the_configured_share(
    rough_run: tuple[Engine, list[Emission], Path],
) -> None:
    engine, emissions, ledger = rough_run
    copies = Counter((topic, payload) for _, topic, payload in good_messages(emissions, ledger))
    resent = sum(n - 1 for n in copies.values())
    assert resent == engine.counters.duplicates
    assert resent / engine.counters.messages == pytest.approx(ROUGH.duplicate_share, rel=0.15)


def test_bad_messages_occur_at_the_configured_share_evenly_in_every_way(
    rough_run: tuple[Engine, list[Emission], Path],
) -> None:
    engine, _, _ = rough_run
    counters = engine.counters
    assert counters.bad / counters.messages == pytest.approx(ROUGH.bad_share, rel=0.15)
    per_way = counters.bad_by_way.values()
    assert len(per_way) == 8
    assert max(per_way) - min(per_way) <= 1


def test_outages_and_reboots_occur_at_their_daily_rates(
    rough_run: tuple[Engine, list[Emission], Path],
) -> None:
    engine, _, ledger = rough_run
    item_days = engine.state.size * DAYS
    periods = read_offline(ledger)
    assert len(periods) == engine.counters.offline_periods
    assert len(periods) / item_days == pytest.approx(ROUGH.offline_per_day, rel=0.15)
    assert engine.counters.reboots / item_days == pytest.approx(ROUGH.reboot_per_day, rel=0.2)
    lengths = sorted((p.end - p.start).total_seconds() for p in periods)
    assert lengths[len(lengths) // 2] == pytest.approx(ROUGH.offline_median_s, rel=0.25)


def test_messages_created_offline_arrive_late_and_some_flushes_out_of_order(
    rough_run: tuple[Engine, list[Emission], Path],
) -> None:
    engine, emissions, ledger = rough_run
    skew = dict(zip(engine.state.codes, engine.state.skew_ms, strict=True))
    late = 0
    seen: set[tuple[str, bytes]] = set()
    for at, topic, payload in good_messages(emissions, ledger):
        if (topic, payload) in seen:
            continue  # a resend is not late, it is a copy
        seen.add((topic, payload))
        message = ITEM_ADAPTER.validate_json(payload)
        created = ms_of(message.ts) - skew[message.code]
        late += at > created  # otherwise a message leaves the moment it is made
    assert late == engine.counters.late > 100
    assert sum(p.buffered for p in read_offline(ledger)) >= late  # with resends and bad ones
    counters = engine.counters
    assert counters.out_of_order_flushes / counters.flushes == pytest.approx(
        ROUGH.out_of_order_share, abs=0.15
    )


def test_each_boot_starts_with_a_birth_at_seq_zero_and_numbers_every_message(
    rough_run: tuple[Engine, list[Emission], Path],
) -> None:
    engine, emissions, ledger = rough_run
    seqs: dict[tuple[str, int], set[int]] = defaultdict(set)
    births: dict[tuple[str, int], int] = {}
    for _, _, payload in good_messages(emissions, ledger):
        message = ITEM_ADAPTER.validate_json(payload)
        seqs[(message.code, message.boot)].add(message.seq)
        if isinstance(message, Birth):
            births[(message.code, message.boot)] = message.seq
    assert len(seqs) == engine.state.size + engine.counters.reboots
    for key, numbers in seqs.items():
        assert births[key] == 0
        assert numbers == set(range(len(numbers))), f"{key} skips a seq"


def test_skewed_clocks_occur_at_the_configured_share_and_stay_within_bounds() -> None:
    city = make_city(sites=100, items=20)
    misbehaviour = Misbehaviour(skewed_share=0.3, max_skew_s=90.0)
    state = build_state(
        city, make_config(misbehaviour=misbehaviour), ms_of(START), np.random.default_rng(1)
    )
    skews = np.abs(np.array(state.skew_ms)) / 1000
    assert skews.max() <= 90.0
    assert (skews >= 5.0).mean() == pytest.approx(0.3, abs=0.04)
    assert (skews < 1.0).mean() == pytest.approx(0.7, abs=0.04)


def test_a_quiet_network_sends_every_message_once_and_on_time(tmp_path: Path) -> None:
    city = make_city(sites=2, items=10)
    engine, emissions = capture(tmp_path, city=city, config=make_config(), days=1)
    messages = good_messages(emissions, tmp_path / "captured")
    assert len(messages) == len({(t, p) for _, t, p in messages}) == engine.counters.messages
    assert engine.counters.late == engine.counters.bad == engine.counters.reboots == 0
    assert json.loads(messages[0][2])["seq"] == 0
