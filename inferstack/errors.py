"""OpenAI-style errors shared by every layer. The serving layer maps them to HTTP responses.

Messages must never contain user text, PII or secrets: they go to clients and to logs.
"""

from __future__ import annotations

from typing import Any


class InferstackError(Exception):
    status: int = 500
    type: str = "server_error"
    code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


class InvalidRequest(InferstackError):
    status = 400
    type = "invalid_request_error"


class AuthenticationFailed(InferstackError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class PermissionDenied(InferstackError):
    status = 403
    type = "permission_error"
    code = "permission_denied"


class ModelNotFound(InferstackError):
    status = 404
    type = "invalid_request_error"
    code = "model_not_found"


class NotFound(InferstackError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"


class PayloadTooLarge(InferstackError):
    status = 413
    type = "invalid_request_error"
    code = "request_too_large"


class BackendUnavailable(InferstackError):
    status = 503
    type = "service_unavailable"
    code = "backend_unavailable"

    def __init__(self, message: str, *, retry_after_s: int = 5, **kwargs: Any) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after_s)}, **kwargs)


class BackendTimeout(InferstackError):
    status = 504
    type = "timeout_error"
    code = "backend_timeout"


class BackendError(InferstackError):
    """The backend answered with an error of its own; status and body are relayed."""

    def __init__(self, status: int, error: dict[str, Any]) -> None:
        super().__init__(
            str(error.get("message") or "backend error"),
            param=error.get("param") if isinstance(error.get("param"), str) else None,
            code=error.get("code") if isinstance(error.get("code"), str) else None,
            status=status,
        )
        # Backends name their own types (vLLM: "BadRequestError"); clients expect OpenAI's.
        self.type = _TYPE_BY_STATUS.get(status, "invalid_request_error" if status < 500 else "server_error")


_TYPE_BY_STATUS = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}


class ClientClosedRequest(InferstackError):
    """The client went away; the backend work was cancelled. Nobody reads this response."""

    status = 499
    type = "client_closed_request"
