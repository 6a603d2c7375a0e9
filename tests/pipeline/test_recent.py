"""Finished calls in outline for the operator page: names, numbers and finding types, no text."""

from __future__ import annotations

import orjson

from inferstack.pipeline.protocol import ChatCompletionRequest
from inferstack.pipeline.recent import RecentCalls
from tests.pipeline.test_runner import Answering, chat_call, pipeline

SECRET_TEXT = "my email is jane@example.com and my card 4111 1111 1111 1111"


def test_outline_keeps_finding_types_and_numbers_never_text() -> None:
    call = chat_call()
    call.request = ChatCompletionRequest.model_validate(
        {"model": "auto", "messages": [{"role": "user", "content": SECRET_TEXT}]}
    )
    call.extension["guard"] = {"input": {"findings": {"EMAIL_ADDRESS": 1, "CREDIT_CARD": 1}}, "output": None}
    call.extension["retrieval"] = {"status": "ok", "screened_out": 2}
    recent = RecentCalls(limit=2)
    for _ in range(3):
        recent.record(call)
    latest = recent.latest()
    assert len(latest) == 2  # bounded
    entry = latest[0]
    assert entry["guard_findings"] == ["CREDIT_CARD", "EMAIL_ADDRESS"]
    assert entry["screened_out"] == 2 and entry["tenant"] == "tenant-a"
    assert entry["deployment"] is None and entry["served_by"] is None  # no routing decision
    dumped = orjson.dumps(latest).decode()
    assert "jane" not in dumped and "4111" not in dumped


async def test_the_pipeline_logs_every_finished_call() -> None:
    runner, _ = pipeline(Answering())
    call = chat_call()
    call.extension["retrieval"] = {"status": "ok", "screened_out": 3}
    await runner.run(call)
    await runner.run(chat_call())
    assert len(runner.recent.latest()) == 2
    assert runner.recent.latest()[1]["screened_out"] == 3
