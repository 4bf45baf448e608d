"""A private, throw-away PostgreSQL server for tests (started and stopped by the tests).

Uses the server binaries of the machine (``scripts/system-deps.sh`` installs them when
missing). As root, the server runs as the ``postgres`` user, as PostgreSQL requires.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass


def _bindir() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL server binaries not found; run scripts/system-deps.sh")
    return os.path.dirname(found[-1])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    datadir: str
    port: int
    bindir: str

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        cmd = list(args)
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True)

    @classmethod
    def start(cls) -> PgServer:
        bindir = _bindir()
        datadir = tempfile.mkdtemp(prefix="salespulse-pg-")
        if os.geteuid() == 0:
            shutil.chown(datadir, "postgres")
        server = cls(datadir, _free_port(), bindir)
        server._run(
            f"{bindir}/initdb",
            "-D",
            datadir,
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        )
        server._run(
            f"{bindir}/pg_ctl",
            "-D",
            datadir,
            "-l",
            f"{datadir}/log",
            "-w",
            "-o",
            f"-p {server.port} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c full_page_writes=off -c synchronous_commit=off",
            "start",
        )
        return server

    def createdb(self, name: str) -> str:
        self._run(
            f"{self.bindir}/createdb",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            name,
        )
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        try:
            self._run(f"{self.bindir}/pg_ctl", "-D", self.datadir, "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.datadir, ignore_errors=True)
