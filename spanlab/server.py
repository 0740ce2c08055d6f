"""``spanlab serve``: the collector, the OTLP/gRPC receiver and the HTTP app in one process and one event loop.

Start-up order: open the store and replay the write-ahead log, bind both ports, then announce readiness with one
line on stdout (``spanlab ready http=HOST:PORT grpc=HOST:PORT``; tests and scripts wait for it). SIGTERM and
SIGINT stop the receivers, store everything already acknowledged, checkpoint DuckDB and exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
from collections.abc import Iterator

import uvicorn

from collector.grpc_server import GrpcReceiver
from collector.service import Collector, CollectorConfig
from spanlab.settings import Settings
from ui.app import create_app
from ui.workers import self_url, start_workers, stop_workers

__all__ = ["PortInUse", "collector_config", "serve"]

log = logging.getLogger("spanlab.server")


class PortInUse(Exception):
    """A port could not be bound (in use, or not allowed)."""


def collector_config(settings: Settings) -> CollectorConfig:
    return CollectorConfig(
        db=settings.db,
        wal_dir=settings.wal_dir,
        ingest_workers=settings.ingest_workers,
        max_pending_bytes=settings.max_pending_bytes,
        max_message_bytes=settings.max_message_bytes,
        wal_fsync=settings.wal_fsync,
        duckdb_memory_limit=settings.duckdb_memory_limit,
    )


def serve(settings: Settings) -> None:
    """Run until SIGTERM/SIGINT; everything acknowledged is stored before returning."""
    collector = Collector(collector_config(settings))
    collector.start()
    try:
        asyncio.run(_serve(settings, collector))
    finally:
        collector.close()


async def _serve(settings: Settings, collector: Collector) -> None:
    try:
        http_socket = _bind(settings.host, settings.http_port)
    except OSError as exc:
        raise PortInUse(f"cannot listen on {settings.host}:{settings.http_port} (HTTP): {exc.strerror}") from None
    try:
        grpc = GrpcReceiver(
            collector, host=settings.host, port=settings.grpc_port, max_message_bytes=settings.max_message_bytes
        )
    except RuntimeError:
        http_socket.close()
        raise PortInUse(
            f"cannot listen on {settings.host}:{settings.grpc_port} (gRPC): is it already in use?"
        ) from None
    app = create_app(collector, settings)
    config = uvicorn.Config(
        app,
        loop="asyncio",
        log_level="warning",
        timeout_graceful_shutdown=5,
        limit_concurrency=1024,
    )
    server = _Server(config)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, server.request_exit)
    await grpc.start()
    http_host, http_port = http_socket.getsockname()[:2]
    startup = asyncio.create_task(server.serve(sockets=[http_socket]))
    while not server.started and not startup.done():
        await asyncio.sleep(0.01)
    if server.started:
        start_workers(app, self_url(http_host, http_port))  # online evaluation; experiments left running → failed
        print(f"spanlab ready http={http_host}:{http_port} grpc={settings.host}:{grpc.port}", flush=True)
        if collector.replayed_records:
            print(f"replayed {collector.replayed_records} export(s) from the write-ahead log", file=sys.stderr)
    try:
        await startup
    finally:
        await grpc.stop(grace=5.0)
        await asyncio.to_thread(stop_workers, app)  # before the collector closes: they write to the store


class _Server(uvicorn.Server):
    """uvicorn's server without its own signal capture: it re-raises SIGTERM after shutdown, so the process
    would die by the signal (exit -15) instead of returning to drain the store and exit 0."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def request_exit(self) -> None:
        self.should_exit = True


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted connections only for such sockets, and
    # without it Nagle + delayed ACKs add ~40 ms to every small API response.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock
