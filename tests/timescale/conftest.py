"""A PGlite server with TimescaleDB for the session; npm installs its packages on first use."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from db.migrate import Migration, migrate
from tests.timescale.pglite import NodeToolingError, PGliteServer, install_packages, require_node


@pytest.fixture(scope="session")
def timescale_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of an empty in-memory PGlite database with TimescaleDB available, one per session."""
    try:
        node, _ = require_node()
        install_packages()
    except NodeToolingError as exc:
        # a failure, not a skip: CI must not pass without having run the TimescaleDB path
        raise pytest.fail.Exception(str(exc), pytrace=False) from None
    server = PGliteServer(tmp_path_factory.mktemp("pglite"), node=node)
    try:
        server.start()
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def timescale_migrated(timescale_url: str) -> list[Migration]:
    """What the first `migrate()` applied to the empty PGlite database."""
    return migrate(timescale_url)
