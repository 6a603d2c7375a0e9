"""The retrieval stage on a real Milvus Lite file with the real MiniLM encoder (no reranker:
that is the model test's job)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from inferstack.config.retrieval import RetrievalConfig
from inferstack.models.embeddings import Embedder
from inferstack.retrieval.service import INGEST_BATCH, DocumentIn, RetrievalService
from inferstack.retrieval.store import MilvusStore, StoreError

FIXTURE = json.loads((Path(__file__).with_name("fixture_kb.json")).read_text())


@pytest.fixture
def service(embedder: Embedder, tmp_path: Path) -> Iterator[RetrievalService]:
    store = MilvusStore(str(tmp_path / "kb.db"), embedder.dimensions)
    svc = RetrievalService(
        store, embedder, None, RetrievalConfig(rerank=False, chunk_tokens=64, chunk_overlap=8)
    )
    yield svc
    store.close()


def docs(*pairs: tuple[str, str]) -> list[DocumentIn]:
    return [DocumentIn(i, text, {"source": i}) for i, text in pairs]


async def test_ingest_retrieve_delete_round_trip(service: RetrievalService) -> None:
    ingested, chunks = await service.ingest("kb", "t1", docs(("vpn", FIXTURE["documents"][1]["text"])))
    assert (ingested, chunks) == (1, 1)
    results = await service.search("kb", "t1", "connect to the office network from home", 3)
    assert results[0].hit.document_id == "vpn" and results[0].hit.metadata == {"source": "vpn"}
    assert await service.delete("kb", "t1", "vpn") == 1
    assert await service.search("kb", "t1", "VPN", 3) == []
    assert await service.delete("kb", "t1", "vpn") == 0


async def test_reingest_replaces_instead_of_duplicating(service: RetrievalService) -> None:
    long_text = " ".join(f"Paragraph {i} explains step {i} of the rollout." for i in range(40))
    _, first = await service.ingest("kb", "t1", docs(("guide", long_text)))
    _, again = await service.ingest("kb", "t1", docs(("guide", long_text)))
    assert first == again > 1
    assert await service.store.run(lambda: service.store.count("kb", "t1")) == first
    await service.ingest("kb", "t1", docs(("guide", "Short replacement text about rollbacks.")))
    assert await service.store.run(lambda: service.store.count("kb", "t1")) == 1
    (hit,) = await service.search("kb", "t1", "rollbacks", 5)
    assert hit.hit.text.endswith("Short replacement text about rollbacks.")


async def test_a_tenant_never_sees_another_tenants_chunks(service: RetrievalService) -> None:
    await service.ingest("kb", "acme", docs(("secret-plan", "Acme's merger with Globex closes in May.")))
    await service.ingest("kb", "globex", docs(("menu", "The canteen serves soup on Mondays.")))
    for mode in ("dense", "bm25", "hybrid"):
        found = await service.search("kb", "globex", "Acme merger with Globex in May", 10, mode=mode)
        assert {r.hit.document_id for r in found} <= {"menu"}, mode
    assert await service.delete("kb", "globex", "secret-plan") == 0  # nor delete them


async def test_a_failed_batch_write_fails_the_ingest_and_keeps_earlier_batches(
    service: RetrievalService, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Batches are written while the next one is embedded: the failure of the second write must
    # still surface, and the first batch (written) must stay whole.
    store, writes = service.store, []
    real = store.replace_documents

    def flaky(collection: str, tenant: str, ids: list[str], *rest: Any) -> None:
        writes.append(ids)
        if len(writes) == 2:
            raise ConnectionError("store went away")
        real(collection, tenant, ids, *rest)

    monkeypatch.setattr(store, "replace_documents", flaky)
    many = docs(*((f"note-{i}", f"Note {i} about topic {i % 5}.") for i in range(INGEST_BATCH * 3)))
    with pytest.raises(StoreError):
        await service.ingest("kb", "t1", many)
    assert len(writes) == 2  # the third batch was never written
    monkeypatch.setattr(store, "replace_documents", real)
    await service.store.run(lambda: store.seal("kb"))
    assert await service.store.run(lambda: store.count("kb", "t1")) == INGEST_BATCH


def _mrr(ranked: list[list[str]], relevant: list[str]) -> float:
    return sum(
        1 / (r.index(rel) + 1) if rel in r else 0.0 for r, rel in zip(ranked, relevant, strict=True)
    ) / len(relevant)


async def test_hybrid_beats_each_single_retriever_on_the_fixture(service: RetrievalService) -> None:
    await service.ingest("kb", "t", [DocumentIn(d["id"], d["text"]) for d in FIXTURE["documents"]])
    queries = [q["query"] for q in FIXTURE["queries"]]
    relevant = [q["relevant"] for q in FIXTURE["queries"]]
    scores = {}
    for mode in ("dense", "bm25", "hybrid"):
        ranked = [
            [r.hit.document_id for r in await service.search("kb", "t", q, 5, mode=mode)] for q in queries
        ]
        scores[mode] = _mrr(ranked, relevant)
    assert scores["hybrid"] > scores["dense"] and scores["hybrid"] > scores["bm25"], scores
