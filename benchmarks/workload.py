"""The benchmark workload: a registry, and realistic v1 `usage` messages for its items.

The same sessions three ways: per-item messages, site batch messages carrying the very same item
payloads, and the usage_sessions rows they become (for a bare COPY).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

from devices.catalog import EQUIPMENT_TYPES
from devices.codes import make_equipment_code, make_site_code
from devices.protocol import MAX_PAYLOAD_BYTES
from devices.registry_rows import EquipmentRow, Registry, SiteRow

DEVICE_TIME = timezone(timedelta(hours=8))  # devices in China send local time with its offset

Row = tuple[object, ...]


@dataclass(frozen=True, slots=True)
class Workload:
    registry: Registry
    items: list[tuple[str, str, bytes]]  # (site, code, payload) of each per-item usage message
    batches: list[tuple[str, bytes]]  # (site, payload) of each site batch: the same item payloads
    rows: list[Row]  # the usage_sessions rows those messages become, for the bare COPY
    batch_size: int


def build_registry(items: int, sites: int) -> Registry:
    if not 1 <= -(-items // sites) <= 999:
        raise SystemExit(f"{items} items over {sites} sites exceeds 999 items per site")
    site_codes = [str(make_site_code("320705", n)) for n in range(1, sites + 1)]
    kinds = sorted(EQUIPMENT_TYPES)
    return Registry(
        sites=[SiteRow(code, f"Benchmark park {code}", None, None, None) for code in site_codes],
        equipment=[
            EquipmentRow(
                str(make_equipment_code(site_codes[n % sites], n // sites + 1)),
                site_codes[n % sites],
                kinds[n % len(kinds)],
                "B-1",
                date(2021, 4, 1),
                8,
                None,
            )
            for n in range(items)
        ],
    )


def build_workload(registry: Registry, messages: int, batch_size: int) -> Workload:
    """`messages` usage sessions, round robin over the items, device times over the last 2 h."""
    rng = random.Random(20_240_501)
    now = datetime.now(UTC)
    first = now.replace(microsecond=0) - timedelta(hours=2)
    step_ms = 2 * 3600 * 1000 / messages
    equipment = registry.equipment
    items: list[tuple[str, str, bytes]] = []
    rows: list[Row] = []
    for k in range(messages):
        item = equipment[k % len(equipment)]
        ts = (first + timedelta(milliseconds=int(k * step_ms))).astimezone(DEVICE_TIME)
        duration = round(rng.uniform(20, 900), 1)
        started = ts - timedelta(seconds=duration)
        energy = round(duration * rng.uniform(0.01, 0.05), 2) if item.kind == "smart_bike" else None
        cadence = round(rng.uniform(15, 90), 1)
        load = round(rng.uniform(5, 80), 1)
        body: dict[str, object] = {
            "v": 1,
            "code": item.code,
            "boot": 1,
            "seq": k // len(equipment),
            "ts": ts.isoformat(timespec="milliseconds"),
            "started_at": started.isoformat(timespec="milliseconds"),
            "duration_s": duration,
            "reps": rng.randint(5, 400),
            "avg_cadence_rpm": cadence,
            "max_load_kg": load,
        }
        if energy is not None:
            body["energy_wh"] = energy
        items.append((item.site_code, item.code, json.dumps(body, separators=(",", ":")).encode()))
        seq, reps = body["seq"], body["reps"]
        rows.append((item.code, 1, seq, ts, started, duration, reps, energy, cadence, load, now))
    by_site: dict[str, list[bytes]] = {}
    batches: list[tuple[str, bytes]] = []

    def flush(site: str) -> None:
        payload = b"[" + b",".join(by_site.pop(site)) + b"]"
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise SystemExit(f"a batch of {batch_size} items is {len(payload)} bytes, over 64 KiB")
        batches.append((site, payload))

    for site, _, payload in items:
        by_site.setdefault(site, []).append(payload)
        if len(by_site[site]) == batch_size:
            flush(site)
    for site in list(by_site):
        flush(site)
    return Workload(registry, items, batches, rows, batch_size)
