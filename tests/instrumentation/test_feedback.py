"""``feedback()``: annotations reach the real server from a background thread, and nothing ever blocks or raises."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from instrumentation.feedback import FeedbackSender, feedback
from tests.fakeopenai import FakeOpenAI
from tests.instrumented import new_project, stored_span
from tests.server import ServerProcess, wait_for

APP = textwrap.dedent(
    """
    import json, sys
    import openai
    import spanlab

    spanlab.register(project=sys.argv[1])  # batched export: the span is still in memory when feedback is sent
    client = openai.OpenAI(max_retries=0)
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
    span_id = spanlab.last_span_id()
    queued = spanlab.feedback(span_id, score=True, label="helpful", explanation="clear answer", name="thumbs")
    print(json.dumps({"span_id": span_id, "queued": queued}))
    """
)


def annotations_of(server: ServerProcess, span_id: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = server.get(f"/api/v1/spans/{span_id}/annotations")["data"]
    return data


def test_app_sends_feedback_right_after_the_call_and_exits(
    spanlab_server: ServerProcess, fake_openai: FakeOpenAI
) -> None:
    """The realistic path: the span is not stored yet (404s are retried) and the process exits at once (flushed)."""
    project = new_project("feedback")
    env = {**os.environ, **fake_openai.client_env(), "SPANLAB_URL": spanlab_server.http_url}
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "SPANLAB_PROJECT"):
        env.pop(name, None)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", APP, project], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    assert time.monotonic() - started < 30, result.stderr
    printed = json.loads(result.stdout)
    assert printed["queued"] is True
    span = stored_span(spanlab_server, project)
    assert span["span_id"] == printed["span_id"]
    [annotation] = annotations_of(spanlab_server, printed["span_id"])
    assert {key: annotation[key] for key in ("name", "score", "label", "explanation", "annotator_kind")} == {
        "name": "thumbs",
        "score": 1.0,
        "label": "helpful",
        "explanation": "clear answer",
        "annotator_kind": "HUMAN",
    }
    assert annotation["trace_id"] == span["trace_id"]


def test_sender_posts_with_trace_id_and_metadata(spanlab_server: ServerProcess, fake_openai: FakeOpenAI) -> None:

    from tests.instrumentation.test_e2e_collector import traced

    with (
        traced(spanlab_server, "http/protobuf") as project,
        openai.OpenAI(base_url=fake_openai.base_url, api_key="sk-test", max_retries=0) as client,
    ):
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
    span = stored_span(spanlab_server, project)
    sender = FeedbackSender(spanlab_server.http_url)
    body = {"name": "quality", "score": 0.25, "annotator_kind": "CODE", "metadata": {"rule": "length"}}
    assert sender.submit(span["span_id"], body, trace_id=span["trace_id"])
    assert sender.flush(10)
    sender.close()
    assert (sender.sent, sender.dropped) == (1, 0)
    [annotation] = annotations_of(spanlab_server, span["span_id"])
    assert (annotation["score"], annotation["annotator_kind"], annotation["metadata"]) == (
        0.25,
        "CODE",
        {"rule": "length"},
    )


@pytest.mark.parametrize(
    ("args", "kwargs", "problem"),
    [
        (("not-a-span",), {"score": 1}, "16 hexadecimal"),
        ((None,), {"score": 1}, "16 hexadecimal"),
        (("a" * 16,), {}, "at least one of"),
        (("a" * 16,), {"score": float("nan")}, "finite number"),
        (("a" * 16,), {"score": "good"}, "finite number"),
        (("a" * 16,), {"label": "x" * 201}, "label"),
        (("a" * 16,), {"explanation": "x" * 10_001}, "explanation"),
        (("a" * 16,), {"score": 1, "name": ""}, "name"),
        (("a" * 16,), {"score": 1, "annotator_kind": "ROBOT"}, "annotator_kind"),
        (("a" * 16,), {"score": 1, "metadata": {"big": "x" * 70_000}}, "64"),
        (("a" * 16,), {"score": 1, "metadata": {"bad": object()}}, "not JSON"),
        (("a" * 16,), {"score": 1, "trace_id": "123"}, "32 hexadecimal"),
    ],
)
def test_invalid_feedback_is_refused_without_raising(
    args: tuple[Any, ...], kwargs: dict[str, Any], problem: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="spanlab.feedback"):
        assert feedback(*args, **kwargs) is False
    assert problem in caplog.text


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_unreachable_server_never_blocks_and_gives_up(caplog: pytest.LogCaptureFixture) -> None:
    sender = FeedbackSender(f"http://127.0.0.1:{closed_port()}", retry_for=0.5, timeout=0.5)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="spanlab.feedback"):
        assert sender.submit("a" * 16, {"name": "thumbs", "score": 1.0})
        assert time.monotonic() - started < 0.1  # queued, not sent, by the caller's thread
        assert sender.flush(10)
    assert (sender.sent, sender.dropped) == (0, 1)
    assert "not stored" in caplog.text
    sender.close()


def test_unknown_span_is_retried_then_dropped(spanlab_server: ServerProcess, caplog: pytest.LogCaptureFixture) -> None:
    sender = FeedbackSender(spanlab_server.http_url, retry_for=1.0)
    with caplog.at_level(logging.WARNING, logger="spanlab.feedback"):
        assert sender.submit("0123456789abcdef", {"name": "thumbs", "score": 0.0})
        assert sender.flush(10)
    assert sender.dropped == 1 and "404" in caplog.text
    sender.close()


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers: every POST waits until its timeout."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield listener.getsockname()[1]


def test_full_queue_refuses_instead_of_blocking(silent_server: int, caplog: pytest.LogCaptureFixture) -> None:
    sender = FeedbackSender(f"http://127.0.0.1:{silent_server}", max_queue=2, retry_for=0.1, timeout=0.5)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="spanlab.feedback"):
        results = [sender.submit("a" * 16, {"name": "n", "score": 1.0}) for _ in range(5)]
    assert time.monotonic() - started < 0.5
    assert results[:2] == [True, True] and False in results
    assert "queue full" in caplog.text
    wait_for(lambda: sender.flush(0.1), timeout=20, what="the silent server's requests to time out")
    assert sender.sent == 0 and sender.dropped == 5
    sender.close()
