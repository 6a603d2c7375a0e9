"""`make loadtest` in miniature: Locust (a real headless run, every scenario) against a real
gateway process whose backend is the managed-API STAND-IN (loadtest/managed_standin.py), so it
takes seconds, not a vLLM start; then the SLO gate on the CSV it wrote."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from loadtest.slo_gate import evaluate
from tests.ports import free_port

ROOT = Path(__file__).parents[2]
KEYS = {"LOADTEST_KEY": "sk-load-main", "LOADTEST_QUOTA_KEY": "sk-load-quota", "STANDIN_KEY": "sk-standin"}


def wait_until(predicate, timeout_s: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} not within {timeout_s}s")


@pytest.fixture(scope="module")
def gateway_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("locust")
    standin_port, port = free_port(), free_port()
    script = ROOT / "loadtest" / "managed_standin.py"
    standin = subprocess.Popen([sys.executable, str(script), "--port", str(standin_port),
                                "--key", KEYS["STANDIN_KEY"], "--token-delay-s", "0.005"])  # fmt: skip
    config = {
        "port": port,
        "classifier": {"enabled": False},
        "embeddings": {"enabled": False},
        "auth": {"api_keys": [{"tenant": "main", "key_env": "LOADTEST_KEY"},
                              {"tenant": "quota", "key_env": "LOADTEST_QUOTA_KEY"}]},
        "router": {"budgets": [{"tenant": "quota", "usd_per_day": 0}]},
        "models": [{"name": "standin", "served_name": "standin-large",
                    "serve": {"kind": "remote", "api": "openai", "base_url": f"http://127.0.0.1:{standin_port}/v1",
                              "api_key_env": "STANDIN_KEY", "health_url": None},
                    "cost": {"kind": "per-token", "input_usd_per_1m": 1, "output_usd_per_1m": 2}}],
    }  # fmt: skip
    (tmp / "gw.yaml").write_text(yaml.safe_dump(config))
    log_path = tmp / "gateway.log"
    env = {**os.environ, **KEYS, "INFERSTACK_CONFIG": str(tmp / "gw.yaml")}
    with log_path.open("wb") as log:
        gateway = subprocess.Popen([sys.executable, "-m", "inferstack.cli", "serve"], stdout=log,
                                   stderr=subprocess.STDOUT, env=env)  # fmt: skip
    try:
        wait_until(lambda: "inferstack ready on" in log_path.read_text(errors="replace")
                   or gateway.poll() is not None, 120, "gateway start")  # fmt: skip
        assert gateway.poll() is None, log_path.read_text()
        yield f"http://127.0.0.1:{port}"
    finally:
        for process in (gateway, standin):
            process.terminate()
            process.wait(timeout=30)


def test_locust_run_passes_the_slo_gate(gateway_url: str, tmp_path: Path) -> None:
    assert httpx.get(f"{gateway_url}/ready").status_code == 200
    run = subprocess.run(
        [sys.executable, "-m", "loadtest.run_loadtest", "--host", gateway_url, "--users", "10",
         "--spawn-rate", "10", "--run-time", "8s", "--out", str(tmp_path)],
        env={**os.environ, **KEYS}, capture_output=True, text=True, timeout=180, check=False, cwd=ROOT,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "SLO gate: passed" in run.stdout
    with (tmp_path / "locust_stats.csv").open() as handle:
        rows = {(r["Type"], r["Name"]): r for r in csv.DictReader(handle)}
    names = {name for _, name in rows}
    scenarios = {"chat", "chat stream", "chat rag", "chat guard-heavy", "chat over quota (429 expected)"}
    assert scenarios | {"ttft_ms", "tokens_per_s"} <= names
    quota = rows[("POST", "chat over quota (429 expected)")]
    assert int(quota["Request Count"]) > 0 and int(quota["Failure Count"]) == 0  # 429s are expected
    assert (tmp_path / "locust.html").stat().st_size > 0


def test_slo_gate_fails_when_a_budget_is_exceeded(tmp_path: Path) -> None:
    header = ["Type", "Name", "Request Count", "Failure Count", "95%"]
    rows = [
        ["POST", "chat", "100", "3", "900"],
        ["METRIC", "ttft_ms", "50", "0", "2500"],
        ["", "Aggregated", "150", "3", "2500"],
    ]
    stats = tmp_path / "run_stats.csv"
    with stats.open("w", newline="") as handle:
        csv.writer(handle).writerows([header, *rows])
    loose = evaluate(stats, {"p95_ttft_ms": 3000, "p95_latency_ms": 1000, "max_error_rate": 0.05})
    assert loose.violations == [] and loose.error_rate == pytest.approx(0.03)
    tight = evaluate(stats, {"p95_ttft_ms": 2000, "p95_latency_ms": 800, "max_error_rate": 0.01})
    (tmp_path / "run_exceptions.csv").write_text("Count,Message,Traceback,Nodes\n2,boom,tb,local\n")
    tight = evaluate(stats, {"p95_ttft_ms": 2000, "p95_latency_ms": 800, "max_error_rate": 0.01})
    assert tight.violations == [
        "2 exceptions inside Locust tasks",
        "error rate 0.030 > 0.01",
        "p95 latency 900 ms > 800 ms",
        "p95 TTFT 2500 ms > 2000 ms",
    ]
