"""Requests share the app's connection pools, which open and close with the app, and outlive
connections the server ends."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg
from fastapi.testclient import TestClient

from api.database import POOL_MAX_SIZE, READ_POOL_MAX_SIZE
from api.rate_limits import PageLimits
from db.embedded import free_port
from tests.api.conftest import api_client
from tests.support import load_registry, make_registry, wait_until


def backends_named(database_url: str, application_name: str) -> set[int]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (application_name,)
        ).fetchall()
    return {int(pid) for (pid,) in rows}


def many_concurrent_requests(client: TestClient, code: str, *, requests: int = 64) -> None:
    paths = ["/healthz", f"/api/v1/equipment/{code}", "/api/v1/equipment/320705-0042-007-4"]
    with ThreadPoolExecutor(max_workers=2 * POOL_MAX_SIZE) as threads:
        statuses = list(
            threads.map(lambda n: client.get(paths[n % len(paths)]).status_code, range(requests))
        )
    assert sorted(set(statuses)) == [200, 404]


def test_requests_share_the_pooled_connections(database_url: str) -> None:
    # a name of this test's own picks out the app's backends from every other session's
    name = f"api-pool-{uuid.uuid4().hex[:10]}"
    url = psycopg.conninfo.make_conninfo(database_url, application_name=name)
    code = load_registry(database_url, make_registry(items=1)).equipment[0].code
    with api_client(url) as client:
        # its unknown code is asked for over and over: lift the guess limit of the public lookup
        client.app.state.page_limits = PageLimits(misses="1000/hour")  # type: ignore[attr-defined]
        many_concurrent_requests(client, code)
        first = backends_named(database_url, name)
        # one connection per request would have closed every backend by now
        assert 1 <= len(first) <= POOL_MAX_SIZE + READ_POOL_MAX_SIZE
        many_concurrent_requests(client, code)
        second = backends_named(database_url, name)
        assert len(second) <= POOL_MAX_SIZE + READ_POOL_MAX_SIZE
        assert first <= second, "the first wave's connections must serve the second"
    wait_until(lambda: not backends_named(database_url, name), 10, "the pool to close with the app")


def test_requests_after_the_server_ended_the_pooled_connections_do_not_fail(
    database_url: str,
) -> None:
    # as a restart of PostgreSQL or an administrator's pg_terminate_backend ends them
    name = f"api-ended-{uuid.uuid4().hex[:10]}"
    url = psycopg.conninfo.make_conninfo(database_url, application_name=name)
    code = load_registry(database_url, make_registry(items=1)).equipment[0].code
    # the crews' pool, the public lookup's and the scan page's
    paths = ["/healthz", f"/api/v1/equipment/{code}", f"/q/{code}"]
    with api_client(url) as client:
        assert [client.get(path).status_code for path in paths] == [200, 200, 200]
        ended = backends_named(database_url, name)
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = %s",
                (name,),
            )

        def all_ended() -> bool:
            return backends_named(database_url, name).isdisjoint(ended)

        wait_until(all_ended, 10, "the backends to end")
        # enough requests that every pooled connection is handed out at least once
        statuses = [client.get(path).status_code for path in paths * POOL_MAX_SIZE]
        assert set(statuses) == {200}
        assert backends_named(database_url, name).isdisjoint(ended)


def test_unreachable_database_is_a_503_problem() -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/fitmon"  # nothing listens there
    with api_client(url) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["title"] == "Database unavailable"
    assert "127.0.0.1" not in body["detail"]
