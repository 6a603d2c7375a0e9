"""Protocol validation table: each bad request is refused naming the offending `param`."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from inferstack.pipeline.protocol import ChatCompletionRequest, CompletionRequest
from inferstack.serving.error_handlers import validation_error
from inferstack.serving.protocol import EmbeddingRequest

USER = [{"role": "user", "content": "hi"}]


def chat(**fields: Any) -> dict[str, Any]:
    return {"model": "auto", "messages": USER, **fields}


def param_of(model: type, body: dict[str, Any]) -> str | None:
    with pytest.raises(ValidationError) as info:
        model.model_validate(body)
    errors = [{**e, "loc": ("body", *e["loc"])} for e in info.value.errors()]
    return validation_error(RequestValidationError(errors)).param


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": USER}, "model"),
        ({"model": "auto"}, "messages"),
        (chat(messages=[]), "messages"),
        (chat(messages=[{"role": "usr", "content": "x"}]), "messages[0].role"),
        (chat(messages=[{"role": "user"}]), "messages[0].content"),
        (chat(messages=[*USER, {"role": "tool", "content": "x"}]), "messages[1].tool_call_id"),
        (chat(temperature=2.5), "temperature"),
        (chat(temperature=-0.1), "temperature"),
        (chat(top_p=0), "top_p"),
        (chat(n=0), "n"),
        (chat(n=17), "n"),
        (chat(max_tokens=0), "max_tokens"),
        (chat(max_completion_tokens=0), "max_completion_tokens"),
        (chat(stop=["a", "b", "c", "d", "e"]), "stop"),
        (chat(stop=""), "stop"),
        (chat(stream_options={"include_usage": True}), "stream_options"),
        (chat(response_format={"type": "xml"}), "response_format.type"),
        (chat(tools=[{"type": "function", "function": {}}]), "tools[0].function"),
        (chat(tool_choice="auto"), "tool_choice"),
        (chat(top_logprobs=3), "top_logprobs"),
        (chat(presence_penalty=3), "presence_penalty"),
        (chat(inferstack={"unknown": 1}), "inferstack.unknown"),
    ],
)
def test_chat_rejections_name_param(body: dict[str, Any], param: str) -> None:
    assert param_of(ChatCompletionRequest, body) == param


def test_chat_accepts_full_openai_request_and_keeps_extras() -> None:
    request = ChatCompletionRequest.model_validate(
        chat(
            stream=True,
            stream_options={"include_usage": False},
            n=2,
            stop=["\n"],
            max_completion_tokens=10,
            temperature=0.5,
            top_p=0.9,
            seed=3,
            response_format={"type": "json_object"},
            tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}],
            tool_choice="auto",
            logit_bias={"50256": -100},
            top_k=20,  # a vLLM extra: passed through untouched
        )
    )
    payload = request.backend_payload("served-name")
    assert payload["model"] == "served-name"
    assert payload["top_k"] == 20 and payload["logit_bias"] == {"50256": -100}
    assert payload["stream_options"] == {"include_usage": True}  # usage always counted
    assert request.wants_usage_chunk is False
    assert "inferstack" not in payload


def test_backend_payload_drops_inferstack_extension_and_unset_fields() -> None:
    request = ChatCompletionRequest.model_validate(chat(inferstack={"collection": "docs"}))
    assert request.backend_payload("m") == {"model": "m", "messages": USER}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "m", "prompt": ""}, "prompt"),
        ({"model": "m", "prompt": []}, "prompt"),
        ({"model": "m"}, "prompt"),
        ({"model": "m", "prompt": "x", "logprobs": 9}, "logprobs"),
    ],
)
def test_completion_rejections(body: dict[str, Any], param: str) -> None:
    assert param_of(CompletionRequest, body) == param


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "e", "input": ""}, "input"),
        ({"model": "e", "input": []}, "input"),
        ({"model": "e", "input": ["ok", ""]}, "input[1]"),
        ({"model": "e", "input": "x", "encoding_format": "hex"}, "encoding_format"),
        ({"model": "e", "input": "x", "dimensions": 0}, "dimensions"),
    ],
)
def test_embedding_rejections(body: dict[str, Any], param: str) -> None:
    assert param_of(EmbeddingRequest, body) == param


def test_prompt_forms() -> None:
    for prompt in ("a", ["a", "b"], [1, 2], [[1], [2, 3]]):
        CompletionRequest.model_validate({"model": "m", "prompt": prompt})
