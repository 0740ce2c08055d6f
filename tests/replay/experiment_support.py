"""Helpers for the experiment tests: datasets and prompts on a real server, starting experiments over REST and
waiting for them to end."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from tests.replay.replay_support import unique
from tests.server import ServerProcess, wait_for

__all__ = ["api", "make_dataset", "make_prompt", "questions", "run_to_end", "start_experiment", "wait_ended"]

MODEL = "gpt-4o-mini"


def api(server: ServerProcess) -> httpx.Client:
    return httpx.Client(base_url=f"{server.http_url}/api/v1", timeout=60)


def questions(count: int, *, start: int = 0) -> list[dict[str, Any]]:
    """Examples whose expected output is what the fake answers to the prompt ``Q: {{q}}``."""
    return [
        {"input": {"q": f"question {i}"}, "expected_output": f"fake reply to: Q: question {i}"}
        for i in range(start, start + count)
    ]


def make_dataset(server: ServerProcess, examples: Sequence[dict[str, Any]], *, name: str | None = None) -> str:
    name = name or unique("ds")
    with api(server) as client:
        response = client.post(f"/datasets/{name}/examples", json={"examples": list(examples)})
        if response.status_code == 404:
            client.post("/datasets", json={"name": name}).raise_for_status()
            response = client.post(f"/datasets/{name}/examples", json={"examples": list(examples)})
        response.raise_for_status()
    return name


def make_prompt(
    server: ServerProcess, template: str = "Q: {{q}}", *, name: str | None = None, tag: str | None = None
) -> str:
    """Push a version (provider ``fake``); return ``NAME@VERSION``, or tag it and return ``NAME``."""
    name = name or unique("prompt")
    with api(server) as client:
        response = client.post(
            "/prompts",
            json={
                "name": name,
                "messages": [{"role": "user", "content": template}],
                "model_provider": "fake",
                "model_name": MODEL,
            },
        )
        response.raise_for_status()
        version = response.json()["prompt_version"]["version"]
        if tag is not None:
            client.put(f"/prompts/{name}/tags/{tag}", json={"version": version}).raise_for_status()
    return f"{name}@{version}"


def start_experiment(server: ServerProcess, **body: Any) -> dict[str, Any]:
    with api(server) as client:
        response = client.post("/experiments", json=body)
    assert response.status_code == 202, response.text
    experiment: dict[str, Any] = response.json()
    return experiment


def wait_ended(server: ServerProcess, experiment_id: str, *, timeout: float = 60.0) -> dict[str, Any]:
    def ended() -> Any:
        with api(server) as client:
            experiment = client.get(f"/experiments/{experiment_id}").json()
        return experiment if experiment["status"] != "running" else None

    experiment: dict[str, Any] = wait_for(
        ended, timeout=timeout, interval=0.1, what=f"experiment {experiment_id} to end"
    )
    return experiment


def run_to_end(server: ServerProcess, **body: Any) -> dict[str, Any]:
    return wait_ended(server, start_experiment(server, **body)["id"])
