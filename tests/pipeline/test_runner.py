"""The runner's contract with stages, on small recording stages (logic only; the real stages run
in tests/e2e): hook order, answering early, stream events out, closing events, in-band errors,
timings and the per-stage histogram."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any, ClassVar

import orjson
import pytest
from prometheus_client import CollectorRegistry

from inferstack.errors import BackendUnavailable, InvalidRequest
from inferstack.pipeline.call import Call
from inferstack.pipeline.metrics import PipelineMetrics
from inferstack.pipeline.protocol import ChatCompletionRequest
from inferstack.pipeline.runner import Pipeline
from inferstack.pipeline.stage import Answer, Stage, describe
from inferstack.router.executor import sse


def chat_call(stream: bool = False) -> Call:
    request = ChatCompletionRequest.model_validate(
        {"model": "auto", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    )
    return Call(request, "rid-1", "tenant-a")


def chunk(text: str) -> bytes:
    return sse({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
                "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]})  # fmt: skip


def texts(events: list[bytes]) -> list[str]:
    out = []
    for event in events:
        if event.startswith(b"data: [DONE]"):
            out.append("[DONE]")
            continue
        body = orjson.loads(event[6:])
        if "inferstack" in body:
            out.append("<trailer>")
        elif "error" in body:
            out.append("<error>")
        else:
            out.append("".join(c["delta"].get("content", "") for c in body["choices"]))
    return out


class Recorder(Stage):
    """Logs every hook it sees into `call.state["log"]`; tags events with its name."""

    name: ClassVar[str] = "rec"

    def __init__(self, name: str, tail: str | None = None) -> None:
        self.name = name  # type: ignore[misc]
        self.tail = tail

    def _log(self, call: Call, what: str) -> None:
        call.state.setdefault("log", []).append(f"{self.name}.{what}")

    def admit(self, call: Call) -> None:
        self._log(call, "admit")

    async def on_request(self, call: Call) -> Answer | None:
        self._log(call, "request")
        return None

    def on_headers(self, call: Call) -> None:
        self._log(call, "headers")
        call.headers[f"x-{self.name}"] = "1"

    async def on_body(self, call: Call, body: dict[str, Any]) -> None:
        self._log(call, "body")
        body.setdefault("seen", []).append(self.name)

    def on_event(self, call: Call, event: bytes) -> bytes | None:
        body = orjson.loads(event[6:])
        for choice in body["choices"]:
            choice["delta"]["content"] += f"<{self.name}>"
        return sse(body)

    async def on_stream_end(self, call: Call) -> list[bytes]:
        self._log(call, "end")
        return [chunk(self.tail)] if self.tail else []


class Answering(Stage):
    name = "answer"

    def __init__(self, events: list[bytes | Exception] | None = None) -> None:
        self.events = events

    async def on_request(self, call: Call) -> Answer:
        call.state.setdefault("log", []).append("answer.request")
        if self.events is None:
            return {"choices": []}

        async def stream() -> AsyncGenerator[bytes, None]:
            for item in self.events or []:
                if isinstance(item, Exception):
                    raise item
                yield item

        return stream()


class Never(Stage):
    name = "never"

    async def on_request(self, call: Call) -> Answer:
        raise AssertionError("a stage below the one that answered must not run")


def pipeline(*stages: Stage) -> tuple[Pipeline, CollectorRegistry]:
    registry = CollectorRegistry()
    return Pipeline(stages, PipelineMetrics(registry)), registry


async def collect(stream: AsyncGenerator[bytes, None]) -> list[bytes]:
    return [event async for event in stream]


async def test_body_goes_down_then_back_up_through_the_stages_above_the_answer() -> None:
    runner, registry = pipeline(Recorder("outer"), Recorder("inner"), Answering(), Never())
    call = chat_call()
    generation = await runner.run(call)
    assert call.state["log"] == [
        "outer.admit", "inner.admit", "outer.request", "inner.request", "answer.request",
        "inner.body", "outer.body", "inner.headers", "outer.headers",
    ]  # fmt: skip
    body = generation.result
    assert isinstance(body, dict) and body["seen"] == ["inner", "outer"]
    assert generation.headers == {"x-inner": "1", "x-outer": "1"}
    assert set(body["inferstack"]["timings_ms"]) == {"outer", "inner", "answer"}
    count = registry.get_sample_value("inferstack_stage_duration_seconds_count", {"stage": "answer"})
    assert count == 1.0


async def test_a_refusal_stops_the_call_and_is_still_timed() -> None:
    class Refuse(Stage):
        name = "refuse"

        async def on_request(self, call: Call) -> None:
            raise InvalidRequest("no", param="messages")

    runner, registry = pipeline(Refuse(), Never())
    with pytest.raises(InvalidRequest):
        await runner.run(chat_call())
    assert registry.get_sample_value("inferstack_stage_duration_seconds_count", {"stage": "refuse"}) == 1.0


async def test_stream_events_pass_inner_stages_first_and_closing_events_only_the_outer_ones() -> None:
    events: list[bytes | Exception] = [chunk("a"), chunk("b"), b"data: [DONE]\n\n"]
    runner, _ = pipeline(Recorder("outer", tail="T1"), Recorder("inner", tail="T2"), Answering(events))
    call = chat_call(stream=True)
    generation = await runner.run(call)
    assert generation.headers == {"x-inner": "1", "x-outer": "1"}  # set before the first byte
    assert not isinstance(generation.result, dict)
    out = await collect(generation.result)
    assert texts(out) == [
        "a<inner><outer>", "b<inner><outer>", "T2<outer>", "T1", "<trailer>", "[DONE]",
    ]  # fmt: skip
    trailer = orjson.loads(out[-2][6:])
    assert trailer["choices"] == [] and trailer["id"] == "c1"
    assert {"outer", "inner", "answer"} <= set(trailer["inferstack"]["timings_ms"])
    assert call.state["log"][-2:] == ["inner.end", "outer.end"]


async def test_a_stage_may_drop_an_event() -> None:
    class DropB(Stage):
        name = "drop"

        def on_event(self, call: Call, event: bytes) -> bytes | None:
            return None if b'"b"' in event else event

    events: list[bytes | Exception] = [chunk("a"), chunk("b"), chunk("c"), b"data: [DONE]\n\n"]
    runner, _ = pipeline(Recorder("outer"), DropB(), Answering(events))
    out = await collect((await runner.run(chat_call(stream=True))).result)  # type: ignore[arg-type]
    assert texts(out) == ["a<outer>", "c<outer>", "<trailer>", "[DONE]"]


async def test_an_error_before_the_first_byte_raises_after_it_goes_in_band() -> None:
    runner, _ = pipeline(Recorder("outer"), Answering([BackendUnavailable("down")]))
    with pytest.raises(BackendUnavailable):
        await runner.run(chat_call(stream=True))
    runner, _ = pipeline(Recorder("outer"), Answering([chunk("a"), BackendUnavailable("down")]))
    out = await collect((await runner.run(chat_call(stream=True))).result)  # type: ignore[arg-type]
    assert texts(out) == ["a<outer>", "<error>", "[DONE]"]
    assert orjson.loads(out[1][6:])["error"]["code"] == "backend_unavailable"


async def test_dry_run_runs_only_the_stages_marked_for_it() -> None:
    class Decides(Stage):
        name = "decides"
        in_dry_run = True

        async def on_request(self, call: Call) -> None:
            call.state["decided"] = True

    runner, _ = pipeline(Recorder("guard"), Decides(), Never())
    call = await runner.dry_run(chat_call())
    assert call.state == {"decided": True}


def test_describe_lists_the_way_in_and_the_way_out() -> None:
    class Out(Stage):
        name = "out"

        async def on_body(self, call: Call, body: dict[str, Any]) -> None: ...

    order = describe([Recorder("both"), Out(), Answering()])
    assert order == {"stages": ["both", "out", "answer"], "request": ["both", "answer"],
                     "response": ["answer", "out", "both"], "dry_run": []}  # fmt: skip
