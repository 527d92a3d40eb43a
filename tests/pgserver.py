"""A real PostgreSQL for the tests: a throwaway cluster (``initdb``, ``pg_ctl``) in a temporary folder,
listening on a loopback port only, with one new database per test.

The server binaries come from the machine (``/usr/local/bin``, ``/usr/lib/postgresql/<version>/bin``,
or the Debian package ``postgresql`` that ``.ci/run`` installs). ``initdb`` refuses to run as root:
as root the cluster belongs to ``nobody`` (``runuser``). When the cluster cannot be started, the
tests that need it are skipped with the reason, loudly — except in CI (``CI`` set), where that is a
failure: the PostgreSQL tier must run there.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest

from tests.mailservers import free_port

DEBIAN_BINARIES = Path("/usr/lib/postgresql")
STARTUP_SECONDS = 60


def unavailable(reason: str) -> None:
    """Skip loudly, or fail in CI."""
    message = f"POSTGRESQL TESTS NOT RUN: {reason}"
    if os.environ.get("CI"):
        pytest.fail(message + " (CI must run them: install postgresql, see .ci/run)")
    pytest.skip(message)


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(DEBIAN_BINARIES.glob(f"*/bin/{name}"), key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    return str(candidates[-1]) if candidates else None


class PostgresCluster:
    """One PostgreSQL server on 127.0.0.1 (trust authentication, user ``postgres``), fsync off."""

    def __init__(self) -> None:
        # As root the server runs as nobody, who must reach the folder: not under a private TMPDIR.
        self.root = Path(tempfile.mkdtemp(prefix="case-agent-postgres-", dir="/tmp" if os.geteuid() == 0 else None))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        self._names = itertools.count(1)
        self._as: list[str] = []
        self._started = False

    def start(self) -> None:
        initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
        if initdb is None or pg_ctl is None:
            unavailable("initdb and pg_ctl are not installed (apt-get install -y postgresql)")
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            runuser = shutil.which("runuser")
            if runuser is None:
                unavailable("running as root without runuser to start the server as nobody")
            self._as = [runuser, "-u", "nobody", "--"]
            owner = pwd.getpwnam("nobody")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        self.root.chmod(0o700)
        self._run([initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
                  "initdb")
        options = (f"-h 127.0.0.1 -p {self.port} -k {self.root} -c fsync=off -c synchronous_commit=off "
                   "-c full_page_writes=off -c max_connections=200")
        self._run([pg_ctl, "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "-t", str(STARTUP_SECONDS),
                   "start"], "pg_ctl start")
        self._started = True

    def _run(self, command: list[str], what: str) -> None:
        try:
            done = subprocess.run(self._as + command, check=False, capture_output=True, text=True,
                                  timeout=STARTUP_SECONDS + 30)
        except (OSError, subprocess.TimeoutExpired) as exc:
            unavailable(f"{what} failed: {exc}")
            return
        if done.returncode != 0:
            unavailable(f"{what} failed (exit {done.returncode}): {(done.stderr or done.stdout).strip()[-500:]}"
                        f"{self.log_tail()}")

    def log_tail(self) -> str:
        try:
            return "\n--- server log ---\n" + self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A new, empty database; its SQLAlchemy URL."""
        name = f"test_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        pg_ctl = _binary("pg_ctl")
        if self._started and pg_ctl is not None:
            subprocess.run(self._as + [pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop"],
                           check=False, capture_output=True, timeout=STARTUP_SECONDS)
        shutil.rmtree(self.root, ignore_errors=True)
