"""Drive one timed load against a running server: sender processes, a start signal, then poll until stored.

The clock starts when the start signal is given (every sender has built its share by then) and stops at the
first ``/api/v1/status`` poll (every 100 ms) whose ``spans`` reaches the expected total, i.e. when the spans
are stored and queryable, not merely acknowledged. A run gives up with :class:`BenchError` after
``stall_timeout`` seconds without progress (no new stored spans, no newly accepted export).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import queue
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from bench.senders import SenderConfig, SenderReport, sender_main
from bench.server import BenchError, MemorySampler, ServerProcess
from bench.transports import RawHttp
from bench.workload import Workload, trace_request

__all__ = ["LoadOptions", "LoadResult", "run_load", "warm_up"]


@dataclass(frozen=True, slots=True)
class LoadOptions:
    mode: str
    spans: int
    senders: int
    threads: int
    seed: int = 0
    run_tag: str = "bench"
    conventions: tuple[str, ...] = ("genai", "openinference", "openllmetry")
    batch_size: int = 512
    gzip: bool = False
    prebuild: bool = True
    stall_timeout: float = 120.0
    build_timeout: float = 1800.0
    poll_interval: float = 0.1
    quiet: bool = False


@dataclass(slots=True)
class LoadResult:
    mode: str
    spans: int
    baseline: int = 0  # spans stored before the run (a warm-up, a reused database)
    stored: int = 0  # spans of this run stored at the end
    wall_seconds: float = 0.0  # start signal → spans stored and queryable
    ack_seconds: float = 0.0  # start signal → last export acknowledged
    drain_seconds: float = 0.0  # start signal → nothing pending (logs included)
    exports: int = 0
    log_exports: int = 0
    retries: int = 0
    failed_exports: int = 0
    failed_spans: int = 0
    build_seconds: float = 0.0
    client_cpu_seconds: float = 0.0
    server_cpu_seconds: float = 0.0
    start_rss: int = 0
    peak_rss: int = 0
    refused_requests: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return self.spans - self.stored

    @property
    def spans_per_second(self) -> float:
        return self.stored / self.wall_seconds if self.wall_seconds else 0.0


def run_load(server: ServerProcess, options: LoadOptions) -> LoadResult:
    """Send ``options.spans`` spans with ``options.senders`` processes and wait until they are stored."""
    context = multiprocessing.get_context("spawn")
    messages = context.Queue()
    start = context.Event()
    configs = _configs(server, options)
    processes = [
        context.Process(target=sender_main, args=(c, i, messages, start), daemon=True, name=f"sender-{i}")
        for i, c in enumerate(configs)
    ]
    for process in processes:
        process.start()
    try:
        build = _wait_ready(processes, messages, options.build_timeout)
        baseline = _stored(server)
        result = LoadResult(options.mode, options.spans, baseline, build_seconds=max(build))
        with MemorySampler(server.process.pid) as memory:
            result.start_rss = memory.sample() or 0
            cpu_before = memory.cpu_seconds()
            _timed(server, options, processes, messages, start, result)
            result.server_cpu_seconds = memory.cpu_seconds() - cpu_before
            result.peak_rss = memory.peak_rss
        return result
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)


def _configs(server: ServerProcess, options: LoadOptions) -> list[SenderConfig]:
    end_time_ns = time.time_ns()
    shares = [options.spans // options.senders] * options.senders
    shares[0] += options.spans - sum(shares)
    return [
        SenderConfig(
            mode=options.mode,
            http_url=server.http_url,
            grpc_target=server.grpc,
            seed=options.seed,
            run_tag=options.run_tag,
            conventions=options.conventions,
            spans_hint=options.spans,
            end_time_ns=end_time_ns,
            spans=share,
            first=i,
            step=options.senders,
            batch_size=options.batch_size,
            threads=options.threads,
            gzip=options.gzip,
            prebuild=options.prebuild,
        )
        for i, share in enumerate(shares)
    ]


def _wait_ready(processes: list[Any], messages: Any, timeout: float) -> list[float]:
    build: dict[int, float] = {}
    deadline = time.monotonic() + timeout
    while len(build) < len(processes):
        message = _next_message(processes, messages)
        if message is None:
            if time.monotonic() > deadline:
                raise BenchError(f"senders did not finish building their spans within {timeout:.0f}s")
            continue
        kind, index, payload = message
        if kind == "ready":
            build[index] = payload
        elif kind == "error":
            raise BenchError(f"sender {index} failed while building:\n{payload}")
    return list(build.values())


def _next_message(processes: list[Any], messages: Any) -> tuple[str, int, Any] | None:
    """The next sender message, or None after a second without one (when no sender has died)."""
    try:
        message: tuple[str, int, Any] = messages.get(timeout=1.0)
        return message
    except queue.Empty:
        for i, process in enumerate(processes):
            if process.exitcode not in (None, 0):
                raise BenchError(f"sender {i} died with exit code {process.exitcode}") from None
        return None


def _timed(
    server: ServerProcess,
    options: LoadOptions,
    processes: list[Any],
    messages: Any,
    start: Any,
    result: LoadResult,
) -> None:
    reports: dict[int, SenderReport] = {}
    t0_wall, t0 = time.time(), time.monotonic()
    start.set()
    watch = _ProgressWatch(options, t0)
    reached: float | None = None
    while True:
        _collect(messages, reports)
        _check_alive(server, processes, reports)
        status = _status(server)
        now = time.monotonic()
        watch.update(status, now, len(reports), len(processes))
        if status is not None:
            failed = sum(r.failed_spans for r in reports.values())
            if reached is None and status["spans"] - result.baseline >= options.spans - failed:
                reached = now
            if reached is not None and len(reports) == len(processes):
                break
        time.sleep(options.poll_interval)
    assert reached is not None
    result.wall_seconds = reached - t0
    _summarize(result, reports.values(), t0_wall)
    result.drain_seconds = _wait_drained(server, options, t0)
    final = _status(server) or {}
    result.stored = int(final.get("spans", 0)) - result.baseline
    result.refused_requests = int(final.get("ingest", {}).get("refused_requests", 0))


def _stored(server: ServerProcess) -> int:
    status = _status(server)
    if status is None:
        raise BenchError("GET /api/v1/status failed before the run")
    return int(status["spans"])


def warm_up(server: ServerProcess, *, spans: int = 200, timeout: float = 120.0) -> float:
    """Send a few traces and wait until they are stored, so that start-up work (the normalizer process
    pool starts on the first export, first DuckDB inserts) is not charged to the timed run. Returns seconds.
    """
    workload = Workload(seed=12345, run_tag=f"warmup-{time.time_ns()}", spans_hint=spans)
    body = trace_request(list(workload.spans(spans))).SerializeToString()
    started = time.monotonic()
    target = _stored(server) + spans
    transport = RawHttp(server.http_url, gzip=False, timeout=timeout)
    try:
        outcome = transport.send_raw("traces", body)
    finally:
        transport.close()
    if not outcome.ok:
        raise BenchError(f"the warm-up export failed: {outcome.error}")
    while _stored(server) < target:
        if time.monotonic() - started > timeout:
            raise BenchError(f"the warm-up spans were not stored within {timeout:.0f}s")
        time.sleep(0.05)
    return time.monotonic() - started


def _collect(messages: Any, reports: dict[int, SenderReport]) -> None:
    while True:
        try:
            kind, index, payload = messages.get_nowait()
        except queue.Empty:
            return
        if kind == "error":
            raise BenchError(f"sender {index} failed:\n{payload}")
        if kind == "done":
            reports[index] = SenderReport(**payload)


def _check_alive(server: ServerProcess, processes: list[Any], reports: dict[int, SenderReport]) -> None:
    if not server.alive():
        raise BenchError(f"the server exited (code {server.process.returncode}) during the run\n{server.stderr_tail()}")
    for i, process in enumerate(processes):
        if process.exitcode not in (None, 0) and i not in reports:
            raise BenchError(f"sender {i} died with exit code {process.exitcode}")


def _status(server: ServerProcess) -> dict[str, Any] | None:
    try:
        return server.status()
    except Exception:  # a slow or refusing server is "no progress", judged by the stall timeout
        return None


class _ProgressWatch:
    """Raises :class:`BenchError` after ``stall_timeout`` seconds without progress; prints progress."""

    def __init__(self, options: LoadOptions, t0: float) -> None:
        self._options = options
        self._t0 = t0
        self._last_key: tuple[int, ...] = ()
        self._last_change = t0
        self._last_print = t0

    def update(self, status: dict[str, Any] | None, now: float, done: int, senders: int) -> None:
        if status is not None:
            ingest = status.get("ingest", {})
            key = (status["spans"], ingest.get("accepted_requests", 0), ingest.get("stored_batches", 0), done)
            if key != self._last_key:
                self._last_key, self._last_change = key, now
            if not self._options.quiet and now - self._last_print >= 5:
                self._last_print = now
                print(
                    f"  {self._options.mode}: {now - self._t0:6.1f}s stored {status['spans']:>9,}"
                    f"/{self._options.spans:,}  pending {ingest.get('pending_bytes', 0) / 1e6:6.1f} MB"
                    f"  senders done {done}/{senders}",
                    file=sys.stderr,
                )
        if now - self._last_change > self._options.stall_timeout:
            raise BenchError(f"no progress for {self._options.stall_timeout:.0f}s (last status: {status}); giving up")


def _summarize(result: LoadResult, reports: Any, t0_wall: float) -> None:
    for report in reports:
        result.exports += report.exports
        result.log_exports += report.log_exports
        result.retries += report.retries
        result.failed_exports += report.failed_exports
        result.failed_spans += report.failed_spans
        result.client_cpu_seconds += report.cpu_seconds
        result.ack_seconds = max(result.ack_seconds, report.finished_at - t0_wall)
        result.errors += report.errors


def _wait_drained(server: ServerProcess, options: LoadOptions, t0: float) -> float:
    """Seconds from the start until nothing is pending (log events may still be joining after the spans)."""
    deadline = time.monotonic() + options.stall_timeout
    while time.monotonic() < deadline:
        status = _status(server)
        with contextlib.suppress(KeyError, TypeError):
            if status is not None and status["ingest"]["pending_records"] == 0:
                return time.monotonic() - t0
        time.sleep(options.poll_interval)
    raise BenchError(f"the ingest queue did not drain within {options.stall_timeout:.0f}s")
