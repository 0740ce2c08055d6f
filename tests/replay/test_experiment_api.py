"""``/api/v1/experiments`` over real HTTP against a real server whose provider ``fake`` is the fake model server:
background runs with live status, runs with evaluations, traced spans carrying the evaluations as annotations,
cancellation, comparison, import — and bad input everywhere, with nothing stored half-way."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.fakeopenai import FakeOpenAI
from tests.replay.experiment_support import (
    api,
    make_dataset,
    make_prompt,
    questions,
    run_to_end,
    start_experiment,
    wait_ended,
)
from tests.replay.replay_support import start_replay_server, stored, unique
from tests.server import ServerProcess, wait_for


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, fake_openai_server: FakeOpenAI) -> Iterator[ServerProcess]:
    server = start_replay_server(tmp_path_factory.mktemp("experiments-api") / "spanlab.duckdb", fake_openai_server)
    yield server
    assert server.stop() == 0, "\n".join(server.output)


def experiment_count(server: ServerProcess) -> int:
    return int(server.sql("SELECT count(*) FROM experiments")[0][0])


def error_of(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    message: str = response.json()["error"]["message"]
    return message


def test_an_experiment_runs_in_the_background_and_records_everything(
    server: ServerProcess, fake_openai: FakeOpenAI
) -> None:
    rows = questions(6)
    rows[4]["expected_output"] = "something else"
    rows[5]["input"]["q"] += " [[error:400]]"
    dataset, prompt = make_dataset(server, rows), make_prompt(server)
    started = start_experiment(
        server, name="first try", dataset=dataset, prompt=prompt, evaluators=["exact_match"], repetitions=2, retries=1
    )
    assert started["status"] == "running" and started["progress"]["total"] == 12
    assert started["dataset_version"] == 1 and started["config"]["task"]["prompt"] == prompt
    done = wait_ended(server, started["id"])
    assert done["status"] == "finished", done
    assert done["progress"] == {"total": 12, "done": 12, "errors": 2}
    summary = done["summary"]
    assert summary["runs"] == 12 and summary["errors"] == 2 and summary["examples"] == 6
    assert summary["evaluators"]["exact_match"]["metrics"]["pass_rate"] == pytest.approx(8 / 10)
    assert summary["score"] == pytest.approx(0.8) and summary["latency_ms"]["p90"] is not None
    assert summary["consistency"]["output_agreement"] == 1.0 and summary["cost"] > 0
    with api(server) as client:
        page = client.get(f"/experiments/{done['id']}/runs", params={"limit": 5}).json()
        rest = client.get(
            f"/experiments/{done['id']}/runs", params={"limit": 100, "cursor": page["next_cursor"]}
        ).json()
    runs = page["data"] + rest["data"]
    assert len(page["data"]) == 5 and rest["next_cursor"] is None and len(runs) == 12
    assert [(r["position"], r["repetition"]) for r in runs[:4]] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    failed = [r for r in runs if r["error"]]
    assert len(failed) == 2 and all("HTTP 400" in r["error"] for r in failed)
    wrong = next(r for r in runs if r["position"] == 4)
    assert wrong["evaluations"][0]["passed"] is False and "something else" in wrong["evaluations"][0]["explanation"]
    span = wait_for(lambda: stored(server, wrong["span_id"]), what="the experiment's span")
    assert span is not None
    assert span["project"] == "experiments" and span["kind"] == "LLM"
    assert span["metadata"]["experiment_id"] == done["id"] and span["metadata"]["example_id"] == wrong["example_id"]
    assert span["attributes"]["spanlab.experiment.dataset"] == dataset
    (note,) = span["annotations"]
    assert (note["name"], note["score"], note["annotator_kind"]) == ("exact_match", 0.0, "CODE")
    assert note["metadata"]["experiment_id"] == done["id"] and note["metadata"]["passed"] is False


def test_the_dataset_version_is_pinned_and_listing_filters_by_dataset(server: ServerProcess) -> None:
    dataset, prompt = make_dataset(server, questions(2)), make_prompt(server)
    make_dataset(server, questions(3, start=2), name=dataset)  # version 2 adds three examples
    old = run_to_end(server, dataset=dataset, dataset_version=1, prompt=prompt)
    new = run_to_end(server, dataset=dataset, prompt=prompt)
    assert (old["dataset_version"], old["summary"]["runs"]) == (1, 2)
    assert (new["dataset_version"], new["summary"]["runs"]) == (2, 5) and new["summary"]["score"] is None
    with api(server) as client:
        listed = client.get("/experiments", params={"dataset": dataset}).json()["data"]
    assert [e["id"] for e in listed] == [new["id"], old["id"]]


def test_cancel_stops_a_running_experiment(server: ServerProcess) -> None:
    rows = questions(2) + [{"input": {"q": f"slow {i} [[latency:3]]"}} for i in range(6)]
    dataset, prompt = make_dataset(server, rows), make_prompt(server)
    started = start_experiment(server, dataset=dataset, prompt=prompt, jobs=2)
    with api(server) as client:
        wait_for(lambda: client.get(f"/experiments/{started['id']}").json()["progress"]["done"] >= 2, what="2 runs")
        response = client.post(f"/experiments/{started['id']}/cancel")
        assert response.status_code == 200, response.text
    ended = wait_ended(server, started["id"], timeout=10)
    assert ended["status"] == "cancelled" and ended["summary"]["runs"] < 8
    with api(server) as client:
        again = client.post(f"/experiments/{started['id']}/cancel")
    assert "not running" in error_of(again, 409)


def test_two_prompt_versions_compare_example_by_example(server: ServerProcess, fake_openai: FakeOpenAI) -> None:
    dataset = make_dataset(server, questions(30))
    good, worse = make_prompt(server), make_prompt(server, "Q: {{q}}!")
    baseline = run_to_end(server, dataset=dataset, prompt=good, evaluators=["exact_match"])
    candidate = run_to_end(server, dataset=dataset, prompt=worse, evaluators=["exact_match"])
    with api(server) as client:
        response = client.post("/experiments/compare", json={"experiment_ids": [baseline["id"], candidate["id"]]})
        chart = client.get("/experiments/compare", params={"ids": [baseline["id"], candidate["id"]], "format": "svg"})
    assert response.status_code == 200, response.text
    comparison = response.json()
    (other,) = comparison["candidates"]
    assert other["changes"] == {"improved": 0, "regressed": 30, "unchanged": 0} and other["primary"] == "exact_match"
    assert other["metrics"]["score"]["delta"] == pytest.approx(-1.0)
    stats = other["evaluators"]["exact_match"]
    assert stats["bootstrap"]["high"] < 0 and stats["mcnemar"]["p_value"] < 0.001
    regression = other["regressions"][0]
    assert (
        regression["baseline_output"] != regression["candidate_output"]
        and "expected" in regression["candidate_explanation"]
    )
    assert chart.headers["content-type"].startswith("image/svg+xml") and chart.text.startswith("<svg")


def test_results_computed_elsewhere_are_imported_with_their_annotations(server: ServerProcess) -> None:
    trace_id, span_id = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    body = _import_body(trace_id, span_id)
    before = experiment_count(server)
    with api(server) as client:
        response = client.post("/experiments/import", content=orjson.dumps(body))
        assert response.status_code == 201, response.text
        duplicate = client.post("/experiments/import", content=orjson.dumps(body))
    imported = response.json()
    assert imported["origin"] == "import" and imported["summary"]["evaluators"]["judge"]["metrics"]["pass_rate"] == 0.5
    assert imported["summary"]["evaluators"]["judge"]["details"]["confusion"] == [[1]]
    assert "already exists" in error_of(duplicate, 409)
    assert experiment_count(server) == before + 1
    rows = server.sql(f"SELECT name, annotator_kind, explanation FROM annotations WHERE span_id = '{span_id}'")
    assert rows == [["judge", "LLM", "too vague"]]


def _import_body(trace_id: str, span_id: str, **changes: Any) -> dict[str, Any]:
    def run(example: str, passed: bool, **extra: Any) -> dict[str, Any]:
        verdict = {
            "name": "judge",
            "score": float(passed),
            "passed": passed,
            "explanation": None if passed else "too vague",
        }
        return {
            "example_id": example,
            "output": "x",
            "evaluations": [verdict],
            "started_at": "2025-03-01T12:00:00Z",
            **extra,
        }

    body = {
        "id": str(uuid.uuid4()),
        "name": "from ci",
        "dataset": unique("ci"),
        "config": {
            "task": {"kind": "python", "function": "pipeline"},
            "evaluators": [{"name": "judge", "annotator_kind": "LLM"}],
        },
        "runs": [run("a", True), run("b", False, trace_id=trace_id, span_id=span_id)],
        "evaluator_summaries": {
            "judge": {"name": "judge", "metrics": {"pass_rate": 0.1}, "details": {"confusion": [[1]]}}
        },
    }
    return {**body, **changes}


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"runs": [{"example_id": "a"}]}, 422, "started_at"),
        ({"runs": "nope"}, 422, "runs"),
        ({"id": "NOT-A-UUID"}, 422, "id"),
        ({"surprise": 1}, 422, "surprise"),
        ({"config": {"task": {"kind": "shell"}}}, 422, "kind"),
    ],
)
def test_a_bad_import_is_refused_and_stores_nothing(
    server: ServerProcess, change: dict[str, Any], status: int, message: str
) -> None:
    before = experiment_count(server)
    with api(server) as client:
        response = client.post("/experiments/import", content=orjson.dumps(_import_body("0" * 32, "1" * 16, **change)))
    assert message in error_of(response, status)
    assert experiment_count(server) == before


def test_an_import_with_a_repeated_run_or_not_json_is_refused(server: ServerProcess) -> None:
    body = _import_body("0" * 32, "1" * 16)
    body["runs"].append(dict(body["runs"][0]))
    before = experiment_count(server)
    with api(server) as client:
        assert "each run" in error_of(client.post("/experiments/import", content=orjson.dumps(body)), 422)
        assert "JSON" in error_of(client.post("/experiments/import", content=b"{not json"), 422)
        huge = b'{"pad": "' + b"x" * (65 * 1024 * 1024) + b'"}'
        assert "64 MiB" in error_of(client.post("/experiments/import", content=huge), 413)
    assert experiment_count(server) == before


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"dataset": "no-such-dataset"}, 404, "no dataset named"),
        ({"dataset_version": 99}, 404, "has no version 99"),
        ({"prompt": "no-such-prompt@production"}, 404, "no-such-prompt"),
        ({"provider": "nowhere"}, 422, "unknown provider 'nowhere'"),
        ({"evaluators": ["no_such_evaluator"]}, 422, "unknown evaluator"),
        ({"evaluators": ["regex"]}, 422, "needs option pattern"),
        ({"evaluators": ["python:os:getcwd"]}, 422, "python: evaluators run only where your code is"),
        ({"evaluators": ["json_schema:schema=@schema.json"]}, 422, "does not read files"),
        (
            {"evaluators": [{"name": "judge", "options": {"rubric": "{{output}}", "model": "m", "provider": "nope"}}]},
            422,
            "provider 'nope'",
        ),
        ({"parameters": {"stream": True}}, 422, "stream"),
        ({"jobs": 0}, 422, "jobs"),
        ({"repetitions": 21}, 422, "repetitions"),
        ({"timeout_seconds": -1}, 422, "timeout_seconds"),
        ({"unknown": 1}, 422, "unknown"),
        ({"evaluators": ["exact_match"] * 21}, 422, "evaluators"),
    ],
)
def test_a_bad_request_is_refused_and_stores_nothing(
    server: ServerProcess, change: dict[str, Any], status: int, message: str
) -> None:
    body = {"dataset": make_dataset(server, questions(1)), "prompt": make_prompt(server), **change}
    before = experiment_count(server)
    with api(server) as client:
        response = client.post("/experiments", json=body)
    assert message in error_of(response, status)
    assert experiment_count(server) == before


def test_an_empty_dataset_version_and_bad_ids_are_refused(server: ServerProcess) -> None:
    dataset = unique("empty")
    with api(server) as client:
        client.post("/datasets", json={"name": dataset}).raise_for_status()
        empty = client.post("/experiments", json={"dataset": dataset, "prompt": make_prompt(server)})
        assert "no examples" in error_of(empty, 422)
        assert "UUID" in error_of(client.get("/experiments/not-an-id"), 422)
        assert "no experiment" in error_of(client.get(f"/experiments/{uuid.uuid4()}"), 404)
        assert "no experiment" in error_of(client.get(f"/experiments/{uuid.uuid4()}/runs"), 404)
        assert "no experiment" in error_of(client.post(f"/experiments/{uuid.uuid4()}/cancel"), 404)
        one = client.post("/experiments/compare", json={"experiment_ids": [str(uuid.uuid4())]})
        assert "experiment_ids" in error_of(one, 422)
        missing = client.get("/experiments/compare", params={"ids": [str(uuid.uuid4()), str(uuid.uuid4())]})
        assert "no experiment" in error_of(missing, 404)
        assert "cursor" in error_of(client.get(f"/experiments/{uuid.uuid4()}/runs", params={"cursor": "x"}), 422)


def test_comparing_unrelated_experiments_or_an_unknown_evaluator_is_refused(server: ServerProcess) -> None:
    prompt = make_prompt(server)
    first = run_to_end(server, dataset=make_dataset(server, questions(2)), prompt=prompt, evaluators=["exact_match"])
    other = run_to_end(server, dataset=make_dataset(server, questions(2, start=5)), prompt=prompt)
    with api(server) as client:
        unrelated = client.post("/experiments/compare", json={"experiment_ids": [first["id"], other["id"]]})
        assert "no example in common" in error_of(unrelated, 422)
        wrong = client.post("/experiments/compare", json={"experiment_ids": [first["id"], first["id"]]})
        assert "named twice" in error_of(wrong, 422)
        named = client.post(
            "/experiments/compare", json={"experiment_ids": [first["id"], other["id"]], "evaluator": "judge"}
        )
        assert "no evaluator named 'judge'" in error_of(named, 422)


def test_an_experiment_cut_short_by_a_stop_is_failed_after_restart(tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    server = start_replay_server(tmp_path / "spanlab.duckdb", fake_openai)
    try:
        rows = [{"input": {"q": f"slow {i} [[latency:2]]"}} for i in range(10)]
        started = start_experiment(server, dataset=make_dataset(server, rows), prompt=make_prompt(server), jobs=1)
    finally:
        assert server.stop() == 0, "\n".join(server.output)
    again = start_replay_server(tmp_path / "spanlab.duckdb", fake_openai)
    try:
        with api(again) as client:
            ended = client.get(f"/experiments/{started['id']}").json()
        assert ended["status"] == "failed" and "server stopped" in ended["error"]
    finally:
        assert again.stop() == 0, "\n".join(again.output)
