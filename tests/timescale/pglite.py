"""PGlite with TimescaleDB as a PostgreSQL server for the tests (Debian packages no TimescaleDB).

The pinned npm packages (package-lock.json here) are installed into the git-ignored .cache/pglite/
and server.mjs runs there under Node.js, serving one in-memory database on a port the OS picks.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import psycopg

from cli.services import port_open
from tests.support import wait_until

HERE = Path(__file__).resolve().parent
CACHE_DIR = HERE.parents[1] / ".cache" / "pglite"
NPM_TIMEOUT_S = 300.0
START_TIMEOUT_S = 60.0
_PROJECT_FILES = ("package.json", "package-lock.json")
_SERVER_SCRIPT = "server.mjs"
_MIN_NODE_MAJOR = 20
_INSTALL_HINT = (
    "Install Node.js 20 or newer with npm (Debian/Ubuntu: `apt-get install nodejs npm`; "
    "GitHub Actions: `actions/setup-node` with `node-version: 20`)."
)


class NodeToolingError(RuntimeError):
    """Node.js or npm is missing, too old, or could not install the PGlite packages."""


def require_node() -> tuple[str, str]:
    """Paths of `node` and `npm`; raises NodeToolingError saying what to install."""
    node, npm = shutil.which("node"), shutil.which("npm")
    missing = [name for name, path in (("node", node), ("npm", npm)) if path is None]
    if node is None or npm is None:
        raise NodeToolingError(
            f"the TimescaleDB tests run PGlite under Node.js, but {' and '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not on PATH. {_INSTALL_HINT}"
        )
    version = subprocess.run(
        [node, "--version"], capture_output=True, text=True, timeout=30, check=True
    ).stdout.strip()
    major = version.removeprefix("v").split(".", 1)[0]
    if not major.isdigit() or int(major) < _MIN_NODE_MAJOR:
        raise NodeToolingError(f"node {version!r} at {node} is too old. {_INSTALL_HINT}")
    return node, npm


def _lockfile_digest() -> str:
    digest = hashlib.sha256()
    for name in _PROJECT_FILES:
        digest.update((HERE / name).read_bytes())
    return digest.hexdigest()


def install_packages(cache_dir: Path = CACHE_DIR) -> float:
    """Install the locked npm packages into `cache_dir` unless that lockfile is installed already.

    Returns the seconds npm took (0.0 when nothing was installed). `npm ci` installs exactly what
    package-lock.json pins, so every machine and CI run gets the same PGlite and TimescaleDB.
    """
    _, npm = require_node()
    cache_dir.mkdir(parents=True, exist_ok=True)
    stamp = cache_dir / "installed.sha256"
    wanted = _lockfile_digest()
    # Two test sessions sharing a checkout must not run npm in the same folder at once.
    with (cache_dir / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        shutil.copyfile(HERE / _SERVER_SCRIPT, cache_dir / _SERVER_SCRIPT)
        installed = cache_dir / "node_modules" / "@unni-craftsman" / "pglite" / "package.json"
        if installed.exists() and stamp.exists() and stamp.read_text().strip() == wanted:
            return 0.0
        for name in _PROJECT_FILES:
            shutil.copyfile(HERE / name, cache_dir / name)
        command = [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"]
        started = time.monotonic()
        try:
            result = subprocess.run(
                command,
                cwd=cache_dir,
                capture_output=True,
                text=True,
                timeout=NPM_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise NodeToolingError(
                f"`{' '.join(command)}` in {cache_dir} did not finish in {NPM_TIMEOUT_S:.0f}s; "
                "is the npm registry reachable (`npm config get registry`)?"
            ) from None
        if result.returncode != 0:
            raise NodeToolingError(
                f"`{' '.join(command)}` in {cache_dir} failed with exit code "
                f"{result.returncode}; the npm registry must be reachable. npm said:\n"
                f"{result.stderr[-3000:]}"
            )
        stamp.write_text(wanted + "\n")
        return time.monotonic() - started


def connect(url: str) -> psycopg.Connection[tuple[Any, ...]]:
    """A connection to the PGlite server; close it before opening another (PGlite has one backend).

    Every connection talks to the same single backend session, so statements psycopg prepares
    server-side (`_pg3_0`, ...) would outlive the connection and clash with the next one's names.
    """
    return psycopg.connect(url, autocommit=True, prepare_threshold=None)


class PGliteServer:
    """`node server.mjs` as a subprocess, serving an in-memory PGlite with TimescaleDB."""

    def __init__(self, workdir: Path, *, node: str, cache_dir: Path = CACHE_DIR) -> None:
        self.workdir = workdir
        self.node = node
        self.cache_dir = cache_dir
        self.port_file = workdir / "port"
        self.log_path = workdir / "server.log"
        self.port: int | None = None
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the PGlite server is not started")
        # pglite-socket speaks no TLS (its README), so do not let libpq ask for it.
        return f"postgresql://postgres:postgres@127.0.0.1:{self.port}/postgres?sslmode=disable"

    def start(self) -> PGliteServer:
        self.port_file.unlink(missing_ok=True)
        script = self.cache_dir / _SERVER_SCRIPT
        with self.log_path.open("ab") as log:
            # stdin stays open as a lifeline: the server stops itself when it closes.
            self.process = subprocess.Popen(
                [self.node, str(script), "--port-file", str(self.port_file)],
                cwd=self.cache_dir,
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.port = wait_until(
            self._listening_port, START_TIMEOUT_S, f"PGlite to listen (log: {self.log_path})"
        )
        return self

    def _listening_port(self) -> int | None:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(
                f"the PGlite server exited with code {self.process.returncode}:\n{self.log()}"
            )
        if not self.port_file.exists():
            return None
        port = int(self.port_file.read_text())
        return port if port_open("127.0.0.1", port) else None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
