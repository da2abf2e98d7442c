"""The API's connection pool, opened with the app and closed with it, and a connection per request.

Each request borrows a pooled connection and owns its unit of work: committed when the route
returns, rolled back when it raises. A database that does not answer is a 503 problem (problems.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import psycopg
from fastapi import Depends, Request
from psycopg_pool import ConnectionPool

# Routes are sync and run in the threadpool; beyond this many at once, requests wait for a
# connection, and after POOL_TIMEOUT_S they get a 503 instead of piling onto the database.
POOL_MIN_SIZE = 2
POOL_MAX_SIZE = 8
POOL_TIMEOUT_S = 5.0
_CONNECT_TIMEOUT_S = 3

ApiPool = ConnectionPool[psycopg.Connection[Any]]


def open_pool(conninfo: str) -> ApiPool:
    """Open without waiting: the API starts while the database is down, and /healthz says so."""
    pool: ApiPool = ConnectionPool(
        conninfo,
        min_size=POOL_MIN_SIZE,
        max_size=POOL_MAX_SIZE,
        timeout=POOL_TIMEOUT_S,
        kwargs={"connect_timeout": _CONNECT_TIMEOUT_S},
        # one round trip per checkout, so a restart of PostgreSQL costs no request an error
        check=ConnectionPool.check_connection,
        name="fitmon-api",
        open=False,
    )
    pool.open(wait=False)
    return pool


def connection(request: Request) -> Iterator[psycopg.Connection[Any]]:
    pool: ApiPool = request.app.state.pool
    with pool.connection() as conn:  # raises PoolTimeout (an OperationalError) after the timeout
        yield conn


# "function": the transaction commits (or fails) before the response is sent, so a client that
# was told "done" reads what it did on its next request (the default, "request", would commit
# only after the response had gone, and a page's redirect could outrun its own write).
DbConnection = Annotated[psycopg.Connection[Any], Depends(connection, scope="function")]
