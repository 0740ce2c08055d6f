"""Per-call overhead of spanlab's openai instrumentor, side by side with OpenInference's, in one run.

    .venv/bin/python -m bench.instrumentation_overhead [--calls 10000] [--stream-calls 6000]
        [--cold-calls 3000] [--cold-stream-calls 600] [--wall] [--json]

The real ``openai`` client calls an in-process fake transport (``httpx2.MockTransport`` answering canned
bytes: a chat completion, or an SSE stream of 42 chunks + usage), so the network is out of the picture and
what is left is the client's own work plus the instrumentation's. Spans go through a ``BatchSpanProcessor``,
as ``register()`` sets up, to an exporter that drops them. A call is timed with the calling thread's CPU
clock (``--wall`` for the wall clock): on a shared machine, time spent waiting for a core is other
processes' work, not the instrumentation's. Garbage is collected once before the measurements, and the
collector then runs as it would in an application: a collection an instrumentation causes is charged to
the call it interrupts. Two measurements:

- **steady state** (the target's measure): the modes — uninstrumented, spanlab, OpenInference — take turns
  in batches (50 plain calls, 10 streamed ones: about 100 ms each), in a shuffled order each round, after a
  warm-up. Per mode: the median call, and its overhead over the uninstrumented median. spanlab records its
  spans on a background thread (see ``instrumentation/background.py``), which the calling thread's clock
  does not see; so each batch is also timed with the CPU clock of the whole process, spans flushed inside
  it: the "process CPU" overhead is what a call costs the process in total, every thread included. The
  medians of the uninstrumented calls' even and odd batches, printed below the tables, show how far apart
  two measures of the same thing come out: the noise floor.
- **cold calls**: the modes alternate call by call, in a shuffled order each round, each through its own
  client with both instrumentors installed (the uninstrumented client bypasses both patches, each
  instrumented client the other's), so no mode's code is warm from its own previous call — closer to an
  application that does other work between its LLM calls. The overhead is the median of the differences
  with the uninstrumented call of the same round.

The target is spanlab's steady-state overhead ≤ 100 µs per call, plain or streamed, and below OpenInference's.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import httpx2
import openai
from openai._base_client import SyncAPIClient
from openai.resources.chat.completions import Completions
from openinference.instrumentation.openai import OpenAIInstrumentor as OpenInferenceInstrumentor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from bench.table import format_table
from instrumentation.openai import OpenAIInstrumentor as SpanlabInstrumentor
from instrumentation.openai import flush

__all__ = ["main", "measure"]

MODES = ("uninstrumented", "spanlab", "openinference")
TARGET_US = 100.0
# Steady-state calls per mode in a row: about 100 ms of either shape, so that the machine's slow and fast
# spells (other work on the host) fall on every mode alike.
BATCH = {"plain": 50, "streamed": 10}
WARM_UP = 50
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
Clock = Callable[[], int]
Timings = dict[str, dict[str, list[int]]]  # shape → mode → ns


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


# The original methods, taken before any instrumentor patches them (for the cold calls' bypassing clients).
_CREATE = Completions.__dict__["create"]
_REQUEST = SyncAPIClient.request


class _PlainCompletions(Completions):
    """``chat.completions`` as it is without spanlab's patch."""

    create = _CREATE


class _ClientWithoutOpenInference(openai.OpenAI):
    """A client whose ``request`` is the one OpenInference's patch replaces on ``openai.OpenAI``."""

    request = _REQUEST


def _client(*, spanlab: bool = True, openinference: bool = True) -> openai.OpenAI:
    completion, stream = _completion_body(), _stream_body()

    def handler(request: httpx2.Request) -> httpx2.Response:
        if b'"stream":true' in request.content:
            return httpx2.Response(200, content=stream, headers={"content-type": "text/event-stream"})
        return httpx2.Response(200, content=completion, headers={"content-type": "application/json"})

    kind = openai.OpenAI if openinference else _ClientWithoutOpenInference
    http_client = httpx2.Client(transport=httpx2.MockTransport(handler))
    client = kind(base_url="http://llm-gateway.internal/v1", api_key="sk-bench", http_client=http_client)
    if not spanlab:
        client.chat.__dict__["completions"] = _PlainCompletions(client)
    return client


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


_INSTRUMENTORS: dict[str, Any] = {"spanlab": SpanlabInstrumentor, "openinference": OpenInferenceInstrumentor}


@contextmanager
def _mode(name: str, provider: TracerProvider) -> Iterator[None]:
    instrumentor = _INSTRUMENTORS.get(name)
    if instrumentor is None:
        yield
        return
    instrumentor().instrument(tracer_provider=provider)
    try:
        yield
    finally:
        instrumentor().uninstrument()


def _time_calls(call: Callable[[], object], count: int, clock: Clock) -> list[int]:
    timings = []
    for _ in range(count):
        started = clock()
        call()
        timings.append(clock() - started)
    return timings


def _steady(
    provider: TracerProvider, counts: dict[str, int], clock: Clock, rng: random.Random
) -> tuple[Timings, Timings]:
    """(call timings, process CPU per call of each batch) by shape and mode, modes in turns of BATCH calls."""
    shapes = _calls(_client())
    calls: Timings = {shape: {mode: [] for mode in MODES} for shape in shapes}
    process: Timings = {shape: {mode: [] for mode in MODES} for shape in shapes}
    for mode in MODES:  # warm-up: caches, lazily built state
        with _mode(mode, provider):
            for call in shapes.values():
                _time_calls(call, WARM_UP, clock)
    gc.collect()
    for shape, call in shapes.items():
        batch = BATCH[shape]
        for _ in range(max(1, counts[shape] // batch)):
            for mode in rng.sample(MODES, len(MODES)):
                with _mode(mode, provider):
                    started = time.process_time_ns()
                    calls[shape][mode] += _time_calls(call, batch, clock)
                    flush()
                    provider.force_flush()
                    process[shape][mode].append((time.process_time_ns() - started) // batch)
    return calls, process


def _cold(provider: TracerProvider, counts: dict[str, int], clock: Clock, rng: random.Random) -> Timings:
    """Call timings by shape and mode, the modes alternating call by call (paired by round)."""
    clients = {
        "uninstrumented": _client(spanlab=False, openinference=False),
        "spanlab": _client(openinference=False),
        "openinference": _client(spanlab=False),
    }
    calls = {mode: _calls(client) for mode, client in clients.items()}
    timings: Timings = {shape: {mode: [] for mode in MODES} for shape in ("plain", "streamed")}
    with _mode("spanlab", provider), _mode("openinference", provider):
        for mode in MODES:
            for call in calls[mode].values():
                _time_calls(call, WARM_UP, clock)
        gc.collect()
        for shape, by_mode in timings.items():
            for _ in range(counts[shape]):
                for mode in rng.sample(MODES, len(MODES)):
                    by_mode[mode] += _time_calls(calls[mode][shape], 1, clock)
    return timings


def measure(
    *, counts: dict[str, int], cold_counts: dict[str, int], clock: Clock = time.thread_time_ns, seed: int = 7
) -> dict[str, Timings]:
    """Timings (ns) of the steady-state calls, their batches' process CPU per call, and the cold calls."""
    exporter = DropSpans()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    rng = random.Random(seed)
    steady, process = _steady(provider, counts, clock, rng)
    cold = _cold(provider, cold_counts, clock, rng)
    provider.shutdown()  # flushes the batch
    if exporter.count == 0:
        raise RuntimeError("no span was exported: the instrumentors did not run")
    return {"steady": steady, "process": process, "cold": cold}


def _us(ns: float) -> str:
    return f"{ns / 1000:.1f}"


def _paired(timings: list[int], baseline: list[int]) -> float:
    return statistics.median(x - y for x, y in zip(timings, baseline, strict=True))


def summarize(results: dict[str, Timings]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(steady-state rows, cold rows), one per mode; µs."""
    steady_rows, cold_rows = [], []
    for mode in MODES:
        steady: dict[str, Any] = {"mode": mode}
        cold: dict[str, Any] = {"mode": mode}
        for shape, by_mode in results["steady"].items():
            median, baseline = statistics.median(by_mode[mode]), statistics.median(by_mode["uninstrumented"])
            process = results["process"][shape]
            cpu = statistics.median(process[mode]) - statistics.median(process["uninstrumented"])
            steady[f"{shape} call"] = _us(median)
            steady[f"{shape} overhead"] = "—" if mode == "uninstrumented" else _us(median - baseline)
            steady[f"{shape} process CPU overhead"] = "—" if mode == "uninstrumented" else _us(cpu)
        for shape, by_mode in results["cold"].items():
            cold[f"{shape} call"] = _us(statistics.median(by_mode[mode]))
            paired = _paired(by_mode[mode], by_mode["uninstrumented"])
            cold[f"{shape} overhead"] = "—" if mode == "uninstrumented" else _us(paired)
        steady_rows.append(steady)
        cold_rows.append(cold)
    return steady_rows, cold_rows


def baseline_spread(results: dict[str, Timings]) -> dict[str, dict[str, float]]:
    """Per shape, the uninstrumented steady-state calls' p10 and p90, and the noise floor: how far apart the
    medians of its even and odd batches are (µs) — an overhead smaller than that is not measured."""
    spread = {}
    for shape, by_mode in results["steady"].items():
        calls = by_mode["uninstrumented"]
        deciles = statistics.quantiles(calls, n=10)
        size = BATCH[shape]
        batches = [calls[start : start + size] for start in range(0, len(calls), size)]
        even = [ns for batch in batches[::2] for ns in batch]
        odd = [ns for batch in batches[1::2] for ns in batch]
        noise = abs(statistics.median(even) - statistics.median(odd)) if odd else 0.0
        spread[shape] = {"p10": deciles[0] / 1000, "p90": deciles[-1] / 1000, "noise": noise / 1000}
    return spread


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=10_000, help="steady-state plain calls per mode")
    parser.add_argument("--stream-calls", type=int, default=6_000, help="steady-state streamed calls per mode")
    parser.add_argument("--cold-calls", type=int, default=3_000, help="cold plain calls per mode")
    parser.add_argument("--cold-stream-calls", type=int, default=600, help="cold streamed calls per mode")
    parser.add_argument("--json", action="store_true", help="print the summary rows as JSON")
    parser.add_argument("--wall", action="store_true", help="time wall clock instead of the thread's CPU time")
    args = parser.parse_args(argv)
    results = measure(
        counts={"plain": args.calls, "streamed": args.stream_calls},
        cold_counts={"plain": args.cold_calls, "streamed": args.cold_stream_calls},
        clock=time.perf_counter_ns if args.wall else time.thread_time_ns,
    )
    steady, cold = summarize(results)
    spread = baseline_spread(results)
    if args.json:
        print(json.dumps({"steady": steady, "cold": cold, "baseline": spread}, ensure_ascii=False, indent=2))
        return
    print("Steady state (µs)\n" + format_table(steady) + "\n\nCold calls (µs)\n" + format_table(cold) + "\n")
    for shape, figures in spread.items():
        print(
            f"uninstrumented {shape} call: p10 {figures['p10']:.1f} µs, p90 {figures['p90']:.1f} µs; "
            f"its even and odd batches' medians {figures['noise']:.1f} µs apart"
        )
    for shape in ("plain", "streamed"):
        ours, theirs = (float(steady[index][f"{shape} overhead"]) for index in (1, 2))
        verdict = "meets" if ours <= TARGET_US and ours < theirs else "MISSES"
        print(f"{shape}, steady state: spanlab {ours:+.1f} µs vs OpenInference {theirs:+.1f} µs — {verdict} the target")


if __name__ == "__main__":
    main()
