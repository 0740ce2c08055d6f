"""Bearer-key protection of the REST API, on when ``SPANLAB_API_KEY`` is set (OTLP routes stay open, like an
OTel collector on loopback; put a proxy in front to protect them on a shared network)."""

from __future__ import annotations

import secrets

from fastapi import Request
from fastapi.security.utils import get_authorization_scheme_param

from collector.errors import CollectorError

__all__ = ["Unauthorized", "require_api_key"]


class Unauthorized(CollectorError):
    status_code = 401


async def require_api_key(request: Request) -> None:
    """Refuse the request unless it carries ``Authorization: Bearer <SPANLAB_API_KEY>`` (when a key is set)."""
    expected = request.app.state.settings.api_key
    if not expected:
        return
    scheme, token = get_authorization_scheme_param(request.headers.get("authorization"))
    if scheme.lower() != "bearer" or not secrets.compare_digest(token.encode(), expected.encode()):
        raise Unauthorized("missing or wrong API key: send 'Authorization: Bearer <SPANLAB_API_KEY>'")
