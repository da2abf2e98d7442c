"""The ground truth of a run: what the fleet really did, written as files `verify` reads back.

Usage is bucketed per item and UTC hour of the started_at the device reported, as usage_hourly is.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from simulators.messages import datetime_of

HOUR_MS = 3_600_000
HOURLY_FILE, FAULTS_FILE, OFFLINE_FILE = "usage_hourly.csv", "faults.csv", "offline.csv"
BAD_FILE, DEVICES_FILE, MANIFEST_FILE, CITY_FILE = (
    "bad.jsonl",
    "devices.csv",
    "manifest.json",
    "city.csv",
)
_INLINE_PAYLOAD_MAX = 4096  # larger bad payloads are kept as digest and size only


def _iso(ms: int) -> str:
    return datetime_of(ms).isoformat()


class LedgerWriter:
    """Streams the ledger to `directory`; an hour is written once no session can start in it."""

    def __init__(self, directory: Path, codes: Sequence[str]) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.codes = codes
        n = len(codes)
        self.births, self.statuses, self.usages = [0] * n, [0] * n, [0] * n
        self.faults, self.duplicates, self.unmeasured = [0] * n, [0] * n, [0] * n
        self._open_hours: dict[int, dict[int, list[float]]] = {}
        self._files: list[IO[str]] = []
        self._hourly = self._csv(
            HOURLY_FILE, ("code", "hour", "sessions", "reps", "duration_s", "energy_wh")
        )
        self._faults = self._csv(
            FAULTS_FILE, ("code", "boot", "seq", "ts", "fault", "severity", "state", "detail")
        )
        self._offline = self._csv(OFFLINE_FILE, ("code", "start", "end", "buffered"))
        self._bad = self._open(BAD_FILE)
        self.bad_count = 0

    def _open(self, name: str) -> IO[str]:
        handle = (self.directory / name).open("w", encoding="utf-8", newline="")
        self._files.append(handle)
        return handle

    def _csv(self, name: str, header: tuple[str, ...]) -> Any:
        writer = csv.writer(self._open(name), lineterminator="\n")
        writer.writerow(header)
        return writer

    def usage(
        self, item: int, started_ms: int, duration_s: float, reps: int, energy_wh: float
    ) -> None:
        hour = started_ms - started_ms % HOUR_MS
        bucket = self._open_hours.get(hour)
        if bucket is None:
            bucket = self._open_hours[hour] = {}
        row = bucket.get(item)
        if row is None:
            bucket[item] = [1, reps, duration_s, energy_wh]
        else:
            row[0] += 1
            row[1] += reps
            row[2] += duration_s
            row[3] += energy_wh
        self.usages[item] += 1

    def close_hours_before(self, ms: int) -> None:
        for hour in sorted(h for h in self._open_hours if h + HOUR_MS <= ms):
            bucket = self._open_hours.pop(hour)
            stamp = _iso(hour)
            for item in sorted(bucket):
                sessions, reps, duration, energy = bucket[item]
                self._hourly.writerow(
                    (
                        self.codes[item],
                        stamp,
                        int(sessions),
                        int(reps),
                        repr(duration),
                        repr(energy),
                    )
                )

    def fault(
        self,
        item: int,
        boot: int,
        seq: int,
        ts: str,
        fault: str,
        severity: str,
        state: str,
        detail: str | None,
    ) -> None:
        self._faults.writerow(
            (self.codes[item], boot, seq, ts, fault, severity, state, detail or "")
        )
        self.faults[item] += 1

    def offline(self, item: int, start_ms: int, end_ms: int, buffered: int) -> None:
        self._offline.writerow((self.codes[item], _iso(start_ms), _iso(end_ms), buffered))

    def bad(self, nonce: int, way: str, ms: int, topic: str, payload: bytes) -> None:
        record: dict[str, object] = {
            "nonce": nonce,
            "way": way,
            "at": _iso(ms),
            "topic": topic,
            "size": len(payload),
            "sha256": hashlib.sha256(payload).hexdigest(),
        }
        if len(payload) <= _INLINE_PAYLOAD_MAX:
            record["payload_b64"] = base64.b64encode(payload).decode()
        self._bad.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.bad_count += 1

    def close(
        self,
        *,
        kinds: Sequence[str],
        skew_ms: Sequence[int],
        first_boot: Sequence[int],
        last_boot: Sequence[int],
        manifest: dict[str, object],
    ) -> None:
        self.close_hours_before(2**62)
        devices = self._csv(
            DEVICES_FILE,
            (
                "code",
                "kind",
                "skew_ms",
                "first_boot",
                "last_boot",
                "births",
                "statuses",
                "usage",
                "faults",
                "duplicates",
                "unmeasured_sessions",
            ),
        )
        for i, code in enumerate(self.codes):
            devices.writerow(
                (
                    code,
                    kinds[i],
                    skew_ms[i],
                    first_boot[i],
                    last_boot[i],
                    self.births[i],
                    self.statuses[i],
                    self.usages[i],
                    self.faults[i],
                    self.duplicates[i],
                    self.unmeasured[i],
                )
            )
        for handle in self._files:
            handle.close()
        (self.directory / MANIFEST_FILE).write_text(
            json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
            encoding="utf-8",
        )


@dataclass(frozen=True, slots=True)
class HourlyRow:
    code: str
    hour: datetime
    sessions: int
    reps: int
    duration_s: float
    energy_wh: float


@dataclass(frozen=True, slots=True)
class FaultRow:
    code: str
    boot: int
    seq: int
    ts: datetime
    fault: str
    severity: str
    state: str
    detail: str | None


@dataclass(frozen=True, slots=True)
class OfflineRow:
    code: str
    start: datetime
    end: datetime
    buffered: int


@dataclass(frozen=True, slots=True)
class BadRow:
    nonce: int
    way: str
    topic: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class DeviceRow:
    code: str
    kind: str
    skew_ms: int
    first_boot: int
    last_boot: int
    births: int
    statuses: int
    usage: int
    faults: int
    duplicates: int
    unmeasured_sessions: int


def _rows(path: Path) -> Iterator[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        yield from csv.DictReader(handle)


def read_manifest(directory: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((directory / MANIFEST_FILE).read_text(encoding="utf-8"))
    return data


def iter_hourly(directory: Path) -> Iterator[HourlyRow]:
    """Rows in (hour, code) order, as they were written."""
    for r in _rows(directory / HOURLY_FILE):
        yield HourlyRow(
            r["code"],
            datetime.fromisoformat(r["hour"]),
            int(r["sessions"]),
            int(r["reps"]),
            float(r["duration_s"]),
            float(r["energy_wh"]),
        )


def read_faults(directory: Path) -> list[FaultRow]:
    return [
        FaultRow(
            r["code"],
            int(r["boot"]),
            int(r["seq"]),
            datetime.fromisoformat(r["ts"]),
            r["fault"],
            r["severity"],
            r["state"],
            r["detail"] or None,
        )
        for r in _rows(directory / FAULTS_FILE)
    ]


def read_offline(directory: Path) -> list[OfflineRow]:
    return [
        OfflineRow(
            r["code"],
            datetime.fromisoformat(r["start"]),
            datetime.fromisoformat(r["end"]),
            int(r["buffered"]),
        )
        for r in _rows(directory / OFFLINE_FILE)
    ]


def read_bad(directory: Path) -> list[BadRow]:
    rows = []
    with (directory / BAD_FILE).open(encoding="utf-8") as handle:
        for line in handle:
            r = json.loads(line)
            rows.append(BadRow(r["nonce"], r["way"], r["topic"], r["size"], r["sha256"]))
    return rows


def read_devices(directory: Path) -> list[DeviceRow]:
    return [
        DeviceRow(
            r["code"],
            r["kind"],
            int(r["skew_ms"]),
            int(r["first_boot"]),
            int(r["last_boot"]),
            int(r["births"]),
            int(r["statuses"]),
            int(r["usage"]),
            int(r["faults"]),
            int(r["duplicates"]),
            int(r["unmeasured_sessions"]),
        )
        for r in _rows(directory / DEVICES_FILE)
    ]
