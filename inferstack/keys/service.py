"""Issuing and checking keys. A presented key is hashed (HMAC-SHA256 under the server secret)
and looked up by digest, so the comparison never touches a stored key, and the lookup of a
digest is constant time in what an attacker controls. Each replica caches a lookup (found or
not) for `cache_s`: a revocation reaches every replica sharing the database within that time."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inferstack.config import Settings
from inferstack.config.cache import CacheLayout
from inferstack.config.quotas import Limits
from inferstack.keys.store import KeyRecord, KeyStore

PREFIX = "isk-"
ENDPOINTS = ("chat", "embeddings", "retrieval_write", "sessions", "admin")
DEFAULT_ENDPOINTS = ("chat", "embeddings", "retrieval_write", "sessions")  # made without `endpoints`
TENANT = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
CACHE_S = 1.0
_MAX_CACHED = 100_000


@dataclass(frozen=True)
class Principal:
    """Who a request is: its tenant, the key's short id, what the key may do and its limits."""

    tenant: str
    key_id: str
    endpoints: frozenset[str]
    models: frozenset[str] | None  # None: every model
    limits: Limits

    def may(self, endpoint: str) -> bool:
        return endpoint in self.endpoints

    def may_use(self, model: str) -> bool:
        return self.models is None or model in self.models


def read_secret(env_value: str | None, fallback: Path) -> bytes:
    """The HMAC secret: the environment's (clusters: the same Secret in every replica), else a
    random one kept in the cache directory (mode 0600) for the single box."""
    if env_value:
        return env_value.encode()
    if not fallback.is_file():
        fallback.parent.mkdir(parents=True, exist_ok=True)
        draft = fallback.with_name(f".{fallback.name}.{os.getpid()}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
        try:  # whole or not at all: a reader never sees it half-written
            os.link(draft, fallback)  # fails if another process made it first: theirs wins
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    secret = fallback.read_text().strip()
    if not secret:
        raise ValueError(f"{fallback}: the key secret is empty")
    return secret.encode()


class KeyService:
    def __init__(self, store: KeyStore, secret: bytes, cache_s: float = CACHE_S) -> None:
        self.store = store
        self._secret = secret
        self.cache_s = cache_s
        self._cache: OrderedDict[str, tuple[float, Principal | None]] = OrderedDict()

    def digest(self, key: str) -> str:
        return hmac.new(self._secret, key.encode(), hashlib.sha256).hexdigest()

    async def authenticate(self, key: str) -> Principal | None:
        if not key.startswith(PREFIX):
            return None
        digest = self.digest(key)
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > now:
            self._cache.move_to_end(digest)
            return cached[1]
        record = await self.store.by_digest(digest)
        principal = None
        if record is not None and record.active():  # found by its digest: nothing left to compare
            principal = Principal(
                record.tenant, record.id,
                frozenset(record.endpoints if record.endpoints is not None else DEFAULT_ENDPOINTS),
                None if record.models is None else frozenset(record.models),
                Limits(**record.limits),
            )  # fmt: skip
        self._cache[digest] = (now + self.cache_s, principal)
        self._cache.move_to_end(digest)
        while len(self._cache) > _MAX_CACHED:  # the least recently used go first
            self._cache.popitem(last=False)
        return principal

    async def create(
        self,
        tenant: str,
        name: str = "",
        *,
        endpoints: tuple[str, ...] | None = None,
        models: tuple[str, ...] | None = None,
        limits: Limits | None = None,
        expires_at: float | None = None,
    ) -> tuple[KeyRecord, str]:
        """A new key: the record and the key itself (shown once, never stored)."""
        if not TENANT.match(tenant):
            raise ValueError(f"tenant {tenant!r}: 1-64 of A-Z a-z 0-9 . _ -")
        key = PREFIX + secrets.token_urlsafe(32)
        record = KeyRecord(
            id="key_" + secrets.token_hex(6), tenant=tenant, name=name or "key", digest=self.digest(key),
            endpoints=endpoints, models=models, limits=(limits or Limits()).model_dump(exclude_none=True),
            created_at=time.time(), expires_at=expires_at,
        )  # fmt: skip
        await self.store.add(record)
        return record, key

    async def revoke(self, key_id: str) -> bool:
        revoked = await self.store.revoke(key_id)
        self._cache.clear()  # this replica at once; the others within cache_s
        return revoked

    async def rotate(self, key_id: str) -> tuple[KeyRecord, str] | None:
        """A new key with the same tenant, scopes and limits; the old one is revoked."""
        old = await self.store.get(key_id)
        if old is None or not old.active():
            return None
        created = await self.create(
            old.tenant, old.name, endpoints=old.endpoints, models=old.models,
            limits=Limits(**old.limits), expires_at=old.expires_at,
        )  # fmt: skip
        await self.revoke(key_id)
        return created

    async def list(self, tenant: str | None = None) -> list[dict[str, Any]]:
        return [r.public() for r in await self.store.list(tenant)]

    async def close(self) -> None:
        await self.store.close()


def keys_url(settings: Settings, cache: CacheLayout) -> str:
    """`auth.database_url`, else the sessions' database (on a server: one for every replica),
    else a SQLite file of their own in the cache."""
    return (
        settings.auth.database_url
        or settings.sessions.database_url
        or f"sqlite+aiosqlite:///{cache.data / 'keys.db'}"
    )


async def open_keys(settings: Settings, cache: CacheLayout) -> KeyService:
    """The key service of these settings: its store, and the secret from `auth.secret_env`."""
    secret = read_secret(os.environ.get(settings.auth.secret_env), cache.data / "keys.secret")
    return KeyService(await KeyStore.open(keys_url(settings, cache)), secret)
