"""spanlab's in-app side: what runs inside the user's application.

``register()`` (OTLP export + instrumentation), the ``openai`` instrumentor, the prompt and request
context, span-id access and ``feedback()``. This package imports neither the collector, DuckDB nor
FastAPI, and its names load lazily, so ``from instrumentation import semconv`` (as the collector does)
costs nothing more.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    "register",
    "using_attributes",
    "using_prompt",
]

_HOMES = {
    "OpenAIInstrumentor": "instrumentation.openai",
    "PromptInfo": "instrumentation.context",
    "PromptMessages": "instrumentation.context",
    "capture_span_ids": "instrumentation.spans",
    "feedback": "instrumentation.feedback",
    "flush_feedback": "instrumentation.feedback",
    "flush_spans": "instrumentation.background",
    "last_span_id": "instrumentation.spans",
    "register": "instrumentation.register",
    "using_attributes": "instrumentation.context",
    "using_prompt": "instrumentation.context",
}


# Names that differ from the one in their home module.
_ORIGINAL_NAMES = {"flush_spans": "flush"}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'instrumentation' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), _ORIGINAL_NAMES.get(name, name))
    globals()[name] = value
    return value
