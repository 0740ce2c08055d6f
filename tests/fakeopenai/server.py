"""The fake OpenAI-compatible model provider: an ASGI app, and `FakeOpenAI`, which serves it.

Endpoints (under `/v1`): `POST /chat/completions`, `POST /responses`, `POST /embeddings`,
`GET /models`, `GET /models/{id}`. Anything else gets a 404 with OpenAI's error body; a body that is
not JSON, or lacks a required field, gets a 400. Every request to a known endpoint is recorded.
How each model request is answered is decided by the `Script` (see `script.py`).

`FakeOpenAI` runs uvicorn on its own event loop in a daemon thread, on an ephemeral port of
127.0.0.1; all its methods may be called from any thread.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from .chat import chat_chunks, chat_completion
from .completion import resolve
from .embeddings import embeddings_body
from .http_errors import error_headers, error_json
from .recorder import RecordedRequest, RequestLog
from .replies import ChatReply, ErrorReply, StreamError
from .request_view import Endpoint, RequestView, embedding_inputs
from .responses_api import response_events, response_object
from .script import Plan, Script

__all__ = ["FakeOpenAI", "create_app"]

_REQUIRED: dict[Endpoint, tuple[str, ...]] = {
    "chat": ("model", "messages"),
    "responses": ("model",),
    "embeddings": ("model", "input"),
}
_MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "text-embedding-3-small", "text-embedding-3-large")
_DONE = b"data: [DONE]\n\n"
_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 5.0


def _request_id() -> dict[str, str]:
    return {"x-request-id": "req_" + os.urandom(12).hex()}


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(body),
        status_code=status,
        media_type="application/json",
        headers={**_request_id(), **(headers or {})},
    )


def _error(reply: ErrorReply) -> Response:
    return _json(error_json(reply), reply.status, error_headers(reply))


def _sse(data: Any, event: str | None = None) -> bytes:
    prefix = f"event: {event}\n".encode() if event else b""
    return prefix + b"data: " + orjson.dumps(data) + b"\n\n"


class _EventStream(Response):
    """Sends pre-built SSE frames, optionally pausing between them; `disconnect=True` returns without
    finishing the body, so the server drops the connection mid-stream."""

    media_type = "text/event-stream"

    def __init__(self, frames: list[bytes], *, chunk_delay: float, disconnect: bool) -> None:
        # Not Response.__init__: it would add `content-length: 0`; a stream is sent chunked.
        self.status_code, self.background = 200, None
        self.init_headers({"cache-control": "no-cache", **_request_id()})
        self.frames, self.chunk_delay, self.disconnect = frames, chunk_delay, disconnect

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        # Without a pause, one write carries all frames: the client sees the same events, faster.
        writes = self.frames if self.chunk_delay > 0 else [b"".join(self.frames)]
        for index, frame in enumerate(writes):
            if index and self.chunk_delay > 0:
                await asyncio.sleep(self.chunk_delay)
            await send({"type": "http.response.body", "body": frame, "more_body": True})
        if not self.disconnect:
            await send({"type": "http.response.body", "body": b"", "more_body": False})


def _stream(frames: list[bytes], done: bytes | None, plan: Plan, error_frame: Callable[[int, str], bytes]) -> Response:
    """Frames plus the end of stream: `done`, or the scripted break after some frames."""
    stream_error = plan.reply if isinstance(plan.reply, StreamError) else None
    if stream_error is None:
        return _EventStream(frames + ([done] if done else []), chunk_delay=plan.chunk_delay, disconnect=False)
    sent = frames[: stream_error.after_chunks]
    if not stream_error.disconnect:
        sent.append(error_frame(len(sent), stream_error.message))
    return _EventStream(sent, chunk_delay=plan.chunk_delay, disconnect=stream_error.disconnect)


def _chat_error_frame(_: int, message: str) -> bytes:
    return _sse(error_json(ErrorReply(status=500, message=message)))


def _responses_error_frame(sequence_number: int, message: str) -> bytes:
    event = {
        "type": "error",
        "code": "server_error",
        "message": message,
        "param": None,
        "sequence_number": sequence_number,
    }
    return _sse(event, event="error")


class _Provider:
    """The endpoint handlers, sharing one script and one request log."""

    def __init__(self, script: Script, log: RequestLog) -> None:
        self.script, self.log = script, log

    async def _read(self, request: Request) -> Any:
        raw = await request.body()
        try:
            body = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body = None
        self.log.add(RecordedRequest(request.method, request.url.path, dict(request.headers.items()), body))
        return body

    async def chat_completions(self, request: Request) -> Response:
        return await self._model_call(request, "chat")

    async def responses(self, request: Request) -> Response:
        return await self._model_call(request, "responses")

    async def embeddings(self, request: Request) -> Response:
        return await self._model_call(request, "embeddings")

    async def list_models(self, request: Request) -> Response:
        await self._read(request)
        return _json({"object": "list", "data": [_model(name) for name in _MODELS]})

    async def retrieve_model(self, request: Request) -> Response:
        await self._read(request)
        return _json(_model(request.path_params["model"]))

    async def _model_call(self, request: Request, endpoint: Endpoint) -> Response:
        body = await self._read(request)
        if not isinstance(body, dict):
            return _error(ErrorReply(400, message="We could not parse the JSON body of your request."))
        missing = next((name for name in _REQUIRED[endpoint] if body.get(name) is None), None)
        if missing is not None:
            return _error(
                ErrorReply(
                    400,
                    message=f"Missing required parameter: '{missing}'.",
                    param=missing,
                    code="missing_required_parameter",
                )
            )
        view = RequestView.of(endpoint, body)
        plan = self.script.plan(endpoint, view.user_text)
        if plan.delay > 0:
            await asyncio.sleep(plan.delay)
        reply = plan.reply
        if isinstance(reply, ErrorReply):
            return _error(reply)
        if isinstance(reply, StreamError) and not view.stream:
            return _error(ErrorReply(500, message=reply.message))
        if endpoint == "embeddings":
            return _json(embeddings_body(embedding_inputs(body), body))
        chat_reply = reply.reply if isinstance(reply, StreamError) else reply
        return self._generation(endpoint, body, view, plan, chat_reply)

    def _generation(
        self, endpoint: Endpoint, body: dict[str, Any], view: RequestView, plan: Plan, reply: ChatReply | None
    ) -> Response:
        completion = resolve(reply, view)
        if endpoint == "chat" and not view.stream:
            return _json(chat_completion(completion, view))
        if endpoint == "chat":
            frames = [_sse(chunk) for chunk in chat_chunks(completion, view)]
            return _stream(frames, _DONE, plan, _chat_error_frame)
        if not view.stream:
            return _json(response_object(completion, view, body))
        frames = [_sse(event, event=event["type"]) for event in response_events(completion, view, body)]
        return _stream(frames, None, plan, _responses_error_frame)


def _model(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 1_700_000_000, "owned_by": "system"}


async def _not_found(request: Request, exc: Exception) -> Response:
    message = f"Invalid URL ({request.method} {request.url.path})"
    return _error(ErrorReply(404, message=message, code="unknown_url"))


def create_app(script: Script, log: RequestLog) -> Starlette:
    """The fake provider as an ASGI app, answering from `script` and recording into `log`."""
    provider = _Provider(script, log)
    routes = [
        Route("/v1/chat/completions", provider.chat_completions, methods=["POST"]),
        Route("/v1/responses", provider.responses, methods=["POST"]),
        Route("/v1/embeddings", provider.embeddings, methods=["POST"]),
        Route("/v1/models", provider.list_models, methods=["GET"]),
        Route("/v1/models/{model:path}", provider.retrieve_model, methods=["GET"]),
    ]
    return Starlette(routes=routes, exception_handlers={404: _not_found, 405: _not_found})


class FakeOpenAI:
    """A running fake provider: `with FakeOpenAI() as fake: OpenAI(base_url=fake.base_url, ...)`.

    `script` controls the replies, `requests` lists what was received, `reset()` restores the
    fresh state (empty script, latency 0, no recorded requests). `close()` stops the server; it is
    idempotent. At most `max_recorded` requests are kept (the oldest are dropped).
    """

    def __init__(self, *, max_recorded: int = 10_000) -> None:
        self.script = Script()
        self._log = RequestLog(max_recorded)
        self.app = create_app(self.script, self._log)
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    def start(self) -> FakeOpenAI:
        """Bind 127.0.0.1 on an ephemeral port and serve until `close()`; returns once accepting."""
        if self._thread is not None:
            return self
        self._socket = socket.create_server(("127.0.0.1", 0), backlog=2048)
        self._port = self._socket.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_config=None,
            log_level=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
            timeout_keep_alive=30,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="fake-openai", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("the fake OpenAI server did not start")
            time.sleep(0.005)  # polling a flag uvicorn sets; bounded by the deadline above
        return self

    def close(self) -> None:
        """Stop serving and wait for the server thread (in-flight requests get ~1 s to finish)."""
        server, thread, sock = self._server, self._thread, self._socket
        self._server = self._thread = self._socket = self._port = None
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(_STOP_TIMEOUT)
            if thread.is_alive() and server is not None:
                server.force_exit = True
                thread.join(_STOP_TIMEOUT)
        if sock is not None:
            sock.close()

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT`, without the `/v1` prefix."""
        if self._port is None:
            raise RuntimeError("the fake OpenAI server is not running; use start() or a with block")
        return f"http://127.0.0.1:{self._port}"

    @property
    def base_url(self) -> str:
        """What to pass as `OpenAI(base_url=...)`: `http://127.0.0.1:PORT/v1`."""
        return self.url + "/v1"

    def client_env(self) -> dict[str, str]:
        """Environment variables that point an `openai` client in a subprocess at this server."""
        return {"OPENAI_BASE_URL": self.base_url, "OPENAI_API_KEY": "sk-fake"}

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the recorded requests, oldest first."""
        return self._log.snapshot()

    def wait_for_requests(self, count: int, *, timeout: float = 5.0) -> list[RecordedRequest]:
        """Block until `count` requests were recorded (`TimeoutError` after `timeout` seconds)."""
        return self._log.wait_for(count, timeout=timeout)

    def reset(self) -> None:
        """Clear the script, latency and recorded requests."""
        self.script.reset()
        self._log.clear()
