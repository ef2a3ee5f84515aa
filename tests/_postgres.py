"""A throwaway PostgreSQL cluster for tests: initdb in a temporary directory, a unix socket.

Used by the ``postgres_dsn`` fixture (tests/conftest.py) and the benchmarks. The
server binaries are looked up on PATH and in Debian's ``/usr/lib/postgresql/*/bin``;
when the tests run as root (CI containers), the cluster runs as the ``postgres``
user (or ``nobody``), since PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path


class ClusterUnavailableError(RuntimeError):
    """No PostgreSQL server can be started here (the reason is the message)."""


def _bin_dir() -> Path:
    found = shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)
    if candidates:
        return Path(candidates[0]).parent
    raise ClusterUnavailableError(
        "PostgreSQL server binaries (pg_ctl, initdb) not found on PATH or in "
        "/usr/lib/postgresql/*/bin; install Debian's `postgresql` package"
    )


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise ClusterUnavailableError("running as root and no `postgres` or `nobody` user to run as")


class Cluster:
    """A PostgreSQL cluster in a temporary directory, listening on a unix socket only."""

    def __init__(self) -> None:
        self.bin = _bin_dir()
        self.user = _run_as()
        self.root = Path(tempfile.mkdtemp(prefix="tidings-pg-"))
        self.data = self.root / "data"
        self.socket = self.root
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self.root.chmod(0o755)

    def _cmd(self, *args: str) -> list[str]:
        if self.user is None:
            return list(args)
        return ["runuser", "-u", self.user, "--", *args]

    def _run(self, *args: str) -> None:
        done = subprocess.run(self._cmd(*args), capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise ClusterUnavailableError(
                f"{Path(args[0]).name} failed ({done.returncode}): "
                f"{(done.stderr or done.stdout).strip()[-500:]}"
            )

    def start(self) -> str:
        """Create and start the cluster; return a DSN for its ``tidings`` database."""
        role = self.user or pwd.getpwuid(os.geteuid()).pw_name
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            role,
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        )
        options = (
            f"-k {self.socket} -c listen_addresses='' -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=100 -c shared_buffers=128MB"
        )
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "server.log"),
            "-w",
            "start",
        )
        self.role = role
        self._run(str(self.bin / "createdb"), "-h", str(self.socket), "-U", role, "tidings")
        return self.dsn("tidings")

    def dsn(self, database: str) -> str:
        """A libpq URI for ``database`` of this cluster (socket directory in ``host``)."""
        return f"postgresql://{self.role}@/{database}?host={self.socket}"

    def create_database(self, name: str) -> str:
        """A fresh, empty database; its DSN."""
        import psycopg

        with psycopg.connect(self.dsn("tidings"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"'.encode())
        return self.dsn(name)

    def stop(self) -> None:
        """Stop the server and remove the directory."""
        subprocess.run(
            self._cmd(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"),
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.root, ignore_errors=True)
