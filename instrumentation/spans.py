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
# Ids are kept as ints and formatted when read: the instrumented call pays for a dict insert, not for hex text.
_last: ContextVar[int | None] = ContextVar("spanlab_last_span_id", default=None)
_captures: ContextVar[tuple[list[int], ...]] = ContextVar("spanlab_span_captures", default=())
_recent: OrderedDict[int, int] = OrderedDict()  # span id → trace id


def note_span(trace_id: int, span_id: int) -> None:
    """Record a started LLM span (called by the instrumentor, in the caller's context)."""
    _last.set(span_id)
    for captured in _captures.get():
        captured.append(span_id)
    _recent[span_id] = trace_id
    if len(_recent) > _RECENT_LIMIT:
        with contextlib.suppress(KeyError):  # another thread emptied it first
            _recent.popitem(last=False)


def last_span_id() -> str | None:
    """The span id of the latest LLM call made in this context, or None before the first one."""
    span_id = _last.get()
    return format(span_id, "016x") if span_id is not None else None


@contextmanager
def capture_span_ids() -> Iterator[list[str]]:
    """Collect the span ids of the LLM calls made inside the block, oldest first (the list is filled when the
    block ends)::

        with capture_span_ids() as span_ids:
            answer(question)
        feedback(span_ids[-1], score=1)
    """
    captured: list[int] = []
    span_ids: list[str] = []
    token = _captures.set((*_captures.get(), captured))
    try:
        yield span_ids
    finally:
        _captures.reset(token)
        span_ids.extend(format(span_id, "016x") for span_id in captured)


def trace_id_of(span_id: str) -> str | None:
    """The trace id of a span this process started recently (None once forgotten or never seen)."""
    try:
        trace_id = _recent.get(int(span_id, 16))
    except ValueError:
        return None
    return format(trace_id, "032x") if trace_id is not None else None
