"""The thread that finishes LLM spans once the application's call has returned.

Used when the spans are exported in batches anyway (:mod:`instrumentation.openai.tracing` says when). On
the application's thread an instrumented call then does only what cannot wait: it fixes the span's
identity (its ids and sampling decision, so that its id is known at once and spans made inside the call
find their parent), an immutable snapshot of the request and of the reply, and the start and end times.
Starting the SDK span (with a built-in sampler; :mod:`instrumentation.openai.planned`), turning the
snapshot into attributes (message conversion, JSON text, the OpenTelemetry SDK's attribute checks) and
ending the span happen here, on one daemon thread, in the order calls were handed over, a few at a time
(calls made in quick succession are gathered for up to 50 ms and recorded together). Handing a call over
only appends it to a queue; the thread is woken only when it has been idle. A real application spends an
LLM call waiting on the network, which is when this thread runs.

- :func:`finish_later` hands a call over (anything with a ``record()`` method that never raises);
- :func:`flush` returns once everything handed over before it is recorded. ``uninstrument()``, the
  providers :func:`~instrumentation.register.register` builds (``force_flush``, ``shutdown``) and
  interpreter exit call it; an application that flushes a ``TracerProvider`` of its own calls it first.

Once interpreter exit has begun, where the thread cannot start, or when thousands of calls are already
waiting, a call is recorded on the thread that hands it over. A forked child starts with an empty queue
and a thread of its own.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections import deque
from typing import Protocol

__all__ = ["Pending", "finish_later", "flush"]

_log = logging.getLogger("spanlab.instrumentation")
_EXIT_TIMEOUT_SECONDS = 10.0
_GATHER_SECONDS = 0.05  # while calls keep coming, how long the thread lets them gather before recording them
# Calls waiting beyond this many are recorded by the thread handing them over: if the application ever makes
# calls faster than the thread records them, it slows down rather than holding ever more of them in memory.
_MAX_PENDING = 4096


class Pending(Protocol):
    def record(self) -> None: ...


class _Barrier:
    """Queued by :meth:`_Finisher.flush`: reached once everything queued before it is recorded."""

    __slots__ = ("reached",)

    def __init__(self) -> None:
        self.reached = threading.Event()

    def record(self) -> None:
        self.reached.set()


def _record(pending: Pending) -> None:
    try:
        pending.record()
    except Exception:  # the thread must outlive any one call
        _log.debug("spanlab could not finish a span", exc_info=True)


class _Finisher:
    """The queue of calls waiting to be recorded, and the one thread that records them."""

    def __init__(self) -> None:
        self._pending: deque[Pending] = deque()
        self._wake = threading.Event()
        self._running = False  # the thread takes calls: False before it starts and once interpreter exit began
        self._idle = False  # the thread waits for a call with no timeout, so submit() has to wake it
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False  # interpreter exit has begun: callers record their own calls
        self._exit_hooked = False

    def submit(self, pending: Pending) -> None:
        if not self._running:
            self._submit_first(pending)
            return
        if len(self._pending) >= _MAX_PENDING:
            _record(pending)
            return
        self._pending.append(pending)
        if self._idle:
            self._idle = False
            self._wake.set()

    def _submit_first(self, pending: Pending) -> None:
        with self._lock:
            if not self._running and not self._closed:
                self._start()
        if self._running:
            self.submit(pending)
        else:
            _record(pending)

    def _start(self) -> None:
        thread = threading.Thread(target=self._work, name="spanlab-span-finisher", daemon=True)
        try:
            thread.start()
        except RuntimeError:  # the interpreter is shutting down
            self._closed = True
            return
        self._thread = thread
        self._running = True
        if not self._exit_hooked:
            # Registered now, after the application's TracerProvider (and its own exit hook) exists, so
            # that at exit this runs first: atexit calls hooks in reverse order.
            atexit.register(self._at_exit)
            self._exit_hooked = True

    def _work(self) -> None:
        while True:
            if self._drain():
                # Calls are coming: let the next ones gather, then take them in one go, while the code that
                # records them is still warm. A caller of flush() cuts the wait short.
                self._wake.wait(_GATHER_SECONDS)
            else:
                self._idle = True
                if not self._pending:  # a call handed over just now would have seen _idle False
                    self._wake.wait()
                self._idle = False
            self._wake.clear()

    def _drain(self) -> bool:
        """Record every pending call, oldest first; False if there was none."""
        pending = self._pending
        if not pending:
            return False
        while pending:
            _record(pending.popleft())
        return True

    def flush(self, timeout: float | None = None) -> bool:
        thread = self._thread
        if thread is None or thread is threading.current_thread() or not thread.is_alive():
            self._drain()
            return True
        barrier = _Barrier()
        self._pending.append(barrier)
        self._wake.set()
        return barrier.reached.wait(timeout)

    def _at_exit(self) -> None:
        self._running = False
        self._closed = True
        self.flush(timeout=_EXIT_TIMEOUT_SECONDS)

    def after_fork(self) -> None:
        self._pending = deque()
        self._wake = threading.Event()
        self._running = False
        self._idle = False
        self._thread = None
        self._lock = threading.Lock()


_finisher = _Finisher()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_finisher.after_fork)


# Record a call on the background thread (on the caller's once interpreter exit has begun); it runs on
# the application's thread, so nothing stands between the caller and the queue.
finish_later = _finisher.submit


def flush(timeout: float | None = None) -> bool:
    """Wait until every call handed over so far is recorded; False if ``timeout`` (seconds) ran out first."""
    return _finisher.flush(timeout)
