"""Supervision and shutdown with a gateway of its own (so killing things spares the others)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from inferstack.config import Settings
from inferstack.config.cache import CacheLayout
from tests.e2e.conftest import Gateway, start_gateway, wait_for

pytestmark = pytest.mark.e2e

CHAT = {"model": "auto", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}


@pytest.fixture(scope="module")
def own_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gateway = start_gateway(tmp_path_factory.mktemp("lifecycle"))
    yield gateway
    gateway.terminate()


def vllm_leader(gateway: Gateway) -> psutil.Process:
    for child in psutil.Process(gateway.process.pid).children():
        if "vllm.entrypoints.openai.api_server" in " ".join(child.cmdline()):
            return child
    raise AssertionError("no vLLM child process")


def temp_dir(process: psutil.Process) -> Path:
    """This vLLM's temp dir (its own, in the project cache), holding its ZeroMQ sockets and
    torch.distributed rendezvous file, which vLLM does not remove when it is killed."""
    folder = Path(process.environ()["TMPDIR"])
    assert folder.parent == CacheLayout(Settings().cache_dir).tmp, folder
    entries = list(folder.iterdir())
    assert any(e.is_socket() for e in entries) and any(e.name.startswith("vllm_dist") for e in entries)
    return folder


def test_crashed_vllm_is_restarted(own_gateway: Gateway) -> None:
    url = own_gateway.url
    assert httpx.get(f"{url}/ready").status_code == 200
    first = vllm_leader(own_gateway)
    first_tmp = temp_dir(first)
    first.send_signal(signal.SIGKILL)
    wait_for(lambda: httpx.get(f"{url}/ready").status_code == 503, 10, "/ready turning 503")
    down = httpx.post(f"{url}/v1/chat/completions", json=CHAT, timeout=30)
    assert down.status_code == 503 and int(down.headers["retry-after"]) > 0
    wait_for(lambda: httpx.get(f"{url}/ready").status_code == 200, 300, "restart")
    assert vllm_leader(own_gateway).pid != first.pid
    assert not first_tmp.exists()  # the killed process's sockets went with it
    assert httpx.post(f"{url}/v1/chat/completions", json=CHAT, timeout=60).status_code == 200
    assert 'inferstack_backend_restarts{deployment="smollm2-135m"} 1.0' in httpx.get(f"{url}/metrics").text


def test_sigterm_stops_everything(own_gateway: Gateway) -> None:
    family = psutil.Process(own_gateway.process.pid).children(recursive=True)
    assert any("vllm" in " ".join(p.cmdline()) for p in family)
    sockets = temp_dir(vllm_leader(own_gateway))
    # uvicorn re-raises the signal after its graceful shutdown, so the exit is "by SIGTERM".
    assert own_gateway.terminate(timeout_s=60) in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in own_gateway.log_text()
    _, alive = psutil.wait_procs(family, timeout=10)
    assert alive == [], f"orphans left: {[p.pid for p in alive]}"
    assert not sockets.exists()
