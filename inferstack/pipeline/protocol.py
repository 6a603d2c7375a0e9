"""OpenAI chat and text completion requests, as the pipeline carries them. Validators reject what
a backend would choke on, naming the `param`.

Fields the gateway does not interpret (logprobs, logit_bias, tool_choice, vLLM extras, ...) are
kept (`extra="allow"`) and passed through to the backend untouched.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class ParamError(ValueError):
    """A cross-field rule failed; `param` names the field the client should fix."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param


COLLECTION_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,63}$"  # Milvus collection names
Role = Literal["system", "developer", "user", "assistant", "tool", "function"]
StopParam = Annotated[str, Field(min_length=1)] | Annotated[list[str], Field(max_length=4)]


class InferstackOptions(BaseModel):
    """The `inferstack` extension object a client may send (ignored by other servers)."""

    model_config = ConfigDict(extra="forbid")

    collection: str | None = Field(default=None, pattern=COLLECTION_PATTERN)
    session_id: str | None = Field(default=None, min_length=1, max_length=128)


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Role
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None

    @model_validator(mode="after")
    def _content_rules(self) -> ChatMessage:
        if self.role in ("system", "developer", "user") and self.content is None:
            raise ParamError("content", f"a {self.role} message needs `content`")
        if self.role == "tool" and not self.tool_call_id:
            raise ParamError("tool_call_id", "a tool message needs `tool_call_id`")
        return self

    def texts(self) -> list[str]:
        """The message's text: the string content, or its `text` parts in order."""
        if isinstance(self.content, str):
            return [self.content]
        return [p["text"] for p in self.content or [] if _is_text_part(p)]

    def with_texts(self, texts: Iterator[str]) -> ChatMessage:
        """A copy whose texts (in the order of `texts()`) are the next ones from `texts`."""
        if isinstance(self.content, str):
            return self.model_copy(update={"content": next(texts)})
        parts = [{**p, "text": next(texts)} if _is_text_part(p) else p for p in self.content or []]
        return self.model_copy(update={"content": parts})


def _is_text_part(part: dict[str, Any]) -> bool:
    return part.get("type") == "text" and isinstance(part.get("text"), str)


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ResponseFormat(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: Literal["text", "json_object", "json_schema"]


class Tool(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: Literal["function"]
    function: dict[str, Any]

    @field_validator("function")
    @classmethod
    def _named(cls, value: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(value.get("name"), str) or not value["name"]:
            raise ValueError("function.name is required")
        return value


class _SamplingParams(BaseModel):
    """Parameters common to chat and text completions."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = Field(default=1, ge=1, le=16)
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    presence_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    frequency_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    seed: int | None = None
    stop: StopParam | None = None
    user: str | None = None
    inferstack: InferstackOptions | None = None

    @model_validator(mode="after")
    def _stream_options_need_stream(self) -> _SamplingParams:
        if self.stream_options is not None and not self.stream:
            raise ParamError("stream_options", "only allowed when `stream` is true")
        return self

    @property
    def wants_usage_chunk(self) -> bool:
        return bool(self.stream and self.stream_options and self.stream_options.include_usage)

    def backend_payload(self, backend_model: str) -> dict[str, Any]:
        """The JSON body for the backend: what the client sent, minus our extension object."""
        body = self.model_dump(exclude_unset=True, exclude_none=False, exclude={"inferstack"})
        body["model"] = backend_model
        if self.stream:
            # Always ask for usage so metrics count tokens; stripped again if not requested.
            body["stream_options"] = {**body.get("stream_options", {}), "include_usage": True}
        return body


class ChatCompletionRequest(_SamplingParams):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    response_format: ResponseFormat | None = None
    tools: list[Tool] | None = Field(default=None, max_length=128)
    tool_choice: str | dict[str, Any] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)

    def last_user_text(self) -> str | None:
        """The latest user message's text (its text parts joined), or None."""
        for message in reversed(self.messages):
            if message.role == "user":
                return " ".join(message.texts()) or None
        return None

    @model_validator(mode="after")
    def _cross_field(self) -> ChatCompletionRequest:
        if self.top_logprobs and not self.logprobs:
            raise ParamError("top_logprobs", "requires `logprobs: true`")
        if self.tool_choice is not None and not self.tools and self.tool_choice != "none":
            raise ParamError("tool_choice", "requires `tools`")
        return self


PromptParam = (
    Annotated[str, Field(min_length=1)]
    | Annotated[list[str], Field(min_length=1)]
    | Annotated[list[int], Field(min_length=1)]
    | Annotated[list[list[int]], Field(min_length=1)]
)


class CompletionRequest(_SamplingParams):
    prompt: PromptParam
    echo: bool | None = None
    logprobs: int | None = Field(default=None, ge=0, le=5)
    best_of: int | None = Field(default=None, ge=1, le=16)
    suffix: str | None = None
