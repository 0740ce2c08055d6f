"""Acknowledged exports survive SIGKILL; SIGTERM drains; a full queue pushes back instead of growing."""

from __future__ import annotations

import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import httpx
import psutil
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.sdk.trace import ReadableSpan

from tests.otlp_helpers import encode, llm_spans, span_ids
from tests.server import ServerProcess, start_server, wait_for

PROTOBUF = {"Content-Type": "application/x-protobuf"}


def _stored_ids(server: ServerProcess, project: str) -> set[tuple[str, str]]:
    rows = server.sql(f"SELECT trace_id, span_id FROM spans WHERE project = '{project}'")
    return {(r[0], r[1]) for r in rows}


def test_sigkill_mid_load_loses_no_acknowledged_span(tmp_path: Path) -> None:
    db = tmp_path / "spanlab.duckdb"
    server = start_server(db)
    batches = [llm_spans("crash", 200, content=f"batch {b}") for b in range(60)]
    acknowledged: set[tuple[str, str]] = set()
    lock = threading.Lock()
    enough = threading.Event()

    def send(spans: list[ReadableSpan]) -> None:
        try:
            response = httpx.post(f"{server.http_url}/v1/traces", content=encode(spans), headers=PROTOBUF, timeout=10)
        except httpx.HTTPError:
            return  # the server died under us: not acknowledged
        if response.status_code == 200:
            with lock:
                acknowledged.update(span_ids(spans))
                if len(acknowledged) >= 2000:
                    enough.set()

    with ThreadPoolExecutor(8) as pool:
        for spans in batches:
            pool.submit(send, spans)
        assert enough.wait(60), "\n".join(server.output)
        workers = psutil.Process(server.process.pid).children(recursive=True)
        server.process.send_signal(signal.SIGKILL)
    server.process.wait(10)
    assert workers, "the server normalizes in worker processes"
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, "normalizer processes outlived the killed server"

    restarted = start_server(db)
    try:
        restarted.wait_idle()
        missing = acknowledged - _stored_ids(restarted, "crash")
        assert not missing, f"{len(missing)} acknowledged spans lost"
    finally:
        assert restarted.stop() == 0


def test_sigterm_drains_stores_everything_and_empties_the_log(tmp_path: Path) -> None:
    db = tmp_path / "spanlab.duckdb"
    server = start_server(db)
    spans = llm_spans("drain", 500)
    for chunk in range(0, 500, 100):
        body = encode(spans[chunk : chunk + 100])
        assert httpx.post(f"{server.http_url}/v1/traces", content=body, headers=PROTOBUF).status_code == 200
    assert server.stop(signal.SIGTERM) == 0
    assert list((tmp_path / "spanlab.wal").glob("*.seg")) == [], "a clean stop leaves no log to replay"

    again = start_server(db)
    try:
        assert _stored_ids(again, "drain") == span_ids(spans)
        assert again.get("/api/v1/status")["replayed_records"] == 0
    finally:
        again.stop()


def test_full_queue_answers_503_with_retry_after_and_grpc_unavailable_with_retry_info(tmp_path: Path) -> None:
    server = start_server(tmp_path / "s.duckdb", env={"SPANLAB_MAX_PENDING_BYTES": "1"})
    try:
        body = encode(llm_spans("pressure", 300))
        with ThreadPoolExecutor(16) as pool:
            responses = list(
                pool.map(
                    lambda _: httpx.post(f"{server.http_url}/v1/traces", content=body, headers=PROTOBUF, timeout=30),
                    range(48),
                )
            )
        codes = {r.status_code for r in responses}
        assert codes <= {200, 503} and 503 in codes and 200 in codes
        refused = next(r for r in responses if r.status_code == 503)
        assert 1 <= int(refused.headers["Retry-After"]) <= 10  # derived from the backlog: see test_backpressure
        assert "full" in status_pb2.Status.FromString(refused.content).message

        def grpc_export(_: int) -> grpc.StatusCode:
            with grpc.insecure_channel(server.grpc_endpoint) as channel:
                export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
                try:
                    export(body, timeout=30)
                except grpc.RpcError as exc:
                    assert exc.code() is grpc.StatusCode.UNAVAILABLE
                    trailers = dict(exc.trailing_metadata() or ())
                    details = status_pb2.Status.FromString(trailers["grpc-status-details-bin"]).details
                    retry = error_details_pb2.RetryInfo()
                    assert details[0].Unpack(retry) and 1 <= retry.retry_delay.seconds <= 10
                    return exc.code()
                return grpc.StatusCode.OK

        with ThreadPoolExecutor(16) as pool:
            grpc_codes = set(pool.map(grpc_export, range(48)))
        assert grpc.StatusCode.UNAVAILABLE in grpc_codes
        server.wait_idle()
        accepted = sum(r.status_code == 200 for r in responses)
        assert accepted >= 1 and server.stored_spans() == 300  # the same spans each time: stored once
        wait_for(lambda: server.get("/api/v1/status")["ingest"]["refused_requests"] > 0)
    finally:
        server.stop()


def test_a_killed_normalizer_process_is_replaced_and_nothing_is_lost(tmp_path: Path) -> None:
    server = start_server(tmp_path / "s.duckdb", env={"SPANLAB_INGEST_WORKERS": "1"})
    try:
        first = llm_spans("workers", 50)
        assert httpx.post(f"{server.http_url}/v1/traces", content=encode(first), headers=PROTOBUF).status_code == 200
        server.wait_idle()
        workers = psutil.Process(server.process.pid).children(recursive=True)
        normalizers = [p for p in workers if "multiprocessing" in " ".join(p.cmdline())]
        assert normalizers, "the server runs its normalizer in a worker process"
        for process in normalizers:
            process.kill()
        second = llm_spans("workers", 50, content="after the kill")
        assert httpx.post(f"{server.http_url}/v1/traces", content=encode(second), headers=PROTOBUF).status_code == 200
        server.wait_idle()
        assert _stored_ids(server, "workers") == span_ids(first) | span_ids(second)
        assert server.get("/api/v1/status")["ingest"]["worker_restarts"] >= 1
    finally:
        assert server.stop() == 0
