"""The prompt tasks' HTTP client against the fake model server (and a socket nothing listens on): what it sends,
and how each way a provider can fail comes back — status with the provider's message and Retry-After, timeout,
no connection, a reply that is not JSON — and which of those the runner retries."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from replay.errors import ProviderError, ProviderTimeout, ProviderUnreachable
from replay.experiments.chat_client import ChatClient, ProviderHTTPError
from replay.experiments.retry import Backoff, describe_failure, is_retryable
from replay.providers import OPENAI, Provider
from tests.fakeopenai import ErrorReply, FakeOpenAI

BODY: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}], "seed": 7}


def call(client: ChatClient, body: dict[str, Any] = BODY) -> Any:
    async def once() -> Any:
        try:
            return await client.create(body)
        finally:
            await client.aclose()

    return asyncio.run(once())


def test_the_body_goes_out_as_json_with_the_key_and_the_reply_comes_back_parsed(fake_openai: FakeOpenAI) -> None:
    reply = call(ChatClient(Provider("fake", fake_openai.base_url + "/", "sk-test"), timeout=5))
    assert reply["choices"][0]["message"]["content"] == "fake reply to: hello"
    request = fake_openai.requests[0]
    assert request.path.endswith("/chat/completions") and request.body == BODY
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.headers["content-type"] == "application/json"
    assert "openai-organization" not in request.headers


def test_the_openai_provider_sends_organization_and_project_from_the_environment(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_ORG_ID", "org-42")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-7")
    call(ChatClient(Provider(OPENAI, fake_openai.base_url, "sk-test"), timeout=5))
    headers = fake_openai.requests[0].headers
    assert headers["openai-organization"] == "org-42" and headers["openai-project"] == "proj-7"


def test_an_error_status_carries_the_providers_message_and_its_retry_after(fake_openai: FakeOpenAI) -> None:
    fake_openai.script.push(ErrorReply(status=429, message="Rate limit reached for requests", retry_after=2.5))
    with pytest.raises(ProviderHTTPError) as caught:
        call(ChatClient(Provider("fake", fake_openai.base_url, "sk-test"), timeout=5))
    error = caught.value
    assert error.provider_status == 429 and error.provider == "fake"
    assert str(error) == "the provider answered HTTP 429: Rate limit reached for requests"
    assert is_retryable(error) and Backoff(max_delay=30).delay(error, 0) == 2.5
    assert describe_failure(error) == str(error)


def test_a_bad_request_is_final(fake_openai: FakeOpenAI) -> None:
    fake_openai.script.push(ErrorReply(status=400, message="'messages' must not be empty"))
    with pytest.raises(ProviderHTTPError) as caught:
        call(ChatClient(Provider("fake", fake_openai.base_url, "sk-test"), timeout=5))
    assert not is_retryable(caught.value) and "HTTP 400: 'messages' must not be empty" in str(caught.value)


def test_no_answer_in_time_is_a_retryable_timeout(fake_openai: FakeOpenAI) -> None:
    fake_openai.script.set_latency(2.0)
    with pytest.raises(ProviderTimeout) as caught:
        call(ChatClient(Provider("fake", fake_openai.base_url, "sk-test"), timeout=0.2))
    assert str(caught.value) == "the provider did not answer in time" and is_retryable(caught.value)


def test_nothing_listening_is_a_retryable_unreachable_provider() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ProviderUnreachable) as caught:
        call(ChatClient(Provider("gone", f"http://127.0.0.1:{port}/v1", "sk-test"), timeout=5))
    assert str(caught.value).startswith("cannot reach the provider:") and is_retryable(caught.value)


class _OddProxy(BaseHTTPRequestHandler):
    """Answers 200 with HTML under /ok and 502 with plain text under /bad, as a misconfigured proxy might."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        ok = self.path.startswith("/ok/")
        body = b"<html>login required</html>" if ok else b"upstream connect error"
        self.send_response(200 if ok else 502)
        self.send_header("content-type", "text/html" if ok else "text/plain")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def odd_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OddProxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_replies_that_are_not_json_say_so(odd_server: str) -> None:
    with pytest.raises(ProviderError) as caught:
        call(ChatClient(Provider("proxy", odd_server + "/ok", "sk-test"), timeout=5))
    assert str(caught.value) == "provider 'proxy' answered with something that is not JSON"
    assert not is_retryable(caught.value)
    with pytest.raises(ProviderHTTPError) as status:
        call(ChatClient(Provider("proxy", odd_server + "/bad", "sk-test"), timeout=5))
    assert str(status.value) == "the provider answered HTTP 502: upstream connect error" and is_retryable(status.value)


def test_one_client_serves_one_event_loop_after_another(fake_openai: FakeOpenAI) -> None:
    client = ChatClient(Provider("fake", fake_openai.base_url, "sk-test"), timeout=5)
    for _ in range(2):  # a session belongs to its loop; the next loop gets a new one
        assert call(client)["choices"][0]["message"]["content"] == "fake reply to: hello"
    assert len(fake_openai.requests) == 2
