"""Run ``spanlab serve`` as a subprocess on ephemeral 127.0.0.1 ports, watch its memory, stop it with SIGTERM.

The server announces readiness with one stdout line, ``spanlab ready http=HOST:PORT grpc=HOST:PORT``; its
stderr goes to a file in the run's temporary folder so a failure can quote it.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

__all__ = ["BenchError", "MemorySampler", "ServerProcess", "default_server_command", "start_server"]

_READY = re.compile(r"spanlab ready http=(\S+):(\d+) grpc=(\S+):(\d+)")


class BenchError(Exception):
    """The benchmark cannot go on (server did not start, stalled, crashed...); the message says why."""


def default_server_command() -> list[str]:
    """``spanlab serve`` from the same virtualenv as this Python."""
    script = Path(sys.executable).parent / "spanlab"
    return [str(script), "serve"] if script.exists() else [sys.executable, "-m", "spanlab.cli", "serve"]


@dataclass
class ServerProcess:
    process: subprocess.Popen[str]
    db: Path
    stderr_path: Path
    http: str = ""
    grpc: str = ""
    stdout_tail: list[str] = field(default_factory=list)
    _client: httpx.Client | None = None

    @property
    def http_url(self) -> str:
        return f"http://{self.http}"

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(base_url=self.http_url, timeout=30.0, trust_env=False)
        return self._client

    def status(self) -> dict[str, Any]:
        response = self.client.get("/api/v1/status")
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def sql(self, sql: str) -> list[list[Any]] | None:
        """Rows of a read-only query through ``POST /api/v1/sql``; None when the endpoint is missing."""
        response = self.client.post("/api/v1/sql", json={"sql": sql})
        if response.status_code in (404, 405):
            return None
        response.raise_for_status()
        rows: list[list[Any]] = response.json()["rows"]
        return rows

    def alive(self) -> bool:
        return self.process.poll() is None

    def stderr_tail(self, lines: int = 30) -> str:
        try:
            text = self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def problems(self) -> list[str]:
        """Stderr lines that look like errors or warnings (tracebacks, ERROR/WARNING log lines)."""
        try:
            text = self.stderr_path.read_text(errors="replace")
        except OSError:
            return []
        marks = ("Traceback", "ERROR", "Error", "WARNING", "Exception", "Killed")
        return [line for line in text.splitlines() if any(m in line for m in marks)]

    def stop(self, timeout: float = 90.0) -> tuple[int | None, float]:
        """SIGTERM, wait up to ``timeout`` (SIGKILL after); returns (exit code, seconds it took)."""
        if self._client is not None:
            self._client.close()
            self._client = None
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                print(f"! server did not stop within {timeout:.0f}s of SIGTERM; killing it", file=sys.stderr)
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode, time.monotonic() - started


def start_server(
    db: Path,
    *,
    log_dir: Path,
    command: Sequence[str] | None = None,
    extra_args: Sequence[str] = (),
    env: dict[str, str] | None = None,
    timeout: float = 120.0,
) -> ServerProcess:
    """Start the server on ``db`` and return once it printed its ready line (or raise :class:`BenchError`)."""
    argv = [*(command or default_server_command()), "--http-port", "0", "--grpc-port", "0", "--db", str(db)]
    argv += list(extra_args)
    stderr_path = log_dir / f"server-{time.time_ns()}.stderr"
    child_env = {**os.environ, "SPANLAB_HOST": "127.0.0.1", **(env or {})}
    with stderr_path.open("w") as stderr:
        process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=stderr, text=True, env=child_env, start_new_session=True
        )
    server = ServerProcess(process, db, stderr_path)
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_pump, args=(process, lines, server.stdout_tail), daemon=True).start()
    match = _wait_ready(server, lines, timeout)
    server.http = f"{match.group(1)}:{match.group(2)}"
    server.grpc = f"{match.group(3)}:{match.group(4)}"
    return server


def _pump(process: subprocess.Popen[str], lines: queue.Queue[str | None], tail: list[str]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        lines.put(line)
        tail.append(line.rstrip())
        del tail[:-50]
    lines.put(None)


def _wait_ready(server: ServerProcess, lines: queue.Queue[str | None], timeout: float) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=min(left, 1.0))
        except queue.Empty:
            continue
        if line is None:
            break
        if match := _READY.search(line):
            return match
    server.stop(timeout=10)
    command = shlex.join(str(a) for a in server.process.args)  # type: ignore[union-attr]
    raise BenchError(
        f"the server did not print its ready line within {timeout:.0f}s"
        f" (exit code {server.process.returncode})\ncommand: {command}\nstderr tail:\n{server.stderr_tail()}"
    )


class MemorySampler:
    """Samples the resident memory of a process and all its descendants every ``interval`` seconds."""

    def __init__(self, pid: int, *, interval: float = 0.1) -> None:
        self._process = psutil.Process(pid)
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self.peak_rss = 0
        self.last_rss = 0
        self.samples = 0

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = self.sample()
            if rss is None:
                return
            self._stop.wait(self._interval)

    def sample(self) -> int | None:
        """Current RSS of the tree in bytes (None once the process is gone)."""
        try:
            processes = [self._process, *self._process.children(recursive=True)]
        except psutil.Error:
            return None
        total = 0
        for proc in processes:
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
        self.last_rss = total
        self.peak_rss = max(self.peak_rss, total)
        self.samples += 1
        return total

    def cpu_seconds(self) -> float:
        """User + system CPU of the process and its living descendants (and reaped children) so far."""
        total = 0.0
        try:
            times = self._process.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
            children = self._process.children(recursive=True)
        except psutil.Error:
            return total
        for child in children:
            with contextlib.suppress(psutil.Error):
                times = child.cpu_times()
                total += times.user + times.system
        return total
