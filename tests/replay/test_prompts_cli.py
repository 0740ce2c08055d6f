"""``spanlab prompts`` against a real ``spanlab serve``: push files, list, show, versions, diff, tag, history."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from spanlab.cli import app
from tests.server import ServerProcess

runner = CliRunner()


def run(server: ServerProcess, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["prompts", *args], env={"SPANLAB_URL": server.http_url, "COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def name() -> str:
    return f"cli-triage-{uuid.uuid4().hex[:8]}"


def write_yaml(path: Path, name: str, *, temperature: float = 0, question: str = "{{question}}") -> Path:
    path.write_text(
        f"""\
name: {name}
description: Route banking questions
commit_message: temperature {temperature}
model_provider: openai
model_name: gpt-4o-mini
parameters:
  temperature: {temperature}
messages:
  - role: system
    content: You classify banking questions into one of 77 intents.
  - role: user
    content: "{question}"
response_format:
  type: json_object
""",
        encoding="utf-8",
    )
    return path


def test_push_show_versions_diff_tag_history(spanlab_server: ServerProcess, name: str, tmp_path: Path) -> None:
    file = write_yaml(tmp_path / "triage.yaml", name)
    code, out, err = run(spanlab_server, "push", str(file))
    assert code == 0, err
    assert out.startswith(f"created {name}@1 (sha256:")
    assert run(spanlab_server, "push", str(file))[1].strip() == f"unchanged: identical to {name}@1"
    json_file = tmp_path / "triage.json"
    json_file.write_text(
        json.dumps({"name": name, "template": [{"role": "user", "content": "Q: {{question}}"}]}), encoding="utf-8"
    )
    assert run(spanlab_server, "push", str(json_file))[1].startswith(f"created {name}@2")

    assert run(spanlab_server, "tag", name, "1", "production", "--note", "first release")[1].strip() == (
        f"{name} production: new → 1"
    )
    assert run(spanlab_server, "tag", name, "2", "production")[1].strip() == f"{name} production: 1 → 2"
    assert run(spanlab_server, "tag", name, "1", "production", "--note", "rollback")[1].strip() == (
        f"{name} production: 2 → 1"
    )

    code, out, _ = run(spanlab_server, "show", f"{name}@production")
    assert code == 0 and f"{name}@1" in out and "gpt-4o-mini" in out and "production" in out
    assert "{{question}}" in out and "json_object" in out and '{"temperature": 0}' in out
    code, out, _ = run(spanlab_server, "show", name, "--json")
    assert json.loads(out)["version"] == 2
    code, out, _ = run(spanlab_server, "show", f"{name}@1", "--yaml")
    as_file = yaml.safe_load(out)
    assert as_file["name"] == name and as_file["parameters"] == {"temperature": 0}
    assert as_file["description"] == "Route banking questions"
    pulled = tmp_path / "pulled.yaml"
    pulled.write_text(out, encoding="utf-8")
    assert run(spanlab_server, "push", str(pulled))[1].strip() == f"unchanged: identical to {name}@1"

    code, out, _ = run(spanlab_server, "versions", name)
    assert code == 0 and "temperature 0" in out and "production" in out
    code, out, _ = run(spanlab_server, "diff", name, "1", "2")
    assert (
        code == 0
        and "+    Q: {{question}}" in out
        and "model_name" in out
        and "invocation_parameters.temperature" in out
    )
    code, out, _ = run(spanlab_server, "history", name, "--tag", "production", "--json")
    assert [(m["from_version"], m["to_version"]) for m in json.loads(out)] == [(2, 1), (1, 2), (None, 1)]
    code, out, _ = run(spanlab_server, "history", name)
    assert code == 0 and "rollback" in out and "first release" in out
    code, out, _ = run(spanlab_server, "list")
    assert code == 0 and name in out and "production→1" in out


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        ("name: x\nmessages: [\n", ".yaml", "not valid YAML (line 3, column 1"),
        ('{"name": "x", ', ".json", "not valid JSON (line 1, column"),
        ("- just\n- a list\n", ".yaml", "expected a mapping of fields (name, messages, …), found list"),
        ("", ".yaml", "found nothing"),
        ("name: x\n", ".yml", "missing field 'messages' (or 'template')"),
        ("name: x\nmesages: []\nmessages: [{role: user, content: hi}]\n", ".yaml", "unknown field 'mesages'"),
        ("name: x\nmessages: [{role: user, content: 'hi {{name'}]\n", ".yaml", "field 'messages': message 0 content"),
        ("name: bad name\nmessages: [{role: user, content: hi}]\n", ".yaml", "field 'name': prompt name 'bad name'"),
        ("name: x\nmessages: [{role: user, content: hi}]\n", ".txt", "must end in .yaml, .yml or .json"),
    ],
)
def test_bad_prompt_files_exit_1_naming_file_and_field(
    spanlab_server: ServerProcess, tmp_path: Path, content: str, suffix: str, message: str
) -> None:
    file = tmp_path / f"prompt{suffix}"
    file.write_text(content, encoding="utf-8")
    code, out, err = run(spanlab_server, "push", str(file))
    assert code == 1 and out == ""
    assert err.startswith(f"error: {file}: ") and message in err, err
    assert len(err.strip().splitlines()) == 1


def test_server_refusals_exit_1_and_usage_errors_exit_2(
    spanlab_server: ServerProcess, name: str, tmp_path: Path
) -> None:
    code, _, err = run(spanlab_server, "show", f"{name}@production")
    assert code == 1 and err.strip() == f"error: HTTP 404: no prompt named '{name}'"
    run(spanlab_server, "push", str(write_yaml(tmp_path / "p.yaml", name)))
    code, _, err = run(spanlab_server, "tag", name, "5", "production")
    assert code == 1 and "HTTP 404" in err and "has no version 5" in err
    code, _, err = run(spanlab_server, "tag", name, "1", "123")
    assert code == 1 and "HTTP 422" in err
    assert run(spanlab_server, "tag", name, "0", "production")[0] == 2
    assert run(spanlab_server, "diff", name, "one", "2")[0] == 2
    assert run(spanlab_server, "push", str(tmp_path / "missing.yaml"))[0] == 2
    assert run(spanlab_server, "show", "@1")[0] == 2
    assert json.loads(run(spanlab_server, "history", name, "--json")[1]) == []
