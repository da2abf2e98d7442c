"""The API under load: equipment lookup, the public scan page and a site's usage over 30 days,
beside a bare FastAPI route returning a constant, measured in the same run.

    .venv/bin/python -m benchmarks.api [--items 10000] [--days 90] [--rate 200] [--seconds 10]

A scratch database built by the real migrations (FITMON_BENCH_DATABASE_URL, else 127.0.0.1:5432,
else an embedded PostgreSQL) gets `--items` items and `--days` days of hourly usage rollups by COPY
(the registry and the days as benchmarks.dashboards loads them). The API runs as its own process
under uvicorn as `fitmon api` runs it (its page rate limits raised out of the way: one client
sends everything here); the bare route in a second uvicorn process alike. A third process, an
asyncio client (httpx), sends each kind of request at `--rate` a second for `--seconds`, open
loop (a request is sent on time whether or not the last has answered), then as fast as
`--concurrency` connections allow (usage queries, which sum 30 days of a site's rollups, at
`--usage-rate`, 20 a second). Printed per kind: the rate reached, p50 and p99 at the fixed
rate, the server's CPU time per request at that rate (read from /proc: on a shared machine a
steadier measure of what a request costs than its latency), and the most requests a second.
Targets: p99 under 50 ms for the lookup and the page at 200 a second, and the page's p99 within
2x the bare route's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr

from api.app import create_app
from api.rate_limits import PageLimits
from api.settings import ApiSettings
from benchmarks.dashboards import load_days, load_registry
from benchmarks.harness import bench_database, percentile
from db.embedded import free_port
from maintenance.demo_admin import issue_demo_admin_token

TARGET_P99_MS = 50.0
TARGET_PAGE_OVER_BARE = 2.0

bare_app = FastAPI()


@bare_app.get("/bare")
def bare() -> dict[str, str]:
    """The baseline: a sync route like the API's, returning a constant."""
    return {"status": "ok"}


def serve_api(port: int) -> None:
    """The real app, as `fitmon api` builds it, with the pages' rate limits out of the way."""
    settings = ApiSettings(database_url=SecretStr(os.environ["FITMON_DATABASE_URL"]))
    app = create_app(settings)
    app.state.page_limits = PageLimits(views="1000000/second", misses="1000000/second")
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def serve_bare(port: int) -> None:
    uvicorn.run(bare_app, host="127.0.0.1", port=port, log_level="warning")


# --- the client (its own process) ------------------------------------------------------------


async def _timed(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> float | None:
    started = time.perf_counter()
    try:
        response = await client.get(url, headers=headers)
    except httpx.HTTPError:
        return None
    return time.perf_counter() - started if response.status_code == 200 else None


def _cpu_seconds(pid: int) -> float:
    """The CPU time a process has used (user and system), from /proc; NaN where there is none."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return float("nan")
    fields = stat.rpartition(")")[2].split()  # after the command's name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


async def _open_loop(
    urls: list[str], headers: dict[str, str], rate: float, seconds: float, server_pid: int
) -> dict[str, float]:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)

    async def fire(count: int) -> tuple[list[float | None], float]:
        started = time.perf_counter()
        tasks = []
        for n in range(count):
            delay = started + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(_timed(client, urls[n % len(urls)], headers)))
        return await asyncio.gather(*tasks), time.perf_counter() - started

    async with httpx.AsyncClient(limits=limits, timeout=10) as client:
        # Warm-up at the measured rate for two seconds, not timed: the client's connections and
        # the API's pool grow to what the rate needs here, as they have in a running service.
        await fire(int(rate * 2))
        count = int(rate * seconds)
        cpu_before = _cpu_seconds(server_pid)
        results, took = await fire(count)
        cpu_ms = 1000 * (_cpu_seconds(server_pid) - cpu_before) / count
    ok = sorted(r for r in results if r is not None)
    if not ok:
        nan = float("nan")
        return {"rps": 0.0, "p50_ms": nan, "p99_ms": nan, "cpu_ms": cpu_ms, "errors": count}
    return {
        "rps": len(ok) / took,
        "p50_ms": 1000 * statistics.median(ok),
        "p99_ms": 1000 * percentile(ok, 99),
        "cpu_ms": cpu_ms,
        "errors": count - len(ok),
    }


async def _closed_loop(
    urls: list[str], headers: dict[str, str], concurrency: int, seconds: float
) -> float:
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker(client: httpx.AsyncClient, offset: int) -> None:
        nonlocal done
        n = offset
        while time.perf_counter() < deadline:
            if await _timed(client, urls[n % len(urls)], headers) is not None:
                done += 1
            n += concurrency

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client, n) for n in range(concurrency)))
        return done / (time.perf_counter() - started)


def run_client(plan_path: Path) -> None:
    """Read the plan (kinds of request with their URLs), print the results as JSON."""
    plan = json.loads(plan_path.read_text())
    results = {}
    for kind in plan["kinds"]:
        rate = kind.get("rate", plan["rate"])
        fixed = asyncio.run(
            _open_loop(kind["urls"], kind["headers"], rate, plan["seconds"], kind["server_pid"])
        )
        most = asyncio.run(
            _closed_loop(kind["urls"], kind["headers"], plan["concurrency"], plan["seconds"] / 2)
        )
        results[kind["name"]] = {**fixed, "max_rps": most}
    print(json.dumps(results))


# --- the run ----------------------------------------------------------------------------------


def _start(target: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    code = f"from benchmarks.api import {target}; {target}({port})"
    process = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, **env})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/docs", timeout=1)
            return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{target} did not start on port {port}")


def _admin_token(url: str) -> str:
    with psycopg.connect(url) as conn:
        return issue_demo_admin_token(conn, datetime.now(UTC))


def _plan(
    api: tuple[str, int], bare: tuple[str, int], codes: Sequence[str], token: str, usage_rate: float
) -> list[dict[str, Any]]:
    """The kinds of request, each with its URLs, headers and the pid of the server it is sent to
    (`api` and `bare`: a server's base URL and pid)."""
    (base, api_pid), (bare_base, bare_pid) = api, bare
    rng = random.Random(1)
    sample = rng.sample(list(codes), min(2000, len(codes)))
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=30)
    period = f"start={start.isoformat()}&end={end.isoformat()}".replace("+", "%2B")
    sites = sorted({c[:11] for c in sample})
    html = {"Accept": "text/html"}
    return [
        {
            "name": "bare route (baseline)",
            "urls": [f"{bare_base}/bare"],
            "headers": {},
            "server_pid": bare_pid,
        },
        {
            "name": "equipment lookup",
            "urls": [f"{base}/api/v1/equipment/{c}" for c in sample],
            "headers": {},
            "server_pid": api_pid,
        },
        {
            "name": "public scan page",
            "urls": [f"{base}/q/{c}" for c in sample],
            "headers": html,
            "server_pid": api_pid,
        },
        {
            "name": "site usage, 30 days by day",
            "urls": [f"{base}/api/v1/usage?level=site&key={s}&{period}&bucket=day" for s in sites],
            "headers": {"Authorization": f"Bearer {token}"},
            "rate": usage_rate,
            "server_pid": api_pid,
        },
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--usage-rate", type=float, default=20.0, help="usage queries a second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--embedded-postgres", action="store_true")
    parser.add_argument("--client", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.client:
        run_client(args.client)
        return 0
    with (
        tempfile.TemporaryDirectory() as workdir,
        bench_database(Path(workdir), embedded=args.embedded_postgres) as (url, where),
    ):
        print(f"database: {where}; loading {args.items} items and {args.days} days ...")
        started = time.monotonic()
        with psycopg.connect(url) as conn:
            codes = load_registry(conn, args.items)
            conn.commit()
            first = datetime.now(UTC).replace(hour=16, minute=0, second=0, microsecond=0)
            rows = load_days(conn, codes, first - timedelta(days=args.days), args.days)
            conn.commit()
            # Settle the load first, as a city's database is settled: otherwise autovacuum
            # works through the millions of new rows while the requests are timed.
            conn.autocommit = True
            conn.execute("VACUUM (ANALYZE)")
            conn.execute("CHECKPOINT")
        print(f"loaded {rows} hourly rows in {time.monotonic() - started:.0f} s")
        api_port, bare_port = free_port(), free_port()
        env = {"FITMON_DATABASE_URL": url}
        servers = [_start("serve_api", api_port, env), _start("serve_bare", bare_port, env)]
        try:
            plan = {
                "rate": args.rate,
                "seconds": args.seconds,
                "concurrency": args.concurrency,
                "kinds": _plan(
                    (f"http://127.0.0.1:{api_port}", servers[0].pid),
                    (f"http://127.0.0.1:{bare_port}", servers[1].pid),
                    codes,
                    _admin_token(url),
                    args.usage_rate,
                ),
            }
            plan_path = Path(workdir) / "plan.json"
            plan_path.write_text(json.dumps(plan))
            client = subprocess.run(
                [sys.executable, "-m", "benchmarks.api", "--client", str(plan_path)],
                capture_output=True,
                text=True,
                check=True,
            )
        finally:
            for server in servers:
                server.terminate()
                server.wait(15)
    results = json.loads(client.stdout)
    return report(results, args.rate)


def report(results: dict[str, dict[str, float]], rate: float) -> int:
    print(
        f"\n{'request':30} {'rps':>7} {'p50 ms':>8} {'p99 ms':>8} {'cpu ms':>7} {'errors':>7} "
        f"{'max rps':>8}"
    )
    for name, r in results.items():
        print(
            f"{name:30} {r['rps']:7.0f} {r['p50_ms']:8.1f} {r['p99_ms']:8.1f} {r['cpu_ms']:7.2f} "
            f"{r['errors']:7.0f} {r['max_rps']:8.0f}"
        )
    bare = results["bare route (baseline)"]["p99_ms"]
    page = results["public scan page"]["p99_ms"]
    lookup = results["equipment lookup"]["p99_ms"]
    ratio = page / bare
    print(f"\npublic page p99 / bare route p99: {ratio:.2f} (target under {TARGET_PAGE_OVER_BARE})")
    met = lookup < TARGET_P99_MS and page < TARGET_P99_MS and ratio < TARGET_PAGE_OVER_BARE
    print(
        f"p99 at {rate:.0f}/s: lookup {lookup:.1f} ms, page {page:.1f} ms "
        f"(target under {TARGET_P99_MS:.0f} ms): {'met' if met else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
