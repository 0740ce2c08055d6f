"""Transparent wrappers of ``openai.Stream`` / ``openai.AsyncStream`` that finish the call's span.

The wrapper is a ``wrapt.ObjectProxy``: ``isinstance(stream, openai.Stream)`` still holds and every
attribute (``response``, helpers) is the stream's own. It adds only the bookkeeping:

- each item goes to the operation's recorder (a recorder failure stops recording, never the stream);
- the span ends exactly once, when the stream is exhausted, closed (``close()``, ``with``/``async with``),
  fails in the middle (the error recorded, then re-raised unchanged), or is garbage-collected unconsumed
  (``weakref.finalize``, which also runs at interpreter exit, before the exporter shuts down).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from typing import Any, Protocol

from wrapt import ObjectProxy

from instrumentation.openai.call import LLMCall, guard

__all__ = ["StreamRecorder", "TracedAsyncStream", "TracedStream"]

_log = logging.getLogger("spanlab.instrumentation")


class StreamRecorder(Protocol):
    def add(self, item: Any) -> None: ...

    def finish(self, call: LLMCall) -> None: ...


class _StreamCall:
    """The call and recorder behind one stream; what the finalizer holds (never the proxy itself)."""

    __slots__ = ("__weakref__", "call", "record", "recorder", "recording")

    def __init__(self, call: LLMCall, recorder: StreamRecorder) -> None:
        self.call = call
        self.recorder = recorder
        self.recording = True  # False once the span ended, or after a recorder failure
        # What each item goes to: the first one also notes the time to first chunk, then the recorder's
        # own ``add`` takes over, so later chunks pay for no check. The proxies call it in a ``try`` and
        # call :meth:`failed` when it raises.
        self.record: Callable[[Any], None] = self._first

    def _first(self, item: Any) -> None:
        self.record = self.recorder.add
        self.call.chunk_arrived()
        self.recorder.add(item)

    def failed(self) -> None:
        """Recording an item raised: stop recording (one bad chunk must not cost the application anything,
        nor log per chunk) and leave the incomplete reply out."""
        self.recording = False
        self.call.broken = True
        _log.debug("recording a stream chunk failed; the rest of this stream is not recorded", exc_info=True)

    def finish(self, error: BaseException | None = None) -> None:
        if self.call.ended:
            return
        self.recording = False
        if not self.call.broken:
            guard(self.recorder.finish, self.call)
        self.call.end(error)


class TracedStream(ObjectProxy):
    """A synchronous ``openai.Stream`` whose span ends when the stream does."""

    def __init__(self, stream: Any, call: LLMCall, recorder: StreamRecorder) -> None:
        super().__init__(stream)
        self._self_state = _StreamCall(call, recorder)
        self._self_finalizer = weakref.finalize(self, self._self_state.finish)

    def __iter__(self) -> TracedStream:
        return self

    def __next__(self) -> Any:
        try:
            item = self.__wrapped__.__next__()
        except StopIteration:
            self._self_finish()
            raise
        except BaseException as error:
            self._self_finish(error)
            raise
        state = self._self_state
        if state.recording:
            try:
                state.record(item)
            except Exception:
                state.failed()
        return item

    def __enter__(self) -> TracedStream:
        self.__wrapped__.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self.__wrapped__.__exit__(*exc_info)
        finally:
            self._self_finish()

    def close(self) -> None:
        try:
            self.__wrapped__.close()
        finally:
            self._self_finish()

    def _self_finish(self, error: BaseException | None = None) -> None:
        self._self_finalizer.detach()
        self._self_state.finish(error)


class TracedAsyncStream(ObjectProxy):
    """An ``openai.AsyncStream`` whose span ends when the stream does."""

    def __init__(self, stream: Any, call: LLMCall, recorder: StreamRecorder) -> None:
        super().__init__(stream)
        self._self_state = _StreamCall(call, recorder)
        self._self_finalizer = weakref.finalize(self, self._self_state.finish)

    def __aiter__(self) -> TracedAsyncStream:
        return self

    async def __anext__(self) -> Any:
        try:
            item = await self.__wrapped__.__anext__()
        except StopAsyncIteration:
            self._self_finish()
            raise
        except BaseException as error:
            self._self_finish(error)
            raise
        state = self._self_state
        if state.recording:
            try:
                state.record(item)
            except Exception:
                state.failed()
        return item

    async def __aenter__(self) -> TracedAsyncStream:
        await self.__wrapped__.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            await self.__wrapped__.__aexit__(*exc_info)
        finally:
            self._self_finish()

    async def close(self) -> None:
        try:
            await self.__wrapped__.close()
        finally:
            self._self_finish()

    def _self_finish(self, error: BaseException | None = None) -> None:
        self._self_finalizer.detach()
        self._self_state.finish(error)
