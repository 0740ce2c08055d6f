"""Per-call overhead of spanlab's openai instrumentor, side by side with OpenInference's, in one run.

    .venv/bin/python -m bench.instrumentation_overhead [--calls 2000] [--stream-calls 400] [--repeats 5] [--wall]

The real ``openai`` client calls an in-process fake transport (``httpx2.MockTransport`` answering canned
bytes: a chat completion, or an SSE stream of 42 chunks + usage), so the network is out of the picture and
what is left is the client's own work plus the instrumentation's. Spans go through a ``BatchSpanProcessor``, as
``register()`` sets up, to an exporter that drops them: each call pays for its whole span (creation, attributes,
end, hand-over to the batch) on the application's thread; OTLP encoding, done in the background, is left out.

The modes — uninstrumented, spanlab, OpenInference — take turns in batches of 50 calls after a warm-up, so
drift hits all modes alike. A call is timed with the calling thread's CPU clock (``--wall`` for the wall clock):
on a shared machine, time spent waiting for a core is other processes' work, not the instrumentation's.
Reported: the median of the individual call times per mode, and its overhead over the uninstrumented median.
The target is spanlab's overhead ≤ 100 µs per call and below OpenInference's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import httpx2
import openai
from openinference.instrumentation.openai import OpenAIInstrumentor as OpenInferenceInstrumentor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from bench.table import format_table
from instrumentation.openai import OpenAIInstrumentor as SpanlabInstrumentor

__all__ = ["main", "measure"]

MODES = ("uninstrumented", "spanlab", "openinference")
TARGET_US = 100.0
SYSTEM = (
    "You are the support assistant of a retail bank. Classify the customer's message into one of the bank's "
    "seventy-seven intents, answer in one short paragraph, never ask for a PIN or a full card number, and "
    "escalate to a human agent when the customer reports fraud or a lost card."
)
QUESTION = "I made a card payment yesterday but it still shows as pending in the app, is something wrong with it?"
REPLY = (
    "Card payments usually stay pending for one to three working days while the merchant confirms the amount. "
    "Nothing is wrong with your card; if the payment is still pending after five days, contact us and we will "
    "check it with the merchant."
)
REPLY_WORDS = REPLY.split()


class DropSpans(SpanExporter):
    """Counts and forgets: export cost stays out of the comparison."""

    def __init__(self) -> None:
        self.count = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.count += len(spans)
        return SpanExportResult.SUCCESS


def _completion_body() -> bytes:
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "gpt-4o-mini-2024-07-18",
        "system_fingerprint": "fp_bench",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": " ".join(REPLY_WORDS), "refusal": None},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 71, "completion_tokens": len(REPLY_WORDS), "total_tokens": 71 + len(REPLY_WORDS)},
    }
    return json.dumps(body).encode()


def _stream_body() -> bytes:
    base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": "gpt-4o-mini"}
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    deltas += [{"content": (" " if i else "") + word} for i, word in enumerate(REPLY_WORDS)]
    events = [
        {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}], "usage": None} for delta in deltas
    ]
    events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": None})
    usage = {"prompt_tokens": 71, "completion_tokens": len(REPLY_WORDS), "total_tokens": 71 + len(REPLY_WORDS)}
    events.append({**base, "choices": [], "usage": usage})
    return b"".join(b"data: " + json.dumps(event).encode() + b"\n\n" for event in events) + b"data: [DONE]\n\n"


def _client() -> openai.OpenAI:
    completion, stream = _completion_body(), _stream_body()

    def handler(request: httpx2.Request) -> httpx2.Response:
        if b'"stream":true' in request.content:
            return httpx2.Response(200, content=stream, headers={"content-type": "text/event-stream"})
        return httpx2.Response(200, content=completion, headers={"content-type": "application/json"})

    http_client = httpx2.Client(transport=httpx2.MockTransport(handler))
    return openai.OpenAI(base_url="http://llm-gateway.internal/v1", api_key="sk-bench", http_client=http_client)


def _calls(client: openai.OpenAI) -> dict[str, Callable[[], object]]:
    messages: Any = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}]

    def plain() -> object:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages, temperature=0.2, max_tokens=256)

    def streamed() -> object:
        stream = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=messages,
            temperature=0.2,
            max_tokens=256,
            stream=True,
            stream_options={"include_usage": True},
        )
        return sum(1 for _ in stream)

    return {"plain": plain, "streamed": streamed}


@contextmanager
def _mode(name: str, provider: TracerProvider) -> Iterator[None]:
    instrumentor: Any = {"spanlab": SpanlabInstrumentor, "openinference": OpenInferenceInstrumentor}.get(name)
    if instrumentor is None:
        yield
        return
    instrumentor().instrument(tracer_provider=provider)
    try:
        yield
    finally:
        instrumentor().uninstrument()


def _time_calls(call: Callable[[], object], count: int, clock: Callable[[], int]) -> list[int]:
    timings = []
    for _ in range(count):
        started = clock()
        call()
        timings.append(clock() - started)
    return timings


def measure(
    *, calls: int, stream_calls: int, repeats: int, batch: int = 50, clock: Callable[[], int] = time.thread_time_ns
) -> dict[str, dict[str, list[int]]]:
    """Call timings (ns of ``clock``) by shape ("plain", "streamed") and mode.

    Modes take turns in batches of ``batch`` calls (``repeats`` times over ``calls`` / ``stream_calls`` per
    mode), so a slow spell of the machine is spread over every mode instead of falling on one.
    """
    exporter = DropSpans()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    client = _client()
    shapes = _calls(client)
    counts = {"plain": calls, "streamed": stream_calls}
    timings: dict[str, dict[str, list[int]]] = {shape: {mode: [] for mode in MODES} for shape in shapes}
    for mode in MODES:  # warm-up: caches, lazily built state
        with _mode(mode, provider):
            for call in shapes.values():
                _time_calls(call, 50, clock)
    for shape, call in shapes.items():
        rounds = max(1, repeats * counts[shape] // batch)
        for _ in range(rounds):
            for mode in MODES:
                with _mode(mode, provider):
                    timings[shape][mode] += _time_calls(call, batch, clock)
    provider.shutdown()  # flushes the batch
    if exporter.count == 0:
        raise RuntimeError("no span was exported: the instrumentors did not run")
    client.close()
    return timings


def summarize(timings: dict[str, dict[str, list[int]]]) -> list[dict[str, Any]]:
    rows = []
    for mode in MODES:
        row: dict[str, Any] = {"mode": mode}
        for shape, by_mode in timings.items():
            median = statistics.median(by_mode[mode]) / 1000
            baseline = statistics.median(by_mode["uninstrumented"]) / 1000
            row[f"{shape} median µs"] = f"{median:.1f}"
            row[f"{shape} overhead µs"] = "—" if mode == "uninstrumented" else f"{median - baseline:.1f}"
        rows.append(row)
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=2000, help="plain calls per mode and repeat")
    parser.add_argument("--stream-calls", type=int, default=400, help="streamed calls per mode and repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print the summary rows as JSON")
    parser.add_argument("--wall", action="store_true", help="time wall clock instead of the thread's CPU time")
    args = parser.parse_args(argv)
    clock = time.perf_counter_ns if args.wall else time.thread_time_ns
    timings = measure(calls=args.calls, stream_calls=args.stream_calls, repeats=args.repeats, clock=clock)
    rows = summarize(timings)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    print(format_table(rows))
    spanlab, openinference = rows[1], rows[2]
    for shape in timings:
        ours, theirs = float(spanlab[f"{shape} overhead µs"]), float(openinference[f"{shape} overhead µs"])
        verdict = "meets" if ours <= TARGET_US and ours < theirs else "MISSES"
        print(f"{shape}: spanlab +{ours:.1f} µs vs OpenInference +{theirs:.1f} µs — {verdict} the target")


if __name__ == "__main__":
    main()
