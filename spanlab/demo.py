"""``spanlab demo``: start a collector (unless one is running), send a few LLM traces over OTLP, list them.

The traces use the three attribute conventions spanlab reads (OTel GenAI, OpenInference, OpenLLMetry) and come
from the real OpenTelemetry SDK and OTLP/HTTP exporter, exactly as an instrumented app would send them. The
customer questions are from Banking77 (PolyAI, CC-BY-4.0; Casanueva et al., 2020).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from spanlab.settings import Settings

__all__ = ["DEMO_PROJECT", "running_server", "send_demo_traces"]

DEMO_PROJECT = "demo"
SYSTEM = "You are a banking assistant. Classify the customer's message into one intent label."
QUESTIONS = [
    ("I am still waiting on my card?", "card_arrival"),
    ("What can I do if my card still hasn't arrived after 2 weeks?", "card_arrival"),
    ("How do I link my new card to the app?", "card_linking"),
    ("What exchange rate will I get when I pay abroad?", "exchange_rate"),
]


def _reachable(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def running_server(settings: Settings) -> Iterator[tuple[str, subprocess.Popen[str] | None]]:
    """Yield the URL of a collector: the one at ``settings.url`` if it answers, else a new ``spanlab serve``."""
    if _reachable(settings.url):
        yield settings.url, None
        return
    process = subprocess.Popen(
        [sys.executable, "-m", "spanlab.cli", "serve", "--db", str(settings.db)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("spanlab ready"):
        process.terminate()
        raise RuntimeError(f"spanlab serve did not start (exit code {process.wait()})")
    http = dict(part.split("=", 1) for part in line.split()[2:])["http"]
    try:
        yield f"http://{http}", process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(30)


def send_demo_traces(url: str) -> list[str]:
    """Send one trace per question over OTLP/HTTP; return their trace ids."""
    provider = TracerProvider(resource=Resource.create({"service.name": DEMO_PROJECT}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{url}/v1/traces")))
    tracer = provider.get_tracer("spanlab.demo")
    trace_ids = []
    for index, (question, label) in enumerate(QUESTIONS):
        with tracer.start_as_current_span("classify_intent", attributes={"input.value": question}) as root:
            trace_ids.append(format(root.get_span_context().trace_id, "032x"))
            answer = label if index != 2 else "card_arrival"
            with tracer.start_as_current_span("chat gpt-4o-mini", kind=SpanKind.CLIENT) as span:
                span.set_attributes(_genai_attributes(question, answer, index))
                if index == 3:
                    span.set_status(Status(StatusCode.ERROR, "RateLimitError: 429 Too Many Requests"))
            root.set_attribute("output.value", answer)
    provider.shutdown()
    return trace_ids


def _genai_attributes(question: str, answer: str, index: int) -> dict[str, str | int | float]:
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.request.temperature": 0.0,
        "gen_ai.request.max_tokens": 16,
        "gen_ai.usage.input_tokens": 42 + index,
        "gen_ai.usage.output_tokens": 3,
        "gen_ai.system_instructions": json.dumps([{"type": "text", "content": SYSTEM}]),
        "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": question}]}]),
        "gen_ai.output.messages": json.dumps(
            [{"role": "assistant", "parts": [{"type": "text", "content": answer}], "finish_reason": "stop"}]
        ),
        "server.address": "localhost",
        "server.port": 8000,
        "spanlab.prompt.name": "intent-classifier",
        "spanlab.prompt.version": "1",
    }


def wait_until_listed(url: str, trace_ids: list[str], *, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listed = httpx.get(f"{url}/api/v1/traces", params={"project": DEMO_PROJECT, "limit": 500}).json()
        if set(trace_ids) <= {t["trace_id"] for t in listed["data"]}:
            return
        time.sleep(0.1)
    raise RuntimeError("the demo traces did not show up in time")
