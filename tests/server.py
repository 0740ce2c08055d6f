"""Start the real ``spanlab serve`` in a subprocess on ephemeral ports, and wait on conditions with deadlines."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

__all__ = ["ServerProcess", "start_server", "wait_for"]

T = TypeVar("T")


def wait_for(condition: Callable[[], T], *, timeout: float = 20.0, interval: float = 0.02, what: str = "") -> T:
    """Poll ``condition`` until it returns something truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(interval)


@dataclass
class ServerProcess:
    process: subprocess.Popen[str]
    db: Path
    http_url: str = ""
    grpc_endpoint: str = ""
    output: list[str] = field(default_factory=list)

    @property
    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.http_url, timeout=30)

    def get(self, path: str, **params: Any) -> Any:
        with self.client as client:
            response = client.get(path, params=params)
            response.raise_for_status()
            return response.json()

    def sql(self, sql: str) -> list[list[Any]]:
        with self.client as client:
            response = client.post("/api/v1/sql", json={"sql": sql})
            response.raise_for_status()
            rows: list[list[Any]] = response.json()["rows"]
            return rows

    def stored_spans(self) -> int:
        return int(self.get("/api/v1/status")["spans"])

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Wait until everything acknowledged is stored."""
        wait_for(
            lambda: self.get("/api/v1/status")["ingest"]["pending_records"] == 0,
            timeout=timeout,
            what="the ingest queue to drain",
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout)


def start_server(db: Path, *, env: dict[str, str] | None = None, timeout: float = 60.0) -> ServerProcess:
    """Run ``spanlab serve`` on 127.0.0.1 with ports chosen by the OS; return once it announced readiness."""
    command = [
        sys.executable,
        "-m",
        "spanlab.cli",
        "serve",
        "--http-port",
        "0",
        "--grpc-port",
        "0",
        "--db",
        str(db),
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "SPANLAB_HOST": "127.0.0.1", **(env or {})},
    )
    server = ServerProcess(process, db)
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            server.output.append(line.rstrip())
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            process.kill()
            raise AssertionError("spanlab serve did not become ready:\n" + "\n".join(server.output)) from None
        if line is None:
            raise AssertionError("spanlab serve exited early:\n" + "\n".join(server.output))
        if line.startswith("spanlab ready"):
            parts = dict(part.split("=", 1) for part in line.split()[2:])
            server.http_url = f"http://{parts['http']}"
            server.grpc_endpoint = parts["grpc"]
            return server
