"""The README's demo command, end to end: embedded database and broker, ingest, simulator."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_demo_runs_the_whole_chain_on_embedded_defaults_and_stops_cleanly(tmp_path: Path) -> None:
    env = {
        k: v for k, v in os.environ.items() if k not in {"FITMON_DATABASE_URL", "FITMON_MQTT_URL"}
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli",
            "demo",
            "--duration",
            "30",
            "--workdir",
            str(tmp_path / "demo"),
            "--speed",
            "600",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "embedded PostgreSQL" in output
    assert "stopped cleanly." in output
    rows = re.findall(r"^\s+\d+\s+\d+\s+(\d+)\s+(\d+)\s+\d+\s+\d+\s+\|\s+(\d+)", output, re.M)
    assert rows, output
    received, stored, sessions = (int(x) for x in rows[-1])
    assert received > 0
    assert stored > 0
    assert sessions > 0
