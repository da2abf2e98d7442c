"""The API's connection pools, opened with the app and closed with it: a connection per request for
the routes, and a small pool of their own for the public reads (the scan page, the lookup).

Each request borrows a pooled connection and owns its unit of work: committed when the route
returns, rolled back when it raises. A database that does not answer is a 503 problem (problems.py).

The public reads are the busiest requests, and anyone's: one query each, run on the event loop
(psycopg's async connection, autocommit) rather than in the threadpool, whose hand-offs cost them
more than the query does. Their pool of their own also keeps a flood of scans from taking the
connections the crews' and managers' requests need.
"""

from __future__ import annotations

import select
from collections.abc import Iterator
from typing import Annotated, Any

import psycopg
from fastapi import Depends, Request
from psycopg_pool import AsyncConnectionPool, ConnectionPool

# Routes are sync and run in the threadpool; beyond this many at once, requests wait for a
# connection, and after POOL_TIMEOUT_S they get a 503 instead of piling onto the database.
POOL_MIN_SIZE = 2
POOL_MAX_SIZE = 8
POOL_TIMEOUT_S = 5.0
# The public reads hold a connection for one query of well under a millisecond.
READ_POOL_MIN_SIZE = 2
READ_POOL_MAX_SIZE = 4
_CONNECT_TIMEOUT_S = 3

ApiPool = ConnectionPool[psycopg.Connection[Any]]
ReadPool = AsyncConnectionPool[psycopg.AsyncConnection[Any]]


def _has_input(conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> bool:
    """Whether an idle connection's socket has something to read, without waiting (poll, not
    select: a busy server's descriptors may be past select's limit of 1024)."""
    poll = select.poll()
    poll.register(conn.fileno(), select.POLLIN)
    return bool(poll.poll(0))


# A connection the server ended (pg_terminate_backend, a restart: the server says so, then closes)
# has input while idle; a healthy idle one has none (the API LISTENs on no pooled connection). So
# the pool's round-trip check runs only then, and a checkout otherwise costs no round trip; the
# pool discards a connection that fails the check and hands out another (psycopg_pool's getconn).
# One cut without a word (a network failure) fails its request, and the pool then replaces it.
def _check_when_ended(conn: psycopg.Connection[Any]) -> None:
    if _has_input(conn):
        ConnectionPool.check_connection(conn)


async def _check_when_ended_async(conn: psycopg.AsyncConnection[Any]) -> None:
    if _has_input(conn):
        await AsyncConnectionPool.check_connection(conn)


def open_pool(conninfo: str) -> ApiPool:
    """Open without waiting: the API starts while the database is down, and /healthz says so."""
    pool: ApiPool = ConnectionPool(
        conninfo,
        min_size=POOL_MIN_SIZE,
        max_size=POOL_MAX_SIZE,
        timeout=POOL_TIMEOUT_S,
        kwargs={"connect_timeout": _CONNECT_TIMEOUT_S},
        check=_check_when_ended,
        name="fitmon-api",
        open=False,
    )
    pool.open(wait=False)
    return pool


async def open_read_pool(conninfo: str) -> ReadPool:
    """The public reads' pool, opened without waiting like the other; its connections are in
    autocommit: each read is one statement, so one round trip, without BEGIN and COMMIT."""
    pool: ReadPool = AsyncConnectionPool(
        conninfo,
        min_size=READ_POOL_MIN_SIZE,
        max_size=READ_POOL_MAX_SIZE,
        timeout=POOL_TIMEOUT_S,
        kwargs={"connect_timeout": _CONNECT_TIMEOUT_S, "autocommit": True},
        check=_check_when_ended_async,
        name="fitmon-api-reads",
        open=False,
    )
    await pool.open(wait=False)
    return pool


def connection(request: Request) -> Iterator[psycopg.Connection[Any]]:
    pool: ApiPool = request.app.state.pool
    with pool.connection() as conn:  # raises PoolTimeout (an OperationalError) after the timeout
        yield conn


# "function": the transaction commits (or fails) before the response is sent, so a client that
# was told "done" reads what it did on its next request (the default, "request", would commit
# only after the response had gone, and a page's redirect could outrun its own write).
DbConnection = Annotated[psycopg.Connection[Any], Depends(connection, scope="function")]


async def read_pool(request: Request) -> ReadPool:
    """The public reads' pool: a route borrows a connection for its one query only (`async with
    pool.connection()`), not while it renders or while a client uploads."""
    pool: ReadPool = request.app.state.read_pool
    return pool


PublicReads = Annotated[ReadPool, Depends(read_pool)]
