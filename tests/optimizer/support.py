"""Helpers for the optimizer tests: a labeled dataset, a deterministic task whose answers depend on the prompt,
and the fake model server as the reasoning model with scripted answers."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx

from replay.datasets.models import Example
from replay.providers import Provider
from tests.fakeopenai import ChatReply, FakeOpenAI
from tests.server import ServerProcess

__all__ = [
    "BETTER",
    "LABELS",
    "START",
    "TEMPLATE",
    "PromptAwareTask",
    "call",
    "examples",
    "proposal",
    "reasoner",
    "script_models",
    "setup_prompt_and_dataset",
]

LABELS = ("card", "loan", "fee")
START = "Which intent? {{question}}"
BETTER = "Intent name for: {{question}}"
TEMPLATE = [
    {"role": "system", "content": "Classify the banking question."},
    {"role": "user", "content": "{{question}}"},
]


def examples(count: int = 24) -> list[Example]:
    """``count`` examples, labels in turn, each question unique (``q07 about loan``)."""
    return [
        Example(id=f"ex{i:02d}", input={"question": f"q{i:02d} about {LABELS[i % 3]}"}, expected_output=LABELS[i % 3])
        for i in range(count)
    ]


def proposal(*prompts: str, diagnosis: str = "the instruction never names the intents") -> ChatReply:
    """A reasoning-model answer proposing ``prompts``."""
    return ChatReply(content=json.dumps({"diagnosis": diagnosis, "prompts": list(prompts)}))


def reasoner(fake: FakeOpenAI) -> Provider:
    """The fake model server as a provider (for the built-in reasoning model)."""
    return Provider("fake", fake.base_url, "sk-test", "reasoner")


class PromptAwareTask:
    """``task(input, config)``: answers a question about LABEL with LABEL when the prompt's instruction says
    ``KNOW-LABEL`` or a demonstration answers LABEL; else ``unknown``; ``FAIL`` in the instruction raises.
    Records every call as (question, instruction, phase) — ``phase`` is set by the test (e.g. from events)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []
        self.phase = "search"
        self._lock = threading.Lock()

    def __call__(self, input: dict[str, Any], config: dict[str, Any]) -> str:
        prompt = config["prompt"]
        instruction = prompt if isinstance(prompt, str) else prompt[0]["content"]
        question = input["question"]
        with self._lock:
            self.calls.append((question, instruction, self.phase))
        if "FAIL" in instruction:
            raise RuntimeError("the task broke")
        label = question.rsplit(" ", 1)[-1]
        demos = {m["content"] for m in prompt[1:-1] if m["role"] == "assistant"} if isinstance(prompt, list) else set()
        return label if f"KNOW-{label}" in instruction or label in demos else "unknown"

    def questions(self, phase: str | None = None) -> set[str]:
        with self._lock:
            return {question for question, _, seen in self.calls if phase is None or seen == phase}


def call(server: ServerProcess, method: str, path: str, body: Any = None) -> httpx.Response:
    with httpx.Client(base_url=server.http_url, timeout=60) as client:
        if isinstance(body, bytes):
            return client.request(method, path, content=body, headers={"Content-Type": "application/json"})
        return client.request(method, path, json=body)


def setup_prompt_and_dataset(server: ServerProcess, name: str, count: int = 24) -> list[dict[str, Any]]:
    """Prompt NAME (tag production → version 1, a one-message template) and dataset NAME with ``count``
    labeled questions."""
    pushed = call(server, "POST", "/api/v1/prompts", {
        "name": name, "messages": [{"role": "user", "content": START}], "model_provider": "openai",
        "model_name": "gpt-4o-mini", "parameters": {"temperature": 0},
    })  # fmt: skip
    assert pushed.status_code == 201, pushed.text
    assert call(server, "PUT", f"/api/v1/prompts/{name}/tags/production", {"version": 1}).status_code == 200
    assert call(server, "POST", "/api/v1/datasets", {"name": name}).status_code == 201
    examples = [
        {"input": {"question": f"{name} q{i:02d} about {LABELS[i % 3]}"}, "expected_output": LABELS[i % 3]}
        for i in range(count)
    ]
    if examples:
        added = call(server, "POST", f"/api/v1/datasets/{name}/examples", {"examples": examples})
        assert added.status_code in (200, 201), added.text
    return examples


def script_models(fake: FakeOpenAI, examples: list[dict[str, Any]]) -> None:
    """The reasoning model proposes BETTER; the task model knows the answer only when asked with BETTER."""
    fake.script.add_rule("## Your answer", proposal(BETTER))
    for example in examples:
        question = example["input"]["question"]
        fake.script.add_rule(BETTER.replace("{{question}}", question), ChatReply(content=example["expected_output"]))
