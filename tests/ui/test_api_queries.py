"""The query REST API on the real app and a real collector, fed through its own OTLP/HTTP (JSON) receiver."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from collector.service import Collector, CollectorConfig
from spanlab.settings import Settings
from ui.app import create_app

T0 = 1_740_830_400_000_000_000  # 2025-03-01T12:00:00Z in ns
TRACE_A, TRACE_B, TRACE_C, TRACE_D = ("a" * 32, "b" * 32, "c" * 32, "d" * 32)
SHARED = "5" * 16  # a span id that occurs in traces A and D


def _value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    return {"stringValue": str(value)}


def otlp_span(
    trace: str,
    span: str,
    parent: str | None,
    name: str,
    offset_ms: int,
    duration_ms: int,
    attributes: dict[str, Any],
    *,
    error: bool = False,
) -> dict[str, Any]:
    """One span in OTLP/JSON form (ids hex, times in ns)."""
    start = T0 + offset_ms * 1_000_000
    return {
        "traceId": trace,
        "spanId": span,
        "parentSpanId": parent or "",
        "name": name,
        "kind": 1,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + duration_ms * 1_000_000),
        "attributes": [{"key": k, "value": _value(v)} for k, v in attributes.items()],
        "status": {"code": 2, "message": "tool failed"} if error else {"code": 1},
    }


def llm_attributes(model: str, provider: str, question: str, answer: str, tokens: int) -> dict[str, Any]:
    return {
        "openinference.span.kind": "LLM",
        "llm.model_name": model,
        "llm.provider": provider,
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.content": question,
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.content": answer,
        "llm.token_count.prompt": tokens - 5,
        "llm.token_count.completion": 5,
        "llm.token_count.total": tokens,
        "input.value": question,
        "output.value": answer,
    }


def export_body(project: str, spans: list[dict[str, Any]]) -> dict[str, Any]:
    resource = {"attributes": [{"key": "openinference.project.name", "value": {"stringValue": project}}]}
    return {"resourceSpans": [{"resource": resource, "scopeSpans": [{"scope": {"name": "t"}, "spans": spans}]}]}


SEED = [
    (
        "support",
        [
            otlp_span(
                TRACE_A,
                "a" * 16,
                None,
                "agent",
                0,
                900,
                {"openinference.span.kind": "CHAIN", "input.value": "refund my card please"},
            ),
            otlp_span(
                TRACE_A,
                SHARED,
                "a" * 16,
                "chat",
                10,
                700,
                llm_attributes("gpt-4o", "openai", "Refund my card please", "Sure, refunding.", 120),
            ),
            otlp_span(
                TRACE_A,
                "a1" * 8,
                "a" * 16,
                "lookup",
                720,
                50,
                {"openinference.span.kind": "TOOL"},
                error=True,
            ),
            otlp_span(TRACE_C, "c" * 16, None, "agent", 2000, 100, {"openinference.span.kind": "CHAIN"}),
            otlp_span(TRACE_C, "c1" * 8, "f" * 16, "late child", 2050, 10, {"openinference.span.kind": "TOOL"}),
            otlp_span(TRACE_D, SHARED, None, "shared-id root", 3000, 5, {"openinference.span.kind": "CHAIN"}),
        ],
    ),
    (
        "other",
        [
            otlp_span(
                TRACE_B,
                "b" * 16,
                None,
                "chat",
                1000,
                3000,
                llm_attributes("smollm2-135m", "local", "what is my balance?", "No idea.", 40),
            ),
        ],
    ),
]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    tmp: Path = tmp_path_factory.mktemp("api")
    collector = Collector(CollectorConfig(db=tmp / "s.duckdb", wal_dir=tmp / "wal", ingest_workers=0))
    collector.start()
    app = create_app(collector)
    app.state.settings = Settings(sql_timeout_seconds=0.5, sql_max_rows=100)
    try:
        with TestClient(app) as http:
            for project, spans in SEED:
                assert http.post("/v1/traces", json=export_body(project, spans)).status_code == 200
            assert collector.pipeline.drain(timeout=30), "ingest did not drain"
            yield http
    finally:
        collector.close()


def error_of(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body["error"]) >= {"type", "message"}
    return str(body["error"]["message"])


# -- projects and traces ------------------------------------------------------------------------------------
def test_projects(client: TestClient) -> None:
    body = client.get("/api/v1/projects").json()
    assert body["next_cursor"] is None
    support = {p["name"]: p for p in body["data"]}["support"]
    assert (
        support["span_count"],
        support["trace_count"],
        support["llm_span_count"],
        support["error_count"],
    ) == (6, 3, 1, 1)
    assert support["total_tokens"] == 120 and support["first_seen"].startswith("2025-03-01T12:00:00")


def test_traces_list_newest_first_and_filters(client: TestClient) -> None:
    def trace_ids(**params: Any) -> list[str]:
        response = client.get("/api/v1/traces", params=params)
        assert response.status_code == 200, response.text
        return [t["trace_id"][0] for t in response.json()["data"]]

    assert trace_ids() == ["d", "c", "b", "a"]
    assert trace_ids(project="other") == ["b"]
    assert trace_ids(status="ERROR") == ["a"]
    assert trace_ids(model="gpt-4o", provider="openai") == ["a"]
    assert trace_ids(q="REFUND my") == ["a"]
    assert trace_ids(q="balance", project="support") == []
    assert trace_ids(min_latency_ms=2000) == ["b"]
    assert trace_ids(min_tokens=100) == ["a"]
    assert trace_ids(start="2025-03-01T12:00:01Z", end="2025-03-01T13:00:02.5+01:00") == ["c", "b"]
    first = client.get("/api/v1/traces", params={"limit": 3}).json()
    second = client.get("/api/v1/traces", params={"limit": 3, "cursor": first["next_cursor"]}).json()
    assert [t["trace_id"][0] for t in second["data"]] == ["a"] and second["next_cursor"] is None
    a = second["data"][0]
    assert (a["span_count"], a["llm_span_count"], a["error_count"], a["status_code"], a["models"]) == (
        3,
        1,
        1,
        "ERROR",
        ["gpt-4o"],
    )
    assert a["input_preview"] == "refund my card please" and a["start_time"] == "2025-03-01T12:00:00Z"


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"cursor": "garbage"}, 400, "cursor is not valid"),
        ({"limit": 0}, 422, "limit"),
        ({"limit": 501}, 422, "limit"),
        ({"limit": "ten"}, 422, "limit"),
        ({"start": "last tuesday"}, 422, "start"),
        ({"start": "2025-03-02T00:00:00Z", "end": "2025-03-01T00:00:00Z"}, 422, "start must be earlier"),
        ({"status": "BROKEN"}, 422, "status"),
        ({"q": "x" * 1001}, 422, "q"),
        ({"min_latency_ms": -5}, 422, "min_latency_ms"),
        ({"min_score": "high"}, 422, "min_score"),
        ({"has_annotation": "maybe"}, 422, "has_annotation"),
        ({"stauts": "ERROR"}, 422, "stauts"),
    ],
)
def test_traces_list_bad_input(client: TestClient, params: dict[str, Any], status: int, message: str) -> None:
    assert message in error_of(client.get("/api/v1/traces", params=params), status)


def test_trace_tree(client: TestClient) -> None:
    trace = client.get(f"/api/v1/traces/{TRACE_A.upper()}").json()
    (root,) = trace["spans"]
    assert root["name"] == "agent" and [c["name"] for c in root["children"]] == ["chat", "lookup"]
    assert root["children"][0]["model"] == "gpt-4o" and root["children"][1]["status_code"] == "ERROR"
    orphaned = client.get(f"/api/v1/traces/{TRACE_C}").json()
    assert [s["name"] for s in orphaned["spans"]] == ["agent", "late child"]
    assert "not valid" in error_of(client.get("/api/v1/traces/xyz"), 400)
    assert "32 hexadecimal" in error_of(client.get(f"/api/v1/traces/{'a' * 33}"), 400)
    assert "no trace" in error_of(client.get(f"/api/v1/traces/{'e' * 32}"), 404)


# -- spans --------------------------------------------------------------------------------------------------
def test_spans_list_and_detail(client: TestClient) -> None:
    llm = client.get("/api/v1/spans", params={"kind": "LLM"}).json()["data"]
    assert [s["name"] for s in llm] == ["chat", "chat"]
    listed = client.get("/api/v1/spans", params=[("span_ids", "b" * 16), ("span_ids", f"{'c' * 16},{'c1' * 8}")])
    assert [s["name"] for s in listed.json()["data"]] == ["late child", "agent", "chat"]
    page = client.get("/api/v1/spans", params={"trace_id": TRACE_A, "limit": 2}).json()
    rest = client.get("/api/v1/spans", params={"trace_id": TRACE_A, "cursor": page["next_cursor"]}).json()
    assert len(page["data"]) == 2 and len(rest["data"]) == 1 and rest["next_cursor"] is None
    detail = client.get(f"/api/v1/spans/{'b' * 16}").json()
    assert detail["input_messages"] == [{"role": "user", "content": "what is my balance?"}]
    assert detail["attributes"]["llm.model_name"] == "smollm2-135m" and detail["logs"] == []
    assert detail["total_tokens"] == 40 and detail["resource"]["openinference.project.name"] == "other"


def test_span_errors(client: TestClient) -> None:
    assert "trace_id" in error_of(client.get(f"/api/v1/spans/{SHARED}"), 409)
    assert client.get(f"/api/v1/spans/{SHARED}", params={"trace_id": TRACE_D}).json()["name"] == "shared-id root"
    assert "16 hexadecimal" in error_of(client.get("/api/v1/spans/123"), 400)
    assert "no span" in error_of(client.get(f"/api/v1/spans/{'e' * 16}"), 404)
    assert "32 hexadecimal" in error_of(client.get(f"/api/v1/spans/{'b' * 16}", params={"trace_id": "b"}), 400)
    assert "trace_id" in error_of(client.get("/api/v1/spans", params={"trace_id": "nope"}), 422)
    assert "span_ids" in error_of(client.get("/api/v1/spans", params={"span_ids": "zz"}), 422)
    too_many: list[tuple[str, str | int | float | bool | None]] = [("span_ids", f"{i:016x}") for i in range(501)]
    assert "500" in error_of(client.get("/api/v1/spans", params=too_many), 422)
    assert "cursor" in error_of(client.get("/api/v1/spans", params={"cursor": "e30"}), 400)


# -- annotations --------------------------------------------------------------------------------------------
def test_annotations_roundtrip_and_filters(client: TestClient) -> None:
    url = f"/api/v1/spans/{'c' * 16}/annotations"
    created = client.post(
        url,
        json={
            "name": "correct",
            "score": 0,
            "label": "wrong_intent",
            "explanation": "asked for refund",
            "metadata": {"reviewer": "kim"},
        },
    )
    assert created.status_code == 201, created.text
    note = created.json()
    assert note["annotator_kind"] == "HUMAN" and note["trace_id"] == TRACE_C and len(note["id"]) == 36
    assert client.post(url, json={"name": "correct", "score": 1, "annotator_kind": "LLM"}).status_code == 201
    assert [a["score"] for a in client.get(url).json()["data"]] == [0.0, 1.0]
    trace = client.get(f"/api/v1/traces/{TRACE_C}").json()
    assert len(trace["spans"][0]["annotations"]) == 2
    assert trace["annotations"] == [{"name": "correct", "count": 2, "mean_score": 0.5, "labels": ["wrong_intent"]}]
    assert client.get(f"/api/v1/spans/{'c' * 16}").json()["annotations"][0]["metadata"] == {"reviewer": "kim"}
    listed = client.get("/api/v1/traces", params={"has_annotation": True}).json()["data"]
    assert [t["trace_id"] for t in listed] == [TRACE_C]
    assert client.get("/api/v1/traces", params={"annotation_name": "correct", "max_score": -1}).json()["data"] == []
    shared = client.post(
        f"/api/v1/spans/{SHARED}/annotations",
        params={"trace_id": TRACE_D},
        json={"name": "ok", "label": "fine"},
    )
    assert shared.status_code == 201 and shared.json()["trace_id"] == TRACE_D


@pytest.mark.parametrize(
    ("span", "body", "status", "message"),
    [
        ("e" * 16, {"name": "x", "score": 1}, 404, "no span"),
        ("xyz", {"name": "x", "score": 1}, 400, "16 hexadecimal"),
        (SHARED, {"name": "x", "score": 1}, 409, "trace_id"),
        ("b" * 16, {"name": "x"}, 422, "at least one of score, label or explanation"),
        ("b" * 16, {"name": "", "score": 1}, 422, "name"),
        ("b" * 16, {"name": "n" * 201, "score": 1}, 422, "name"),
        ("b" * 16, {"name": "x", "explanation": "e" * 10_001}, 422, "explanation"),
        ("b" * 16, {"name": "x", "score": 1, "annotator_kind": "ROBOT"}, 422, "annotator_kind"),
        ("b" * 16, {"name": "x", "score": "very"}, 422, "score"),
        ("b" * 16, {"name": "x", "score": 1, "metadata": ["not", "a", "dict"]}, 422, "metadata"),
        ("b" * 16, {"name": "x", "score": 1, "metadata": {"k": "v" * 70_000}}, 422, "metadata"),
        ("b" * 16, None, 422, "body"),
    ],
)
def test_annotation_bad_input(client: TestClient, span: str, body: Any, status: int, message: str) -> None:
    response = client.post(f"/api/v1/spans/{span}/annotations", json=body)
    assert message in error_of(response, status)


def test_annotation_malformed_json(client: TestClient) -> None:
    response = client.post(
        f"/api/v1/spans/{'b' * 16}/annotations",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    error_of(response, 422)


# -- SQL ----------------------------------------------------------------------------------------------------
def test_sql(client: TestClient) -> None:
    body = client.post(
        "/api/v1/sql",
        json={"sql": "SELECT project, count(*) AS n, min(start_time) AS t FROM spans GROUP BY 1 ORDER BY 1"},
    ).json()
    assert body["columns"] == ["project", "n", "t"] and body["types"] == ["VARCHAR", "BIGINT", "TIMESTAMP"]
    assert body["rows"] == [["other", 1, "2025-03-01T12:00:01"], ["support", 6, "2025-03-01T12:00:00"]]
    assert (body["row_count"], body["truncated"]) == (2, False)
    capped = client.post("/api/v1/sql", json={"sql": "FROM range(1000)"}).json()
    assert (capped["row_count"], capped["truncated"]) == (100, True)


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"sql": "DELETE FROM spans"}, 400, "writes are not allowed through SQL"),
        ({"sql": "SELECT 1; SELECT 2"}, 400, "exactly one statement"),
        ({"sql": "SELECT * FROM read_csv('/etc/passwd')"}, 400, "not allowed through SQL"),
        ({"sql": "COPY spans TO 'out.csv'"}, 400, "got COPY"),
        ({"sql": "ATTACH ':memory:' AS m"}, 400, "got ATTACH"),
        ({"sql": "SELECT count(*) FROM range(1000000000000)"}, 408, "longer than 0.5 s"),
        ({"sql": "SELEC"}, 400, "does not parse"),
        ({"sql": ""}, 422, "sql"),
        ({"sql": "SELECT 1 " + " " * 100_000}, 422, "sql"),
        ({"query": "SELECT 1"}, 422, "sql"),
        ({}, 422, "sql"),
        (None, 422, "body"),
    ],
)
def test_sql_refusals(client: TestClient, body: Any, status: int, message: str) -> None:
    assert message in error_of(client.post("/api/v1/sql", json=body), status)


def test_openapi_documents_the_query_routes(client: TestClient) -> None:
    spec = client.get("/api/v1/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/api/v1/projects",
        "/api/v1/traces",
        "/api/v1/traces/{trace_id}",
        "/api/v1/spans",
        "/api/v1/spans/{span_id}",
        "/api/v1/spans/{span_id}/annotations",
        "/api/v1/sql",
    ):
        assert path in paths, path
    parameters = {p["name"] for p in paths["/api/v1/traces"]["get"]["parameters"]}
    assert {"project", "q", "status", "min_score", "limit", "cursor"} <= parameters
    assert "has_annotation" in paths["/api/v1/traces"]["get"]["description"] or parameters
    schema = paths["/api/v1/traces/{trace_id}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/TraceDetail")
