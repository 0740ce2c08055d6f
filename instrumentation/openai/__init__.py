"""spanlab's instrumentor for the ``openai`` package: every model call becomes one replayable GenAI span.

    from instrumentation.openai import OpenAIInstrumentor

    OpenAIInstrumentor().instrument(tracer_provider=provider, capture_content=True, redact=[r"sk-\\w+"])
    ...
    OpenAIInstrumentor().uninstrument()  # the original methods are back

Nothing is patched on import. ``instrument()`` wraps, on the sync and async clients alike,
``chat.completions.create`` and ``.parse`` (``.stream`` goes through ``create``),
``responses.create`` and ``.parse`` (``.stream`` likewise) and ``embeddings.create``. Options:

- ``tracer_provider`` — default: the global one;
- ``capture_content`` — record messages, replies and prompt variables (default ``SPANLAB_CAPTURE_CONTENT``,
  true when unset);
- ``redact`` — a ``str -> str`` callable or regular expressions applied to every recorded text
  (:mod:`instrumentation.redaction`).

What a span holds is described in :mod:`.chat`, :mod:`.responses`, :mod:`.embeddings` and
:mod:`.request`; how streams end their span in :mod:`.streams`. The span starts on the application's
thread — unless the provider's span processors batch (``BatchSpanProcessor``, as ``register()`` sets up)
and its sampler is a built-in one: the application's thread then only fixes the span's ids and sampling
decision (:mod:`.planned`). With batching processors the span's attributes are made and it is ended on a
background thread right after the call (:mod:`instrumentation.background`, :mod:`.tracing`), and
:func:`flush` waits for that: ``uninstrument()``, the providers ``register()`` builds and interpreter
exit flush by themselves, an application flushing a ``TracerProvider`` of its own calls :func:`flush`
first. Registered under the ``opentelemetry_instrumentor`` entry point as ``spanlab_openai``.
"""

from __future__ import annotations

import importlib
from collections.abc import Collection
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.utils import unwrap
from wrapt import wrap_function_wrapper

from instrumentation.background import flush
from instrumentation.config import client_settings
from instrumentation.openai.chat import ChatOperation
from instrumentation.openai.embeddings import EmbeddingsOperation
from instrumentation.openai.request import set_sentinels
from instrumentation.openai.responses import ResponsesOperation
from instrumentation.openai.tracing import Tracing
from instrumentation.openai.wrappers import Operation, async_wrapper, sync_wrapper
from instrumentation.redaction import ContentPolicy, redactor

__all__ = ["OpenAIInstrumentor", "flush"]

SCOPE = "spanlab.instrumentation.openai"
_INSTRUMENTS = ("openai >= 1.40",)
_FLUSH_TIMEOUT_SECONDS = 30.0
_CHAT, _RESPONSES, _EMBEDDINGS = ChatOperation(), ResponsesOperation(), EmbeddingsOperation()
# (module, class, method, operation, async)
_TARGETS: tuple[tuple[str, str, str, Operation, bool], ...] = (
    ("openai.resources.chat.completions", "Completions", "create", _CHAT, False),
    ("openai.resources.chat.completions", "Completions", "parse", _CHAT, False),
    ("openai.resources.chat.completions", "AsyncCompletions", "create", _CHAT, True),
    ("openai.resources.chat.completions", "AsyncCompletions", "parse", _CHAT, True),
    ("openai.resources.responses", "Responses", "create", _RESPONSES, False),
    ("openai.resources.responses", "Responses", "parse", _RESPONSES, False),
    ("openai.resources.responses", "AsyncResponses", "create", _RESPONSES, True),
    ("openai.resources.responses", "AsyncResponses", "parse", _RESPONSES, True),
    ("openai.resources.embeddings", "Embeddings", "create", _EMBEDDINGS, False),
    ("openai.resources.embeddings", "AsyncEmbeddings", "create", _EMBEDDINGS, True),
)


def _version() -> str:
    try:
        return version("spanlab")
    except PackageNotFoundError:
        return "0"


def _targets() -> list[tuple[type, str, Operation, bool]]:
    """The (class, method, operation, async) this ``openai`` release has (older ones lack some)."""
    found = []
    for module_name, class_name, method, operation, is_async in _TARGETS:
        try:
            owner = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError):
            continue
        if hasattr(owner, method):
            found.append((owner, method, operation, is_async))
    return found


class OpenAIInstrumentor(BaseInstrumentor):
    """Traces the ``openai`` client's model calls (see the module docstring)."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return _INSTRUMENTS

    def _instrument(self, **kwargs: Any) -> None:
        capture = kwargs.get("capture_content")
        policy = ContentPolicy(
            capture=client_settings().capture_content if capture is None else bool(capture),
            redact=redactor(kwargs.get("redact")),
        )
        tracing = Tracing(trace.get_tracer(SCOPE, _version(), kwargs.get("tracer_provider")), policy)
        import openai

        set_sentinels(
            tuple(kind for kind in (getattr(openai, "NotGiven", None), getattr(openai, "Omit", None)) if kind)
        )
        for owner, method, operation, is_async in _targets():
            if is_async:
                wrapper = async_wrapper(tracing, operation, openai.AsyncStream)
            else:
                wrapper = sync_wrapper(tracing, operation, openai.Stream)
            wrap_function_wrapper(owner, method, wrapper)

    def _uninstrument(self, **kwargs: Any) -> None:
        for owner, method, _, _ in _targets():
            unwrap(owner, method)
        flush(_FLUSH_TIMEOUT_SECONDS)  # the spans of calls made while instrumented are complete on return
