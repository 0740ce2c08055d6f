"""Promotion of failing spans: the real app (prompt SDK + spanlab's openai instrumentor) → OTLP → a real
``spanlab serve`` → annotations → ``POST /datasets/{name}/promote`` and ``spanlab datasets promote``."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from typer.testing import CliRunner

from instrumentation.openai import OpenAIInstrumentor
from instrumentation.prompts import PromptClient
from instrumentation.spans import capture_span_ids
from spanlab.cli import app
from tests.fakeopenai import FakeOpenAI
from tests.instrumented import new_project
from tests.server import ServerProcess, wait_for

TEMPLATE = [
    {"role": "system", "content": "Classify the banking question into one intent."},
    {"role": "user", "content": "{{question}}"},
]


@dataclass
class Seeded:
    url: str
    project: str
    prompt: str
    ok_span: str  # made from the prompt, fine
    error_span: str  # made from the prompt, the provider failed (status ERROR)
    scored_span: str  # plain messages, annotated with a low score and two corrections
    labeled_span: str  # made from the prompt, annotated with a label
    trace_of: dict[str, str]


@pytest.fixture(scope="module")
def seeded(spanlab_server: ServerProcess, fake_openai_server: FakeOpenAI) -> Seeded:
    api = httpx.Client(base_url=f"{spanlab_server.http_url}/api/v1", timeout=30)
    prompt = f"promote-{uuid.uuid4().hex[:8]}"
    assert api.post("/prompts", json={"name": prompt, "messages": TEMPLATE, "model_name": "gpt-4o-mini"}).is_success
    api.put(f"/prompts/{prompt}/tags/production", json={"version": 1})
    version = PromptClient(url=spanlab_server.http_url, cache_dir=None).get(prompt)

    project = new_project("promote")
    provider = TracerProvider(resource=Resource.create({"service.name": project}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{spanlab_server.http_url}/v1/traces")))
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    fake_openai_server.reset()
    try:
        client = openai.OpenAI(base_url=fake_openai_server.base_url, api_key="sk-test", max_retries=0)
        with client, capture_span_ids() as ids:
            chat = client.chat.completions.create
            chat(messages=version.format(question="I lost my card"), **version.openai_kwargs())
            with pytest.raises(openai.InternalServerError):
                chat(messages=version.format(question="[[error:500]] declined"), **version.openai_kwargs())
            chat(model="gpt-4o-mini", messages=[{"role": "user", "content": "where is my refund"}], temperature=0)
            chat(messages=version.format(question="top up failed"), **version.openai_kwargs())
    finally:
        instrumentor.uninstrument()
        provider.shutdown()
    assert len(ids) == 4

    def all_four() -> list[dict[str, Any]] | None:
        data: list[dict[str, Any]] = spanlab_server.get("/api/v1/spans", project=project)["data"]
        return data if len(data) == 4 else None

    listed = wait_for(all_four, what="the four spans")
    assert listed is not None
    trace_of = {span["span_id"]: span["trace_id"] for span in listed}
    ok, error, scored, labeled = ids
    notes: list[tuple[str, dict[str, Any]]] = [
        (
            scored,
            {
                "name": "correctness",
                "score": 0,
                "explanation": "asked about refunds",
                "metadata": {"expected_output": "old"},
            },
        ),
        (
            scored,
            {
                "name": "correctness",
                "score": 0.2,
                "explanation": "second opinion",
                "metadata": {"correction": "refund_not_showing_up"},
            },
        ),
        (scored, {"name": "helpfulness", "score": 1, "label": "fine"}),
        (labeled, {"name": "intent", "label": "wrong_intent", "explanation": "is top_up_failed"}),
        (ok, {"name": "correctness", "score": 1, "metadata": {"expected_output": "lost_or_stolen_card"}}),
    ]
    for span_id, note in notes:
        assert api.post(f"/spans/{span_id}/annotations", json=note).status_code == 201
    api.close()
    return Seeded(spanlab_server.http_url, project, prompt, ok, error, scored, labeled, trace_of)


@pytest.fixture
def api(seeded: Seeded) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{seeded.url}/api/v1", timeout=30) as client:
        yield client


@pytest.fixture
def dataset() -> str:
    return f"failures-{uuid.uuid4().hex[:8]}"


def promote(api: httpx.Client, dataset: str, **filters: Any) -> httpx.Response:
    return api.post(f"/datasets/{dataset}/promote", json=filters)


def test_error_spans_become_examples_with_variables_and_a_link_back(
    api: httpx.Client, seeded: Seeded, dataset: str
) -> None:
    response = promote(api, dataset, status="ERROR", project=seeded.project)
    assert response.status_code == 201, response.text
    result = response.json()
    assert (result["dataset"], result["version"], result["matched"], result["more"]) == (dataset, 1, 1, False)
    (example,) = result["added"]
    assert example["input"] == {"question": "[[error:500]] declined"}, "input = the prompt variables"
    assert example["expected_output"] is None, "no correction: left for labeling"
    assert (example["source_span_id"], example["source_trace_id"]) == (
        seeded.error_span,
        seeded.trace_of[seeded.error_span],
    )
    metadata = example["metadata"]
    assert metadata["source"]["status_code"] == "ERROR" and metadata["source"]["project"] == seeded.project
    assert metadata["model"] == "gpt-4o-mini" and metadata["annotations"] == []
    assert metadata["prompt"]["name"] == seeded.prompt and metadata["prompt"]["version"] == "1"
    assert json.loads(metadata["prompt"]["template"]) == TEMPLATE
    linked = api.get(metadata["source"]["link"].removeprefix("/api/v1"))
    assert linked.status_code == 200 and linked.json()["span_id"] == seeded.error_span

    again = promote(api, dataset, status="ERROR", project=seeded.project)
    assert again.status_code == 200, "nothing new"
    assert again.json()["added"] == [] and again.json()["already_present"] == [seeded.error_span]
    assert again.json()["version"] == 1 and api.get(f"/datasets/{dataset}").json()["example_count"] == 1


def test_low_scores_carry_the_latest_correction_and_the_annotations(
    api: httpx.Client, seeded: Seeded, dataset: str
) -> None:
    result = promote(api, dataset, score_below=0.5, annotation_name="correctness", project=seeded.project).json()
    (example,) = result["added"]
    assert example["source_span_id"] == seeded.scored_span
    assert example["input"] == {"messages": [{"role": "user", "content": "where is my refund"}]}, "no variables"
    assert example["expected_output"] == "refund_not_showing_up", "the most recent correction wins"
    notes = example["metadata"]["annotations"]
    assert [(n["name"], n["score"], n["explanation"]) for n in notes] == [
        ("correctness", 0, "asked about refunds"),
        ("correctness", 0.2, "second opinion"),
        ("helpfulness", 1, None),
    ]
    assert example["metadata"]["original_output"] == "fake reply to: where is my refund"
    assert example["metadata"]["invocation_parameters"] == {"temperature": 0}
    assert promote(api, dataset, score_below=0, project=seeded.project).json()["matched"] == 0, "strictly below"


def test_labels_prompt_and_explicit_ids(api: httpx.Client, seeded: Seeded, dataset: str) -> None:
    labeled = promote(api, dataset, labels=["wrong_intent", "other"], annotation_name="intent").json()
    assert [e["source_span_id"] for e in labeled["added"]] == [seeded.labeled_span]
    assert labeled["added"][0]["metadata"]["annotations"][0]["explanation"] == "is top_up_failed"
    by_prompt = promote(api, dataset, prompt_name=seeded.prompt, prompt_version="1").json()
    assert by_prompt["version"] == 2 and by_prompt["matched"] == 3
    assert [e["source_span_id"] for e in by_prompt["added"]] == [seeded.ok_span, seeded.error_span]
    assert by_prompt["already_present"] == [seeded.labeled_span]
    ok = by_prompt["added"][0]
    assert ok["expected_output"] == "lost_or_stolen_card" and ok["metadata"]["original_output"] == (
        "fake reply to: I lost my card"
    )
    explicit = promote(api, dataset, span_ids=[seeded.scored_span.upper(), seeded.ok_span]).json()
    assert [e["source_span_id"] for e in explicit["added"]] == [seeded.scored_span]
    examples = api.get(f"/datasets/{dataset}/examples").json()["data"]
    assert len(examples) == 4 and len({e["source_span_id"] for e in examples}) == 4
    limited = promote(api, f"{dataset}-small", project=seeded.project, limit=2).json()
    assert limited["matched"] == 2 and limited["more"] is True


def test_nothing_matching_creates_nothing(api: httpx.Client, seeded: Seeded, dataset: str) -> None:
    response = promote(api, dataset, project=seeded.project, start="2999-01-01T00:00:00Z")
    assert response.status_code == 200 and response.json()["matched"] == 0 and response.json()["version"] == 0
    assert api.get(f"/datasets/{dataset}").status_code == 404


def test_unknown_span_ids_are_404_and_store_nothing(api: httpx.Client, seeded: Seeded, dataset: str) -> None:
    response = promote(api, dataset, span_ids=[seeded.error_span, "f" * 16])
    assert response.status_code == 404 and response.json()["error"]["message"] == (
        f"no span matching the filters with id(s) {'f' * 16}"
    )
    assert api.get(f"/datasets/{dataset}").status_code == 404


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({}, "give at least one filter"),
        ({"limit": 5}, "give at least one filter"),
        ({"annotation_name": "x"}, "annotation_name needs score_below or labels"),
        ({"status": "BROKEN"}, "status: Input should be 'OK', 'ERROR' or 'UNSET'"),
        ({"score_below": "low"}, "score_below: Input should be a valid number"),
        ({"span_ids": ["xyz"]}, "span id 'xyz' is not valid"),
        ({"span_ids": []}, "span_ids: List should have at least 1 item"),
        ({"labels": []}, "labels: List should have at least 1 item"),
        ({"status": "ERROR", "limit": 0}, "limit: Input should be greater than or equal to 1"),
        ({"status": "ERROR", "limit": 1001}, "limit: Input should be less than or equal to 1000"),
        ({"start": "2025-01-02T00:00:00Z", "end": "2025-01-01T00:00:00Z"}, "start must be earlier than end"),
        ({"status": "ERROR", "colour": "red"}, "colour: Extra inputs are not permitted"),
        ({"project": "x" * 201}, "project: String should have at most 200 characters"),
    ],
)
def test_bad_filters_are_422(api: httpx.Client, dataset: str, filters: dict[str, Any], message: str) -> None:
    response = promote(api, dataset, **filters)
    assert response.status_code == 422 and message in response.json()["error"]["message"], response.text
    assert api.get(f"/datasets/{dataset}").status_code == 404


def test_cli_promote(seeded: Seeded, dataset: str) -> None:
    runner = CliRunner()
    env = {"SPANLAB_URL": seeded.url, "COLUMNS": "200"}
    args = ["datasets", "promote", "--dataset", dataset, "--status", "ERROR", "--project", seeded.project]
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == f"1 added, 0 already present, 0 skipped of 1 matching span(s) → {dataset} v1"
    result = runner.invoke(app, [*args[:4], "--prompt", f"{seeded.prompt}@1", "--json"], env=env)
    body = json.loads(result.stdout)
    assert len(body["added"]) == 2 and body["already_present"] == [seeded.error_span]
    result = runner.invoke(app, [*args[:4], "--span-id", "nothex"], env=env)
    assert result.exit_code == 1 and "HTTP 422" in result.stderr and "span id 'nothex' is not valid" in result.stderr
    result = runner.invoke(app, [*args[:4], "--status", "BROKEN"], env=env)
    assert result.exit_code == 2
    result = runner.invoke(app, ["datasets", "promote", "--status", "ERROR"], env=env)
    assert result.exit_code == 2 and "--dataset" in result.stderr
