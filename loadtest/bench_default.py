"""The default configuration's cost per request (guard, intent and every default stage on)
beside the pass-through gateway (guard off, intent off), side by side in one run.

Both gateways serve only the FAKE-FAST OpenAI server (an instant canned backend, a load target
for measuring gateway overhead, nothing more), so what is measured is the gateway's own work.
Both gateways are pinned to core 1 and measured one at a time; the backend and the load generator
share core 0.

1. non-stream, one request at a time: time added to calling the backend directly, for the
   two-word "Say hello." and a 143-word message (interleaved direct/gateway);
2. non-stream, 32 connections: requests/s and latency on the gateway's one core (wrk);
3. 20-chunk streams, 8 at once: time to the first content byte added to the direct stream.

    python -m loadtest.bench_default [--readme docs/benchmarks.md] [--out reports/bench-default.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import yaml

from loadtest.bench_gateway import _tmp_root, added_latency, free_port, machine, pct, wait_ready
from loadtest.bench_guard import MESSAGE
from loadtest.report import publish

ROOT = Path(__file__).resolve().parent.parent
SHORT = "Say hello."
GATEWAY_CORE, CLIENT_CORE = "1", "0"
CONFIGS = {
    "pass_through": {"classifier": {"in_chat": False}, "guard": {"enabled": False}},
    "default": {},
}


def _pinned(core: str, command: list[str]) -> list[str]:
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        return ["taskset", "-c", core, *command]
    return command


@contextmanager
def stack(workdir: Path, configs: dict[str, dict[str, object]] = CONFIGS) -> Iterator[dict[str, str]]:
    """The fake-fast backend, and one gateway per entry of `configs` in front of it."""
    fake_port = free_port()
    urls = {"direct": f"http://127.0.0.1:{fake_port}/v1"}
    with ExitStack() as stop:
        processes: list[subprocess.Popen[bytes]] = []
        stop.callback(_stop, processes)
        server = ROOT / "loadtest" / "fake_openai_server.py"
        backend = [sys.executable, str(server), "--port", str(fake_port), "--chunks", "20"]
        processes.append(subprocess.Popen(_pinned(CLIENT_CORE, backend)))
        for name, overrides in configs.items():
            port = free_port()
            fake = {"name": "fake-fast", "serve": {"kind": "remote", "api": "openai", "health_url": None,
                                                   "base_url": urls["direct"]}}  # fmt: skip
            config = {"port": port, "models": [fake], **overrides}
            (workdir / f"{name}.yaml").write_text(yaml.safe_dump(config))
            log_path = workdir / f"{name}.log"
            env = {**os.environ, "INFERSTACK_CONFIG": str(workdir / f"{name}.yaml")}
            gateway = subprocess.Popen(
                _pinned(GATEWAY_CORE, [sys.executable, "-m", "inferstack.cli", "serve"]),
                stdout=log_path.open("wb"), stderr=subprocess.STDOUT, env=env,
            )  # fmt: skip
            processes.append(gateway)
            wait_ready(gateway, log_path, 600)
            urls[name] = f"http://127.0.0.1:{port}/v1"
        yield urls


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        process.wait(timeout=60)


def wrk(
    url: str, workdir: Path, seconds: int, connections: int = 32, headers: dict[str, str] | None = None
) -> dict[str, float]:
    """Requests/s and latency percentiles of `wrk` posting "Say hello." to `url`."""
    request = {"model": "fake-fast", "messages": [{"role": "user", "content": SHORT}], "max_tokens": 8}
    body = json.dumps(request)
    script = workdir / "post.lua"
    script.write_text(
        f'wrk.method = "POST"\nwrk.body = {json.dumps(body)}\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        + "".join(f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}\n" for k, v in (headers or {}).items())
    )
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script),
               f"{url}/chat/completions"]  # fmt: skip
    out = subprocess.run(_pinned(CLIENT_CORE, command), capture_output=True, text=True, check=True).stdout
    if re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        raise SystemExit(f"wrk saw errors from {url}:\n{out}")
    units = {"us": 1e-3, "ms": 1.0, "s": 1e3}

    def latency(label: str) -> float:
        found = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        assert found, out
        return float(found.group(1)) * units[found.group(2)]

    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert rate, out
    return {"req_s": float(rate.group(1)), "p50_ms": latency("50"), "p90_ms": latency("90"),
            "p99_ms": latency("99")}  # fmt: skip


async def first_byte(client: httpx.AsyncClient, url: str) -> float:
    body = {"model": "fake-fast", "messages": [{"role": "user", "content": SHORT}], "stream": True}
    started = time.perf_counter()
    async with client.stream("POST", f"{url}/chat/completions", json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if line.startswith("data: {") and any(
                (c.get("delta") or {}).get("content") for c in json.loads(line[6:]).get("choices") or []
            ):  # the first visible text: a guard holding text back sends empty content first
                return time.perf_counter() - started
    raise SystemExit(f"{url}: a stream without content")


async def stream_first_byte(client: httpx.AsyncClient, urls: dict[str, str], rounds: int) -> dict[str, float]:
    samples: dict[str, list[float]] = {side: [] for side in urls}
    for r in range(rounds):
        for side in list(urls)[r % len(urls) :] + list(urls)[: r % len(urls)]:
            samples[side] += await asyncio.gather(*(first_byte(client, urls[side]) for _ in range(8)))
    direct = pct(samples["direct"], 0.5)
    return {f"{side}_added_p50_ms": (pct(samples[side], 0.5) - direct) * 1e3 for side in CONFIGS}


async def sequential(urls: dict[str, str], n: int) -> dict[str, object]:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    out: dict[str, object] = {}
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        for label, text in (("short", SHORT), ("long", MESSAGE)):
            body = {"messages": [{"role": "user", "content": text}], "max_tokens": 8}
            for side in CONFIGS:
                out[f"c1_{label}_{side}"] = await added_latency(
                    client, urls["direct"], urls[side], body, n, "fake-fast"
                )
        out["stream_c8"] = await stream_first_byte(client, urls, max(4, n // 20))
    return out


def table(r: dict[str, object]) -> str:
    def added(key: str) -> str:
        row = r[key]
        assert isinstance(row, dict)
        return f"{row['added_p50_ms']:.2f} ms"

    def load(side: str) -> str:
        w = r[f"c32_{side}"]
        assert isinstance(w, dict)
        return f"{w['req_s']:,.0f} req/s (p50 {w['p50_ms']:.1f} ms, p99 {w['p99_ms']:.1f} ms)"

    stream = r["stream_c8"]
    assert isinstance(stream, dict)
    return "\n".join([
        f"Machine: {r['machine']}. Command: `make bench` (`loadtest/bench_default.py`); fake-fast backend, "
        "both gateways pinned to one core and measured one at a time, backend and client on the other.",
        "",
        "| scenario | pass-through (guard off, intent off) | default config | target (default) |",
        "|---|---|---|---|",
        f"| non-stream, c=1, \"{SHORT}\": added p50 | {added('c1_short_pass_through')} "
        f"| **{added('c1_short_default')}** | ≤ 3 ms |",
        f"| non-stream, c=1, {len(MESSAGE.split())}-word message: added p50 "
        f"| {added('c1_long_pass_through')} "
        f"| **{added('c1_long_default')}** | ≤ 8 ms |",
        f"| non-stream, c=32, one core (wrk) | {load('pass_through')} | **{load('default')}** "
        "| ≥ 600 req/s, p99 ≤ 4× p50 |",
        f"| 20-chunk stream, c=8: added first-byte p50 | {stream['pass_through_added_p50_ms']:.2f} ms "
        f"| **{stream['default_added_p50_ms']:.2f} ms** | ≤ 5 ms |",
    ])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", type=Path, help="write the table into this Markdown page")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench-default.json")
    parser.add_argument("--n", type=int, default=200, help="requests per side in the c=1 rows")
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (Debian package `wrk`; `make bench` installs it)")
    with tempfile.TemporaryDirectory(prefix="bench-", dir=_tmp_root()) as tmp, stack(Path(tmp)) as urls:
        results: dict[str, object] = {"machine": machine(), **asyncio.run(sequential(urls, args.n))}
        for side in CONFIGS:
            results[f"c32_{side}"] = wrk(urls[side], Path(tmp), args.seconds)
    publish(results, args.out, table(results), args.readme, "default")


if __name__ == "__main__":
    main()
