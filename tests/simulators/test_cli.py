"""`fitmon simulate` from the command line: a city file to import, a dry run to a ledger."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from devices.registry_rows import parse_registry_csv
from simulators.cli import simulate
from simulators.ledger import read_devices, read_manifest


def test_simulate_city_writes_a_registry_import_file(tmp_path: Path) -> None:
    out = tmp_path / "city.csv"
    result = CliRunner().invoke(
        simulate, ["city", "--preset", "small", "--seed", "3", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "fitmon registry import" in result.output
    assert len(parse_registry_csv(out.read_text(encoding="utf-8")).equipment) == 240


def test_simulate_run_dry_run_writes_the_ledger_of_the_city_file(tmp_path: Path) -> None:
    city = tmp_path / "city.csv"
    runner = CliRunner()
    runner.invoke(
        simulate,
        [
            "city",
            "--districts",
            "320102",
            "--sites-per-district",
            "2",
            "--items-per-site",
            "5",
            "--out",
            str(city),
        ],
    )
    ledger = tmp_path / "ledger"
    result = runner.invoke(
        simulate,
        [
            "run",
            "--city",
            str(city),
            "--days",
            "0.25",
            "--ledger",
            str(ledger),
            "--dry-run",
            "--seed",
            "9",
            "--bad-share",
            "0.05",
        ],
    )
    assert result.exit_code == 0, result.output
    assert len(read_devices(ledger)) == 10
    manifest = read_manifest(ledger)
    assert manifest["config"]["seed"] == 9
    assert manifest["config"]["misbehaviour"]["bad_share"] == 0.05
    assert (ledger / "city.csv").read_text() == city.read_text()


def test_simulate_run_refuses_an_accelerated_run_ending_in_the_future(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        simulate,
        ["run", "--end", "2999-01-01T00:00:00+00:00", "--ledger", str(tmp_path), "--dry-run"],
    )
    assert result.exit_code == 2
    assert "must end in the past" in result.output
