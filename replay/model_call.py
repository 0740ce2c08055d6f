"""One chat-completion call through the ``openai`` package, and what it returned as a :class:`ModelOutput`.

The call is never streamed and never retried (``max_retries=0``): a replay reports exactly what the provider
answered. Request parameters the ``openai`` client knows are passed as arguments; others (``top_k``,
``repetition_penalty``… that OpenAI-compatible servers accept) travel in ``extra_body``.

Provider failures are translated here, at one boundary: an HTTP error becomes
:class:`~replay.errors.ProviderError` carrying the provider's status and its error message, no connection
:class:`~replay.errors.ProviderUnreachable`, no answer in time :class:`~replay.errors.ProviderTimeout`, an answer
that is not a chat completion :class:`~replay.errors.ProviderError`.
"""

from __future__ import annotations

import inspect
import time
from functools import cache
from typing import Any

import openai
from openai.resources.chat.completions import Completions
from openai.types.chat import ChatCompletion
from pydantic import BaseModel, ConfigDict, Field

from collector.normalize.pricing import estimate_cost
from replay.errors import ProviderError, ProviderTimeout, ProviderUnreachable
from replay.providers import Provider
from replay.rebuild import Baseline, ReplayRequest

__all__ = ["DEFAULT_TIMEOUT_SECONDS", "ModelOutput", "call_model", "original_output"]

DEFAULT_TIMEOUT_SECONDS = 120.0
_NOT_PARAMETERS = frozenset({"self", "model", "messages", "extra_headers", "extra_query", "extra_body", "timeout"})


class ModelOutput(BaseModel):
    """What one model call returned: its messages (OpenAI shape, one per choice, with ``finish_reason``), the
    first one's text and tool calls, and usage, latency and cost where known."""

    model_config = ConfigDict(protected_namespaces=())

    messages: list[dict[str, Any]] = Field(default_factory=list)
    text: str | None = None
    tool_calls: list[dict[str, Any]] = Field(default_factory=list)
    finish_reason: str | None = None
    model: str | None = None
    response_id: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    latency_ms: float | None = None
    cost: float | None = None


def call_model(provider: Provider, request: ReplayRequest, *, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> ModelOutput:
    """Send ``request`` to ``provider`` and return the answer; provider failures raise ``ProviderError``s."""
    body = request_body(request)
    client = openai.OpenAI(base_url=provider.base_url, api_key=provider.api_key, max_retries=0, timeout=timeout)
    started = time.perf_counter()
    try:
        completion = client.chat.completions.create(**body)
    except openai.APITimeoutError:
        raise ProviderTimeout(
            f"provider {provider.name!r} did not answer within {timeout:g} s", provider=provider.name
        ) from None
    except openai.APIConnectionError as exc:
        where = provider.base_url or "its default endpoint"
        raise ProviderUnreachable(
            f"cannot reach provider {provider.name!r} at {where}: {exc.__cause__ or exc}", provider=provider.name
        ) from None
    except openai.APIStatusError as exc:
        raise ProviderError(
            f"provider {provider.name!r} answered HTTP {exc.status_code}: {_error_text(exc)}",
            provider=provider.name,
            provider_status=exc.status_code,
        ) from None
    except openai.APIError as exc:  # e.g. a body that is not a chat completion
        raise ProviderError(f"provider {provider.name!r} failed: {exc.message}", provider=provider.name) from None
    finally:
        client.close()
    latency_ms = (time.perf_counter() - started) * 1000
    return _output(provider, completion, latency_ms)


def request_body(request: ReplayRequest) -> dict[str, Any]:
    """The keyword arguments of ``chat.completions.create`` for ``request``."""
    known = _client_parameters()
    body: dict[str, Any] = {"model": request.model, "messages": request.messages}
    extra = {name: value for name, value in request.parameters.items() if name not in known}
    body.update((name, value) for name, value in request.parameters.items() if name in known)
    if request.tools:
        body["tools"] = request.tools
    if request.response_format:
        body["response_format"] = request.response_format
    if extra:
        body["extra_body"] = extra
    return body


def original_output(baseline: Baseline) -> ModelOutput:
    """The recorded outcome of the original call, in the same shape as a new one."""
    messages = list(baseline.output_messages or [])
    first = messages[0] if messages else {}
    total = None
    if baseline.input_tokens is not None or baseline.output_tokens is not None:
        total = (baseline.input_tokens or 0) + (baseline.output_tokens or 0)
    return ModelOutput(
        messages=messages,
        text=_text(first.get("content")),
        tool_calls=list(first.get("tool_calls") or []),
        finish_reason=first.get("finish_reason"),
        model=baseline.model,
        input_tokens=baseline.input_tokens,
        output_tokens=baseline.output_tokens,
        total_tokens=total,
        latency_ms=baseline.latency_ms,
        cost=baseline.cost,
    )


@cache
def _client_parameters() -> frozenset[str]:
    # The installed client's own list, so a parameter it learns in a later release is passed natively.
    return frozenset(inspect.signature(Completions.create).parameters) - _NOT_PARAMETERS


def _output(provider: Provider, completion: Any, latency_ms: float) -> ModelOutput:
    if not isinstance(completion, ChatCompletion) or not completion.choices:
        raise ProviderError(f"provider {provider.name!r} answered without any choice", provider=provider.name)
    messages = []
    for choice in sorted(completion.choices, key=lambda c: c.index):
        message: dict[str, Any] = {"role": choice.message.role or "assistant"}
        if choice.message.content is not None:
            message["content"] = choice.message.content
        calls = [call.model_dump(exclude_none=True) for call in choice.message.tool_calls or ()]
        if calls:
            message["tool_calls"] = calls
        if choice.finish_reason is not None:
            message["finish_reason"] = choice.finish_reason
        messages.append(message)
    usage = completion.usage
    input_tokens = usage.prompt_tokens if usage else None
    output_tokens = usage.completion_tokens if usage else None
    return ModelOutput(
        messages=messages,
        text=messages[0].get("content"),
        tool_calls=messages[0].get("tool_calls", []),
        finish_reason=messages[0].get("finish_reason"),
        model=completion.model,
        response_id=completion.id,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=usage.total_tokens if usage else None,
        latency_ms=round(latency_ms, 3),
        cost=estimate_cost(completion.model, input_tokens, output_tokens),
    )


def _error_text(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"]
    text = exc.response.text.strip()
    return text[:500] if text else exc.response.reason_phrase


def _text(content: Any) -> str | None:
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, dict)) or None
    return str(content)
