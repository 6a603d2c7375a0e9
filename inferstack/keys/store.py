"""The key table, SQLAlchemy 2 async Core over SQLite or PostgreSQL. The table is created when
the store opens, if it is missing (`create_all`). Only digests are stored, never keys."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Column, Float, MetaData, String, Table, event, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

_META = MetaData()
KEYS = Table(
    "api_keys",
    _META,
    Column("id", String(32), primary_key=True),
    Column("tenant", String(64), index=True, nullable=False),
    Column("name", String(128), nullable=False),
    Column("digest", String(64), unique=True, nullable=False),
    Column("endpoints", JSON, nullable=True),  # null: every endpoint but admin
    Column("models", JSON, nullable=True),  # null: every model
    Column("limits", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=True),
    Column("revoked_at", Float, nullable=True),
)


@dataclass(frozen=True)
class KeyRecord:
    id: str
    tenant: str
    name: str
    digest: str
    endpoints: tuple[str, ...] | None
    models: tuple[str, ...] | None
    limits: dict[str, Any]
    created_at: float
    expires_at: float | None = None
    revoked_at: float | None = None

    def active(self, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    def public(self) -> dict[str, Any]:
        """What the admin API and the CLI show: never the digest."""
        return {
            "id": self.id, "tenant": self.tenant, "name": self.name,
            "endpoints": None if self.endpoints is None else list(self.endpoints),
            "models": None if self.models is None else list(self.models),
            "limits": self.limits, "created_at": self.created_at, "expires_at": self.expires_at,
            "revoked_at": self.revoked_at, "active": self.active(),
        }  # fmt: skip


def _record(row: Any) -> KeyRecord:
    values = dict(row._mapping)
    for field in ("endpoints", "models"):
        values[field] = None if values[field] is None else tuple(values[field])
    return KeyRecord(**values)


def _sqlite_wal(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # the CLI may write while the gateway reads
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


class KeyStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @classmethod
    async def open(cls, url: str) -> KeyStore:
        local_file = url.startswith("sqlite")
        engine = create_async_engine(url, pool_pre_ping=not local_file)
        if local_file:
            event.listen(engine.sync_engine, "connect", _sqlite_wal)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(_META.create_all)
        except BaseException:
            await engine.dispose()
            raise
        return cls(engine)

    async def close(self) -> None:
        await self.engine.dispose()

    async def add(self, record: KeyRecord) -> None:
        values = {**record.__dict__}
        for field in ("endpoints", "models"):
            values[field] = None if values[field] is None else list(values[field])
        async with self.engine.begin() as conn:
            await conn.execute(insert(KEYS).values(**values))

    async def by_digest(self, digest: str) -> KeyRecord | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(KEYS).where(KEYS.c.digest == digest))).one_or_none()
        return None if row is None else _record(row)

    async def get(self, key_id: str) -> KeyRecord | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(KEYS).where(KEYS.c.id == key_id))).one_or_none()
        return None if row is None else _record(row)

    async def list(self, tenant: str | None = None) -> list[KeyRecord]:
        query = select(KEYS).order_by(KEYS.c.created_at)
        if tenant is not None:
            query = query.where(KEYS.c.tenant == tenant)
        async with self.engine.connect() as conn:
            return [_record(r) for r in await conn.execute(query)]

    async def revoke(self, key_id: str) -> bool:
        """True when an active key was revoked now."""
        async with self.engine.begin() as conn:
            done = await conn.execute(
                update(KEYS)
                .where(KEYS.c.id == key_id, KEYS.c.revoked_at.is_(None))
                .values(revoked_at=time.time())
            )
        return bool(done.rowcount)
