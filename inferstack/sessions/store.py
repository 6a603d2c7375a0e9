"""The conversation store: SQLAlchemy 2 async over SQLite (the embedded default) or PostgreSQL,
the same code for both. The schema is migrated by Alembic when the store opens.

Every read and write names the tenant: a session of another tenant is, to the caller, a session
that does not exist. A turn is written in one transaction (its messages and the session's
counters together), so a failure leaves nothing half-written.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, cast

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Table, delete, event, func, insert, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from inferstack.sessions.tables import FeedbackRow, MessageRow, SessionRow, SummaryRow

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_SESSIONS = cast(Table, SessionRow.__table__)
_MESSAGES = cast(Table, MessageRow.__table__)
_FEEDBACK = cast(Table, FeedbackRow.__table__)
_SUMMARIES = cast(Table, SummaryRow.__table__)
ERASED = ("sessions", "messages", "feedback", "summaries")  # the tables an erasure counts
_MIGRATION_LOCK = 7_160_000_019  # PostgreSQL advisory lock: one replica migrates at a time


class UnknownSession(LookupError):
    """No such session for this tenant (it may exist for another one: callers cannot tell)."""


class Recalled(NamedTuple):
    """A stored message as a new turn's prompt carries it; `tokens` as counted when stored,
    `id` its place in the session."""

    role: str
    content: str
    tokens: int | None
    id: int
    turn_id: str


class Summary(NamedTuple):
    """A session's running summary: it stands for the messages up to `through_id`."""

    content: str
    version: int
    through_id: int
    tokens: int


class UnknownTurn(LookupError):
    """The session has no turn with that id."""


@dataclass(frozen=True)
class Message:
    """One stored message: the redacted text and what the turn that wrote it recorded."""

    role: str
    content: str
    turn_id: str
    created_at: float = field(default_factory=time.time)
    route: str | None = None
    intent: str | None = None
    sources: list[dict[str, Any]] = field(default_factory=list)
    prompt: str | None = None
    tokens: int | None = None

    def public(self) -> dict[str, Any]:
        return asdict(self)


def _message(row: Any) -> Message:
    return Message(
        row.role, row.content, row.turn_id, row.created_at, row.route, row.intent,
        list(row.sources or []), row.prompt, row.tokens,
    )  # fmt: skip


def _dialect_insert(dialect: str) -> Any:
    """The INSERT with ON CONFLICT of the dialect (SQLite and PostgreSQL spell it alike)."""
    if dialect == "postgresql":
        return postgresql.insert
    if dialect == "sqlite":
        return sqlite.insert
    raise ValueError(f"sessions: unsupported database {dialect!r} (SQLite or PostgreSQL)")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL: readers do not block the writer; a busy timeout instead of "database is locked".
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _upgrade(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


class SessionStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @classmethod
    async def open(cls, url: str) -> SessionStore:
        """Connect and bring the schema to the newest migration."""
        local_file = url.startswith("sqlite")
        # A ping per checkout finds a server's dropped connections; a local file has none.
        engine = create_async_engine(url, pool_pre_ping=not local_file)
        if local_file:
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        store = cls(engine)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(_upgrade)
        except BaseException:
            await engine.dispose()
            raise
        return store

    async def close(self) -> None:
        await self.engine.dispose()

    async def owner(self, session_id: str) -> str | None:
        """The tenant a session belongs to, or None when it does not exist."""
        async with self.engine.connect() as conn:
            row = await conn.execute(select(_SESSIONS.c.tenant).where(_SESSIONS.c.id == session_id))
            return row.scalar_one_or_none()

    async def history(
        self, tenant: str, session_id: str, limit: int
    ) -> tuple[list[Recalled], Summary | None]:
        """The session's latest `limit` messages after those its summary covers, oldest first,
        and the summary; ([], None) for a new session. Only what a prompt needs is read (this
        runs on every turn)."""
        summary_query = (
            select(_SUMMARIES.c.content, _SUMMARIES.c.version, _SUMMARIES.c.through_id, _SUMMARIES.c.tokens)
            .join(_SESSIONS, _SESSIONS.c.id == _SUMMARIES.c.session_id)
            .where(_SESSIONS.c.id == session_id, _SESSIONS.c.tenant == tenant)
        )

        def read(conn: Connection) -> tuple[list[Recalled], Summary | None]:
            # Both reads in one trip to the driver's thread (this runs on every turn).
            row = conn.execute(summary_query).one_or_none()
            summary = Summary(*row) if row is not None else None
            query = (
                select(_MESSAGES.c.role, _MESSAGES.c.content, _MESSAGES.c.tokens, _MESSAGES.c.id,
                       _MESSAGES.c.turn_id)
                .join(_SESSIONS, _SESSIONS.c.id == _MESSAGES.c.session_id)
                .where(_SESSIONS.c.id == session_id, _SESSIONS.c.tenant == tenant,
                       _MESSAGES.c.id > (summary.through_id if summary else 0))
                .order_by(_MESSAGES.c.id.desc())
                .limit(limit)
            )  # fmt: skip
            return [Recalled(*r) for r in reversed(conn.execute(query).all())], summary

        async with self.engine.connect() as conn:
            messages, summary = await conn.run_sync(read)
        return messages, summary

    async def save_summary(self, tenant: str, session_id: str, summary: Summary, prompt: str | None) -> bool:
        """Store a newer summary of the session; False when the session is gone (erased
        meanwhile) or already has this version or a later one."""
        values = {**summary._asdict(), "prompt": prompt, "updated_at": time.time()}
        insert_summary = _dialect_insert(self.engine.dialect.name)(_SUMMARIES).values(
            session_id=session_id, **values
        )
        upsert = insert_summary.on_conflict_do_update(
            index_elements=[_SUMMARIES.c.session_id], set_=values,
            where=_SUMMARIES.c.version < summary.version,
        )  # fmt: skip
        async with self.engine.begin() as conn:
            if await self._tenant_of(conn, session_id) != tenant:
                return False
            return bool((await conn.execute(upsert)).rowcount)

    async def append(
        self, tenant: str, user: str | None, session_id: str, messages: Sequence[Message]
    ) -> None:
        """One turn's messages, after the session's last ones; creates the session if new.
        UnknownSession when the id belongs to another tenant."""
        now = time.time()
        insert_session = _dialect_insert(self.engine.dialect.name)(_SESSIONS).values(
            id=session_id, tenant=tenant, user=user, created_at=now, updated_at=now, turns=1
        )
        # One statement creates or bumps the session; the WHERE leaves another tenant's alone.
        upsert = insert_session.on_conflict_do_update(
            index_elements=[_SESSIONS.c.id],
            set_={"updated_at": now, "turns": _SESSIONS.c.turns + 1,
                  "user": func.coalesce(_SESSIONS.c.user, user)},
            where=_SESSIONS.c.tenant == tenant,
        )  # fmt: skip
        async with self.engine.begin() as conn:
            if (await conn.execute(upsert)).rowcount == 0:
                raise UnknownSession(session_id)
            if messages:
                rows = [{**vars(m), "session_id": session_id} for m in messages]
                await conn.execute(insert(_MESSAGES), rows)

    async def sessions(self, tenant: str, user: str | None, limit: int) -> list[dict[str, Any]]:
        """The tenant's sessions (of one end user when `user` is set), most recent first."""
        query = select(_SESSIONS).where(_SESSIONS.c.tenant == tenant)
        if user is not None:
            query = query.where(_SESSIONS.c.user == user)
        query = query.order_by(_SESSIONS.c.updated_at.desc()).limit(limit)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            {
                "id": r.id,
                "user": r.user,
                "created_at": r.created_at,
                "updated_at": r.updated_at,
                "turns": r.turns,
            }
            for r in rows
        ]

    async def messages(self, tenant: str, session_id: str) -> list[Message]:
        """Every message of the session, in order; UnknownSession when the tenant has none."""
        async with self.engine.connect() as conn:
            if await self._tenant_of(conn, session_id) != tenant:
                raise UnknownSession(session_id)
            query = select(_MESSAGES).where(_MESSAGES.c.session_id == session_id).order_by(_MESSAGES.c.id)
            rows = (await conn.execute(query)).all()
        return [_message(r) for r in rows]

    async def delete_session(self, tenant: str, session_id: str) -> dict[str, int]:
        """Erase the session, its messages, summary and feedback; rows removed per table."""
        async with self.engine.begin() as conn:
            if await self._tenant_of(conn, session_id) != tenant:
                raise UnknownSession(session_id)
            return await self._erase(conn, [session_id])

    async def user_sessions(self, tenant: str, user: str) -> list[str]:
        """Ids of one end user's sessions in the tenant."""
        query = select(_SESSIONS.c.id).where(_SESSIONS.c.tenant == tenant, _SESSIONS.c.user == user)
        async with self.engine.connect() as conn:
            return list((await conn.execute(query)).scalars())

    async def add_feedback(
        self, tenant: str, session_id: str, turn_id: str, rating: int, comment: str | None
    ) -> int:
        async with self.engine.begin() as conn:
            if await self._tenant_of(conn, session_id) != tenant:
                raise UnknownSession(session_id)
            turn = await conn.execute(
                select(_MESSAGES.c.id)
                .where(_MESSAGES.c.session_id == session_id, _MESSAGES.c.turn_id == turn_id)
                .limit(1)
            )
            if turn.scalar_one_or_none() is None:
                raise UnknownTurn(turn_id)
            result = await conn.execute(
                insert(_FEEDBACK)
                .values(
                    session_id=session_id,
                    turn_id=turn_id,
                    rating=rating,
                    comment=comment,
                    created_at=time.time(),
                )
                .returning(_FEEDBACK.c.id)
            )
            return int(result.scalar_one())

    async def feedback(self, tenant: str | None = None) -> list[dict[str, Any]]:
        """Feedback with the turn it rates (the user's message and the answer), oldest first."""
        query = (
            select(_FEEDBACK, _SESSIONS.c.tenant, _SESSIONS.c.user)
            .join(_SESSIONS, _SESSIONS.c.id == _FEEDBACK.c.session_id)
            .order_by(_FEEDBACK.c.id)
        )
        if tenant is not None:
            query = query.where(_SESSIONS.c.tenant == tenant)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
            out = []
            for r in rows:
                turn = (
                    await conn.execute(
                        select(_MESSAGES)
                        .where(_MESSAGES.c.session_id == r.session_id, _MESSAGES.c.turn_id == r.turn_id)
                        .order_by(_MESSAGES.c.id)
                    )
                ).all()
                answer = next((m for m in turn if m.role == "assistant"), None)
                out.append(
                    {
                        "tenant": r.tenant, "user": r.user, "session_id": r.session_id,
                        "turn_id": r.turn_id, "rating": r.rating, "comment": r.comment,
                        "created_at": r.created_at,
                        "messages": [{"role": m.role, "content": m.content} for m in turn],
                        "route": answer.route if answer else None,
                        "intent": answer.intent if answer else None,
                        "sources": list(answer.sources or []) if answer else [],
                    }
                )  # fmt: skip
        return out

    async def purge(self, cutoff_for: Callable[[str], float]) -> dict[str, int]:
        """Retention: drop messages older than their tenant's cutoff (Unix seconds), then the
        sessions idle since before it or with no message left. Rows removed per table."""
        removed = dict.fromkeys(ERASED, 0)
        async with self.engine.begin() as conn:
            tenants = list((await conn.execute(select(_SESSIONS.c.tenant).distinct())).scalars())
            for tenant in tenants:
                cutoff = cutoff_for(tenant)
                ids = select(_SESSIONS.c.id).where(_SESSIONS.c.tenant == tenant).scalar_subquery()
                # A summary goes with the oldest message it was made from.
                old = select(_MESSAGES.c.session_id).where(
                    _MESSAGES.c.session_id.in_(ids), _MESSAGES.c.created_at < cutoff
                )
                summaries = await conn.execute(delete(_SUMMARIES).where(_SUMMARIES.c.session_id.in_(old)))
                removed["summaries"] += summaries.rowcount
                gone = await conn.execute(
                    delete(_MESSAGES).where(_MESSAGES.c.session_id.in_(ids), _MESSAGES.c.created_at < cutoff)
                )
                removed["messages"] += gone.rowcount
                stale = (
                    await conn.execute(
                        select(_SESSIONS.c.id).where(
                            _SESSIONS.c.tenant == tenant,
                            or_(
                                _SESSIONS.c.updated_at < cutoff,
                                ~_SESSIONS.c.id.in_(select(_MESSAGES.c.session_id).distinct()),
                            ),
                        )
                    )
                ).scalars()
                counts = await self._erase(conn, list(stale))
                for key, value in counts.items():
                    removed[key] += value
        return removed

    @staticmethod
    async def _tenant_of(conn: Any, session_id: str) -> str | None:
        row = await conn.execute(select(_SESSIONS.c.tenant).where(_SESSIONS.c.id == session_id))
        tenant: str | None = row.scalar_one_or_none()
        return tenant

    @staticmethod
    async def _erase(conn: Any, ids: list[str]) -> dict[str, int]:
        removed = dict.fromkeys(ERASED, 0)
        if not ids:
            return removed
        # Children first: SQLite enforces foreign keys only with the pragma, so do not rely on CASCADE.
        for name, table in (("feedback", _FEEDBACK), ("summaries", _SUMMARIES), ("messages", _MESSAGES)):
            removed[name] = (await conn.execute(delete(table).where(table.c.session_id.in_(ids)))).rowcount
        removed["sessions"] = (await conn.execute(delete(_SESSIONS).where(_SESSIONS.c.id.in_(ids)))).rowcount
        return removed
