"""Stored keys over a real SQLite file: issued once, kept only as an HMAC digest, refused once
revoked or expired (after the lookup cache time), rotated with their scopes."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from inferstack.config.quotas import Limits
from inferstack.keys.service import PREFIX, KeyService, read_secret
from inferstack.keys.store import KeyStore

CACHE_S = 0.2


@pytest.fixture
async def keys(tmp_path: Path) -> AsyncIterator[KeyService]:
    store = await KeyStore.open(f"sqlite+aiosqlite:///{tmp_path / 'keys.db'}")
    service = KeyService(store, read_secret(None, tmp_path / "keys.secret"), cache_s=CACHE_S)
    yield service
    await service.close()


async def test_a_key_is_shown_once_and_stored_only_as_its_digest(keys: KeyService, tmp_path: Path) -> None:
    record, key = await keys.create("acme", "ci", limits=Limits(requests_per_minute=5))
    assert key.startswith(PREFIX) and len(key) >= 40
    principal = await keys.authenticate(key)
    assert principal is not None and (principal.tenant, principal.key_id) == ("acme", record.id)
    assert principal.limits.requests_per_minute == 5
    assert principal.may("chat") and not principal.may("admin")
    dump = "\n".join(sqlite3.connect(tmp_path / "keys.db").iterdump())
    assert key not in dump and key[len(PREFIX) :] not in dump and record.digest in dump
    assert "digest" not in record.public()
    assert await keys.authenticate(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert await keys.authenticate("sk-not-ours") is None


async def test_a_revoked_key_is_refused_after_the_cache_time(keys: KeyService) -> None:
    record, key = await keys.create("acme")
    assert await keys.authenticate(key) is not None
    other = KeyService(keys.store, keys._secret, cache_s=CACHE_S)  # a second replica, same database
    assert await other.authenticate(key) is not None
    assert await keys.revoke(record.id)
    assert await keys.authenticate(key) is None  # this replica: at once
    assert await other.authenticate(key) is not None  # the other: still cached ...
    await asyncio.sleep(CACHE_S + 0.05)
    assert await other.authenticate(key) is None  # ... not past the cache time
    assert not await keys.revoke(record.id)  # already revoked


async def test_expiry_scopes_and_rotation(keys: KeyService) -> None:
    _, expired = await keys.create("acme", expires_at=time.time() - 1)
    assert await keys.authenticate(expired) is None
    record, key = await keys.create("acme", endpoints=("embeddings",), models=("smollm2-135m",))
    principal = await keys.authenticate(key)
    assert principal is not None and principal.may("embeddings") and not principal.may("chat")
    assert principal.may_use("smollm2-135m") and not principal.may_use("auto")
    rotated = await keys.rotate(record.id)
    assert rotated is not None
    new_record, new_key = rotated
    assert (new_record.endpoints, new_record.models) == (("embeddings",), ("smollm2-135m",))
    await asyncio.sleep(CACHE_S + 0.05)
    assert await keys.authenticate(key) is None and await keys.authenticate(new_key) is not None
    listed = {k["id"]: k["active"] for k in await keys.list("acme")}
    assert listed[record.id] is False and listed[new_record.id] is True


def test_the_secret_is_made_once_and_kept_private(tmp_path: Path) -> None:
    path = tmp_path / "keys.secret"
    first = read_secret(None, path)
    assert read_secret(None, path) == first and len(first) == 64
    assert path.stat().st_mode & 0o077 == 0
    assert read_secret("from-env", path) == b"from-env"
