"""The conversation store's schema (SQLAlchemy 2 declarative). Alembic migrations in
`migrations/versions/` create and change it; this module is what the code reads and writes.

Times are Unix seconds (float): the same on SQLite and PostgreSQL, and what retention compares.
Text is stored as the input guard left it (redacted); the pseudonym mapping never is.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class SessionRow(Base):
    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    user: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    turns: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_sessions_tenant_user", "tenant", "user"),)


class MessageRow(Base):
    """One message of a turn (the user's, then the assistant's). `id` grows with every insert,
    and turns of one session are written one at a time, so it orders the session."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(String(128), ForeignKey("sessions.id", ondelete="CASCADE"))
    turn_id: Mapped[str] = mapped_column(String(32), index=True)
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)
    route: Mapped[str | None] = mapped_column(String(128))
    intent: Mapped[str | None] = mapped_column(String(64))
    sources: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    prompt: Mapped[str | None] = mapped_column(String(128))  # prompt template id@version
    tokens: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (Index("ix_messages_session_id", "session_id", "id"),)


class FeedbackRow(Base):
    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(
        String(128), ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    turn_id: Mapped[str] = mapped_column(String(32))
    rating: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)


class SummaryRow(Base):
    """A session's running summary of the turns no longer carried whole: it covers the messages
    up to `through_id`, and `version` counts its updates."""

    __tablename__ = "summaries"

    session_id: Mapped[str] = mapped_column(
        String(128), ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True
    )
    content: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer)
    through_id: Mapped[int] = mapped_column(Integer)
    tokens: Mapped[int] = mapped_column(Integer)
    prompt: Mapped[str | None] = mapped_column(String(128))
    updated_at: Mapped[float] = mapped_column(Float)
