from __future__ import annotations

import contextlib
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from inferstack.config.router import RetryConfig, RouterConfig
from inferstack.errors import BackendError, BackendTimeout, BackendUnavailable, InferstackError
from inferstack.router.breaker import BreakerState
from inferstack.router.deployments import Deployment
from inferstack.router.executor import (
    Executor,
    Outcome,
    Target,
    _partial_answer,
    _rewritten,
    is_retryable,
    sse,
)
from inferstack.router.metrics import RouterMetrics
from tests.router.stubs import deployment


class ScriptedBackend:
    """post_json answers from a script: an exception to raise or a body to return."""

    def __init__(self, name: str, script: list[Any]) -> None:
        self.name = name
        self.script = script
        self.calls = 0
        self.healthy = True

    async def post_json(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        self.calls += 1
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        return dict(step)


def scripted(name: str, *scripts: list[Any]) -> Deployment:
    """A deployment with one replica per script."""
    d = deployment(name, breaker_failures=5, replicas=len(scripts))
    for replica, script in zip(d.replicas, scripts, strict=True):
        replica.backend = ScriptedBackend(name, script)  # type: ignore[assignment]
    return d


def calls(d: Deployment, replica: int = 0) -> int:
    return d.replicas[replica].backend.calls  # type: ignore[attr-defined, no-any-return]


def targets(*chain: Deployment) -> list[Target]:
    return [Target(d, r) for d in chain for r in d.replicas]


def executor(attempts: int = 2) -> Executor:
    config = RouterConfig(
        retry=RetryConfig(attempts_per_deployment=attempts, backoff_initial_s=0, backoff_max_s=0)
    )
    return Executor(config, RouterMetrics(CollectorRegistry()))


async def call(chain: list[Deployment]) -> tuple[dict[str, Any], Outcome]:
    outcome = Outcome()
    body = await executor().call_json(targets(*chain), "/chat/completions", lambda d: {}, {}, outcome)
    return body, outcome


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (BackendUnavailable("down"), True),
        (BackendTimeout("slow"), True),
        (BackendError(429, {"message": "busy"}), True),
        (BackendError(502, {"message": "bad gateway"}), True),
        (BackendError(400, {"message": "bad request", "param": "messages"}), False),
        (BackendError(500, {"message": "boom"}), False),
    ],
)
def test_what_is_retried(error: InferstackError, retryable: bool) -> None:
    assert is_retryable(error) is retryable


async def test_retry_then_success_on_the_same_deployment() -> None:
    primary = scripted("a", [BackendUnavailable("blip"), {"ok": 1}])
    body, outcome = await call([primary])
    assert body == {"ok": 1} and outcome.served_by is primary
    assert outcome.attempts == [
        {"deployment": "a", "replica": "a:8000", "outcome": "backend_unavailable"},
        {"deployment": "a", "replica": "a:8000", "outcome": "ok"},
    ]


async def test_falls_back_to_the_next_deployment_after_retries() -> None:
    primary = scripted("a", [BackendUnavailable("x"), BackendUnavailable("y")])
    backup = scripted("b", [{"ok": 2}])
    body, outcome = await call([primary, backup])
    assert body == {"ok": 2} and outcome.served_by is backup and calls(primary) == 2


async def test_another_replica_of_the_deployment_comes_before_the_fallback() -> None:
    primary = scripted("a", [BackendUnavailable("x"), BackendUnavailable("y")], [{"ok": 1}])
    backup = scripted("b", [{"ok": 2}])
    body, outcome = await call([primary, backup])
    assert body == {"ok": 1} and outcome.served_by is primary
    assert outcome.attempts[-1]["replica"] == "a:8001" and calls(backup) == 0
    assert primary.replicas[0].breaker.state is BreakerState.CLOSED  # 2 failures < 5
    assert [a["replica"] for a in outcome.attempts] == ["a:8000", "a:8000", "a:8001"]


async def test_client_errors_are_neither_retried_nor_failed_over() -> None:
    primary = scripted("a", [BackendError(400, {"message": "bad", "param": "max_tokens"})])
    backup = scripted("b", [{"ok": 2}])
    with pytest.raises(BackendError) as raised:
        await call([primary, backup])
    assert raised.value.param == "max_tokens" and calls(backup) == 0
    assert primary.replicas[0].breaker.state is BreakerState.CLOSED  # the backend answered fine


async def test_open_circuit_is_skipped_without_a_call() -> None:
    primary = scripted("a", [])
    for _ in range(5):
        primary.replicas[0].breaker.record_failure()
    backup = scripted("b", [{"ok": 2}])
    body, outcome = await call([primary, backup])
    assert body == {"ok": 2} and calls(primary) == 0
    assert outcome.attempts[0] == {"deployment": "a", "replica": "a:8000", "outcome": "circuit open"}


async def test_all_failing_raises_the_last_error() -> None:
    with pytest.raises(BackendTimeout):
        await call([scripted("a", [BackendTimeout("t1"), BackendTimeout("t2")])])


def chunk(content: str | None = None, **extra: Any) -> bytes:
    delta = {"content": content} if content is not None else {"role": "assistant", "content": ""}
    head = {"id": "cmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    return sse({**head, "choices": [{"index": 0, "delta": delta}], **extra})


def test_partial_answer_is_the_text_streamed_so_far() -> None:
    text, identity = _partial_answer([chunk(), chunk("Hel"), chunk("lo")])
    assert text == "Hello" and identity == {
        "id": "cmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
    }


def test_tool_calls_or_several_choices_cannot_be_continued() -> None:
    tool = sse({"id": "x", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0}]}}]})
    assert _partial_answer([chunk("a"), tool])[1] is None
    second = sse({"id": "x", "choices": [{"index": 1, "delta": {"content": "b"}}]})
    assert _partial_answer([chunk("a"), second])[1] is None


def test_continuation_chunks_take_the_original_identity() -> None:
    rewrite = {"id": "orig", "object": "chat.completion.chunk", "created": 7, "model": "first",
               "_skip_role": True, "_tokens_before": 5}  # fmt: skip
    assert _rewritten(chunk(), rewrite) == b""  # the continuation's role-only opener is dropped
    out = orjson.loads(_rewritten(chunk("more"), rewrite)[6:])
    assert (out["id"], out["created"], out["model"]) == ("orig", 7, "first")
    usage = {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}
    tail = orjson.loads(_rewritten(sse({"id": "c", "choices": [], "usage": usage}), rewrite)[6:])
    assert tail["usage"] == {"prompt_tokens": 10, "completion_tokens": 8, "total_tokens": 18}


class StreamingBackend:
    """stream() yields `events`, then raises `then` (None: ends normally)."""

    def __init__(self, events: list[bytes], then: Exception | None = None) -> None:
        self.events = events
        self.then = then
        self.bodies: list[dict[str, Any]] = []
        self.healthy = True

    @contextlib.asynccontextmanager
    async def stream(self, path: str, body: dict[str, Any], headers: dict[str, str]):  # type: ignore[no-untyped-def]
        self.bodies.append(body)

        async def events():  # type: ignore[no-untyped-def]
            for event in self.events:
                yield event
            if self.then is not None:
                raise self.then

        yield events()

    def map_error(self, exc: Exception) -> Exception:
        return exc


async def test_a_broken_stream_continues_on_another_replica_before_another_deployment() -> None:
    primary = deployment("a", breaker_failures=5, replicas=2)
    backup = deployment("b", breaker_failures=5)
    broken = StreamingBackend([chunk(), chunk("Hel")], then=BackendUnavailable("killed"))
    sibling = StreamingBackend([chunk(), chunk("lo"), b"data: [DONE]\n\n"])
    other = StreamingBackend([b"data: [DONE]\n\n"])
    for replica, stub in zip([*primary.replicas, *backup.replicas], [broken, sibling, other], strict=True):
        replica.backend = stub  # type: ignore[assignment]
    outcome = Outcome()

    def continue_for(target: Deployment, partial: str, tokens: int) -> dict[str, Any]:
        return {"model": target.name, "partial": partial, "after": tokens}

    stream = executor().stream(
        targets(primary, backup), "/chat/completions", lambda d: {"model": d.name}, continue_for, {}, outcome
    )
    events = [event async for event in stream]
    texts = [orjson.loads(e[6:])["choices"][0]["delta"].get("content") for e in events[:-1]]
    assert texts == ["", "Hel", "lo"] and events[-1].startswith(b"data: [DONE]")
    assert sibling.bodies == [{"model": "a", "partial": "Hel", "after": 1}] and other.bodies == []
    assert outcome.attempts[-1] == {"deployment": "a", "replica": "a:8001", "outcome": "ok"}
    assert outcome.failovers == [
        {"from": "a", "to": "a", "after_tokens": 1, "from_replica": "a:8000", "to_replica": "a:8001"}
    ]


class _Refusing(StreamingBackend):
    @contextlib.asynccontextmanager
    async def stream(self, path: str, body: dict[str, Any], headers: dict[str, str]):  # type: ignore[no-untyped-def]
        self.bodies.append(body)
        raise BackendUnavailable("sibling down too")
        yield  # pragma: no cover


async def test_a_continuation_goes_to_each_target_with_its_own_model() -> None:
    primary = deployment("a", breaker_failures=5, replicas=2)
    backup = deployment("b", breaker_failures=5)
    broken = StreamingBackend([chunk(), chunk("Hel")], then=BackendUnavailable("killed"))
    sibling = _Refusing([])
    other = StreamingBackend([chunk(), chunk("lo"), b"data: [DONE]\n\n"])
    for replica, stub in zip([*primary.replicas, *backup.replicas], [broken, sibling, other], strict=True):
        replica.backend = stub  # type: ignore[assignment]

    def continue_for(target: Deployment, partial: str, tokens: int) -> dict[str, Any]:
        return {"model": target.name, "partial": partial}

    outcome = Outcome()
    stream = executor(attempts=1).stream(
        targets(primary, backup), "/chat/completions", lambda d: {"model": d.name}, continue_for, {}, outcome
    )
    events = [event async for event in stream]
    assert events[-1].startswith(b"data: [DONE]")
    assert sibling.bodies == [{"model": "a", "partial": "Hel"}]
    assert other.bodies == [{"model": "b", "partial": "Hel"}]
    assert [(f["to"], f["to_replica"]) for f in outcome.failovers] == [("b", "b:8000")]
