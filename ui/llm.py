"""The local model's OpenAI-compatible routes: ``POST /llm/v1/chat/completions`` and ``GET /llm/v1/models``.

Point any OpenAI client at ``http://HOST:PORT/llm/v1`` (model ``smollm2-135m``). Non-streamed answers run in a
worker thread; streamed ones (``"stream": true``) are server-sent events, one ``chat.completion.chunk`` per
``data:`` line, ending with ``data: [DONE]``; a failure mid-stream is sent as a ``data: {"error": …}`` event.
Errors before an answer starts are ``{"error": {"type", "message"}}`` with 422 (bad request), 404 (another
model) or 503 (the optional ``spanlab[local]`` extra is not installed). The logic lives in
:mod:`replay.local_model`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from replay.errors import ReplayError
from replay.local_model import MODEL_NAME, ChatRequest, LocalModel

__all__ = ["router"]

router = APIRouter(prefix="/llm/v1", tags=["local model"])
_CREATED = int(time.time())


def local_model(request: Request) -> LocalModel:
    model: LocalModel = request.app.state.local_model
    return model


@router.post("/chat/completions", response_model=None)
async def chat_completions(body: ChatRequest, request: Request) -> dict[str, Any] | StreamingResponse:
    """An OpenAI chat completion from the local model (see the module docstring)."""
    model = local_model(request)
    if not body.stream:
        # Not starlette's threadpool: replays waiting on this endpoint hold its threads, and the answer must not
        # queue behind them.
        return await asyncio.to_thread(model.complete, body)
    cancel = threading.Event()
    chunks = model.stream(body, cancel=cancel)  # raises here, as a plain HTTP error, for a bad request
    return StreamingResponse(_events(chunks, cancel), media_type="text/event-stream")


@router.get("/models")
def models() -> dict[str, Any]:
    """The one model served here."""
    return {"object": "list", "data": [{"id": MODEL_NAME, "object": "model", "created": _CREATED, "owned_by": "local"}]}


async def _events(chunks: Iterator[dict[str, Any]], cancel: threading.Event) -> AsyncIterator[bytes]:
    """Server-sent events from a blocking iterator run in a thread; a client that goes away sets ``cancel``,
    which stops the generation (and frees the model) at the next token."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    def put(kind: str, item: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the server stopped while the model was generating
            loop.call_soon_threadsafe(queue.put_nowait, (kind, item))

    def produce() -> None:
        try:
            for chunk in chunks:
                put("chunk", chunk)
        except ReplayError as exc:
            put("error", {"type": type(exc).__name__, "message": str(exc)})
        except Exception as exc:  # never leave the client waiting on a stream that silently died
            put("error", {"type": "LocalModelError", "message": f"the local model failed: {exc}"})
        finally:
            put("done", None)

    threading.Thread(target=produce, name="spanlab-local-model-stream", daemon=True).start()
    try:
        while True:
            kind, item = await queue.get()
            if kind == "done":
                break
            payload = item if kind == "chunk" else {"error": item}
            yield b"data: " + orjson.dumps(payload) + b"\n\n"
        yield b"data: [DONE]\n\n"
    finally:
        cancel.set()
