"""``spanlab serve`` refuses bad settings and busy ports with a clear message, never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

SERVE = [sys.executable, "-m", "spanlab.cli", "serve", "--host", "127.0.0.1"]


def _run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SERVE, "--db", str(tmp_path / "s.duckdb"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1", **env},
    )


def test_a_busy_http_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _run(["--http-port", str(port), "--grpc-port", "0"], tmp_path)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port} (HTTP)" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_busy_grpc_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _run(["--http-port", "0", "--grpc-port", str(port)], tmp_path)
    assert result.returncode == 1
    assert f"127.0.0.1:{port} (gRPC)" in result.stderr


def test_bad_flags_and_env_are_usage_errors(tmp_path: Path) -> None:
    result = _run(["--http-port", "99999"], tmp_path)
    assert result.returncode == 2 and "http_port" in result.stderr
    result = _run(["--http-port", "nope"], tmp_path)
    assert result.returncode == 2 and "Invalid value for '--http-port'" in result.stderr
    result = _run([], tmp_path, SPANLAB_GRPC_PORT="-5")
    assert result.returncode == 2 and "grpc_port" in result.stderr
