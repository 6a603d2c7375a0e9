"""Sessions benchmark: the per-turn cost of the session stages without generation (wait for
the session's lock, load the history and summary, fit them to the context, count the new message
with SmolLM2's tokenizer and store the turn), on the SQLite store, for a session that already
holds 50 turns; and long-term memory recall (embed the question with MiniLM, search Milvus Lite)
over 10,000 stored turns.

    python -m loadtest.bench_sessions [--readme docs/sessions.md] [--out reports/bench-sessions.json]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import time
from pathlib import Path
from typing import Any

from inferstack.config import Settings
from inferstack.config.cache import CacheLayout
from inferstack.config.sessions import SessionsConfig
from inferstack.models.embeddings import Embedder
from inferstack.retrieval.store import MilvusStore
from inferstack.serving.memory_index import MilvusMemory
from inferstack.serving.runtime import token_counter
from inferstack.sessions.memory import PastTurn
from inferstack.sessions.service import ConversationService
from inferstack.sessions.store import Message, SessionStore
from loadtest.bench_gateway import pct
from loadtest.report import publish

ROOT = Path(__file__).resolve().parent.parent
HISTORY_TURNS = 50
TURNS = 300
MEMORY_TURNS = 10_000
RECALLS = 200
TOPICS = ("billing", "the Helm chart", "API keys", "Redis", "retrieval", "the guard", "latency", "vLLM",
          "PostgreSQL", "the web page")  # fmt: skip
QUESTION = "How do I rotate the API keys of one tenant without downtime? We run two gateway replicas."
ANSWER = ("Add the new key beside the old one in auth.api_keys, roll the replicas one at a time, "
          "move the clients over, then remove the old key and roll again.")  # fmt: skip


def _turn(turn_id: str, count: Any) -> list[Message]:
    """What the persist stage stores: token counts included (the question's counted, the answer's
    from the backend's usage)."""
    return [
        Message("user", QUESTION, turn_id, tokens=count(QUESTION)),
        Message("assistant", ANSWER, turn_id, route="smollm2-135m", tokens=count(ANSWER)),
    ]


async def _measure(folder: Path, count: Any) -> dict[str, float]:
    store = await SessionStore.open(f"sqlite+aiosqlite:///{folder / 'sessions.db'}")
    config = SessionsConfig(max_history_messages=2 * HISTORY_TURNS)
    service = ConversationService(store, config, count)
    for i in range(HISTORY_TURNS):
        await store.append("bench", "u1", "s1", _turn(f"h{i}", count))
    load, persist, total = [], [], []
    try:
        for i in range(TURNS):
            started = time.perf_counter()
            turn = await service.begin("bench", "u1", "s1")
            await service.window(turn, 1200)
            loaded = time.perf_counter()
            await service.persist(turn, _turn(f"t{i}", count))
            done = time.perf_counter()
            load.append((loaded - started) * 1000)
            persist.append((done - loaded) * 1000)
            total.append((done - started) * 1000)
    finally:
        await service.aclose()
    return {
        "load_p50_ms": pct(load, 0.5), "persist_p50_ms": pct(persist, 0.5),
        "turn_p50_ms": pct(total, 0.5), "turn_p95_ms": pct(total, 0.95),
    }  # fmt: skip


async def _recall(folder: Path, embedder: Embedder) -> dict[str, float]:
    """10,000 turns over 100 sessions of one tenant; each recall searches one session's turns
    and its user's (the filter every turn applies)."""
    store = MilvusStore(str(folder / "milvus.db"), embedder.dimensions)
    memory = MilvusMemory(store, embedder)
    rows = [
        ("bench", f"s{i % 100}", f"u{i % 100}",
         PastTurn(f"{i:032x}", f"Question {i} about {TOPICS[i % 10]}, case {i * 7919 % 10007}.",
                  f"Answer {i}: for {TOPICS[(i + 3) % 10]} see section {i % 97}.", 0.0))
        for i in range(MEMORY_TURNS)
    ]  # fmt: skip
    try:
        await memory.add_many(rows)
        await store.run(lambda: store.seal("_memory"))
        times, empty = [], 0
        for i in range(RECALLS):
            started = time.perf_counter()
            found = await memory.recall(
                "bench", f"s{i % 100}", f"u{i % 100}", f"What did we say about {TOPICS[i % 10]}?", 11
            )
            times.append((time.perf_counter() - started) * 1000)
            empty += not found
    finally:
        store.close()
    return {"recall_p50_ms": pct(times, 0.5), "recall_p95_ms": pct(times, 0.95), "recall_empty": empty}


def measure() -> dict[str, Any]:
    settings = Settings()
    cache = CacheLayout(settings.cache_dir).ensure()
    folder = cache.root / "bench" / "sessions"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    model_dirs = {m.name: cache.models / m.name for m in settings.models}
    results = asyncio.run(_measure(folder, token_counter(settings, model_dirs)))
    embedder = Embedder.from_config(settings.embeddings, cache)
    results |= asyncio.run(_recall(folder, embedder))
    return {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "history_turns": HISTORY_TURNS,
            "turns": TURNS, "memory_turns": MEMORY_TURNS, **results}  # fmt: skip


def table(r: dict[str, Any]) -> str:
    return "\n".join([
        f"Machine: {r['machine']}. Command: `make bench` (`loadtest/bench_sessions.py`); {r['turns']} turns "
        f"on a session holding {r['history_turns']} turns, SQLite in the cache directory.",
        "",
        "| per turn, without generation | result | target |",
        "|---|---|---|",
        f"| lock + load history + fit to the context | p50 {r['load_p50_ms']:.2f} ms | — |",
        f"| store the turn (one transaction) | p50 {r['persist_p50_ms']:.2f} ms | — |",
        f"| whole session cost | p50 {r['turn_p50_ms']:.2f} ms, p95 {r['turn_p95_ms']:.2f} ms | p50 ≤ 3 ms |",
        f"| long-term recall over {r['memory_turns']:,} turns (embed + Milvus Lite search) "
        f"| p50 {r['recall_p50_ms']:.2f} ms, p95 {r['recall_p95_ms']:.2f} ms "
        f"({r['recall_empty']} of {RECALLS} found nothing) | p50 ≤ 30 ms |",
    ])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench-sessions.json")
    args = parser.parse_args()
    results = measure()
    publish(results, args.out, table(results), args.readme, "sessions")


if __name__ == "__main__":
    main()
