"""Retrieval evaluation over `/v1/retrieve`: each search mode on a corpus ingested for the run
(and removed after), or on a collection the user already has (`--collection` + `--qrels`).
Ranks are of documents (a document's best chunk), binary relevance."""

from __future__ import annotations

import math
import secrets
from collections.abc import Sequence
from typing import Any

from inferstack.evals.client import EvalClient
from inferstack.evals.sets import Corpus, Question

# (name, /v1/retrieve options): the three retrievers and the reranked hybrid the chat uses.
MODES = (
    ("dense", {"mode": "dense", "rerank": False}),
    ("bm25", {"mode": "bm25", "rerank": False}),
    ("hybrid", {"mode": "hybrid", "rerank": False}),
    ("hybrid+rerank", {"mode": "hybrid", "rerank": True}),
)
CHUNKS = 30  # chunks asked for per query; their documents, best first, are the ranking


def _ranking(results: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(r["document_id"] for r in results))


def scores(ranking: Sequence[str], relevant: frozenset[str]) -> dict[str, float]:
    """MRR@10, recall@5 and nDCG@10 of one ranked list of document ids."""
    top = list(ranking[:10])
    rr = next((1 / (i + 1) for i, d in enumerate(top) if d in relevant), 0.0)
    recall = len(relevant & set(ranking[:5])) / len(relevant)
    dcg = sum(1 / math.log2(i + 2) for i, d in enumerate(top) if d in relevant)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(len(relevant), 10)))
    return {"mrr@10": rr, "recall@5": recall, "ndcg@10": dcg / ideal}


def search_quality(client: EvalClient, collection: str, asked: Sequence[Question]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, options in MODES:
        kind = f"retrieve:{name}"
        client.reset(kind)
        totals = {"mrr@10": 0.0, "recall@5": 0.0, "ndcg@10": 0.0}
        for question in asked:
            body = {"collection": collection, "query": question.query, "top_k": CHUNKS, **options}
            found = client.post("/v1/retrieve", body, kind)["results"]
            for key, value in scores(_ranking(found), question.relevant).items():
                totals[key] += value
        out[name] = {k: round(v / len(asked), 4) for k, v in totals.items()} | {
            "latency": client.latency(kind)
        }
    out["rerank_gain_over_dense_mrr"] = round(out["hybrid+rerank"]["mrr@10"] - out["dense"]["mrr@10"], 4)
    out["questions"] = len(asked)
    return out


def corpus(client: EvalClient, data: Corpus) -> dict[str, Any]:
    """Ingest the corpus into a fresh collection, measure every mode, delete it again."""
    collection = f"eval_{data.name.replace('-', '_')}_{secrets.token_hex(3)}"[:64]
    path = f"/v1/collections/{collection}/documents"
    try:
        for start in range(0, len(data.documents), 100):
            batch = data.documents[start : start + 100]
            documents = [{"id": d["id"], "title": d.get("title", ""), "text": d["text"], "format": "md"}
                         for d in batch]  # fmt: skip
            client.post(path, {"documents": documents}, "ingest")
        result = search_quality(client, collection, data.questions)
    finally:
        for doc in data.documents:
            client.delete(f"{path}/{doc['id']}", missing_ok=True)
    return {"documents": len(data.documents), **result}
