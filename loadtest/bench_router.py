"""Router benchmarks: decision overhead, routing quality/cost on the golden prompts, and
mid-stream failover recovery through a real gateway process.

    python -m loadtest.bench_router [--readme docs/routing.md] [--out reports/bench-router.json]

Failover uses two managed-API STAND-IN processes (loadtest/managed_standin.py) behind a real
`inferstack serve`: the cheaper one is SIGKILLed mid-stream; the recovery time (break detected
-> next token sent to the client) is reported next to the stand-in's own TTFT measured in the
same run. The real-vLLM version of this is tests/e2e/test_router.py (asserts < 2 s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
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
from prometheus_client import CollectorRegistry

from inferstack.config import Settings
from inferstack.config.cache import CacheLayout
from inferstack.config.models import ModelSpec, RemoteBackend
from inferstack.config.router import GpuHourlyCost, PerTokenCost, RouterConfig
from inferstack.models.classifier import IntentClassifier
from inferstack.pipeline.protocol import ChatCompletionRequest
from inferstack.pipeline.stages.route import prompt_features
from inferstack.router import calibrate, golden
from inferstack.router.backend import BackendState, OpenAIBackend
from inferstack.router.breaker import CircuitBreaker
from inferstack.router.deployments import Deployment, DeploymentTable
from inferstack.router.metrics import RouterMetrics
from inferstack.router.quality import PromptFeatures, build_scorer
from inferstack.router.replicas import Replica
from inferstack.router.service import RouterService
from inferstack.router.stats import LiveStats
from loadtest.bench_gateway import free_port, pct, wait_ready
from loadtest.report import publish

ROOT = Path(__file__).resolve().parent.parent
KEY = "sk-bench-standin"
# Example prices for the cost numbers: an 8B-class model on one $1/h GPU at a measured
# 1500 tok/s (0.185 $/1M generated tokens) against a managed API at $2.5 / $10 per 1M.
CHEAP = GpuHourlyCost(usd_per_hour=1.0, fallback_tokens_per_s=1500)
STRONG = PerTokenCost(input_usd_per_1m=2.5, output_usd_per_1m=10.0)


def chat(text: str) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate(
        {"model": "auto", "messages": [{"role": "user", "content": text}]}
    )


async def decision_overhead(n: int = 20000) -> dict[str, float]:
    """RouterService.decide over four deployments (two self-hosted tiers, two managed)."""
    config = RouterConfig(threshold=0.5)
    fleet = []
    for name, tier, cost in (
        ("small", 1, CHEAP),
        ("large", 2, CHEAP),
        ("api-mini", 1, STRONG),
        ("api", 2, STRONG),
    ):
        spec = ModelSpec(
            name=name, tier=tier, cost=cost, serve=RemoteBackend(base_url=f"http://127.0.0.1:9/{name}")
        )
        backend = OpenAIBackend(name, spec.serve.base_url, connect_timeout_s=1, read_timeout_s=1,  # type: ignore[union-attr]
                                total_timeout_s=1, max_connections=1)  # fmt: skip
        backend.state = BackendState.HEALTHY
        replica = Replica(name, backend, CircuitBreaker(config.breaker), LiveStats(300, 8))
        fleet.append(Deployment(spec, [replica]))
    service = RouterService(
        DeploymentTable(fleet, "small"),
        config,
        RouterMetrics(CollectorRegistry()),
        0.5,
    )
    request = chat("Write a Python function that merges overlapping intervals and explain its complexity.")
    samples: dict[str, list[float]] = {"decide": [], "features+decide": []}
    for i in range(n + 1000):
        t0 = time.perf_counter()
        features = prompt_features(request, None, 256)
        t1 = time.perf_counter()
        service.decide("auto", features, "tenant")
        t2 = time.perf_counter()
        if i >= 1000:  # warm-up
            samples["decide"].append((t2 - t1) * 1e3)
            samples["features+decide"].append((t2 - t0) * 1e3)
    for d in fleet:
        await d.replicas[0].backend.aclose()
    return {f"{k}_{q}_ms": pct(v, p) for k, v in samples.items() for q, p in (("p50", 0.5), ("p99", 0.99))}


def golden_routing() -> dict[str, Any]:
    cache = CacheLayout(Settings().cache_dir)
    classifier = IntentClassifier.load(cache.trained("intent"))

    def features_of(text: str) -> PromptFeatures:
        return prompt_features(chat(text), classifier.predict([text])[0], 256)

    calibration, evaluation = golden.split()
    ratio = CHEAP.usd_per_hour / (CHEAP.fallback_tokens_per_s * 3600) * 1e6 / STRONG.output_usd_per_1m
    result = calibrate.run_calibration(
        "heuristic", build_scorer("heuristic"), features_of, calibration, evaluation, 0.35, ratio
    )
    return result


@contextmanager
def failover_stack(workdir: Path) -> Iterator[dict[str, Any]]:
    ports = {"gateway": free_port(), "primary": free_port(), "backup": free_port()}

    def standin(port: int) -> subprocess.Popen[bytes]:
        script = ROOT / "loadtest" / "managed_standin.py"
        return subprocess.Popen([sys.executable, str(script), "--port", str(port), "--key", KEY,
                                 "--token-delay-s", "0.02"])  # fmt: skip

    def deployment(name: str, usd: float) -> dict[str, Any]:
        return {
            "name": name, "required": False,
            "serve": {"kind": "remote", "api": "openai", "base_url": f"http://127.0.0.1:{ports[name]}/v1",
                      "api_key_env": "BENCH_STANDIN_KEY", "health_url": None},
            "cost": {"kind": "per-token", "input_usd_per_1m": usd, "output_usd_per_1m": usd},
        }  # fmt: skip

    config = {
        "port": ports["gateway"],
        "classifier": {"enabled": False},
        "embeddings": {"enabled": False},
        "models": [deployment("primary", 1.0), deployment("backup", 5.0)],
        # Measure failover, not the breaker: every run kills the primary once.
        "router": {"breaker": {"consecutive_failures": 1000, "failure_rate": 1.0, "min_calls": 1000}},
    }
    (workdir / "router.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "INFERSTACK_CONFIG": str(workdir / "router.yaml"), "BENCH_STANDIN_KEY": KEY}
    processes = {"primary": standin(ports["primary"]), "backup": standin(ports["backup"])}
    log = (workdir / "gateway.log").open("wb")
    gateway = subprocess.Popen([sys.executable, "-m", "inferstack.cli", "serve"], stdout=log,
                               stderr=subprocess.STDOUT, env=env)  # fmt: skip
    try:
        wait_ready(gateway, workdir / "gateway.log", 120)
        yield {"url": f"http://127.0.0.1:{ports['gateway']}/v1", "ports": ports, "processes": processes,
               "standin": standin}  # fmt: skip
    finally:
        for process in (gateway, *processes.values()):
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


def _wait_listening(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/_received", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"stand-in on {port} did not start")


def failover_recovery(runs: int = 10) -> dict[str, Any]:
    body = {
        "model": "auto",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 40,
        "stream": True,
    }
    recoveries, baseline = [], []
    tmp_root = CacheLayout(Settings().cache_dir).ensure().tmp
    with (
        tempfile.TemporaryDirectory(dir=tmp_root) as tmp,
        failover_stack(Path(tmp)) as stack,
        httpx.Client(timeout=60) as client,
    ):
        for port in stack["ports"].values():
            if port != stack["ports"]["gateway"]:
                _wait_listening(port)
        for _ in range(runs):
            started = time.perf_counter()  # baseline: TTFT of the backup, pinned
            with client.stream(
                "POST", f"{stack['url']}/chat/completions", json={**body, "model": "backup"}
            ) as r:
                for line in r.iter_lines():
                    if '"content":"' in line and '"content":""' not in line:
                        baseline.append((time.perf_counter() - started) * 1e3)
                        break
            trailer, tokens = None, 0
            with client.stream("POST", f"{stack['url']}/chat/completions", json=body) as r:
                for line in r.iter_lines():
                    if '"content":"' in line and '"content":""' not in line:
                        tokens += 1
                        if tokens == 5:
                            stack["processes"]["primary"].send_signal(signal.SIGKILL)
                    if '"inferstack"' in line:
                        trailer = json.loads(line[6:])["inferstack"]
            assert trailer and trailer["route"]["failovers"], trailer
            recoveries.append(trailer["route"]["recovery_ms"])
            stack["processes"]["primary"].wait()
            stack["processes"]["primary"] = stack["standin"](stack["ports"]["primary"])
            _wait_listening(stack["ports"]["primary"])
    return {
        "runs": runs,
        "recovery_p50_ms": statistics.median(recoveries),
        "recovery_max_ms": max(recoveries),
        "baseline_ttft_p50_ms": statistics.median(baseline),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench-router.json")
    args = parser.parse_args()
    results = {
        "machine": f"{os.cpu_count()} cores, Python {sys.version.split()[0]}",
        "decision": asyncio.run(decision_overhead()),
        "golden": golden_routing(),
        "failover": failover_recovery(),
    }
    d, g, f = results["decision"], results["golden"]["evaluation"], results["failover"]
    table = "\n".join(
        [
            f"Machine: {results['machine']}. Command: `make bench` (`loadtest/bench_router.py`).",
            "",
            "| measurement | result | target |",
            "|---|---|---|",
            f"| routing decision (4 deployments) | p50 {d['decide_p50_ms']:.3f} ms, "
            f"p99 {d['decide_p99_ms']:.3f} ms "
            f"(with feature extraction: p50 {d['features+decide_p50_ms']:.3f} ms) | p50 ≤ 0.5 ms |",
            f"| golden prompts, held-out half ({g['prompts']}), "
            f"threshold {results['golden']['threshold']:.3f} "
            f"| cheap tier {g['cheap_share']:.1%}, adequate tier {g['quality_kept']:.1%}, "
            f"strong recall {g['strong_recall']:.1%} | ≥ 60 % cheap, ≥ 95 % adequate |",
            f"| cost vs always-strong (example prices) | {g['cost_saved']:.1%} saved | — |",
            f"| mid-stream failover, {f['runs']} SIGKILLs of the serving backend | recovery p50 "
            f"{f['recovery_p50_ms']:.0f} ms, max {f['recovery_max_ms']:.0f} ms (backup's own TTFT p50 "
            f"{f['baseline_ttft_p50_ms']:.0f} ms) | ≤ 2 s |",
        ]
    )
    publish(results, args.out, table, args.readme, "router")


if __name__ == "__main__":
    main()
