"""Carries out a routing decision over its targets (replicas of the chosen deployment in
placement order, then the fallback deployments' replicas): retries with jittered backoff, a
circuit breaker per replica, and mid-stream failover (the partial answer goes to the next target
as an assistant prefix; the client keeps one uninterrupted stream with the original id)."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from inferstack.config.router import RouterConfig
from inferstack.errors import BackendError, BackendTimeout, BackendUnavailable, InferstackError
from inferstack.router.deployments import Deployment
from inferstack.router.metrics import RouterMetrics
from inferstack.router.replicas import Replica

log = logging.getLogger(__name__)
T = TypeVar("T")

DONE = b"data: [DONE]"
_TOKEN_MARKERS = (b'"content":"', b'"text":"', b'"tool_calls":[')
_EMPTY_MARKERS = (b'"content":""', b'"text":""')

PayloadFn = Callable[[Deployment], dict[str, Any]]
# (target deployment, partial answer so far, tokens so far) -> request body, or None when the
# request cannot be continued elsewhere (several choices, tool calls, token prompts).
ContinuationFn = Callable[[Deployment, str, int], dict[str, Any] | None]


def has_token(event: bytes) -> bool:
    return any(m in event for m in _TOKEN_MARKERS) and not any(m in event for m in _EMPTY_MARKERS)


def sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def is_retryable(exc: BaseException) -> bool:
    """Failures where the backend did no work we could lose: unreachable, overloaded, 5xx."""
    if isinstance(exc, BackendUnavailable | BackendTimeout):
        return True
    return isinstance(exc, BackendError) and exc.status in (429, 502, 503, 504)


def _is_backend_fault(exc: InferstackError) -> bool:
    return is_retryable(exc) or exc.status >= 500


class CircuitOpen(BackendUnavailable):
    pass


@dataclass(frozen=True, eq=False)
class Target:
    """One replica of one deployment: where a call attempt goes."""

    deployment: Deployment
    replica: Replica

    def unavailable_why(self) -> str | None:
        return self.deployment.disabled_reason or self.replica.unavailable_why()


@dataclass
class Outcome:
    """What happened while serving one request (for the `inferstack.route` object)."""

    served_by: Deployment | None = None
    attempts: list[dict[str, str]] = field(default_factory=list)
    failovers: list[dict[str, Any]] = field(default_factory=list)
    recovery_ms: float | None = None  # mid-stream: break detected -> next token sent
    # Told which target answered (placement remembers the prompt's prefix on that replica).
    on_served: Callable[[Target], None] | None = field(default=None, repr=False)

    def note(self, target: Target, outcome: str) -> None:
        self.attempts.append(
            {"deployment": target.deployment.name, "replica": target.replica.id, "outcome": outcome}
        )

    def served(self, target: Target) -> None:
        self.served_by = target.deployment
        if self.on_served is not None:
            self.on_served(target)


class Executor:
    def __init__(self, config: RouterConfig, metrics: RouterMetrics) -> None:
        self.config = config
        self.metrics = metrics

    async def _try(
        self, target: Target, op: Callable[[Target], Awaitable[T]], deadline: float, outcome: Outcome
    ) -> T:
        retry = self.config.retry
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise BackendTimeout("the retry deadline passed before a deployment answered")
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(retry.attempts_per_deployment) | stop_after_delay(remaining),
            wait=wait_random_exponential(multiplier=retry.backoff_initial_s, max=retry.backoff_max_s),
            retry=retry_if_exception(lambda e: is_retryable(e) and not isinstance(e, CircuitOpen)),
            reraise=True,
        ):
            with attempt:
                breaker = target.replica.breaker
                if not breaker.acquire():
                    raise CircuitOpen(f"deployment {target.deployment.name}: circuit open")
                try:
                    result = await op(target)
                except InferstackError as exc:
                    self._record_failure(target, exc, outcome)
                    raise
                except BaseException:
                    breaker.release()
                    raise
                breaker.record_success()
                outcome.note(target, "ok")
                return result
        raise AssertionError("unreachable: tenacity re-raises the last error")

    def _record_failure(self, target: Target, exc: InferstackError, outcome: Outcome) -> None:
        if _is_backend_fault(exc):
            target.replica.breaker.record_failure()
            self.metrics.attempt_failures.labels(target.deployment.name, exc.code or exc.type).inc()
        else:
            target.replica.breaker.record_success()  # it answered: the request itself was refused
        outcome.note(target, exc.code or exc.type)

    async def _first_that_answers(
        self, targets: Sequence[Target], op: Callable[[Target], Awaitable[T]], outcome: Outcome
    ) -> tuple[Target, T]:
        deadline = time.monotonic() + self.config.retry.deadline_s
        last: InferstackError | None = None
        for index, target in enumerate(targets):
            why = target.unavailable_why()
            if why is not None:
                outcome.note(target, why)
                last = BackendUnavailable(f"deployment {target.deployment.name}: {why}")
                continue
            try:
                result = await self._try(target, op, deadline, outcome)
            except InferstackError as exc:
                if not (is_retryable(exc) or exc.status >= 500):
                    raise
                last = exc
                if index + 1 < len(targets):
                    self.metrics.failovers.labels(
                        target.deployment.name, targets[index + 1].deployment.name, "before_first_byte"
                    ).inc()
                continue
            outcome.served(target)
            return target, result
        raise last or BackendUnavailable("no deployment is available right now")

    async def call_json(
        self, targets: Sequence[Target], endpoint: str, payload_for: PayloadFn,
        headers: dict[str, str], outcome: Outcome,
    ) -> dict[str, Any]:  # fmt: skip
        async def op(target: Target) -> dict[str, Any]:
            stats = target.replica.stats
            stats.in_flight += 1
            started = time.perf_counter()
            try:
                body = payload_for(target.deployment)
                return await target.replica.backend.post_json(endpoint, body, headers)
            finally:
                stats.in_flight -= 1
                stats.observe_duration((time.perf_counter() - started) * 1000)

        return (await self._first_that_answers(targets, op, outcome))[1]

    async def stream(
        self, targets: Sequence[Target], endpoint: str, payload_for: PayloadFn,
        continue_for: ContinuationFn, headers: dict[str, str], outcome: Outcome,
    ) -> AsyncGenerator[bytes, None]:  # fmt: skip
        """SSE events of one logical stream. Opening errors raise before the first event."""
        async with AsyncExitStack() as stack:
            leg = _Leg(stack, endpoint, headers, self.metrics)
            target, events = await self._first_that_answers(targets, leg.opener(payload_for), outcome)
            broken: set[Replica] = set()
            seen: list[bytes] = []  # kept to rebuild the partial answer if we must fail over
            tokens = 0
            rewrite: dict[str, Any] | None = None  # after a failover: the original chunk identity
            while True:
                try:
                    async for event in events:
                        if event.startswith(DONE):
                            leg.finish(target)
                            yield event
                            return
                        if has_token(event):
                            tokens += 1
                            leg.first_token(target, outcome)
                        if rewrite is not None:
                            event = _rewritten(event, rewrite)
                            if not event:
                                continue
                        seen.append(event)
                        yield event
                    raise BackendUnavailable(f"deployment {target.deployment.name} ended the stream early")
                except Exception as exc:  # noqa: BLE001 - mapped; anything else re-raised
                    error = target.replica.backend.map_error(exc)
                    if not isinstance(error, InferstackError) or not is_retryable(error):
                        raise error from None
                    failed = target
                    self._record_failure(failed, error, outcome)
                    await leg.close()
                    broken.add(failed.replica)
                    partial, identity = _partial_answer(seen)
                    if identity is None or not self.config.mid_stream_failover:
                        raise error from None
                    # Each deployment gets the continuation with its own model name; one that
                    # cannot continue this request is left out.
                    bodies: dict[str, dict[str, Any] | None] = {}
                    for t in targets:
                        if t.deployment.name not in bodies:
                            bodies[t.deployment.name] = continue_for(t.deployment, partial, tokens)
                    targets = [t for t in targets if t.replica not in broken and bodies[t.deployment.name]]
                    if not targets:
                        raise error from None
                    log.warning("stream from %s (%s) broke after %d tokens; continuing on %s (%s)",
                                failed.deployment.name, failed.replica.id, tokens,
                                targets[0].deployment.name, targets[0].replica.id)  # fmt: skip
                    broke_at = time.perf_counter()
                    target, events = await self._first_that_answers(
                        targets, leg.opener(functools.partial(_body_of, bodies)), outcome
                    )
                    leg.recovery_from = broke_at
                    self.metrics.failovers.labels(
                        failed.deployment.name, target.deployment.name, "mid_stream"
                    ).inc()
                    outcome.failovers.append({
                        "from": failed.deployment.name, "to": target.deployment.name, "after_tokens": tokens,
                        "from_replica": failed.replica.id, "to_replica": target.replica.id,
                    })  # fmt: skip
                    rewrite = {**identity, "_skip_role": True, "_tokens_before": tokens}


def _body_of(bodies: dict[str, dict[str, Any] | None], deployment: Deployment) -> dict[str, Any]:
    body = bodies[deployment.name]
    assert body is not None, "targets that cannot continue were left out"
    return body


class _Leg:
    """The currently open backend stream: in-flight count, TTFT and duration bookkeeping."""

    def __init__(
        self, stack: AsyncExitStack, endpoint: str, headers: dict[str, str], metrics: RouterMetrics
    ) -> None:
        self.stack = stack
        self.endpoint = endpoint
        self.headers = headers
        self.metrics = metrics
        self.started = 0.0
        self.got_token = False
        self.recovery_from: float | None = None
        self._inner: AsyncExitStack | None = None

    def opener(self, payload_for: PayloadFn) -> Callable[[Target], Awaitable[AsyncIterator[bytes]]]:
        async def open_stream(target: Target) -> AsyncIterator[bytes]:
            self.started = time.perf_counter()
            self.got_token = False
            inner = AsyncExitStack()
            # Counted from before the headers: placements made meanwhile must see this call.
            target.replica.stats.in_flight += 1
            inner.callback(self._left, target.replica)
            try:
                events = await inner.enter_async_context(
                    target.replica.backend.stream(self.endpoint, payload_for(target.deployment), self.headers)
                )
            except BaseException:
                await inner.aclose()
                raise
            self._inner = inner
            self.stack.push_async_callback(inner.aclose)
            return events

        return open_stream

    def _left(self, replica: Replica) -> None:
        replica.stats.in_flight -= 1

    def first_token(self, target: Target, outcome: Outcome) -> None:
        if self.got_token:
            return
        self.got_token = True
        now = time.perf_counter()
        seconds = now - self.started
        target.replica.stats.observe_ttft(seconds * 1000)
        self.metrics.ttft.labels(target.deployment.name).observe(seconds)
        if self.recovery_from is not None:
            outcome.recovery_ms = (now - self.recovery_from) * 1000
            self.recovery_from = None

    def finish(self, target: Target) -> None:
        target.replica.stats.observe_duration((time.perf_counter() - self.started) * 1000)

    async def close(self) -> None:
        if self._inner is not None:
            inner, self._inner = self._inner, None
            await inner.aclose()


def _partial_answer(events: list[bytes]) -> tuple[str, dict[str, Any] | None]:
    """The text streamed so far and the chunk identity (id/object/created/model); None when the
    stream cannot be continued (tool calls, several choices, nothing parseable)."""
    text: list[str] = []
    identity: dict[str, Any] | None = None
    for event in events:
        try:
            chunk = orjson.loads(event[6:])
        except orjson.JSONDecodeError:
            return "", None
        if identity is None:
            identity = {k: chunk.get(k) for k in ("id", "object", "created", "model")}
        for choice in chunk.get("choices") or []:
            if choice.get("index", 0) != 0:
                return "", None
            delta = choice.get("delta")
            if isinstance(delta, dict):
                if delta.get("tool_calls"):
                    return "", None
                text.append(delta.get("content") or "")
            else:
                text.append(choice.get("text") or "")
    return "".join(text), identity


def _rewritten(event: bytes, rewrite: dict[str, Any]) -> bytes:
    """A continuation chunk dressed as the original stream's; b"" drops it (the opening
    role-only chunk of the continuation)."""
    try:
        chunk = orjson.loads(event[6:])
    except orjson.JSONDecodeError:
        return event
    for key in ("id", "object", "created", "model"):
        chunk[key] = rewrite[key]
    choices = chunk.get("choices") or []
    if rewrite["_skip_role"]:
        rewrite["_skip_role"] = False
        delta = choices[0].get("delta") if choices else None
        if isinstance(delta, dict) and not delta.get("content") and not delta.get("tool_calls"):
            return b""
    usage = chunk.get("usage")
    if isinstance(usage, dict) and isinstance(usage.get("completion_tokens"), int):
        usage["completion_tokens"] += rewrite["_tokens_before"]
        usage["total_tokens"] = usage.get("prompt_tokens", 0) + usage["completion_tokens"]
    return sse(chunk)
