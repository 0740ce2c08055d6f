"""Transparent wrappers of ``openai.Stream`` / ``openai.AsyncStream`` that finish the call's span.

The wrapper is a ``wrapt.ObjectProxy``: ``isinstance(stream, openai.Stream)`` still holds and every
attribute (``response``, helpers) is the stream's own. It adds only the bookkeeping:

- each item goes to the operation's recorder, up to 8 at a time (a recorder failure stops recording,
  never the stream);
- the call ends exactly once, its reply copied from the recorder — when the stream is exhausted, closed
  (``close()``, ``with``/``async with``), fails in the middle (the error recorded, then re-raised
  unchanged), or is garbage-collected unconsumed (``weakref.finalize``, which also runs at interpreter
  exit).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterator
from typing import Any, Protocol

from wrapt import ObjectProxy

from instrumentation.openai.call import LLMCall, Reply, guard

__all__ = ["StreamRecorder", "TracedAsyncStream", "TracedStream"]

_log = logging.getLogger("spanlab.instrumentation")
_BATCH = 8  # stream items buffered before the recorder goes through them


class StreamRecorder(Protocol):
    def add(self, items: list[Any]) -> None:
        """Note items, in the order they were read (on the application's thread, a batch at a time)."""
        ...

    def reply(self) -> Reply | None:
        """The stream's reply once it ended; items are not read after this."""
        ...


class _StreamCall:
    """The call and recorder behind one stream; what the finalizer holds (never the proxy itself).

    Items reach the recorder in batches of :data:`_BATCH`: for each item the proxy only appends to a list,
    and the recorder's code then runs for several items in a row instead of once between every two reads of
    the network. The first item goes at once (it gives the time to first chunk). Batches stay small because
    a buffered chunk is kept alive: an ``openai`` chunk is a dozen objects the garbage collector tracks, and
    dozens of them alive at once set off collections (and promote them to older generations) on the
    application's thread, where chunks that die as soon as they are read set off none — a batch of 64 cost
    more in collections than it saved in calls. The recorder keeps what it needs as strings, numbers and
    at most a couple of chunks, never every chunk until the stream ends.
    """

    __slots__ = ("__weakref__", "call", "items", "recorder", "threshold")

    def __init__(self, call: LLMCall, recorder: StreamRecorder) -> None:
        self.call = call
        self.recorder = recorder
        self.items: list[Any] | None = []  # read, not yet recorded; None once the call ended or recording failed
        self.threshold = 1  # how many buffered items call for record(): 1 until the first item, then _BATCH

    def record(self) -> None:
        """Hand the buffered items to the recorder; if it raises, stop recording (one bad chunk must not cost
        the application anything, nor log per chunk) and leave the incomplete reply out."""
        items, self.items = self.items or [], []
        if self.threshold == 1:
            self.call.chunk_arrived()
            self.threshold = _BATCH
        try:
            self.recorder.add(items)
        except Exception:
            self.items = None
            self.call.broken = True
            _log.debug("recording a stream chunk failed; the rest of this stream is not recorded", exc_info=True)

    def finish(self, error: BaseException | None = None) -> None:
        if self.call.ended:
            return
        if self.items:
            self.record()
        self.items = None
        if not self.call.broken:
            self.call.reply = guard(self.recorder.reply)
        self.call.end(error)


class TracedStream(ObjectProxy):
    """A synchronous ``openai.Stream`` whose span ends when the stream does."""

    def __init__(self, stream: Any, call: LLMCall, recorder: StreamRecorder) -> None:
        super().__init__(stream)
        self._self_state = _StreamCall(call, recorder)
        self._self_finalizer = weakref.finalize(self, self._self_state.finish)

    def __iter__(self) -> Iterator[Any]:
        """A generator over the stream's own iterator, as ``Stream.__iter__`` is: a ``for`` loop then pays one
        generator step per item, where going through :meth:`__next__` would cost two Python calls."""
        state = self._self_state
        try:
            for item in self.__wrapped__:
                items = state.items  # as in __next__, inline: a method call per item is what this avoids
                if items is not None:
                    items.append(item)
                    if len(items) >= state.threshold:
                        state.record()
                yield item
        except GeneratorExit:  # the loop was left early: the stream goes on (or ends when closed or collected)
            raise
        except BaseException as error:
            self._self_finish(error)
            raise
        self._self_finish()

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
        items = state.items
        if items is not None:
            items.append(item)
            if len(items) >= state.threshold:
                state.record()
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
        items = state.items
        if items is not None:
            items.append(item)
            if len(items) >= state.threshold:
                state.record()
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
