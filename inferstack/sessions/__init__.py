"""Conversations: the session store (SQLAlchemy, migrated by Alembic), per-session turn order,
and the history a new turn carries."""
