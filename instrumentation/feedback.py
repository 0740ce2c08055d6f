"""``feedback()``: send an end user's verdict on an LLM call (thumbs up/down, a label, a comment) to spanlab.

    reply = client.chat.completions.create(...)
    span_id = spanlab.last_span_id()
    ...
    spanlab.feedback(span_id, score=1, label="helpful", explanation="solved my issue")

The annotation is posted to ``POST /api/v1/spans/{span_id}/annotations`` on the server at
``SPANLAB_URL`` (with ``SPANLAB_API_KEY`` as bearer key) from one background thread:

- the call never blocks and never raises: it validates, queues and returns True, or logs a warning and
  returns False (invalid arguments, or the bounded queue is full);
- the span may not be stored yet (it waits in the exporter's batch, then in the collector's ingest), so a
  404 is retried with backoff for up to ``retry_for`` seconds (the global tracer provider is flushed once
  on the first 404); so are connection errors and 5xx/429 answers. Other refusals are logged and dropped;
- what is still queued is sent at interpreter exit, for at most ``exit_timeout`` seconds.
"""

from __future__ import annotations

import atexit
import heapq
import itertools
import json
import logging
import math
import os
import queue
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from instrumentation.config import client_settings
from instrumentation.spans import trace_id_of

__all__ = ["FeedbackSender", "feedback", "flush_feedback"]

_log = logging.getLogger("spanlab.feedback")
_SPAN_ID = re.compile(r"[0-9a-fA-F]{16}")
_TRACE_ID = re.compile(r"[0-9a-fA-F]{32}")
_KINDS = ("HUMAN", "LLM", "CODE")
_MAX_NAME, _MAX_EXPLANATION, _MAX_METADATA = 200, 10_000, 64 * 1024
_RETRYABLE = frozenset({404, 408, 425, 429, 500, 502, 503, 504})
_STOP = object()


@dataclass(order=True)
class _Pending:
    due: float
    seq: int
    span_id: str = field(compare=False)
    trace_id: str | None = field(compare=False)
    body: dict[str, Any] = field(compare=False)
    deadline: float = field(compare=False)
    attempt: int = field(default=0, compare=False)


class FeedbackSender:
    """Posts annotations from one daemon thread (see the module docstring). Thread-safe; fork-aware."""

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        max_queue: int = 1000,
        retry_for: float = 30.0,
        timeout: float = 5.0,
    ) -> None:
        self.url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._max_queue = max_queue
        self._retry_for = retry_for
        self._timeout = timeout
        self._lock = threading.Lock()
        self._done = threading.Condition(self._lock)
        self._unfinished = 0
        self._seq = itertools.count()
        self._queue: queue.Queue[Any] = queue.Queue(max_queue)
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._last_flush = 0.0
        self.sent = 0
        self.dropped = 0

    def submit(self, span_id: str, body: dict[str, Any], *, trace_id: str | None = None) -> bool:
        """Queue one annotation body for ``span_id``; False (and a warning) if the queue is full."""
        self._ensure_thread()
        item = _Pending(0.0, next(self._seq), span_id, trace_id, body, time.monotonic() + self._retry_for)
        with self._lock:
            self._unfinished += 1
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self._finish(sent=False)
            _log.warning("spanlab feedback queue full (%d): dropped feedback for %s", self._max_queue, span_id)
            return False
        return True

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything submitted was sent or given up; False if ``timeout`` seconds passed first."""
        with self._done:
            return self._done.wait_for(lambda: self._unfinished == 0, timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Flush, then stop the thread."""
        self.flush(timeout)
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout)

    def _ensure_thread(self) -> None:
        with self._lock:
            if os.getpid() != self._pid:  # forked: the parent's thread and queue are not ours
                self._pid, self._thread, self._unfinished = os.getpid(), None, 0
                self._queue = queue.Queue(self._max_queue)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="spanlab-feedback", daemon=True)
                self._thread.start()

    def _finish(self, *, sent: bool) -> None:
        with self._done:
            self._unfinished -= 1
            if sent:
                self.sent += 1
            else:
                self.dropped += 1
            self._done.notify_all()

    def _run(self) -> None:
        import httpx

        pending: list[_Pending] = []
        with httpx.Client(base_url=f"{self.url}/api/v1", headers=self._headers, timeout=self._timeout) as client:
            while True:
                wait = max(0.0, pending[0].due - time.monotonic()) if pending else None
                try:
                    item = self._queue.get(timeout=wait)
                except queue.Empty:
                    item = None
                if item is _STOP:
                    return
                if item is not None:
                    heapq.heappush(pending, item)
                while pending and pending[0].due <= time.monotonic():
                    self._attempt(client, heapq.heappop(pending), pending)

    def _attempt(self, client: Any, item: _Pending, pending: list[_Pending]) -> None:
        try:
            status, detail = self._post(client, item)
        except Exception as exc:  # a connection error, or anything else: never let the thread die
            status, detail = None, f"{type(exc).__name__}: {exc}"
        if status == 201:
            self._finish(sent=True)
            return
        if status is None or status in _RETRYABLE:
            if status == 404:
                self._flush_spans()
            delay = min(5.0, 0.1 * 2**item.attempt)
            if time.monotonic() + delay < item.deadline:
                item.attempt += 1
                item.due = time.monotonic() + delay
                heapq.heappush(pending, item)
                return
        _log.warning("spanlab feedback for span %s not stored (%s): %s", item.span_id, status or "no answer", detail)
        self._finish(sent=False)

    def _post(self, client: Any, item: _Pending) -> tuple[int, str]:
        params = {"trace_id": item.trace_id} if item.trace_id else None
        response = client.post(f"/spans/{item.span_id}/annotations", params=params, json=item.body)
        return response.status_code, response.text[:500]

    def _flush_spans(self) -> None:
        """Export spans still waiting in a batch (at most once a second): the annotated one may be among them."""
        now = time.monotonic()
        if now - self._last_flush < 1.0:
            return
        self._last_flush = now
        try:
            from opentelemetry import trace

            flush = getattr(trace.get_tracer_provider(), "force_flush", None)
            if flush is not None:
                flush(2000)
        except Exception:
            _log.debug("flushing spans before retrying feedback failed", exc_info=True)


def _problem(span_id: Any, trace_id: Any, body: dict[str, Any]) -> str | None:
    """What is wrong with a feedback call's arguments, or None."""
    if not isinstance(span_id, str) or not _SPAN_ID.fullmatch(span_id):
        return f"span id {span_id!r} is not 16 hexadecimal characters (use spanlab.last_span_id())"
    if trace_id is not None and (not isinstance(trace_id, str) or not _TRACE_ID.fullmatch(trace_id)):
        return f"trace id {trace_id!r} is not 32 hexadecimal characters"
    name, score, label, explanation = body["name"], body["score"], body["label"], body["explanation"]
    if not isinstance(name, str) or not 1 <= len(name) <= _MAX_NAME:
        return f"name must be a string of 1 to {_MAX_NAME} characters"
    if score is None and label is None and not explanation:
        return "give at least one of score, label or explanation"
    if score is not None and (not isinstance(score, int | float) or not math.isfinite(score)):
        return f"score must be a finite number, not {score!r}"
    if label is not None and (not isinstance(label, str) or not 1 <= len(label) <= _MAX_NAME):
        return f"label must be a string of 1 to {_MAX_NAME} characters"
    if explanation is not None and (not isinstance(explanation, str) or len(explanation) > _MAX_EXPLANATION):
        return f"explanation must be a string of at most {_MAX_EXPLANATION} characters"
    if body["annotator_kind"] not in _KINDS:
        return f"annotator_kind must be one of {list(_KINDS)}"
    metadata = body["metadata"]
    if metadata is not None:
        if not isinstance(metadata, dict):
            return "metadata must be a dict"
        try:
            size = len(json.dumps(metadata).encode())
        except (TypeError, ValueError) as exc:
            return f"metadata is not JSON: {exc}"
        if size > _MAX_METADATA:
            return f"metadata must encode to at most {_MAX_METADATA} bytes of JSON"
    return None


_default: FeedbackSender | None = None
_default_lock = threading.Lock()


def _default_sender() -> FeedbackSender:
    global _default
    with _default_lock:
        if _default is None:
            settings = client_settings()
            _default = FeedbackSender(settings.url, api_key=settings.api_key)
            atexit.register(_default.flush, 5.0)
        return _default


def feedback(
    span_id: str,
    *,
    score: float | bool | None = None,
    label: str | None = None,
    explanation: str | None = None,
    name: str = "feedback",
    annotator_kind: str = "HUMAN",
    metadata: dict[str, Any] | None = None,
    trace_id: str | None = None,
) -> bool:
    """Queue an annotation of span ``span_id`` for the spanlab server; True if queued.

    ``score`` may be a bool (thumbs up = 1.0, down = 0.0). ``trace_id`` is found by itself for spans this
    process made recently. Never raises and never blocks: invalid arguments are logged and give False.
    """
    try:
        body: dict[str, Any] = {
            "name": name,
            "score": float(score) if isinstance(score, bool) else score,
            "label": label,
            "explanation": explanation,
            "annotator_kind": annotator_kind,
            "metadata": metadata,
        }
        problem = _problem(span_id, trace_id, body)
        if problem is not None:
            _log.warning("spanlab feedback not sent: %s", problem)
            return False
        span_id = span_id.lower()
        trace = trace_id.lower() if trace_id is not None else trace_id_of(span_id)
        return _default_sender().submit(span_id, {k: v for k, v in body.items() if v is not None}, trace_id=trace)
    except Exception:
        _log.warning("spanlab feedback not sent", exc_info=True)
        return False


def flush_feedback(timeout: float = 5.0) -> bool:
    """Wait until the feedback queued so far is sent or given up (for short scripts and serverless handlers)."""
    return _default_sender().flush(timeout) if _default is not None else True
