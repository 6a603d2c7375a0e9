"""The vLLM command line and environment the supervisor uses."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from inferstack.config import Settings
from inferstack.config.cache import CacheLayout
from inferstack.config.models import LocalVllm, ModelSpec
from inferstack.models.vllm_process import cpu_binding, vllm_command


def test_command_is_module_launch_on_loopback() -> None:
    spec = Settings().default_deployment
    assert isinstance(spec.serve, LocalVllm)
    cmd = vllm_command(spec, spec.serve, Path("/m"))
    assert cmd[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]
    joined = " ".join(cmd)
    for part in ("--model /m", "--host 127.0.0.1", "--port 8100", "--max-model-len 2048", "--enforce-eager",
                 "--served-model-name smollm2-135m", "--tool-call-parser hermes"):  # fmt: skip
        assert part in joined


def test_custom_template_and_extra_args() -> None:
    spec = ModelSpec(
        name="m",
        source={"package": "p", "file": "f.gguf"},
        chat_template="{{ messages }}",
        tool_call_parser=None,
        serve={"enforce_eager": False, "extra_args": ["--seed", "1"]},
    )
    assert isinstance(spec.serve, LocalVllm)
    cmd = vllm_command(spec, spec.serve, Path("/m"))
    assert "--enforce-eager" not in cmd and "--enable-auto-tool-choice" not in cmd
    assert cmd[-4:] == ["--chat-template", "/m/inferstack_chat_template.jinja", "--seed", "1"]


def test_offline_env_keeps_caches_inside_project(tmp_path: Path) -> None:
    env = CacheLayout(tmp_path).offline_env()
    assert env["HF_HUB_OFFLINE"] == "1" and env["VLLM_NO_USAGE_STATS"] == "1" and env["DO_NOT_TRACK"] == "1"
    assert env["ORT_DISABLE_TELEMETRY"] == "1"
    for key in ("HF_HOME", "XDG_CACHE_HOME", "VLLM_CACHE_ROOT", "TMPDIR"):
        assert env[key].startswith(str(tmp_path))


def test_local_replicas_get_disjoint_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VLLM_CPU_OMP_THREADS_BIND", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1, 2, 3, 4})
    assert cpu_binding(1, 0) == {}  # one process: vLLM's own binding
    assert [cpu_binding(2, i) for i in range(2)] == [
        {"VLLM_CPU_OMP_THREADS_BIND": "0,1"},
        {"VLLM_CPU_OMP_THREADS_BIND": "2,3"},
    ]
    assert cpu_binding(8, 6) == {"VLLM_CPU_OMP_THREADS_BIND": "1"}  # more replicas than cores
    monkeypatch.setenv("VLLM_CPU_OMP_THREADS_BIND", "0-3")
    assert cpu_binding(2, 1) == {}  # set by hand: left alone
