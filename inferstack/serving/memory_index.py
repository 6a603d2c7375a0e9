"""Long-term conversation memory in Milvus (the sessions' LongTermMemory over the retrieval
store, sharing its connection and thread): one collection, `_memory` (a name the collection API
cannot create), holds every stored turn's redacted question and answer with a dense vector,
scoped by tenant, session and end user. A new turn recalls the past turns of its session, and of
its user's other sessions, nearest to its question. Erasure and retention delete by filter."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from inferstack.retrieval.service import Encoder
from inferstack.retrieval.store import MilvusStore, milvus_literal
from inferstack.sessions.memory import PastTurn

COLLECTION = "_memory"
_MAX_TEXT = 8192
_OUTPUT = ["turn_id", "question", "answer"]


class MilvusMemory:
    def __init__(self, store: MilvusStore, embedder: Encoder, timeout_s: float = 2.0) -> None:
        self.store = store
        self.embedder = embedder
        self.timeout_s = timeout_s
        self._ready = False

    def _ensure(self) -> Any:
        from pymilvus import DataType, MilvusClient

        client = self.store.client
        if self._ready:
            return client
        if not client.has_collection(COLLECTION):
            schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field("turn_id", DataType.VARCHAR, is_primary=True, max_length=32)
            schema.add_field("tenant", DataType.VARCHAR, max_length=64)
            schema.add_field("session_id", DataType.VARCHAR, max_length=128)
            schema.add_field("user", DataType.VARCHAR, max_length=256)
            schema.add_field("question", DataType.VARCHAR, max_length=_MAX_TEXT)
            schema.add_field("answer", DataType.VARCHAR, max_length=_MAX_TEXT)
            schema.add_field("created_at", DataType.DOUBLE)
            schema.add_field("dense", DataType.FLOAT_VECTOR, dim=self.store.dim)
            index = client.prepare_index_params()
            index.add_index(field_name="dense", index_type="HNSW", metric_type="COSINE",
                            params={"M": 16, "efConstruction": 200})  # fmt: skip
            # Strong: a turn stored a moment ago is recallable by the next one.
            client.create_collection(
                COLLECTION, schema=schema, index_params=index, consistency_level="Strong"
            )
        client.load_collection(COLLECTION)
        self._ready = True
        return client

    async def add(self, tenant: str, session_id: str, user: str | None, turn: PastTurn) -> None:
        await self.add_many([(tenant, session_id, user, turn)], timeout_s=self.timeout_s)

    async def add_many(
        self, rows: Sequence[tuple[str, str, str | None, PastTurn]], timeout_s: float | None = None
    ) -> None:
        """One embedding call and one insert per 256 turns (a turn's write, or a bulk load)."""
        for start in range(0, len(rows), 256):
            batch = rows[start : start + 256]
            vectors = await self.embedder.embed_truncating([f"{t.question}\n{t.answer}" for *_, t in batch])
            data = [
                {"turn_id": t.turn_id, "tenant": tenant, "session_id": session, "user": user or "",
                 "question": t.question[:_MAX_TEXT], "answer": t.answer[:_MAX_TEXT],
                 "created_at": time.time(), "dense": v.tolist()}
                for (tenant, session, user, t), v in zip(batch, vectors, strict=True)
            ]  # fmt: skip
            await self.store.run(partial(self._insert, data), timeout_s=timeout_s)

    def _insert(self, data: list[dict[str, Any]]) -> None:
        self._ensure().insert(COLLECTION, data=data)

    async def recall(
        self, tenant: str, session_id: str, user: str | None, query: str, limit: int
    ) -> list[PastTurn]:
        vector = (await self.embedder.embed_truncating([query]))[0]
        scope = f"session_id == {milvus_literal(session_id)}"
        if user:
            scope = f"({scope} or user == {milvus_literal(user)})"
        expr = f"tenant == {milvus_literal(tenant)} and {scope}"

        def search() -> list[PastTurn]:
            params = {"metric_type": "COSINE", "params": {"ef": max(64, limit)}}
            raw = self._ensure().search(
                COLLECTION, data=[vector.tolist()], anns_field="dense", limit=limit, filter=expr,
                output_fields=_OUTPUT, search_params=params,
            )  # fmt: skip
            return [_past(item) for item in raw[0]] if raw else []

        return await self.store.run(search, timeout_s=self.timeout_s)

    async def erase_session(self, tenant: str, session_id: str) -> int:
        return await self.store.run(
            partial(
                self._delete,
                f"tenant == {milvus_literal(tenant)} and session_id == {milvus_literal(session_id)}",
            )
        )

    async def purge(self, cutoff_for: Callable[[str | None], float], tenants: Sequence[str]) -> int:
        removed = 0
        for tenant in tenants:
            expr = f"tenant == {milvus_literal(tenant)} and created_at < {cutoff_for(tenant)!r}"
            removed += await self.store.run(partial(self._delete, expr))
        others = f"tenant not in [{', '.join(milvus_literal(t) for t in tenants)}] and " if tenants else ""
        removed += await self.store.run(partial(self._delete, f"{others}created_at < {cutoff_for(None)!r}"))
        return removed

    def count(self, expr: str) -> int:
        """Rows matching a filter (tests and erasure checks read the collection directly)."""
        client = self._ensure()
        return int(client.query(COLLECTION, filter=expr, output_fields=["count(*)"])[0]["count(*)"])

    def _delete(self, expr: str) -> int:
        found = self.count(expr)
        if found:
            self.store.client.delete(COLLECTION, filter=expr)
        return found


def _past(item: Any) -> PastTurn:
    entity = item.get("entity", item)
    return PastTurn(
        str(entity["turn_id"]),
        str(entity["question"]),
        str(entity["answer"]),
        float(item.get("distance", 0.0)),
    )
