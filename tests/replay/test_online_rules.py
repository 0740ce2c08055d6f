"""Online evaluation against a real server: rules managed over REST, applied in the background to LLM spans
sent over OTLP, results stored as annotations, failing spans promoted to a dataset — and bad rules refused."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from instrumentation import semconv as sc
from replay.experiments.online import sampled
from tests.fakeopenai import FakeOpenAI
from tests.replay.experiment_support import api
from tests.replay.replay_support import genai_messages, send_span, start_replay_server, unique
from tests.server import ServerProcess, wait_for


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, fake_openai_server: FakeOpenAI) -> Iterator[ServerProcess]:
    server = start_replay_server(tmp_path_factory.mktemp("online") / "spanlab.duckdb", fake_openai_server)
    yield server
    assert server.stop() == 0, "\n".join(server.output)


def llm_span(server: ServerProcess, project: str, reply: str, *, prompt: str | None = None) -> str:
    attributes: dict[str, Any] = {
        sc.GEN_AI_OPERATION_NAME: "chat",
        sc.GEN_AI_PROVIDER_NAME: "openai",
        sc.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
        sc.GEN_AI_INPUT_MESSAGES: genai_messages(("user", "Give me my balance as JSON")),
        sc.GEN_AI_OUTPUT_MESSAGES: json.dumps(
            [{"role": "assistant", "parts": [{"type": "text", "content": reply}], "finish_reason": "stop"}]
        ),
    }
    if prompt is not None:
        attributes[sc.SPANLAB_PROMPT_NAME] = prompt
    return send_span(server, project, "chat gpt-4o-mini", attributes)


def create_rule(server: ServerProcess, **body: Any) -> dict[str, Any]:
    with api(server) as client:
        response = client.post("/online-rules", json={"name": unique("rule"), **body})
    assert response.status_code == 201, response.text
    rule: dict[str, Any] = response.json()
    return rule


def notes_of(server: ServerProcess, span_id: str) -> list[list[Any]]:
    return server.sql(
        f"SELECT name, score, annotator_kind, metadata->>'online_rule' FROM annotations WHERE span_id = '{span_id}' "
        "ORDER BY name"
    )


def evaluated(server: ServerProcess, rule_id: str, count: int) -> dict[str, Any]:
    def done() -> Any:
        with api(server) as client:
            rule = client.get(f"/online-rules/{rule_id}").json()
        return rule if rule["evaluated"] >= count else None

    rule: dict[str, Any] = wait_for(done, timeout=30, interval=0.2, what=f"rule {rule_id} to evaluate {count} spans")
    return rule


def test_a_rule_judges_new_spans_and_failing_ones_can_be_promoted(server: ServerProcess) -> None:
    project = unique("bot")
    before = llm_span(server, project, "not json")  # ingested before the rule exists: never judged
    rule = create_rule(server, project=project, evaluators=["valid_json", "regex:pattern=balance"])
    assert (
        rule["enabled"] and rule["span_kind"] == "LLM" and rule["evaluators"] == ["valid_json", "regex:pattern=balance"]
    )
    good = llm_span(server, project, '{"balance": 12}')
    bad = llm_span(server, project, "I cannot tell")
    elsewhere = llm_span(server, unique("other"), "not json")
    done = evaluated(server, rule["id"], 2)
    assert done["evaluated"] == 2 and done["failed"] == 2 and done["errors"] == 0
    assert notes_of(server, good) == [
        ["regex", 1.0, "CODE", rule["name"]],
        ["valid_json", 1.0, "CODE", rule["name"]],
    ]
    assert notes_of(server, bad) == [["regex", 0.0, "CODE", rule["name"]], ["valid_json", 0.0, "CODE", rule["name"]]]
    assert notes_of(server, before) == [] and notes_of(server, elsewhere) == []
    dataset = unique("failures")
    with api(server) as client:
        promoted = client.post(
            f"/datasets/{dataset}/promote",
            json={"project": project, "score_below": 0.5, "annotation_name": "valid_json"},
        ).json()
        examples = client.get(f"/datasets/{dataset}/examples").json()["data"]
    assert len(promoted["added"]) == 1 and [e["source_span_id"] for e in examples] == [bad]
    explanations = [a["name"] for a in examples[0]["metadata"]["annotations"]]
    assert "valid_json" in explanations


def test_sampling_is_deterministic_by_span_and_other_prompts_are_skipped(server: ServerProcess) -> None:
    project = unique("sampled")
    rule = create_rule(server, project=project, prompt_name="triage", sample_rate=0.5, evaluators=["valid_json"])
    spans = [llm_span(server, project, "{}", prompt="triage") for _ in range(12)]
    other_prompt = llm_span(server, project, "{}", prompt="other")
    chosen = [span for span in spans if sampled(rule["id"], span, 0.5)]
    assert 0 < len(chosen) < 12, "the draw is fixed by the ids; twelve spans make an all-or-nothing draw unlikely"
    done = evaluated(server, rule["id"], len(chosen))
    assert done["evaluated"] == len(chosen)
    judged = {span for span in spans if notes_of(server, span)}
    assert judged == set(chosen) and notes_of(server, other_prompt) == []


def test_a_judge_rule_writes_llm_annotations_and_a_disabled_rule_does_nothing(
    server: ServerProcess, fake_openai: FakeOpenAI
) -> None:
    project = unique("judged")
    judge = {
        "name": "judge",
        "options": {
            "rubric": "Is this helpful?\n{{output}}",
            "model": "gpt-4o-mini",
            "choices": "helpful:1|unhelpful:0",
            "provider": "fake",
        },
    }
    rule = create_rule(server, project=project, evaluators=[judge])
    off = create_rule(server, project=project, evaluators=["valid_json"], enabled=False)
    span = llm_span(server, project, "Your balance is 12 EUR.")
    evaluated(server, rule["id"], 1)
    ((name, score, kind, rule_name),) = notes_of(server, span)
    assert (name, kind, rule_name) == ("judge", "LLM", rule["name"]) and score in (0.0, 1.0)
    judge_request = next(r for r in fake_openai.requests if "Is this helpful?" in json.dumps(r.body))
    assert "Your balance is 12 EUR." in json.dumps(judge_request.body)
    with api(server) as client:
        assert client.get(f"/online-rules/{off['id']}").json()["evaluated"] == 0


def test_rules_are_listed_changed_and_deleted(server: ServerProcess) -> None:
    rule = create_rule(server, evaluators=["valid_json"])
    with api(server) as client:
        assert rule["id"] in [r["id"] for r in client.get("/online-rules").json()["data"]]
        changed = client.patch(
            f"/online-rules/{rule['id']}", json={"enabled": False, "sample_rate": 0.1, "span_kind": "chain"}
        )
        assert changed.status_code == 200, changed.text
        assert (changed.json()["enabled"], changed.json()["sample_rate"], changed.json()["span_kind"]) == (
            False,
            0.1,
            "CHAIN",
        )
        deleted = client.delete(f"/online-rules/{rule['id']}")
        assert deleted.status_code == 200 and deleted.json()["name"] == rule["name"]
        assert client.get(f"/online-rules/{rule['id']}").status_code == 404


def rule_count(server: ServerProcess) -> int:
    return int(server.sql("SELECT count(*) FROM online_rules")[0][0])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": "x y", "evaluators": ["valid_json"]}, "name"),
        ({"name": "ok", "evaluators": []}, "evaluators"),
        ({"name": "ok", "evaluators": ["valid_json"], "sample_rate": 1.5}, "sample_rate"),
        ({"name": "ok", "evaluators": ["no_such_evaluator"]}, "unknown evaluator"),
        ({"name": "ok", "evaluators": ["python:os:getcwd"]}, "python: evaluators"),
        ({"name": "ok", "evaluators": ["json_schema:schema=@schema.json"]}, "does not read files"),
        (
            {
                "name": "ok",
                "evaluators": [
                    {"name": "judge", "options": {"rubric": "{{output}}", "model": "m", "provider": "nope"}}
                ],
            },
            "provider 'nope'",
        ),
        ({"name": "ok", "evaluators": ["valid_json"], "colour": "red"}, "colour"),
    ],
)
def test_a_bad_rule_is_refused_and_nothing_is_stored(server: ServerProcess, body: dict[str, Any], message: str) -> None:
    before = rule_count(server)
    with api(server) as client:
        response = client.post("/online-rules", json=body)
    assert response.status_code == 422, response.text
    assert message in response.json()["error"]["message"]
    assert rule_count(server) == before


def test_bad_ids_names_and_changes_are_refused(server: ServerProcess) -> None:
    rule = create_rule(server, evaluators=["valid_json"])
    with api(server) as client:
        taken = client.post("/online-rules", json={"name": rule["name"], "evaluators": ["valid_json"]})
        assert taken.status_code == 409 and "already exists" in taken.json()["error"]["message"]
        assert client.get("/online-rules/not-an-id").status_code == 422
        assert client.get(f"/online-rules/{uuid.uuid4()}").status_code == 404
        assert client.delete(f"/online-rules/{uuid.uuid4()}").status_code == 404
        empty = client.patch(f"/online-rules/{rule['id']}", json={})
        assert empty.status_code == 422 and "at least one field" in empty.json()["error"]["message"]
        null = client.patch(f"/online-rules/{rule['id']}", json={"enabled": None})
        assert null.status_code == 422 and "enabled cannot be null" in null.json()["error"]["message"]
        bad_spec = client.patch(f"/online-rules/{rule['id']}", json={"evaluators": ["regex"]})
        assert bad_spec.status_code == 422 and "pattern" in bad_spec.json()["error"]["message"]
        assert client.get(f"/online-rules/{rule['id']}").json()["evaluators"] == ["valid_json"]
