"""Runs a Call through the stages: down the list until one answers, then the answer back up
through the stages above it (the whole body, or each stream event), timing every stage.

Stream and non-stream take the same stages. A stream is primed here: an error before its first
byte raises (a proper HTTP status); after that it is sent in-band, as OpenAI's streams do.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from inferstack.errors import InferstackError
from inferstack.pipeline.call import Call
from inferstack.pipeline.metrics import PipelineMetrics
from inferstack.pipeline.recent import RecentCalls
from inferstack.pipeline.stage import Answer, Stage, describe, overrides
from inferstack.router.executor import DONE, sse

_END = DONE + b"\n\n"
_HEAD_KEYS = ("id", "object", "created", "model")


@dataclass
class Generation:
    """A chat/completion result: the body or the SSE stream, and the response headers."""

    result: dict[str, Any] | AsyncGenerator[bytes, None]
    headers: dict[str, str]


@dataclass(frozen=True)
class _Outward:
    """The stages an answer from one stage passes on its way out, innermost first, per hook."""

    body: tuple[Stage, ...]
    headers: tuple[Stage, ...]
    events: tuple[Stage, ...]
    ends: tuple[tuple[Stage, int], ...]  # (stage, how many of `events` it and those below it hold)


class Pipeline:
    def __init__(self, stages: Sequence[Stage], metrics: PipelineMetrics) -> None:
        self.stages = tuple(stages)
        self.recent = RecentCalls()
        self._admit = tuple(s for s in self.stages if overrides(s, "admit"))
        self._request = tuple((i, s) for i, s in enumerate(self.stages) if overrides(s, "on_request"))
        self._dry = tuple(s for s in self.stages if s.in_dry_run)
        self._outward = [self._outward_from(i) for i in range(len(self.stages))]
        self._histograms = {s.name: metrics.stage_seconds.labels(s.name) for s in self.stages}

    def _outward_from(self, index: int) -> _Outward:
        above = self.stages[:index][::-1]
        events = tuple(s for s in above if overrides(s, "on_event"))
        # A stage's closing events pass only the event stages above it (`below` counts the rest).
        ends = tuple(
            (s, sum(1 for e in above[: pos + 1] if overrides(e, "on_event")))
            for pos, s in enumerate(above)
            if overrides(s, "on_stream_end")
        )
        return _Outward(
            tuple(s for s in above if overrides(s, "on_body")),
            tuple(s for s in above if overrides(s, "on_headers")),
            events,
            ends,
        )

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.stages]

    def describe(self) -> dict[str, list[str]]:
        return describe(self.stages)

    async def dry_run(self, call: Call) -> Call:
        """`POST /v1/route`: only the stages marked `in_dry_run`; nothing answers."""
        for stage in self._dry:
            stage.admit(call)
        for stage in self._dry:
            await stage.on_request(call)
        return call

    async def run(self, call: Call) -> Generation:
        try:
            for stage in self._admit:
                stage.admit(call)
            answer, index = await self._down(call)
            if isinstance(answer, dict):
                await self._up_body(call, answer, self._outward[index])
                return Generation(answer, call.headers)
        except BaseException:
            self._finish(call)
            raise
        stream = self._relay(call, answer, index)
        first = await anext(stream)  # errors before the first byte surface here, as an HTTP status
        return Generation(_prepend(first, stream), call.headers)

    async def _down(self, call: Call) -> tuple[Answer, int]:
        timings = call.timings
        for index, stage in self._request:
            started = time.perf_counter()
            try:
                answer = await stage.on_request(call)
            finally:
                timings[stage.name] = timings.get(stage.name, 0.0) + time.perf_counter() - started
            if answer is not None:
                return answer, index
        raise RuntimeError("no stage answered the call")  # `generate` is last and always answers

    async def _up_body(self, call: Call, body: dict[str, Any], out: _Outward) -> None:
        timings = call.timings
        try:
            for stage in out.body:
                started = time.perf_counter()
                await stage.on_body(call, body)
                timings[stage.name] = timings.get(stage.name, 0.0) + time.perf_counter() - started
            for stage in out.headers:
                stage.on_headers(call)
        finally:
            body["inferstack"] = call.extension_object()
            self._finish(call)

    async def _relay(
        self, call: Call, events: AsyncGenerator[bytes, None], index: int
    ) -> AsyncGenerator[bytes, None]:
        out = self._outward[index]
        answering = self.stages[index].name
        stages = out.events
        spent = [0.0] * len(stages)  # per event stage, summed over the stream
        waited = 0.0  # in the answering stage: the backend producing the next event
        sent_any = headers_sent = False
        done = _END
        try:
            try:
                while True:
                    started = time.perf_counter()
                    try:
                        event = await anext(events)
                    except StopAsyncIteration:
                        break
                    finally:
                        waited += time.perf_counter() - started
                    if event.startswith(DONE):
                        done = event
                        break
                    if not headers_sent:
                        call.stream_head = _head(event)
                        headers_sent = _send_headers(call, out)
                    for k, stage in enumerate(stages):
                        started = time.perf_counter()
                        passed = stage.on_event(call, event)
                        spent[k] += time.perf_counter() - started
                        if passed is None:
                            break
                        event = passed
                    else:
                        sent_any = True
                        yield event
                if not headers_sent:
                    headers_sent = _send_headers(call, out)
                for stage, below in out.ends:
                    started = time.perf_counter()
                    tails = await stage.on_stream_end(call)
                    call.timings[stage.name] = (
                        call.timings.get(stage.name, 0.0) + time.perf_counter() - started
                    )
                    for tail in tails:
                        for k in range(below, len(stages)):
                            passed = stages[k].on_event(call, tail)
                            if passed is None:
                                break
                            tail = passed
                        else:
                            sent_any = True
                            yield tail
            finally:
                timings = call.timings
                timings[answering] = timings.get(answering, 0.0) + waited
                for stage, seconds in zip(stages, spent, strict=True):
                    timings[stage.name] = timings.get(stage.name, 0.0) + seconds
            yield sse({**call.stream_head, "choices": [], "inferstack": call.extension_object()})
            yield done
        except InferstackError as error:
            if not sent_any:
                raise
            # Headers are gone; tell the client in-band the way OpenAI streams do.
            yield sse(error.body())
            yield _END
        finally:  # now, not at garbage collection: releases the backend stream and its slot
            await events.aclose()
            self._finish(call)

    def _finish(self, call: Call) -> None:
        """The call is over, however it ended: its closers run, its stage times are recorded."""
        call.close()
        self.recent.record(call)
        for name, seconds in call.timings.items():
            histogram = self._histograms.get(name)
            if histogram is not None:
                histogram.observe(seconds)


def _head(event: bytes) -> dict[str, Any]:
    head = orjson.loads(event[6:])
    return {k: head.get(k) for k in _HEAD_KEYS}


def _send_headers(call: Call, out: _Outward) -> bool:
    for stage in out.headers:
        stage.on_headers(call)
    return True


async def _prepend(first: bytes, rest: AsyncGenerator[bytes, None]) -> AsyncGenerator[bytes, None]:
    try:
        yield first
        async for item in rest:
            yield item
    finally:  # as in _relay: close the stream below now
        await rest.aclose()
