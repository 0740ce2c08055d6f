"""spanlab — turn an LLM application's production traces into a prompt-improvement loop.

The public Python face, for the application side::

    import spanlab

    spanlab.register(project="support-bot")          # OTLP to the local collector, openai instrumented
    with spanlab.using_attributes(session_id=session, user_id=user):
        reply = client.chat.completions.create(...)
    spanlab.feedback(spanlab.last_span_id(), score=1, label="helpful")

Names load on first use, so ``import spanlab`` stays light (no OpenTelemetry SDK, no ``openai``, and never
the server's DuckDB or FastAPI). The ``spanlab`` command line lives in :mod:`spanlab.cli`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from instrumentation import prompts
    from instrumentation.background import flush as flush_spans
    from instrumentation.context import PromptInfo, PromptMessages, using_attributes, using_prompt
    from instrumentation.feedback import feedback, flush_feedback
    from instrumentation.openai import OpenAIInstrumentor
    from instrumentation.register import register
    from instrumentation.spans import capture_span_ids, last_span_id

__all__ = [
    "OpenAIInstrumentor",
    "PromptInfo",
    "PromptMessages",
    "capture_span_ids",
    "feedback",
    "flush_feedback",
    "flush_spans",
    "last_span_id",
    "prompts",
    "register",
    "using_attributes",
    "using_prompt",
]

_HOMES = {name: "instrumentation" for name in __all__ if name != "prompts"}


def __getattr__(name: str) -> Any:
    if name == "prompts":
        value: Any = importlib.import_module("instrumentation.prompts")
    elif name in _HOMES:
        value = getattr(importlib.import_module(_HOMES[name]), name)
    else:
        raise AttributeError(f"module 'spanlab' has no attribute {name!r}")
    globals()[name] = value
    return value
