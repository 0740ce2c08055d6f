"""Datasets over REST on a real ``spanlab serve``: versions, edits, import/export, and bad inputs storing nothing."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.server import ServerProcess


@pytest.fixture
def api(spanlab_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{spanlab_server.http_url}/api/v1", timeout=60) as client:
        yield client


@pytest.fixture
def name() -> str:
    return f"ds-{uuid.uuid4().hex[:8]}"


def error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    message: str = response.json()["error"]["message"]
    return message


def version_of(api: httpx.Client, name: str) -> int:
    version: int = api.get(f"/datasets/{name}").json()["version"]
    return version


def test_create_add_edit_delete_and_read_old_versions(api: httpx.Client, name: str) -> None:
    made = api.post("/datasets", json={"name": name, "description": "intents"})
    assert made.status_code == 201 and made.json()["version"] == 0
    assert f"a dataset named '{name}' already exists" == error(api.post("/datasets", json={"name": name}), 409)
    added = api.post(
        f"/datasets/{name}/examples",
        json={"examples": [{"input": {"q": "lost card"}}, {"input": {"q": "declined"}, "metadata": {"k": 1}}]},
    )
    assert added.status_code == 201 and added.json()["version"] == 1
    first, second = added.json()["examples"]
    edited = api.patch(f"/datasets/{name}/examples/{first['id']}", json={"expected_output": "card_lost"})
    assert edited.status_code == 200 and edited.json()["expected_output"] == "card_lost"
    assert api.delete(f"/datasets/{name}/examples/{second['id']}").json()["version"] == 3

    current = api.get(f"/datasets/{name}/examples").json()["data"]
    assert [(e["id"], e["expected_output"]) for e in current] == [(first["id"], "card_lost")]
    v1 = api.get(f"/datasets/{name}/examples", params={"version": 1}).json()["data"]
    assert [(e["input"], e["expected_output"]) for e in v1] == [({"q": "lost card"}, None), ({"q": "declined"}, None)]
    assert api.get(f"/datasets/{name}/examples/{second['id']}", params={"version": 2}).json()["metadata"] == {"k": 1}
    assert "has no example" in error(api.get(f"/datasets/{name}/examples/{second['id']}"), 404)
    versions = api.get(f"/datasets/{name}/versions").json()
    assert [(v["version"], v["example_count"]) for v in versions] == [(3, 1), (2, 2), (1, 2)]
    listed = {d["name"]: d for d in api.get("/datasets").json()["data"]}
    assert listed[name]["version"] == 3 and listed[name]["example_count"] == 1


def test_import_jsonl_and_csv_then_export(api: httpx.Client, name: str) -> None:
    jsonl = '\ufeff{"input": {"q": "lost card"}, "expected_output": "card_lost"}\n{"input": {"q": "top up"}}\n'
    made = api.post(f"/datasets/{name}/import", content=jsonl.encode(), params={"filename": "cases.jsonl"})
    assert made.status_code == 201 and made.json()["version"] == 1 and len(made.json()["examples"]) == 2
    csv_text = "text,intent,team\nrefund please,refund,ops\n"
    params = {"format": "csv", "input_columns": "text", "expected_column": "intent", "metadata_columns": "team"}
    made = api.post(f"/datasets/{name}/import", content=csv_text.encode(), params=params)
    example = made.json()["examples"][0]
    assert (example["input"], example["expected_output"], example["metadata"]) == (
        {"text": "refund please"},
        "refund",
        {"team": "ops"},
    )
    assert api.get(f"/datasets/{name}/versions").json()[0]["note"] == "imported 1 examples from CSV"

    exported = api.get(f"/datasets/{name}/export")
    assert exported.headers["content-type"].startswith("application/x-ndjson")
    assert exported.headers["content-disposition"] == f'attachment; filename="{name}-v2.jsonl"'
    rows = [json.loads(line) for line in exported.text.splitlines()]
    assert [r["input"] for r in rows] == [{"q": "lost card"}, {"q": "top up"}, {"text": "refund please"}]
    old = api.get(f"/datasets/{name}/export", params={"format": "csv", "version": 1})
    assert old.headers["content-type"].startswith("text/csv")
    assert old.text.splitlines()[0] == "id,input.q,expected_output,metadata,source_span_id,source_trace_id"
    assert len(old.text.splitlines()) == 3
    again = api.post(f"/datasets/{name}/import", content=old.text.encode(), params={"format": "csv"})
    assert [e["input"] for e in again.json()["examples"]] == [{"q": "lost card"}, {"q": "top up"}]


@pytest.mark.parametrize(
    ("content", "params", "status", "message"),
    [
        (b'{"input": {}}\n{"input": 1}\n', {"filename": "x.jsonl"}, 422, "x.jsonl, line 2: input: Input should be"),
        (b'{"input": {}}\n{broken\n', {}, 422, "the file, line 2: not valid JSON"),
        (b"a,b\n1,2,3\n", {"format": "csv"}, 422, "the file, line 2: expected 2 cells"),
        (b"a,b\n1,2\n", {"format": "csv", "expected_column": "z"}, 422, "no column(s) 'z'"),
        (b"", {}, 422, "the file holds no examples"),
        (b'{"input": {"a": "\xff"}}\n', {}, 422, "the file is not UTF-8 text (invalid byte at offset 17)"),
        (b'{"input": {}}\n', {"format": "xml"}, 422, "query.format: Input should be 'jsonl' or 'csv'"),
    ],
)
def test_bad_imports_store_nothing(
    api: httpx.Client, name: str, content: bytes, params: dict[str, str], status: int, message: str
) -> None:
    assert message in error(api.post(f"/datasets/{name}/import", content=content, params=params), status)
    assert "no dataset named" in error(api.get(f"/datasets/{name}"), 404), "not even created"
    api.post("/datasets", json={"name": name})
    assert message in error(api.post(f"/datasets/{name}/import", content=content, params=params), status)
    assert version_of(api, name) == 0 and api.get(f"/datasets/{name}/examples").json()["data"] == []


def test_an_oversized_import_is_413(api: httpx.Client, name: str) -> None:
    line = b'{"input": {"q": "' + b"x" * 1000 + b'"}}\n'
    content = line * (33 * 1024)
    assert "larger than 32 MiB" in error(api.post(f"/datasets/{name}/import", content=content), 413)
    assert api.get(f"/datasets/{name}").status_code == 404


def test_bad_requests(api: httpx.Client, name: str) -> None:
    assert "dataset name 'a b' is not valid" in error(api.post("/datasets", json={"name": "a b"}), 422)
    assert "name: Field required" in error(api.post("/datasets", json={}), 422)
    assert "no dataset named" in error(api.post(f"/datasets/{name}/examples", json={"examples": [{"input": {}}]}), 404)
    api.post("/datasets", json={"name": name})
    assert "examples: List should have at least 1 item" in error(
        api.post(f"/datasets/{name}/examples", json={"examples": []}), 422
    )
    assert "examples.0.input: Input should be a valid dictionary" in error(
        api.post(f"/datasets/{name}/examples", json={"examples": [{"input": "x"}]}), 422
    )
    assert "examples: List should have at most 10000 items" in error(
        api.post(f"/datasets/{name}/examples", json={"examples": [{"input": {}}] * 10_001}), 422
    )
    example = api.post(f"/datasets/{name}/examples", json={"examples": [{"input": {"q": 1}}]}).json()["examples"][0]
    patch = f"/datasets/{name}/examples/{example['id']}"
    assert "give at least one of" in error(api.patch(patch, json={}), 422)
    assert "input cannot be null" in error(api.patch(patch, json={"input": None}), 422)
    assert "has no example 'nope'" in error(api.patch(f"/datasets/{name}/examples/nope", json={"metadata": {}}), 404)
    assert "has no version 9 (versions 0 to 1)" in error(
        api.get(f"/datasets/{name}/examples", params={"version": 9}), 404
    )
    assert "query.version" in error(api.get(f"/datasets/{name}/examples", params={"version": -1}), 422)
    assert version_of(api, name) == 1, "refused edits made no version"
    cleared = api.patch(patch, json={"expected_output": None})
    assert cleared.status_code == 200 and version_of(api, name) == 1, "clearing what is already empty changes nothing"
