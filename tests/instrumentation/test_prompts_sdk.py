"""The prompt SDK (``spanlab.prompts``) against a real ``spanlab serve``: tags and versions, the memory cache
serving stale while it refreshes, the disk cache and fallbacks once the server is stopped, and the LLM span
of a call made with ``PromptVersion.format`` carrying the prompt."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import openai
import pytest

import instrumentation.prompts
import spanlab
from instrumentation.context import PromptMessages
from instrumentation.prompts import (
    MissingVariable,
    PromptClient,
    PromptNotFound,
    PromptUnavailable,
    PromptVersion,
)
from tests.instrumentation.helpers import Recorded, json_attribute
from tests.server import ServerProcess, wait_for

TEMPLATE = [
    {"role": "system", "content": "You answer {{customer}}'s banking questions."},
    {"role": "user", "content": "{{question}}"},
]


def push(server: ServerProcess, name: str, temperature: float, *, tag: str | None = "production") -> int:
    body = {"name": name, "messages": TEMPLATE, "model_name": "gpt-4o-mini", "parameters": {"temperature": temperature}}
    version: int = httpx.post(f"{server.http_url}/api/v1/prompts", json=body).json()["prompt_version"]["version"]
    if tag:
        move = httpx.put(f"{server.http_url}/api/v1/prompts/{name}/tags/{tag}", json={"version": version})
        assert move.status_code == 200, move.text
    return version


def test_tag_version_memory_cache_and_stale_while_refreshing(fresh_server: ServerProcess, tmp_path: Path) -> None:
    push(fresh_server, "triage", 0)
    patient = PromptClient(url=fresh_server.http_url, ttl=60, cache_dir=tmp_path)
    eager = PromptClient(url=fresh_server.http_url, ttl=0, cache_dir=None)  # every hit is stale
    first = patient.get("triage")
    assert (first.name, first.version, first.origin, first.tags) == ("triage", 1, "server", ("production",))
    assert patient.get("triage") is first, "fresh in memory: no request"
    assert patient.get("triage", tag="production") is first
    stale = eager.get("triage")

    push(fresh_server, "triage", 0.7)  # production moves to version 2
    assert patient.get("triage") is first, "within the TTL the memory copy is used"
    assert eager.get("triage") is stale, "past the TTL: the old copy is served at once while a refresh runs"
    refreshed = wait_for(lambda: _at_version(eager, 2), what="the background refresh")
    assert refreshed is not None
    assert refreshed.invocation_parameters == {"temperature": 0.7} and refreshed.origin == "server"
    pinned = patient.get("triage", version=1)
    assert pinned.version == 1 and pinned.invocation_parameters == {"temperature": 0}
    assert json.loads((tmp_path / "triage" / "production.json").read_text(encoding="utf-8"))["version"] == 1
    assert json.loads((tmp_path / "triage" / "1.json").read_text(encoding="utf-8"))["version"] == 1
    patient.close()
    eager.close()


def _at_version(client: PromptClient, version: int) -> PromptVersion | None:
    got = client.get("triage")
    return got if got.version == version else None


def test_with_the_server_stopped_memory_then_disk_then_fallback(fresh_server: ServerProcess, tmp_path: Path) -> None:
    push(fresh_server, "triage", 0)
    url = fresh_server.http_url
    running = PromptClient(url=url, ttl=0, cache_dir=tmp_path, timeout=2)  # every hit is stale: a refresh each time
    served = running.get("triage")
    pinned = running.get("triage", version=1)
    assert fresh_server.stop() == 0

    for _ in range(3):  # each refresh fails in the background; the application sees nothing
        assert running.get("triage") is served
    assert running.get("triage", version=1) is pinned

    restarted = PromptClient(url=url, ttl=60, cache_dir=tmp_path, timeout=2)
    from_disk = restarted.get("triage")
    assert (from_disk.origin, from_disk.version, from_disk.template) == ("disk", 1, TEMPLATE)
    assert restarted.get("triage") is from_disk, "kept in memory: the server is retried after the TTL"
    assert restarted.get("triage", version=1).origin == "disk"
    with pytest.raises(
        PromptUnavailable, match=f"cannot reach the spanlab server at {url}.*no cached copy of triage@staging"
    ):
        restarted.get("triage", tag="staging")
    fallback = restarted.get("triage", tag="staging", fallback=[{"role": "user", "content": "{{question}}"}])
    assert (fallback.origin, fallback.version, fallback.name) == ("fallback", None, "triage")
    assert fallback.format(question="hi") == [{"role": "user", "content": "hi"}]
    spare = PromptVersion(name="triage", version=7, template=TEMPLATE)
    assert restarted.get("other", fallback=spare).origin == "fallback"

    no_disk = PromptClient(url=url, cache_dir=None, timeout=2)
    with pytest.raises(PromptUnavailable, match="no cached copy of triage@production or fallback exists"):
        no_disk.get("triage")
    for client in (running, restarted, no_disk):
        client.close()


def test_unknown_prompts_and_bad_arguments(spanlab_server: ServerProcess, tmp_path: Path) -> None:
    prompts = PromptClient(url=spanlab_server.http_url, cache_dir=tmp_path)
    with pytest.raises(PromptNotFound, match="no-such-prompt@production: no prompt named 'no-such-prompt'"):
        prompts.get("no-such-prompt")
    assert prompts.get("no-such-prompt", fallback=TEMPLATE).origin == "fallback"
    assert not (tmp_path / "no-such-prompt").exists()
    with pytest.raises(ValueError, match="prompt name 'a b' is not valid"):
        prompts.get("a b")
    with pytest.raises(ValueError, match="a tag or a version, not both"):
        prompts.get("x", tag="staging", version=1)
    with pytest.raises(ValueError, match="version must be a positive integer"):
        prompts.get("x", version=0)
    with pytest.raises(ValueError, match="tag '7' is not valid"):
        prompts.get("x", tag="7")
    with pytest.raises(ValueError, match="fallback for 'x' is not a valid template: message 0 needs a 'role'"):
        prompts.get("x", fallback=[{"content": "no role"}])
    with pytest.raises(ValueError, match="ttl"):
        PromptClient(url=spanlab_server.http_url, ttl=-1)
    prompts.close()


def test_format_names_missing_variables_and_marks_the_messages() -> None:
    version = PromptVersion(
        name="triage", version=3, template=TEMPLATE, model_name="m", invocation_parameters={"seed": 1}
    )
    messages = version.format(customer="Ana", question="lost card")
    assert isinstance(messages, PromptMessages) and messages[1] == {"role": "user", "content": "lost card"}
    assert messages.prompt is not None
    assert (messages.prompt.name, messages.prompt.version, messages.prompt.template) == ("triage", "3", TEMPLATE)
    assert messages.prompt.variables == {"customer": "Ana", "question": "lost card"}
    with pytest.raises(MissingVariable, match="missing template variables: 'customer', 'question'"):
        version.format()
    assert version.openai_kwargs() == {"seed": 1, "model": "m"}


def test_the_llm_span_carries_the_prompt(
    spanlab_server: ServerProcess,
    recorded: Recorded,
    client: openai.OpenAI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(instrumentation.prompts, "_default", None)  # restored after the test
    push(spanlab_server, "sdk-span-prompt", 0)
    spanlab.prompts.configure(url=spanlab_server.http_url, cache_dir=tmp_path)
    prompt = spanlab.prompts.get("sdk-span-prompt")
    client.chat.completions.create(
        messages=prompt.format(customer="Ana", question="lost card"), **prompt.openai_kwargs()
    )
    span = recorded.one()
    assert span.attributes is not None
    assert span.attributes["spanlab.prompt.name"] == "sdk-span-prompt"
    assert span.attributes["spanlab.prompt.version"] == str(prompt.version)
    assert json_attribute(span, "spanlab.prompt.variables") == {"customer": "Ana", "question": "lost card"}
    assert json_attribute(span, "spanlab.prompt.template") == TEMPLATE
