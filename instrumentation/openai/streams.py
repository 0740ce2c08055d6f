"""Transparent wrappers of ``openai.Stream`` / ``openai.AsyncStream`` that finish the call's span.

The wrapper is a ``wrapt.ObjectProxy``: ``isinstance(stream, openai.Stream)`` still holds and every
attribute (``response``, helpers) is the stream's own. It adds only the bookkeeping:

- what the stream brings is recorded in one of two ways (a recorder failure stops recording, never the
  stream):

  - **its bytes**: the stream's server-sent-event decoder gets the body through a tap that keeps each piece
    the network delivers, as it passes (:class:`_ByteTap`). The application's thread does nothing per
    item: no ``openai`` object is read, none is kept alive. When the call is recorded (on the background
    thread when spans are exported in batches), the kept bytes are split into events again and their JSON
    handed to the recorder (:meth:`StreamRecorder.add_data`). A stream closed early records what had
    arrived by then.
  - **its items**, for a stream whose decoder is not the ``openai`` package's own ``SSEDecoder`` (a client
    that makes its own, a release that moved it): each item goes to the recorder
    (:meth:`StreamRecorder.add`), up to 8 at a time, on the application's thread;
- the call ends exactly once — when the stream is exhausted, closed (``close()``, ``with``/``async
  with``), fails in the middle (the error recorded, then re-raised unchanged), or is garbage-collected
  unconsumed (``weakref.finalize``, which also runs at interpreter exit).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import AsyncIterator, Iterator
from functools import cache
from typing import Any, Protocol

from wrapt import ObjectProxy

from instrumentation.openai.call import LLMCall, Reply, guard
from instrumentation.openai.request import from_json
from instrumentation.redaction import ContentPolicy

__all__ = ["StreamRecorder", "TracedAsyncStream", "TracedStream"]

_log = logging.getLogger("spanlab.instrumentation")
_BATCH = 8  # stream items buffered before the recorder goes through them
# A stream whose body grows past this stops being kept (and its reply is left out): a long chat reply (16k tokens,
# an event each) is about 4 MiB of events, so this is something else, and the application's memory comes first.
_MAX_KEPT_BYTES = 32 * 1024 * 1024


class StreamRecorder(Protocol):
    """Reassembles a stream's reply from its events, given in one of two ways (see the module docstring)."""

    def add_data(self, events: list[Any]) -> None:
        """Note the JSON values of the stream's events, in order (``[DONE]`` and what is not JSON left out)."""
        ...

    def add(self, items: list[Any]) -> None:
        """Note items as the stream yields them, in the order they were read (on the application's thread, a
        batch at a time)."""
        ...

    def reply(self) -> Reply | None:
        """The stream's reply once it ended; nothing is added after this."""
        ...


@cache
def _sse_decoder() -> type | None:
    """The ``openai`` package's server-sent-event decoder, whose input the byte tap can keep."""
    try:
        from openai._streaming import SSEDecoder
    except ImportError:  # a release that moved it: streams are recorded item by item
        return None
    return SSEDecoder


class _ByteTap:
    """Stands in for a stream's ``SSEDecoder``: hands it the response body unchanged, keeping every piece.

    The first piece notes the call's time to first chunk. Past :data:`_MAX_KEPT_BYTES` nothing more is kept
    and the call is marked broken (its reply left out).
    """

    __slots__ = ("call", "decoder", "pieces", "size")

    def __init__(self, decoder: Any, call: LLMCall) -> None:
        self.decoder = decoder
        self.call = call
        self.pieces: list[bytes] = []
        self.size = 0

    def iter_bytes(self, iterator: Iterator[bytes]) -> Iterator[Any]:
        return self.decoder.iter_bytes(self._keep(iterator))

    def aiter_bytes(self, iterator: AsyncIterator[bytes]) -> AsyncIterator[Any]:
        return self.decoder.aiter_bytes(self._akeep(iterator))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.decoder, name)

    def _keep(self, iterator: Iterator[bytes]) -> Iterator[bytes]:
        keeping = True
        for piece in iterator:
            if keeping:
                keeping = self._kept(piece)
            yield piece

    async def _akeep(self, iterator: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        keeping = True
        async for piece in iterator:
            if keeping:
                keeping = self._kept(piece)
            yield piece

    def _kept(self, piece: bytes) -> bool:
        """Keep one piece; False once nothing more is to be kept: the call ended (the application reads on
        after closing the stream) or the stream is too long to keep."""
        call = self.call
        if call.ended:
            return False
        if not self.size:
            call.chunk_arrived()
        self.size += len(piece)
        if self.size > _MAX_KEPT_BYTES:
            self.pieces = []
            call.broken = True
            return False
        self.pieces.append(piece)
        return True

    def events(self) -> list[Any]:
        """The JSON values of the kept events (``[DONE]``, what is not JSON, and an event cut off unfinished
        at the end left out)."""
        values = []
        for data in _event_data(b"".join(self.pieces)):
            if data.startswith(b"[DONE]"):
                break
            try:
                values.append(from_json(data))
            except ValueError:
                continue
        return values


def _event_data(body: bytes) -> Iterator[bytes]:
    """The data of each server-sent event of a body, by the rules ``SSEDecoder`` follows: a line is a field, an
    empty line ends an event, the ``data`` lines of an event are joined with newlines; other fields and
    comments do not matter here. Written out because the decoder, made to decode line by line as bytes
    arrive, is several times slower over a whole body."""
    data: list[bytes] = []
    for line in body.splitlines():
        if not line:
            if data:
                yield b"\n".join(data)
                data = []
        elif line.startswith(b"data:"):
            value = line[5:]
            data.append(value[1:] if value.startswith(b" ") else value)


def _tap(stream: Any, call: LLMCall) -> _ByteTap | None:
    """Put a byte tap between a stream and its decoder, if the decoder is ``openai``'s own; None otherwise (the
    stream is then recorded item by item). Called as ``create()`` returns the stream, before it read anything:
    the stream asks its decoder for events when it is first read."""
    decoder = getattr(stream, "_decoder", None)
    kind = _sse_decoder()
    if kind is None or type(decoder) is not kind:
        return None
    tap = _ByteTap(decoder, call)
    stream._decoder = tap
    return tap


class _TappedReply:
    """The reply of a stream recorded from its bytes, made when the call is recorded (see the module docstring)."""

    __slots__ = ("made", "recorder", "tap", "value")

    def __init__(self, tap: _ByteTap, recorder: StreamRecorder) -> None:
        self.tap = tap
        self.recorder = recorder
        self.made = False
        self.value: Reply | None = None

    def reply(self) -> Reply | None:
        """The recorder's reply to the kept events (None if the recorder failed: made once either way)."""
        if not self.made:
            self.made = True
            self.recorder.add_data(self.tap.events())
            self.tap.pieces = []
            self.value = self.recorder.reply()
        return self.value

    @property
    def error(self) -> str | None:
        reply = guard(self.reply)
        return reply.error if reply is not None else None

    def attributes(self, policy: ContentPolicy) -> dict[str, Any]:
        reply = self.reply()
        return reply.attributes(policy) if reply is not None else {}


class _StreamCall:
    """The call and recorder behind one stream; what the finalizer holds (never the proxy itself).

    On the item path, items reach the recorder in batches of :data:`_BATCH`: for each item the proxy only appends to
    a list, and the recorder's code then runs for several items in a row instead of once between every two reads of
    the network. The first item goes at once (it gives the time to first chunk). Batches stay small because a
    buffered chunk is kept alive: an ``openai`` chunk is a dozen objects the garbage collector tracks, and dozens of
    them alive at once set off collections (and promote them to older generations) on the application's thread,
    where chunks that die as soon as they are read set off none — a batch of 64 cost more in collections than it
    saved in calls. The recorder keeps what it needs as strings, numbers and at most a couple of chunks, never every
    chunk until the stream ends.
    """

    __slots__ = ("__weakref__", "call", "items", "recorder", "tap", "threshold")

    def __init__(self, stream: Any, call: LLMCall, recorder: StreamRecorder) -> None:
        self.call = call
        self.recorder = recorder
        self.tap = _tap(stream, call)
        # Items read, not yet recorded; None when the stream is recorded from its bytes, once the call ended
        # or recording failed.
        self.items: list[Any] | None = [] if self.tap is None else None
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
            tap = self.tap
            if tap is not None:
                self.call.reply = _TappedReply(tap, self.recorder)
            else:
                self.call.reply = guard(self.recorder.reply)
        self.call.end(error)


class TracedStream(ObjectProxy):
    """A synchronous ``openai.Stream`` whose span ends when the stream does."""

    def __init__(self, stream: Any, call: LLMCall, recorder: StreamRecorder) -> None:
        super().__init__(stream)
        self._self_state = _StreamCall(stream, call, recorder)
        self._self_finalizer = weakref.finalize(self, self._self_state.finish)

    def __iter__(self) -> Iterator[Any]:
        """A generator over the stream's own iterator, as ``Stream.__iter__`` is: a ``for`` loop then pays one
        generator step per item, where going through :meth:`__next__` would cost two Python calls."""
        state = self._self_state
        try:
            if state.items is None:  # recorded from its bytes (or no more): nothing to do per item
                yield from self.__wrapped__
            else:
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
        self._self_state = _StreamCall(stream, call, recorder)
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
