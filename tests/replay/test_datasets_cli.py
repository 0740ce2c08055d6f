"""``spanlab datasets`` against a real ``spanlab serve``: create, add, edit, remove, import, export, versions."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from spanlab.cli import app
from tests.server import ServerProcess

runner = CliRunner()


def run(server: ServerProcess, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["datasets", *args], env={"SPANLAB_URL": server.http_url, "COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def name() -> str:
    return f"cli-ds-{uuid.uuid4().hex[:8]}"


def test_create_add_edit_remove_show_versions(spanlab_server: ServerProcess, name: str) -> None:
    assert run(spanlab_server, "create", name, "--description", "intents") == (0, f"created dataset {name}\n", "")
    code, out, _ = run(spanlab_server, "add", name, "--input", '{"question": "lost card"}', "--expected", "card_lost")
    assert code == 0 and out.endswith(f"→ {name} v1\n")
    example_id = out.split()[2]
    run(spanlab_server, "add", name, "--input", '{"question": "top up"}', "--expected-json", '{"intent": "top_up"}')
    code, out, _ = run(spanlab_server, "edit", name, example_id, "--expected", "lost_or_stolen_card")
    assert code == 0 and out.strip() == f"example {example_id} → {name} v3: expected lost_or_stolen_card"
    code, out, _ = run(spanlab_server, "edit", name, example_id, "--metadata", '{"reviewed": true}', "--json")
    assert json.loads(out)["metadata"] == {"reviewed": True}
    code, out, _ = run(spanlab_server, "show", name, "--version", "1")
    assert code == 0 and f"{name} v1: 1 example(s)" in out and "card_lost" in out
    code, out, _ = run(spanlab_server, "show", name)
    assert "lost_or_stolen_card" in out and '{"intent": "top_up"}' in out and f"{name} v4: 2" in out
    code, out, _ = run(spanlab_server, "edit", name, example_id, "--clear-expected", "--json")
    assert json.loads(out)["expected_output"] is None
    assert run(spanlab_server, "remove", name, example_id)[1].strip() == f"removed example {example_id} → {name} v6"
    code, out, _ = run(spanlab_server, "versions", name)
    assert code == 0 and "deleted example" in out and "edited example" in out and "added 1 example" in out
    code, out, _ = run(spanlab_server, "list", "--json")
    mine = [d for d in json.loads(out)["data"] if d["name"] == name]
    assert mine[0]["version"] == 6 and mine[0]["example_count"] == 1


def test_import_export_round_trip(spanlab_server: ServerProcess, name: str, tmp_path: Path) -> None:
    source = tmp_path / "intents.csv"
    source.write_text('text,intent,team\nlost my card,card_lost,ops\n"top up, failed",top_up,ops\n', encoding="utf-8")
    code, out, err = run(
        spanlab_server,
        "import",
        name,
        str(source),
        "--input-column",
        "text",
        "--expected-column",
        "intent",
        "--metadata-column",
        "team",
    )
    assert code == 0, err
    assert out.strip() == f"imported 2 example(s) → {name} v1"
    exported = tmp_path / "out.jsonl"
    code, _, err = run(spanlab_server, "export", name, "-o", str(exported))
    assert code == 0 and "wrote 2 example(s)" in err
    rows = [json.loads(line) for line in exported.read_text(encoding="utf-8").splitlines()]
    assert [(r["input"], r["expected_output"], r["metadata"]) for r in rows] == [
        ({"text": "lost my card"}, "card_lost", {"team": "ops"}),
        ({"text": "top up, failed"}, "top_up", {"team": "ops"}),
    ]
    copy = f"{name}-copy"
    assert run(spanlab_server, "import", copy, str(exported))[0] == 0
    code, out, _ = run(spanlab_server, "export", copy, "--format", "csv")
    assert out.splitlines()[0] == "id,input.text,expected_output,metadata,source_span_id,source_trace_id"
    assert '"top up, failed",top_up,"{""team"":""ops""}"' in out
    code, out, _ = run(spanlab_server, "export", name, "--version", "0")
    assert code == 0 and out == ""


def test_bad_files_and_options(spanlab_server: ServerProcess, name: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"input": {"q": 1}}\n{"input": {"q": 2}, "expected_output": }\n', encoding="utf-8")
    code, out, err = run(spanlab_server, "import", name, str(bad))
    assert code == 1 and out == "" and err.startswith("error: HTTP 422: bad.jsonl, line 2: not valid JSON")
    code, _, err = run(spanlab_server, "show", name)
    assert code == 1 and f"no dataset named '{name}'" in err, "nothing was stored"
    csv_file = tmp_path / "bad.csv"
    csv_file.write_text("a,b\n1\n", encoding="utf-8")
    code, _, err = run(spanlab_server, "import", name, str(csv_file))
    assert code == 1 and "bad.csv, line 2: expected 2 cells as in the header, found 1" in err
    assert run(spanlab_server, "import", name, str(tmp_path / "missing.jsonl"))[0] == 2
    assert run(spanlab_server, "import", name, str(bad), "--format", "xml")[0] == 2
    run(spanlab_server, "create", name)
    code, _, err = run(spanlab_server, "create", name)
    assert code == 1 and f"HTTP 409: a dataset named '{name}' already exists" in err
    code, _, err = run(spanlab_server, "add", name, "--input", "[1]")
    assert code == 2 and "--input must be a JSON object" in err
    code, _, err = run(spanlab_server, "add", name, "--input", "{", "--expected", "x")
    assert code == 2 and "--input is not valid JSON" in err
    code, _, err = run(spanlab_server, "add", name, "--input", "{}", "--expected", "x", "--expected-json", "1")
    assert code == 2 and "not both" in err
    code, _, err = run(spanlab_server, "edit", name, "some-id")
    assert code == 2 and "give --expected" in err
    code, _, err = run(spanlab_server, "edit", name, "some-id", "--expected", "x")
    assert code == 1 and "HTTP 404" in err and "has no example 'some-id'" in err
    code, _, err = run(spanlab_server, "show", name, "--version", "3")
    assert code == 1 and "has no version 3" in err
    assert run(spanlab_server, "show", name, "--version", "-1")[0] == 2
    code, _, err = run(spanlab_server, "create", "bad name")
    assert code == 1 and "HTTP 422" in err and "dataset name 'bad name' is not valid" in err
