"""Same seed, same ledger: the simulator is ground truth only if a run can be repeated exactly."""

from __future__ import annotations

from pathlib import Path

from simulators.config import ConnectionMode
from simulators.ledger import MANIFEST_FILE
from tests.simulators.factories import ROUGH, make_city, make_config, simulate

# These runs touch no database, so they can share one division; a division of their own each
# would also give each its own weather, and a rainy day a third of the use.
DIVISION = "970001"


def ledger_files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_same_seed_gives_the_same_ledger(tmp_path: Path) -> None:
    city = make_city(sites=4, items=10, division=DIVISION)
    config = make_config(seed=7, misbehaviour=ROUGH)
    simulate(tmp_path, city=city, config=config, days=1, name="first")
    simulate(tmp_path, city=city, config=config, days=1, name="second")
    first, second = ledger_files(tmp_path / "first"), ledger_files(tmp_path / "second")
    assert first == second
    assert len(first["usage_hourly.csv"].splitlines()) > 200
    assert len(first["bad.jsonl"].splitlines()) > 10


def test_another_seed_gives_another_ledger(tmp_path: Path) -> None:
    city = make_city(sites=4, items=10, division=DIVISION)
    simulate(tmp_path, city=city, config=make_config(seed=7), days=1, name="a")
    simulate(tmp_path, city=city, config=make_config(seed=8), days=1, name="b")
    a, b = ledger_files(tmp_path / "a"), ledger_files(tmp_path / "b")
    assert a["usage_hourly.csv"] != b["usage_hourly.csv"]


def test_how_messages_travel_does_not_change_what_the_fleet_did(tmp_path: Path) -> None:
    city = make_city(sites=4, items=10, division=DIVISION)
    for mode in ConnectionMode:
        config = make_config(seed=7, misbehaviour=ROUGH, connection=mode)
        simulate(tmp_path, city=city, config=config, days=1, name=mode.value)
    ledgers = [ledger_files(tmp_path / mode.value) for mode in ConnectionMode]
    for ledger in ledgers:
        del ledger[MANIFEST_FILE]  # it names the connection mode
    assert ledgers[0] == ledgers[1] == ledgers[2]
