"""Which LLM span did that call make? — so the application can attach feedback to it.

Every LLM span the instrumentor starts is noted in the caller's context:

- :func:`last_span_id` — the span id (16 hex digits) of the latest LLM call made in this thread or
  ``asyncio`` task; for a streamed call it is known as soon as ``create()`` returns;
- :func:`capture_span_ids` — a ``with`` block collecting the span ids of every LLM call made inside,
  including calls in tasks started inside it (``asyncio.gather``), which :func:`last_span_id` does not
  see from the outside.

The process also remembers the trace id of its recent spans (a bounded map), so
:func:`~instrumentation.feedback.feedback` can name the trace without the caller passing it.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["capture_span_ids", "last_span_id", "note_span", "trace_id_of"]

_RECENT_LIMIT = 10_000
_last: ContextVar[str | None] = ContextVar("spanlab_last_span_id", default=None)
_captures: ContextVar[tuple[list[str], ...]] = ContextVar("spanlab_span_captures", default=())
_recent: OrderedDict[str, str] = OrderedDict()


def note_span(trace_id: int, span_id: int) -> None:
    """Record a started LLM span (called by the instrumentor, in the caller's context)."""
    span_hex = format(span_id, "016x")
    _last.set(span_hex)
    for captured in _captures.get():
        captured.append(span_hex)
    _recent[span_hex] = format(trace_id, "032x")
    if len(_recent) > _RECENT_LIMIT:
        with contextlib.suppress(KeyError):  # another thread emptied it first
            _recent.popitem(last=False)


def last_span_id() -> str | None:
    """The span id of the latest LLM call made in this context, or None before the first one."""
    return _last.get()


@contextmanager
def capture_span_ids() -> Iterator[list[str]]:
    """Collect the span ids of the LLM calls made inside the block, oldest first::

    with capture_span_ids() as span_ids:
        answer(question)
    feedback(span_ids[-1], score=1)
    """
    captured: list[str] = []
    token = _captures.set((*_captures.get(), captured))
    try:
        yield captured
    finally:
        _captures.reset(token)


def trace_id_of(span_id: str) -> str | None:
    """The trace id of a span this process started recently (None once forgotten or never seen)."""
    return _recent.get(span_id)
