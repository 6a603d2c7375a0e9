from __future__ import annotations

from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from inferstack.config.router import RetryConfig, RouterConfig
from inferstack.errors import BackendError, BackendTimeout, BackendUnavailable, InferstackError
from inferstack.router.breaker import BreakerState
from inferstack.router.executor import Executor, Outcome, _partial_answer, _rewritten, is_retryable, sse
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


def scripted(name: str, script: list[Any]):  # type: ignore[no-untyped-def]
    d = deployment(name, breaker_failures=5)
    d.backend = ScriptedBackend(name, script)  # type: ignore[assignment]
    return d


def executor(attempts: int = 2) -> Executor:
    config = RouterConfig(
        retry=RetryConfig(attempts_per_deployment=attempts, backoff_initial_s=0, backoff_max_s=0)
    )
    return Executor(config, RouterMetrics(CollectorRegistry()))


async def call(chain) -> tuple[dict[str, Any], Outcome]:  # type: ignore[no-untyped-def]
    outcome = Outcome()
    body = await executor().call_json(chain, "/chat/completions", lambda d: {}, {}, outcome)
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
        {"deployment": "a", "outcome": "backend_unavailable"},
        {"deployment": "a", "outcome": "ok"},
    ]


async def test_falls_back_to_the_next_deployment_after_retries() -> None:
    primary = scripted("a", [BackendUnavailable("x"), BackendUnavailable("y")])
    backup = scripted("b", [{"ok": 2}])
    body, outcome = await call([primary, backup])
    assert body == {"ok": 2} and outcome.served_by is backup and primary.backend.calls == 2


async def test_client_errors_are_neither_retried_nor_failed_over() -> None:
    primary = scripted("a", [BackendError(400, {"message": "bad", "param": "max_tokens"})])
    backup = scripted("b", [{"ok": 2}])
    with pytest.raises(BackendError) as raised:
        await call([primary, backup])
    assert raised.value.param == "max_tokens" and backup.backend.calls == 0
    assert primary.breaker.state is BreakerState.CLOSED  # the backend answered fine


async def test_open_circuit_is_skipped_without_a_call() -> None:
    primary = scripted("a", [])
    for _ in range(5):
        primary.breaker.record_failure()
    backup = scripted("b", [{"ok": 2}])
    body, outcome = await call([primary, backup])
    assert body == {"ok": 2} and primary.backend.calls == 0
    assert outcome.attempts[0] == {"deployment": "a", "outcome": "circuit open"}


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
