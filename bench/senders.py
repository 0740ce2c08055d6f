"""One sender process: build its share of the workload, wait for the start signal, export it, report.

Modes:

* ``http-protobuf`` / ``grpc``: SDK ``ReadableSpan`` objects built beforehand, sent through the real OTel
  ``OTLPSpanExporter`` (``exporter.export(batch)``), so the exporter's encoding cost is in the measurement,
  as it is in an instrumented application.
* ``raw-http`` / ``raw-grpc``: ``ExportTraceServiceRequest`` bodies serialized beforehand (gzipped with
  ``gzip``), so the client costs almost nothing and the server is measured alone.

With ``mixed_logs`` the legacy GenAI log events of ``genai-legacy`` traces go to ``/v1/logs`` (raw bodies
over the same protocol) right after the spans they belong to.
"""

from __future__ import annotations

import gzip
import logging
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from google.protobuf.message import Message
from opentelemetry.sdk.trace import ReadableSpan

from bench.sdk import CollectingProcessor, SdkEmitter
from bench.transports import Outcome, RawGrpc, RawHttp, SdkGrpc, SdkHttp, Transport
from bench.workload import RESOURCE, Workload, logs_request, trace_request

__all__ = ["MODES", "SDK_MODES", "SenderConfig", "SenderReport", "sender_main"]

MODES = ("http-protobuf", "grpc", "raw-http", "raw-grpc")
SDK_MODES = frozenset({"http-protobuf", "grpc"})
_HTTP_MODES = frozenset({"http-protobuf", "raw-http"})
_MAX_ERRORS = 5


@dataclass(frozen=True, slots=True)
class SenderConfig:
    mode: str
    http_url: str
    grpc_target: str
    seed: int
    run_tag: str
    conventions: tuple[str, ...]
    spans_hint: int
    end_time_ns: int
    spans: int  # this sender's share
    first: int  # first trace index; the next are first + step, first + 2 step...
    step: int
    batch_size: int = 512
    threads: int = 2
    gzip: bool = False
    prebuild: bool = True
    timeout: float = 30.0


@dataclass(slots=True)
class SenderReport:
    index: int
    spans: int = 0  # spans in acknowledged exports
    exports: int = 0
    log_exports: int = 0
    failed_exports: int = 0
    failed_spans: int = 0
    retries: int = 0
    build_seconds: float = 0.0
    send_seconds: float = 0.0
    cpu_seconds: float = 0.0
    finished_at: float = 0.0  # time.time() when the last export was acknowledged
    errors: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Work:
    signal: str  # traces | logs
    spans: int
    body: bytes = b""
    sdk_spans: list[ReadableSpan] | None = None


def sender_main(config: SenderConfig, index: int, messages: Any, start: Any) -> None:
    """Process entry: ``("ready", i, build_s)`` → wait for ``start`` → ``("done", i, report)``."""
    # The exporters log every retry as a warning; they are counted instead (failures still log as errors).
    logging.getLogger("opentelemetry.exporter.otlp").setLevel(logging.ERROR)
    try:
        started = time.perf_counter()
        work: Iterator[_Work] = _work(config)
        if config.prebuild:
            work = iter(list(work))
        build_seconds = time.perf_counter() - started
        messages.put(("ready", index, build_seconds))
        if not start.wait(timeout=3600):
            messages.put(("error", index, "no start signal within an hour"))
            return
        report = _send_all(work, config, index)
        report.build_seconds = build_seconds
        messages.put(("done", index, asdict(report)))
    except BaseException:
        messages.put(("error", index, traceback.format_exc()))


def _work(config: SenderConfig) -> Iterator[_Work]:
    workload = Workload(
        seed=config.seed,
        run_tag=config.run_tag,
        conventions=config.conventions,
        spans_hint=config.spans_hint,
        end_time_ns=config.end_time_ns,
    )
    collector = CollectingProcessor()
    emitter = SdkEmitter(collector, resource=RESOURCE) if config.mode in SDK_MODES else None
    batches = workload.batches(config.spans, config.batch_size, first=config.first, step=config.step)
    gzip_bodies = config.gzip and config.mode in _HTTP_MODES  # gRPC compresses on the channel instead
    for batch in batches:
        if emitter is not None:
            emitter.emit(batch)
            yield _Work("traces", len(batch), sdk_spans=collector.spans)
            collector.spans = []
        else:
            yield _Work("traces", len(batch), body=_body(trace_request(batch), gzip_bodies))
        logs = logs_request(batch)
        if logs is not None:
            yield _Work("logs", 0, body=_body(logs, gzip_bodies))


def _body(message: Message, compress: bool) -> bytes:
    data = message.SerializeToString()
    return gzip.compress(data, compresslevel=1) if compress else data


def _transport_factory(config: SenderConfig) -> Callable[[], Transport]:
    options = {"timeout": config.timeout}
    factories: dict[str, Callable[[], Transport]] = {
        "http-protobuf": lambda: SdkHttp(config.http_url, gzip=config.gzip, **options),
        "grpc": lambda: SdkGrpc(config.grpc_target, gzip=config.gzip, **options),
        "raw-http": lambda: RawHttp(config.http_url, gzip=config.gzip, **options),
        "raw-grpc": lambda: RawGrpc(config.grpc_target, gzip=config.gzip, **options),
    }
    return factories[config.mode]


def _send_all(work: Iterator[_Work], config: SenderConfig, index: int) -> SenderReport:
    """Drain ``work`` with ``config.threads`` threads, each with its own transport."""
    report = SenderReport(index)
    lock = threading.Lock()
    factory = _transport_factory(config)
    cpu_before, started = time.process_time(), time.perf_counter()

    def worker() -> None:
        transport = factory()
        try:
            while True:
                with lock:
                    item = next(work, None)
                if item is None:
                    return
                outcome = _deliver(transport, item)
                with lock:
                    _record(report, item, outcome)
        finally:
            transport.close()

    threads = [threading.Thread(target=worker, name=f"sender-{i}") for i in range(config.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report.finished_at = time.time()
    report.send_seconds = time.perf_counter() - started
    report.cpu_seconds = time.process_time() - cpu_before
    return report


def _deliver(transport: Transport, item: _Work) -> Outcome:
    try:
        if item.sdk_spans is not None:
            return transport.send_spans(item.sdk_spans)
        return transport.send_raw(item.signal, item.body)
    except Exception as exc:  # a client bug must show up in the report, not kill the thread
        return Outcome(False, 0, f"{type(exc).__name__}: {exc}")


def _record(report: SenderReport, item: _Work, outcome: Outcome) -> None:
    report.retries += outcome.retries
    if outcome.ok:
        report.spans += item.spans
        report.exports += item.signal == "traces"
        report.log_exports += item.signal == "logs"
        return
    report.failed_exports += 1
    report.failed_spans += item.spans
    if len(report.errors) < _MAX_ERRORS and outcome.error:
        report.errors.append(f"{item.signal}: {outcome.error}")
