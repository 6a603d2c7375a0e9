"""The session store on both databases it supports: a SQLite file, and a real PostgreSQL server
(Debian's `postgresql`, installed by `make test` where missing) that this fixture starts on a
loopback port for the test session and stops afterwards."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from inferstack.sessions.store import SessionStore
from tests.ports import free_port


def _pg_bin() -> Path:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not versions:
        pytest.fail("PostgreSQL is not installed (make test installs Debian's postgresql)")
    return Path(versions[-1]).parent


def _as_server_user(command: list[str]) -> list[str]:
    # The server refuses to run as root; Debian's package creates the `postgres` user.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A throwaway cluster: trust auth, loopback only, fsync off. Its data directory is a fresh
    temp dir (the server's user cannot enter the root-owned cache directory) removed afterwards."""
    bin_dir = _pg_bin()
    folder = Path(tempfile.mkdtemp(prefix="inferstack-pg-"))
    data = folder / "data"
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    port = free_port()
    run = {"check": True, "capture_output": True}
    subprocess.run(_as_server_user([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres",
                                    "--auth=trust", "-E", "UTF8"]), **run)  # type: ignore[call-overload]  # fmt: skip
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(_as_server_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-w",
                                    "-l", str(folder / "server.log"), "start"]), **run)  # type: ignore[call-overload]  # fmt: skip
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(_as_server_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"]),
                       check=False, capture_output=True)  # fmt: skip
        shutil.rmtree(folder, ignore_errors=True)


async def _fresh_postgres_database(server: str) -> str:
    import asyncpg

    name = f"t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(server.replace("postgresql+asyncpg", "postgresql") + "/postgres")
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"{server}/{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SessionStore]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'sessions.db'}"
    else:
        url = await _fresh_postgres_database(request.getfixturevalue("postgres_server"))
    opened = await SessionStore.open(url)
    yield opened
    await opened.close()
