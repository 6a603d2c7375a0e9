"""One place that turns every exception into an OpenAI-style JSON error. Never a traceback."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from inferstack.errors import InferstackError, InvalidRequest
from inferstack.pipeline.protocol import ParamError
from inferstack.serving.responses import JSONResponse

_HTTP_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
}


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


def error_response(error: InferstackError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers or None)


def param_from_loc(loc: tuple[Any, ...]) -> str | None:
    """('body', 'messages', 0, 'role') -> 'messages[0].role' (OpenAI's spelling)."""
    # Only the first element names where FastAPI found it; a field may itself be called "query".
    parts = list(loc[1:]) if loc and loc[0] in ("body", "query", "path", "header") else list(loc)
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _is_union_tag(part):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out or None


def _is_union_tag(part: object) -> bool:
    # pydantic adds the failing union member to the location, e.g. 'str' or 'list[str]'
    return isinstance(part, str) and (
        part in ("str", "int", "float", "bool") or part.startswith(("list[", "function-", "constrained-"))
    )


def validation_error(exc: RequestValidationError) -> InvalidRequest:
    errors = exc.errors()
    if not errors:
        return InvalidRequest("invalid request")
    # A union reports one error per member; the deepest location is the most useful one.
    first = max(errors, key=lambda e: len(param_from_loc(tuple(e.get("loc", ()))) or ""))
    if first.get("type") == "json_invalid":
        return InvalidRequest("request body is not valid JSON", code="invalid_json")
    loc = tuple(first.get("loc", ()))
    param = param_from_loc(loc)
    cause = first.get("ctx", {}).get("error")
    if isinstance(cause, ParamError):  # a cross-field rule names its own field
        param = f"{param}.{cause.param}" if param else cause.param
    if first.get("type") == "missing" and loc == ("body",):
        return InvalidRequest("request body is required", code="invalid_request")
    msg = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    where = f"`{param}`: " if param else ""
    code = "missing_required_parameter" if first.get("type") == "missing" else "invalid_value"
    return InvalidRequest(f"{where}{msg}", param=param, code=code)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(InferstackError)
    async def _inferstack(_: Request, exc: InferstackError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(validation_error(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        error = InferstackError(
            str(exc.detail),
            status=exc.status_code,
            code=_HTTP_CODES.get(exc.status_code),
            headers=dict(exc.headers or {}),
        )
        error.type = _HTTP_TYPES.get(exc.status_code, "invalid_request_error")
        return error_response(error)
