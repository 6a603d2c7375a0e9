"""The exception -> OpenAI error mapper."""

from __future__ import annotations

import pytest
from fastapi.exceptions import RequestValidationError

from inferstack.errors import (
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    ModelNotFound,
    PayloadTooLarge,
)
from inferstack.serving.error_handlers import error_response, param_from_loc, validation_error


@pytest.mark.parametrize(
    ("loc", "param"),
    [
        (("body", "messages", 0, "role"), "messages[0].role"),
        (("body", "stop", "str"), "stop"),
        (("body", "stop", "list[str]", 5), "stop[5]"),
        (("body",), None),
        (("query", "limit"), "limit"),
        (("body", "query"), "query"),  # a body field called "query" (POST /v1/retrieve)
        (("body", "path", "body"), "path.body"),
    ],
)
def test_param_from_loc(loc: tuple[object, ...], param: str | None) -> None:
    assert param_from_loc(loc) == param


def test_malformed_json() -> None:
    error = validation_error(
        RequestValidationError([{"type": "json_invalid", "loc": ("body", 3), "msg": "x"}])
    )
    assert (error.status, error.code, error.param) == (400, "invalid_json", None)


def test_missing_body() -> None:
    error = validation_error(RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "x"}]))
    assert error.status == 400 and "required" in error.message


@pytest.mark.parametrize(
    ("error", "status", "type_", "code", "header"),
    [
        (ModelNotFound("m", param="model"), 404, "invalid_request_error", "model_not_found", None),
        (PayloadTooLarge("big"), 413, "invalid_request_error", "request_too_large", None),
        (BackendUnavailable("down"), 503, "service_unavailable", "backend_unavailable", "retry-after"),
        (BackendTimeout("slow"), 504, "timeout_error", "backend_timeout", None),
        (BackendError(400, {"message": "m", "type": "BadRequestError", "param": "max_tokens", "code": 400}),
         400, "invalid_request_error", None, None),
        (BackendError(429, {"message": "m"}), 429, "rate_limit_error", None, None),
    ],
)  # fmt: skip
def test_error_response_shape(error, status, type_, code, header) -> None:  # type: ignore[no-untyped-def]
    response = error_response(error)
    assert response.status_code == status
    import orjson

    body = orjson.loads(response.body)
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["type"] == type_ and body["error"]["code"] == code
    if header:
        assert response.headers[header] == "5"
