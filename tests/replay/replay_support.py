"""Helpers for the replay tests: a server whose named provider ``fake`` is the fake model server, real spans sent
to it (through a real instrumentation, or hand-made with the OTel SDK), and reads of what it stored."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue

from tests.fakeopenai import FakeOpenAI
from tests.server import ServerProcess, start_server, wait_for

__all__ = [
    "closed_port",
    "post",
    "replay_count",
    "send_span",
    "start_replay_server",
    "stored",
    "unique",
]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def start_replay_server(
    db: Path, fake: FakeOpenAI, *, extra_providers: Mapping[str, Any] | None = None
) -> ServerProcess:
    """``spanlab serve`` whose ``openai`` provider (OPENAI_BASE_URL/OPENAI_API_KEY) and named provider ``fake``
    are both the fake model server."""
    providers = {"fake": {"base_url": fake.base_url}, **(extra_providers or {})}
    return start_server(db, env={"SPANLAB_PROVIDERS": json.dumps(providers), **fake.client_env()})


@contextmanager
def span_tracer(server: ServerProcess, project: str) -> Iterator[Any]:
    """An OTel SDK tracer exporting synchronously over OTLP/HTTP to ``server`` into ``project``."""
    provider = TracerProvider(resource=Resource.create({"service.name": project}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{server.http_url}/v1/traces")))
    try:
        yield provider.get_tracer("replay-tests")
    finally:
        provider.shutdown()


def send_span(server: ServerProcess, project: str, name: str, attributes: Mapping[str, AttributeValue]) -> str:
    """Send one CLIENT span with ``attributes``; return its span id once it is stored."""
    with span_tracer(server, project) as tracer, tracer.start_as_current_span(name, kind=SpanKind.CLIENT) as span:
        span.set_attributes(dict(attributes))
        span_id = format(span.get_span_context().span_id, "016x")
    wait_for(lambda: stored(server, span_id), what=f"span {span_id} to be stored")
    return span_id


def stored(server: ServerProcess, span_id: str) -> dict[str, Any] | None:
    with server.client as client:
        response = client.get(f"/api/v1/spans/{span_id}")
    return response.json() if response.status_code == 200 else None


def post(server: ServerProcess, path: str, body: Any, *, timeout: float = 120.0) -> httpx.Response:
    with httpx.Client(base_url=server.http_url, timeout=timeout) as client:
        if isinstance(body, bytes):
            return client.post(path, content=body, headers={"Content-Type": "application/json"})
        return client.post(path, json=body)


def replay_count(server: ServerProcess) -> int:
    return int(server.sql("SELECT count(*) FROM replays")[0][0])


def genai_messages(*pairs: tuple[str, str]) -> str:
    """``gen_ai.input.messages`` JSON for (role, text) pairs."""
    return json.dumps([{"role": role, "parts": [{"type": "text", "content": text}]} for role, text in pairs])
