"""What keys and quotas counted in Redis cost per request, beside the same gateway with both off,
side by side in one run.

Both gateways are pass-through (guard and intent off, so only this cost differs) in front of the
FAKE-FAST OpenAI server (an instant canned backend, a load target for measuring gateway overhead,
nothing more). `quotas` authenticates an API key and counts requests, tokens, concurrency and a
USD budget per key and per tenant in a real Redis (one admission script and one settlement
script per request; limits set high so that nothing is refused). Gateways pinned to core 1 and
measured one at a time; backend, Redis and load generator on core 0.

    python -m loadtest.bench_quotas [--readme docs/quotas.md] [--out reports/bench-quotas.json]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
from pathlib import Path

import httpx

from loadtest.bench_default import CLIENT_CORE, CONFIGS, _pinned, stack, wrk
from loadtest.bench_gateway import _tmp_root, added_latency, machine
from loadtest.redis_server import RedisServer
from loadtest.report import publish

ROOT = Path(__file__).resolve().parent.parent
KEY = "isk-bench-0123456789abcdef"
HIGH = {"requests_per_minute": 10_000_000, "tokens_per_minute": 1_000_000_000,
        "concurrent_requests": 100_000, "usd_per_day": 1_000_000.0}  # fmt: skip


def configs(redis_url: str) -> dict[str, dict[str, object]]:
    off = CONFIGS["pass_through"]
    quotas = {
        **off,
        "auth": {"api_keys": [{"tenant": "bench", "key": KEY, "limits": HIGH}]},
        "quotas": {"store": "redis", "redis_url": redis_url, "tenants": [{"tenant": "bench", **HIGH}]},
    }
    return {"all_off": off, "quotas": quotas}


async def sequential(urls: dict[str, str], n: int) -> dict[str, object]:
    headers = {"Authorization": f"Bearer {KEY}"}  # the backend ignores it; the `all_off` gateway too
    async with httpx.AsyncClient(timeout=60, headers=headers) as client:
        body = {"messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 8}
        return {f"c1_{side}": await added_latency(client, urls["direct"], urls[side], body, n, "fake-fast")
                for side in ("all_off", "quotas")}  # fmt: skip


def table(r: dict[str, object]) -> str:
    def cell(key: str) -> str:
        row = r[key]
        assert isinstance(row, dict)
        return f"{row['added_p50_ms']:.2f} ms"

    def load(side: str) -> str:
        w = r[f"c32_{side}"]
        assert isinstance(w, dict)
        return f"{w['req_s']:,.0f} req/s (p50 {w['p50_ms']:.1f} ms, p99 {w['p99_ms']:.1f} ms)"

    off, on = r["c32_all_off"], r["c32_quotas"]
    assert isinstance(off, dict) and isinstance(on, dict)
    return "\n".join([
        f"Machine: {r['machine']}. Command: `make bench` (`loadtest/bench_quotas.py`); fake-fast "
        "backend, pass-through gateways pinned to one core, measured one at a time; Redis, backend "
        "and client on the other.",
        "",
        "| scenario | keys + quotas off | API key + quotas on Redis | target |",
        "|---|---|---|---|",
        f"| non-stream, c=1: added p50 | {cell('c1_all_off')} | **{cell('c1_quotas')}** "
        "| ≤ 1 ms more than off |",
        f"| non-stream, c=32, one core (wrk) | {load('all_off')} | **{load('quotas')}** "
        f"({on['req_s'] / off['req_s']:.0%} of off) | ≥ 60 % of off, p99 ≤ 4× p50 |",
    ])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", type=Path, help="write the table into this Markdown page")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench-quotas.json")
    parser.add_argument("--n", type=int, default=300, help="requests per side in the c=1 row")
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (Debian package `wrk`; `make bench` installs it)")
    with tempfile.TemporaryDirectory(prefix="bench-", dir=_tmp_root()) as tmp:
        redis = RedisServer(Path(tmp))
        redis.start(_pinned(CLIENT_CORE, []))
        try:
            with stack(Path(tmp), configs(redis.url)) as urls:
                results: dict[str, object] = {"machine": machine(), **asyncio.run(sequential(urls, args.n))}
                headers = {"Authorization": f"Bearer {KEY}"}
                for side in ("all_off", "quotas"):
                    results[f"c32_{side}"] = wrk(urls[side], Path(tmp), args.seconds, headers=headers)
        finally:
            redis.stop()
    publish(results, args.out, table(results), args.readme, "quotas")


if __name__ == "__main__":
    main()
