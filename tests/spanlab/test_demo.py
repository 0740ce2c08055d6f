"""``spanlab demo --exit`` against a running collector: real OTLP traces go in and come back in the list."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.server import ServerProcess


def test_demo_sends_traces_and_lists_them(spanlab_server: ServerProcess) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "spanlab.cli", "demo", "--exit"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SPANLAB_URL": spanlab_server.http_url, "COLUMNS": "200"},
    )
    assert result.returncode == 0, result.stderr
    assert "4 trace(s)" in result.stdout and "classify_intent" in result.stdout
    traces = spanlab_server.get("/api/v1/traces", project="demo", limit=50)["data"]
    assert len(traces) >= 4
    errors = spanlab_server.get("/api/v1/traces", project="demo", status="ERROR")["data"]
    assert errors, "the demo's rate-limited call shows up as a failed trace"
    llm = spanlab_server.get("/api/v1/spans", project="demo", kind="LLM", limit=10)["data"]
    assert {span["model"] for span in llm} == {"gpt-4o-mini"}
    assert {span["prompt_name"] for span in llm} == {"intent-classifier"}
