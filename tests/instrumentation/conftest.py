"""Fixtures for the instrumentation tests: spanlab's openai instrumentor on a fresh tracer provider whose spans
land in the SDK's in-memory exporter (at once, or batched as ``register()`` sets up), and real ``openai``
clients pointed at the fake provider."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest
from opentelemetry.sdk.trace import TracerProvider

from instrumentation.openai import OpenAIInstrumentor
from tests.fakeopenai import FakeOpenAI
from tests.instrumentation.helpers import Batched, Recorded


@pytest.fixture
def recorded() -> Iterator[Recorded]:
    """The instrumentor, instrumented with default options (call ``recorded.instrument(...)`` to change them)."""
    run = Recorded()
    run.instrument()
    yield run
    if run.instrumentor.is_instrumented_by_opentelemetry:
        run.instrumentor.uninstrument()
    run.provider.shutdown()


@pytest.fixture
def batched() -> Iterator[Batched]:
    """The instrumentor on a provider whose only span processor batches: calls are recorded on the background
    thread."""
    run = Batched(TracerProvider())
    yield run
    OpenAIInstrumentor().uninstrument()
    run.provider.shutdown()


@pytest.fixture
def client(fake_openai: FakeOpenAI) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=fake_openai.base_url, api_key="sk-test", max_retries=0) as sync_client:
        yield sync_client
