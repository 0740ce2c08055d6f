"""``/api/v1/optimizations`` on a real server whose ``openai`` provider is the fake model server: a whole run with
the built-in task and reasoning model (the winner saved with its lineage and tagged), the picture, cancelling,
and every kind of bad request refused with nothing stored."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import duckdb
import pytest

from tests.fakeopenai import FakeOpenAI
from tests.optimizer.support import BETTER, call, script_models, setup_prompt_and_dataset
from tests.server import ServerProcess, start_server, wait_for


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, fake_openai_server: FakeOpenAI) -> Iterator[ServerProcess]:
    db = tmp_path_factory.mktemp("optimizations") / "spanlab.duckdb"
    server = start_server(db, env={**fake_openai_server.client_env(), "SPANLAB_PROVIDERS": "{}"})
    yield server
    assert server.stop() == 0, "\n".join(server.output)


def finished(server: ServerProcess, run_id: str, timeout: float = 120) -> dict[str, Any]:
    def ended() -> dict[str, Any] | None:
        run = call(server, "GET", f"/api/v1/optimizations/{run_id}").json()
        return run if run["status"] != "running" else None

    run = wait_for(ended, timeout=timeout, interval=0.2, what=f"optimization {run_id} to end")
    assert run is not None
    return run


def count(server: ServerProcess, table: str) -> int:
    return int(server.sql(f"SELECT count(*) FROM {table}")[0][0])


def test_a_run_finds_saves_and_tags_a_better_prompt(server: ServerProcess, fake_openai: FakeOpenAI) -> None:
    examples = setup_prompt_and_dataset(server, "triage-api")
    script_models(fake_openai, examples)
    body = {
        "prompt": "triage-api@production", "dataset": "triage-api", "evaluators": ["exact_match"],
        "max_iterations": 2, "minibatch_size": 4, "strategies": ["reflection"], "seed": 1, "jobs": 2,
        "retries": 0, "tag": "staging",
    }  # fmt: skip
    started = call(server, "POST", "/api/v1/optimizations", body)
    assert started.status_code == 202, started.text
    run = started.json()
    assert run["status"] == "running" and run["prompt_version"] == "triage-api@1" and run["dataset_version"] == 1
    assert {len(run["split"][part]) for part in ("train", "validation", "test")} == {12, 6}
    assert run["links"]["score_history_svg"] == f"/api/v1/optimizations/{run['id']}/score-history.svg"
    run = finished(server, run["id"])
    assert run["status"] == "completed", run
    result = run["result"]
    assert (result["baseline_score"], result["best_score"], result["stop_reason"]) == (0.0, 1.0, "max_iterations")
    assert result["test_score"]["baseline"] == 0.0 and result["test_score"]["best"] == 1.0
    assert result["best_prompt"] == [{"role": "user", "content": BETTER}]
    assert run["saved_version"] == "triage-api@2" and run["progress"]["phase"] == "done"
    assert run["progress"]["messages"][-1] == "saved as triage-api@2, tagged staging"
    version = call(server, "GET", "/api/v1/prompts/triage-api/versions/staging").json()
    assert version["version"] == 2 and version["template"] == [{"role": "user", "content": BETTER}]
    assert version["model_name"] == "gpt-4o-mini" and version["invocation_parameters"] == {"temperature": 0}
    lineage = version["metadata"]["optimizer"]
    assert lineage["run_id"] == run["id"] and lineage["parent_version"] == "triage-api@1"
    assert call(server, "GET", "/api/v1/prompts/triage-api/versions/production").json()["version"] == 1
    experiment_id = lineage["experiments"]["test"]
    assert result["best_experiment_url"] == f"{server.http_url}/api/v1/experiments/{experiment_id}"
    experiment = call(server, "GET", f"/api/v1/experiments/{experiment_id}").json()
    assert experiment["name"].endswith("· test") and experiment["summary"]["score"] == 1.0
    assert experiment["config"]["metadata"]["optimization_id"] == run["id"]
    picture = call(server, "GET", f"/api/v1/optimizations/{run['id']}/score-history.svg")
    assert picture.status_code == 200 and picture.headers["content-type"].startswith("image/svg+xml")
    assert ElementTree.fromstring(picture.text).tag.endswith("svg")
    listed = call(server, "GET", "/api/v1/optimizations?limit=5").json()["data"]
    assert run["id"] in [item["id"] for item in listed]
    again = call(server, "POST", f"/api/v1/optimizations/{run['id']}/cancel", {})
    assert again.status_code == 409 and "completed, not running" in again.json()["error"]["message"]


def test_a_running_optimization_can_be_cancelled(server: ServerProcess, fake_openai: FakeOpenAI) -> None:
    setup_prompt_and_dataset(server, "triage-cancel")
    fake_openai.script.set_latency(0.2)
    body = {"prompt": "triage-cancel", "dataset": "triage-cancel", "max_iterations": 50, "jobs": 1, "retries": 0}
    run = call(server, "POST", "/api/v1/optimizations", body).json()
    cancelled = call(server, "POST", f"/api/v1/optimizations/{run['id']}/cancel", {})
    assert cancelled.status_code == 200, cancelled.text
    run = finished(server, run["id"], timeout=30)
    assert run["status"] == "cancelled" and run["saved_version"] is None
    assert [v["version"] for v in call(server, "GET", "/api/v1/prompts/triage-cancel/versions").json()["data"]] == [1]
    live = call(server, "GET", f"/api/v1/optimizations/{run['id']}/score-history.svg")
    assert live.status_code == 200 and "cancelled" in live.text


def test_stopping_the_server_interrupts_a_running_optimization(tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    db = tmp_path / "spanlab.duckdb"
    env = {**fake_openai.client_env(), "SPANLAB_PROVIDERS": "{}"}
    own = start_server(db, env=env)
    try:
        setup_prompt_and_dataset(own, "triage-stop")
        fake_openai.script.set_latency(0.2)
        body = {"prompt": "triage-stop", "dataset": "triage-stop", "max_iterations": 50, "jobs": 1, "retries": 0}
        run = call(own, "POST", "/api/v1/optimizations", body).json()
        wait_for(lambda: fake_openai.requests or None, timeout=30, interval=0.05, what="the optimization's first call")
        started = time.monotonic()
        assert own.stop() == 0, "\n".join(own.output)
        assert time.monotonic() - started < 20, "the running optimization held up the stop"
        assert "Traceback" not in "\n".join(own.output)
    finally:
        own.stop()
    with duckdb.connect(str(db), read_only=True) as con:  # recorded by the stopping server itself
        status = con.execute("SELECT status FROM optimizations WHERE id = ?", [run["id"]]).fetchall()
    assert status == [("interrupted",)]
    again = start_server(db, env=env)
    try:
        stored = call(again, "GET", f"/api/v1/optimizations/{run['id']}").json()
        assert stored["status"] == "interrupted" and stored["error"] == "the server stopped while the optimization ran"
        assert stored["finished_at"] is not None and stored["saved_version"] is None
    finally:
        assert again.stop() == 0


GOOD = {"prompt": "triage-bad", "dataset": "triage-bad"}


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({}, 422, "prompt: Field required; dataset: Field required"),
        (b'{"prompt": "triage-bad",', 422, "JSON decode error"),
        ({**GOOD, "surprise": 1}, 422, "surprise: Extra inputs are not permitted"),
        ({**GOOD, "name": "n" * 201}, 422, "name: String should have at most 200 characters"),
        ({**GOOD, "evaluators": ["exact_match"] * 21}, 422, "evaluators: List should have at most 20 items"),
        ({**GOOD, "dataset": "no-such-dataset"}, 404, "no dataset named 'no-such-dataset'"),
        ({**GOOD, "prompt": "no-such-prompt"}, 404, "no prompt named 'no-such-prompt'"),
        ({**GOOD, "prompt": "triage-bad@canary"}, 404, "has no tag 'canary'"),
        ({**GOOD, "tag": "latest"}, 422, "not all digits and not 'latest'"),
        ({**GOOD, "budget_rollouts": 1}, 422, "budget_rollouts=1 does not cover the baseline validation run"),
        ({**GOOD, "evaluators": ["python:evals:score"]}, 422, "python: evaluators run only where your code is"),
        ({**GOOD, "evaluators": ["regex"]}, 422, "needs option pattern"),
        ({**GOOD, "evaluators": ["contains:texts=@secrets.txt"]}, 422, "the server does not read files"),
        ({**GOOD, "provider": "nope"}, 422, "unknown provider 'nope'"),
        ({**GOOD, "split": [0.5, 0.5, 0.5]}, 422, "split fractions must add up to 1"),
        ({**GOOD, "max_iterations": -1}, 422, "max_iterations: Input should be greater than or equal to 0"),
        ({**GOOD, "parameters": {f"p{i}": i for i in range(65)}}, 422, "parameters: Dictionary should have at most"),
        (
            {**GOOD, "dataset": "triage-tiny"},
            422,
            "the dataset has 2 example(s); a split into 3 parts needs at least 3",
        ),
    ],
)
def test_bad_requests_are_refused_with_the_reason_and_store_nothing(
    server: ServerProcess, body: Any, status: int, message: str
) -> None:
    if not call(server, "GET", "/api/v1/prompts/triage-bad").is_success:
        setup_prompt_and_dataset(server, "triage-bad")
        setup_prompt_and_dataset(server, "triage-tiny", count=2)
    before = (count(server, "optimizations"), count(server, "experiments"))
    response = call(server, "POST", "/api/v1/optimizations", body)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]["message"]
    assert (count(server, "optimizations"), count(server, "experiments")) == before


@pytest.mark.parametrize(
    ("method", "path", "status", "message"),
    [
        ("GET", "/api/v1/optimizations/not-a-uuid", 422, "expected a lower-case UUID"),
        ("GET", "/api/v1/optimizations/00000000-0000-4000-8000-000000000000", 404, "no optimization with id"),
        ("POST", "/api/v1/optimizations/00000000-0000-4000-8000-000000000000/cancel", 404, "no optimization"),
        ("GET", "/api/v1/optimizations/" + "a" * 101, 422, "String should have at most 100 characters"),
        ("GET", "/api/v1/optimizations?limit=0", 422, "limit: Input should be greater than or equal to 1"),
    ],
)
def test_unknown_and_malformed_ids(server: ServerProcess, method: str, path: str, status: int, message: str) -> None:
    response = call(server, method, path, {} if method == "POST" else None)
    assert response.status_code == status, response.text
    assert message in json.dumps(response.json())
