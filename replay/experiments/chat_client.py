"""The HTTP client of prompt tasks: one OpenAI-compatible chat-completion POST per run, on aiohttp.

Experiments make hundreds of calls a second from one event loop, and there the client's own CPU decides the
throughput. Measured on the 2-core machine at 32 calls in flight (``bench/experiments.py``'s setting), a
call's client CPU was ~2.0 ms through ``openai.AsyncOpenAI`` on its default httpx transport, ~1.4 ms through
the same client on its aiohttp transport (``openai[aiohttp]``), and ~0.5 ms with aiohttp alone — the openai
client's request building (options copies, URL parsing, header merging) costs more than the HTTP exchange. The
request a prompt task sends is already a plain JSON body (:func:`replay.model_call.request_body`), so nothing of
the typed client is needed; replays and the judge keep using the ``openai`` package.

What the ``openai`` client would have given is kept: ``Authorization: Bearer``, ``OpenAI-Organization`` /
``OpenAI-Project`` from the standard environment for the ``openai`` provider, the proxy settings of the
environment (``HTTPS_PROXY``, ``NO_PROXY``…, read once), one TLS context, a total timeout per request, and
errors that say what went wrong — :class:`ProviderHTTPError` (status, the provider's message, its headers for
``Retry-After``), :class:`~replay.errors.ProviderTimeout`, :class:`~replay.errors.ProviderUnreachable`.

A session (one connection pool) belongs to the event loop that made it: :class:`ChatClient` makes one per loop
and :meth:`ChatClient.aclose` closes it.
"""

from __future__ import annotations

import asyncio
import functools
import os
import ssl
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

from replay.errors import ProviderError, ProviderTimeout, ProviderUnreachable
from replay.providers import OPENAI, Provider

__all__ = ["ChatClient", "ProviderHTTPError"]

_MESSAGE_CHARS = 300


class ProviderHTTPError(ProviderError):
    """The provider answered with an error status; ``headers`` are its reply's (``Retry-After`` …)."""

    def __init__(self, message: str, *, provider: str, provider_status: int, headers: Mapping[str, str]) -> None:
        super().__init__(message, provider=provider, provider_status=provider_status)
        self.headers = headers


class ChatClient:
    """POSTs chat-completion bodies to ``provider``'s ``/chat/completions`` and returns the parsed reply."""

    def __init__(self, provider: Provider, *, timeout: float) -> None:
        self.provider = provider
        self.url = _api_root(provider).rstrip("/") + "/chat/completions"
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.headers = _headers(provider)
        self.proxy = _proxy_for(self.url)
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def create(self, body: Mapping[str, Any]) -> Any:
        """The provider's JSON reply to one chat-completion ``body`` (raises the errors of the module docstring)."""
        session = self._session_of(asyncio.get_running_loop())
        name = self.provider.name
        try:
            async with session.post(self.url, data=orjson.dumps(body), proxy=self.proxy) as response:
                raw = await response.read()
                if response.status >= 400:
                    raise ProviderHTTPError(
                        f"the provider answered HTTP {response.status}: {_error_message(raw, response.reason)}",
                        provider=name,
                        provider_status=response.status,
                        headers=response.headers,
                    )
        except TimeoutError:
            raise ProviderTimeout("the provider did not answer in time", provider=name) from None
        except aiohttp.ClientError as exc:  # refused, reset, DNS, TLS, a malformed reply
            raise ProviderUnreachable(f"cannot reach the provider: {exc}", provider=name) from exc
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise ProviderError(f"provider {name!r} answered with something that is not JSON", provider=name) from None

    def _session_of(self, loop: asyncio.AbstractEventLoop) -> aiohttp.ClientSession:
        if self._session is None or self._loop is not loop or self._session.closed:
            connector = aiohttp.TCPConnector(limit=0, ssl=_tls())  # the runner's jobs bound the calls in flight
            self._session = aiohttp.ClientSession(connector=connector, headers=self.headers, timeout=self.timeout)
            self._loop = loop
        return self._session

    async def aclose(self) -> None:
        """Close the session of the running loop (one left by another loop is dropped with that loop)."""
        session, self._session = self._session, None
        if session is not None and self._loop is asyncio.get_running_loop():
            await session.close()
        self._loop = None


def _api_root(provider: Provider) -> str:
    if provider.base_url:
        return provider.base_url
    # the `openai` provider without OPENAI_BASE_URL: the endpoint the openai package itself would call
    import openai

    return str(openai.OpenAI(api_key=provider.api_key).base_url)


def _headers(provider: Provider) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": "spanlab"}
    if provider.api_key:
        headers["Authorization"] = f"Bearer {provider.api_key}"
    if provider.name == OPENAI:
        for variable, header in (("OPENAI_ORG_ID", "OpenAI-Organization"), ("OPENAI_PROJECT_ID", "OpenAI-Project")):
            if value := os.environ.get(variable):
                headers[header] = value
    return headers


def _proxy_for(url: str) -> str | None:
    """The proxy the environment names for ``url`` (``HTTPS_PROXY``/``HTTP_PROXY``, minus ``NO_PROXY``), read
    once: aiohttp's own ``trust_env`` also looks up ``~/.netrc`` in a worker thread on every request."""
    parts = urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if not proxy or urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return proxy


def _error_message(raw: bytes, reason: str | None) -> str:
    """The provider's own message (OpenAI's ``{"error": {"message"}}`` or a top-level ``message``), else its text."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        for holder in (error, body):
            message = holder.get("message") if isinstance(holder, dict) else None
            if isinstance(message, str) and message:
                return message[:_MESSAGE_CHARS]
        if isinstance(error, str) and error:
            return error[:_MESSAGE_CHARS]
    text = raw.decode("utf-8", "replace").strip()[:_MESSAGE_CHARS]
    return text or reason or "no message"


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every session: loading the CA store takes ~0.1 s."""
    return ssl.create_default_context()
