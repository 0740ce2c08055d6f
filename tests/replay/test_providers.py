"""Model providers: configuration, how a replay picks one, and one call through the real ``openai`` client to the
fake model server (parameters, usage, and each kind of failure translated)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from replay.errors import ProviderError, ProviderNotConfigured, ProviderTimeout, ProviderUnreachable, UnknownProvider
from replay.model_call import call_model
from replay.providers import ProviderConfig, ProviderRegistry, same_origin
from replay.rebuild import ReplayRequest
from spanlab.settings import Settings
from tests.fakeopenai import ChatReply, ErrorReply, FakeOpenAI, ToolCall, Usage
from tests.replay.replay_support import closed_port

LOCAL_URL = "http://127.0.0.1:4318/llm/v1"


def registry(environ: dict[str, str] | None = None, **configured: dict[str, Any]) -> ProviderRegistry:
    configs = {name: ProviderConfig(**config) for name, config in configured.items()}
    return ProviderRegistry.from_environment(configs, environ or {}).with_local(LOCAL_URL)


def request(**fields: Any) -> ReplayRequest:
    values: dict[str, Any] = {
        "provider": "fake",
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "hello"}],
        "built_from": "messages",
    }
    return ReplayRequest(**{**values, **fields})


def test_nothing_configured_means_local() -> None:
    providers = registry()
    assert providers.names() == ["local"] and providers.default_name == "local"
    chosen = providers.resolve(recorded_provider="openai", recorded_base_url="https://llm-gateway.internal")
    assert chosen.provider.name == "local" and not chosen.recorded
    assert chosen.reason == (
        "the span's provider (openai at https://llm-gateway.internal) is not configured; "
        "using the default provider 'local'"
    )
    assert chosen.pick_model(requested=None, preferred=None, recorded="gpt-4o") == "smollm2-135m"


def test_openai_from_the_standard_environment_becomes_the_default() -> None:
    providers = registry({"OPENAI_API_KEY": "sk-test"})
    assert providers.default_name == "openai"
    openai = providers.get("openai")
    assert (openai.base_url, openai.api_key) == (None, "sk-test"), "no base URL: the openai package's default"
    chosen = providers.resolve(recorded_provider="openai")
    assert chosen.recorded and chosen.pick_model(requested=None, preferred=None, recorded="gpt-4o") == "gpt-4o"


def test_a_recorded_address_picks_the_named_provider_before_openai() -> None:
    providers = registry(
        {"OPENAI_BASE_URL": "http://localhost:8000/v1", "VLLM_KEY": "secret"},
        vllm={"base_url": "http://localhost:8000/v1", "api_key_env": "VLLM_KEY", "default_model": "qwen"},
    )
    chosen = providers.resolve(recorded_provider="openai", recorded_base_url="http://localhost:8000")
    assert chosen.provider.name == "vllm" and chosen.provider.api_key == "secret" and chosen.recorded
    assert chosen.pick_model(requested=None, preferred=None, recorded="llama-3") == "llama-3"
    assert providers.resolve(requested="local").provider.name == "local"
    assert providers.resolve(preferred="vllm").reason == "the prompt version names provider 'vllm'"
    assert providers.resolve(preferred="gone").reason == (
        "the prompt version's provider 'gone' is not configured; using 'openai'"
    )


def test_unknown_and_unusable_providers() -> None:
    providers = registry(keyed={"base_url": "http://localhost:9/v1", "api_key_env": "NOT_SET"})
    with pytest.raises(UnknownProvider, match=r"unknown provider 'openai' \(set OPENAI_API_KEY or OPENAI_BASE_URL\)"):
        providers.resolve(requested="openai")
    with pytest.raises(ProviderNotConfigured, match="environment variable NOT_SET"):
        providers.resolve(requested="keyed")


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("http://localhost:8000/v1", "http://localhost:8000", True),
        ("https://llm-gateway.internal/v1", "https://LLM-gateway.internal:443", True),
        ("http://localhost:8000/v1", "http://localhost:8001", False),
        ("http://localhost/v1", "https://localhost", False),
    ],
)
def test_same_origin(a: str, b: str, same: bool) -> None:
    assert same_origin(a, b) is same


def test_spanlab_providers_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "SPANLAB_PROVIDERS", '{"vllm": {"base_url": "http://localhost:8000/v1/", "default_model": "qwen"}}'
    )
    assert Settings().providers == {"vllm": ProviderConfig(base_url="http://localhost:8000/v1", default_model="qwen")}
    for value, problem in [
        ('{"local": {"base_url": "http://localhost:1"}}', "'local' is built in"),
        ('{"Bad Name": {"base_url": "http://localhost:1"}}', "must be 1-64 lower-case"),
        ('{"x": {"base_url": "ftp://localhost"}}', "must be an http:// or https:// URL"),
        ('{"x": {"base_url": "http://localhost", "api_key_env": "not a var"}}', "environment variable name"),
        ('{"x": {"base_url": "http://localhost", "colour": "red"}}', "Extra inputs are not permitted"),
        ("[1, 2]", "providers"),
    ]:
        monkeypatch.setenv("SPANLAB_PROVIDERS", value)
        with pytest.raises(ValidationError, match=problem):
            Settings()


def test_a_call_sends_every_parameter_and_reads_the_answer(fake_openai: FakeOpenAI) -> None:
    provider = registry(fake={"base_url": fake_openai.base_url}).get("fake")
    tool = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
    fake_openai.script.push(
        ChatReply(content="Let me check.", tool_calls=[ToolCall("get_weather", {})], usage=Usage(9, 4))
    )
    output = call_model(
        provider,
        request(parameters={"temperature": 0, "seed": 7, "top_k": 3}, tools=[tool], response_format=None),
    )
    body = fake_openai.wait_for_requests(1)[0].body
    assert {k: body.get(k) for k in ("model", "temperature", "seed", "top_k", "tools", "stream")} == {
        "model": "gpt-4o-mini",
        "temperature": 0,
        "seed": 7,
        "top_k": 3,  # not an openai argument: sent through extra_body
        "tools": [tool],
        "stream": None,
    }
    assert output.text == "Let me check." and output.tool_calls[0]["function"]["name"] == "get_weather"
    assert (output.input_tokens, output.output_tokens, output.total_tokens) == (9, 4, 13)
    assert output.finish_reason == "tool_calls" and output.model == "gpt-4o-mini"
    assert output.cost == pytest.approx((9 * 0.15 + 4 * 0.60) / 1_000_000)
    assert output.latency_ms is not None and output.latency_ms > 0


def test_provider_failures_are_translated(fake_openai: FakeOpenAI) -> None:
    provider = registry(fake={"base_url": fake_openai.base_url}).get("fake")
    fake_openai.script.push(ErrorReply(status=404, message="The model `nope` does not exist"))
    with pytest.raises(ProviderError) as caught:
        call_model(provider, request(model="nope"))
    assert str(caught.value) == "provider 'fake' answered HTTP 404: The model `nope` does not exist"
    assert (caught.value.provider, caught.value.provider_status, caught.value.status_code) == ("fake", 404, 502)

    fake_openai.script.set_latency(2.0)
    with pytest.raises(ProviderTimeout, match=r"provider 'fake' did not answer within 0\.3 s") as timed_out:
        call_model(provider, request(), timeout=0.3)
    assert timed_out.value.status_code == 504

    dead = registry(dead={"base_url": f"http://127.0.0.1:{closed_port()}/v1"}).get("dead")
    with pytest.raises(ProviderUnreachable, match=r"cannot reach provider 'dead' at http://127\.0\.0\.1:\d+/v1"):
        call_model(dead, request())
