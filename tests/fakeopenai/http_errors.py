"""OpenAI's error body, `{"error": {"message", "type", "param", "code"}}`, with its defaults per status."""

from __future__ import annotations

from typing import Any

from .replies import ErrorReply

__all__ = ["error_headers", "error_json"]

_DEFAULTS: dict[int, tuple[str, str, str | None]] = {
    400: ("Invalid request.", "invalid_request_error", None),
    401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    403: ("You are not allowed to make this request.", "permission_error", None),
    404: (
        "The model does not exist or you do not have access to it.",
        "invalid_request_error",
        "model_not_found",
    ),
    409: ("The request conflicts with another request.", "invalid_request_error", None),
    422: ("The request could not be processed.", "invalid_request_error", None),
    429: ("Rate limit reached for requests. Please try again later.", "requests", "rate_limit_exceeded"),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
}
_SERVER_ERROR = (
    "The server had an error while processing your request. Sorry about that!",
    "server_error",
    None,
)
_CLIENT_ERROR = ("The request failed.", "invalid_request_error", None)
_DEFAULT_RETRY_AFTER = 1.0


def error_json(reply: ErrorReply) -> dict[str, Any]:
    """The error body for `reply`, filling what it leaves unset from OpenAI's usual values."""
    fallback = _SERVER_ERROR if reply.status >= 500 else _CLIENT_ERROR
    message, type_, code = _DEFAULTS.get(reply.status, fallback)
    return {
        "error": {
            "message": reply.message or message,
            "type": reply.type or type_,
            "param": reply.param,
            "code": reply.code or code,
        }
    }


def error_headers(reply: ErrorReply) -> dict[str, str]:
    """Extra response headers: `retry-after` (a 429 always has one) plus the reply's own."""
    headers = dict(reply.headers)
    retry_after = reply.retry_after
    if retry_after is None and reply.status == 429:
        retry_after = _DEFAULT_RETRY_AFTER
    if retry_after is not None:
        headers["retry-after"] = f"{retry_after:g}"
    return headers
