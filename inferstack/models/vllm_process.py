"""Start, health-check and supervise a local vLLM OpenAI server process.

The process runs in its own process group so shutdown reaches vLLM's engine-core children too,
and it gets PDEATHSIG so a SIGKILLed gateway does not leave it orphaned.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import enum
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Protocol

from inferstack.config.cache import CacheLayout
from inferstack.config.models import LocalVllm, ModelSpec

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


class ProcessHealth(enum.StrEnum):
    """What the supervisor reports about its process (the router's backend states share the values)."""

    STARTING = "starting"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    RESTARTING = "restarting"
    STOPPED = "stopped"


class SupervisedBackend(Protocol):
    """The client the requests use to reach this process: the supervisor probes it and keeps its
    state current, which `/ready` and the router read."""

    @property
    def healthy(self) -> bool: ...

    async def probe(self) -> bool: ...

    def mark(self, state: ProcessHealth) -> None: ...


def _die_with_parent() -> None:  # runs in the child between fork and exec
    os.setsid()
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def vllm_command(spec: ModelSpec, serve: LocalVllm, model_dir: Path, replica: int = 0) -> list[str]:
    """The server command of replica `replica` (it listens on `serve.port + replica`)."""
    cmd = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server",
        "--model", str(model_dir),
        "--served-model-name", spec.backend_model,
        "--host", "127.0.0.1",
        "--port", str(serve.port + replica),
        "--max-model-len", str(spec.max_context),
        "--dtype", serve.dtype,
        "--disable-uvicorn-access-log",
    ]  # fmt: skip
    if serve.enforce_eager:
        cmd.append("--enforce-eager")
    if spec.tool_call_parser:
        cmd += ["--enable-auto-tool-choice", "--tool-call-parser", spec.tool_call_parser]
    if spec.chat_template:
        template = model_dir / "inferstack_chat_template.jinja"
        cmd += ["--chat-template", str(template)]
    cmd += list(serve.extra_args)
    return cmd


def cpu_binding(replicas: int, replica: int) -> dict[str, str]:
    """CPU vLLM binds its OpenMP threads to every core it may use: two processes on one box
    would spin on the same cores (measured here: 4.6 tokens/s for both together against ~25 for
    one alone). Replicas get disjoint cores instead, unless the binding is set by hand."""
    if replicas == 1 or "VLLM_CPU_OMP_THREADS_BIND" in os.environ:
        return {}
    cores = sorted(os.sched_getaffinity(0))
    share = max(1, len(cores) // replicas)
    start = (replica * share) % len(cores)
    mine = cores[start : start + share]
    return {"VLLM_CPU_OMP_THREADS_BIND": ",".join(map(str, mine))}


class VllmSupervisor:
    """Owns one vLLM process (replica `replica` of its model): start, wait healthy, watch,
    restart with backoff, stop.

    The backend's `state` is the single source of truth that `/ready` and the request path read.
    """

    def __init__(
        self,
        spec: ModelSpec,
        model_dir: Path,
        cache: CacheLayout,
        backend: SupervisedBackend,
        *,
        replica: int = 0,
        health_interval_s: float = 1.0,
        max_backoff_s: float = 30.0,
    ) -> None:
        if not isinstance(spec.serve, LocalVllm):
            raise TypeError(f"{spec.name} is not a local deployment")
        self.spec = spec
        self.serve = spec.serve
        self.model_dir = model_dir
        self.cache = cache
        self.backend = backend
        self.health_interval_s = health_interval_s
        self.max_backoff_s = max_backoff_s
        self.replica = replica
        self.label = spec.name if self.serve.replicas == 1 else f"{spec.name}-{replica}"
        self.log_path = cache.logs / f"vllm-{self.label}.log"
        self.restarts = 0
        self._process: asyncio.subprocess.Process | None = None
        self._watch_task: asyncio.Task[None] | None = None
        self._stopping = False
        self._first_healthy = asyncio.Event()
        self._tmp_dir: Path | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    async def start(self) -> None:
        """Launch the process and the watcher task; returns at once."""
        await self._spawn()
        self._watch_task = asyncio.create_task(self._watch(), name=f"vllm-watch-{self.label}")

    async def wait_healthy(self) -> None:
        timeout = self.serve.startup_timeout_s
        try:
            async with asyncio.timeout(timeout):
                await self._first_healthy.wait()
        except TimeoutError:
            raise RuntimeError(
                f"vLLM for {self.label} not healthy after {timeout:.0f}s; see {self.log_path}"
            ) from None

    async def _spawn(self) -> None:
        # vLLM leaves its ZeroMQ sockets and torch.distributed rendezvous file in the temp dir
        # when it is killed (four files per start): each process gets a temp dir of its own,
        # removed once that process is gone. Short name: a socket path must fit in 107 bytes.
        self._remove_tmp_dir()
        self._tmp_dir = Path(tempfile.mkdtemp(prefix="v", dir=self.cache.tmp))
        env = {
            **os.environ,
            **self.cache.offline_env(),
            "VLLM_CPU_KVCACHE_SPACE": f"{self.serve.kv_cache_gib:g}",
            "TMPDIR": str(self._tmp_dir),
            **cpu_binding(self.serve.replicas, self.replica),
        }
        if self.spec.chat_template:
            # Replicas of one model share the file: written whole (rename), so a sibling that is
            # starting never reads half of it.
            template = self.model_dir / "inferstack_chat_template.jinja"
            partial = template.with_suffix(f".{os.getpid()}-{self.replica}.tmp")
            partial.write_text(self.spec.chat_template)
            partial.replace(template)
        cmd = vllm_command(self.spec, self.serve, self.model_dir, self.replica)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log_file:
            log_file.write(f"\n--- inferstack: starting vLLM at {time.strftime('%FT%T')} ---\n".encode())
            log_file.flush()
            self._process = await asyncio.create_subprocess_exec(
                *cmd,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
                preexec_fn=_die_with_parent,
            )
        self.backend.mark(ProcessHealth.STARTING)
        log.info("vllm started deployment=%s pid=%s log=%s", self.label, self._process.pid, self.log_path)

    async def _watch(self) -> None:
        backoff = 1.0
        while not self._stopping:
            process = self._process
            assert process is not None
            exited, was_healthy = await self._poll_until_exit(process)
            if self._stopping:
                return
            if was_healthy:
                backoff = 1.0  # a crash after a good run is not a crash loop
            self.backend.mark(ProcessHealth.RESTARTING)
            log.warning("vllm exited deployment=%s code=%s; restarting in %.0fs", self.label, exited, backoff)
            await _kill_group(process, grace_s=2.0)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff_s)
            if self._stopping:
                return
            self.restarts += 1
            await self._spawn()

    async def _poll_until_exit(self, process: asyncio.subprocess.Process) -> tuple[int, bool]:
        """Health-poll while the process lives; mark the backend accordingly."""
        wait_exit = asyncio.create_task(process.wait())
        failures = 0
        was_healthy = False
        try:
            while True:
                done, _ = await asyncio.wait({wait_exit}, timeout=self.health_interval_s)
                if done:
                    return wait_exit.result(), was_healthy
                if await self.backend.probe():
                    failures = 0
                    was_healthy = True
                    if not self.backend.healthy:
                        log.info("vllm healthy deployment=%s pid=%s", self.label, process.pid)
                    self.backend.mark(ProcessHealth.HEALTHY)
                    self._first_healthy.set()
                elif self.backend.healthy:
                    failures += 1
                    if failures >= 3:
                        self.backend.mark(ProcessHealth.UNHEALTHY)
        finally:
            wait_exit.cancel()

    async def stop(self, grace_s: float = 15.0) -> None:
        self._stopping = True
        if self._watch_task is not None:
            self._watch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch_task
        if self._process is not None:
            await _kill_group(self._process, grace_s=grace_s)
        self._remove_tmp_dir()
        self.backend.mark(ProcessHealth.STOPPED)

    def _remove_tmp_dir(self) -> None:
        if self._tmp_dir is not None:
            shutil.rmtree(self._tmp_dir, ignore_errors=True)
            self._tmp_dir = None


async def _kill_group(process: asyncio.subprocess.Process, grace_s: float) -> None:
    """SIGTERM the whole process group, then SIGKILL whatever is left after the grace period."""
    pgid = process.pid  # setsid() made the child its group leader
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    try:
        async with asyncio.timeout(grace_s):
            await process.wait()
    except TimeoutError:
        pass
    # Children (engine core) may outlive the leader briefly; make sure the group is gone.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, ChildProcessError):
        await process.wait()
