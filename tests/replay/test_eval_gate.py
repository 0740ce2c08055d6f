"""``spanlab eval``, the CI gate, through the Typer app: offline from local files (no server), against a real
server (dataset, prompts and baseline from it, results uploaded and traced), and every usage error (exit 2)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from spanlab.cli_eval import eval_command
from tests.fakeopenai import FakeOpenAI
from tests.replay.experiment_support import api, make_dataset, make_prompt, questions
from tests.replay.replay_support import closed_port, start_replay_server
from tests.server import ServerProcess, wait_for

app = typer.Typer()
app.command()(eval_command)
runner = CliRunner()
OFFLINE = f"http://127.0.0.1:{closed_port()}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, fake_openai_server: FakeOpenAI) -> Iterator[ServerProcess]:
    server = start_replay_server(tmp_path_factory.mktemp("eval-gate") / "spanlab.duckdb", fake_openai_server)
    yield server
    assert server.stop() == 0, "\n".join(server.output)


def gate(fake: FakeOpenAI, url: str, *args: str) -> tuple[int, str, str]:
    env = {"SPANLAB_URL": url, "COLUMNS": "200", **fake.client_env()}
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def dataset_file(tmp_path: Path, count: int = 20, name: str = "cases.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(json.dumps(row) for row in questions(count)) + "\n", encoding="utf-8")
    return path


def prompt_file(tmp_path: Path, template: str = "Q: {{q}}", name: str = "triage.yaml") -> Path:
    path = tmp_path / name
    content = {
        "name": "triage",
        "model_provider": "openai",
        "model_name": "gpt-4o-mini",
        "messages": [{"role": "user", "content": template}],
    }
    path.write_text(yaml.safe_dump(content), encoding="utf-8")
    return path


def test_offline_from_files_the_gate_holds_and_writes_both_reports(tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    cases = dataset_file(tmp_path)
    with cases.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"input": {"q": "odd one"}, "expected_output": "not what it says"}) + "\n")
    report, junit = tmp_path / "eval.md", tmp_path / "eval.xml"
    code, out, err = gate(
        fake_openai,
        OFFLINE,
        "--dataset-file",
        str(cases),
        "--prompt-file",
        str(prompt_file(tmp_path)),
        "--evaluator",
        "exact_match",
        "--evaluator",
        "contains:texts=fake",
        "--fail-under",
        "0.9",
        "--report",
        str(report),
        "--junit",
        str(junit),
    )
    assert code == 0, out + err
    assert "gate holds" in out and "uploaded" not in out
    assert len(fake_openai.requests) == 21 and fake_openai.requests[0].body["model"] == "gpt-4o-mini"
    markdown = report.read_text(encoding="utf-8")
    assert markdown.startswith("## spanlab eval: ✅ gate holds")
    assert (
        "| gate score (exact_match) | 0.9524 |" in markdown and "fail-under**: score 0.9524 vs at least 0.9" in markdown
    )
    assert "### Failing examples (1 of 21 runs)" in markdown and "not what it says" in markdown
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("42", "1", "0")
    failure = suite.find("testcase/failure")
    assert failure is not None and "expected 'not what it says'" in (failure.get("message") or "")


def test_offline_the_gate_fails_below_the_bar(tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    rows = questions(4)
    rows[0]["input"]["q"] += " [[error:400]]"
    cases = tmp_path / "cases.jsonl"
    cases.write_text("\n".join(json.dumps(row) for row in rows), encoding="utf-8")
    report = tmp_path / "eval.md"
    code, out, err = gate(
        fake_openai,
        OFFLINE,
        "--dataset-file",
        str(cases),
        "--prompt-file",
        str(prompt_file(tmp_path)),
        "--evaluator",
        "exact_match",
        "--fail-under",
        "0.8",
        "--report",
        str(report),
        "--retries",
        "0",
    )
    assert code == 1, out + err
    assert "gate fails" in out and "score 0.7500" in out, "a failed task counts as a failure"
    assert "the task failed: the provider answered HTTP 400" in report.read_text(encoding="utf-8")


def test_offline_a_regression_against_a_baseline_file_fails_the_gate(tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    cases = dataset_file(tmp_path, 30, "cases.csv")
    cases.write_text(
        "q,expected_output\n" + "".join(f"question {i},fake reply to: Q: question {i}\n" for i in range(30))
    )
    candidate, baseline = prompt_file(tmp_path, "Q: {{q}}?", "new.yaml"), prompt_file(tmp_path, "Q: {{q}}", "old.yaml")
    report, chart = tmp_path / "eval.md", tmp_path / "eval.svg"
    code, out, err = gate(
        fake_openai,
        OFFLINE,
        "--dataset-file",
        str(cases),
        "--prompt-file",
        str(candidate),
        "--baseline",
        str(baseline),
        "--evaluator",
        "exact_match",
        "--fail-on-regression",
        "--report",
        str(report),
        "--svg",
        str(chart),
    )
    assert code == 1, out + err
    markdown = report.read_text(encoding="utf-8")
    assert "❌ **no-regression**: the confidence interval lies below 0; significantly more regressions" in markdown
    assert "### Regressions (30 regressed, 0 improved, 0 unchanged on exact_match)" in markdown
    assert (
        "McNemar (chi2): 0 improved, 30 regressed" in markdown
        and "| gate score (exact_match) | 0.0000 | 1.0000 | -1.0000 |" in markdown
    )
    assert "expected 'fake reply to: Q: question 0', got 'fake reply to: Q: question 0?'" in markdown
    assert chart.read_text(encoding="utf-8").startswith("<svg")
    same = gate(
        fake_openai,
        OFFLINE,
        "--dataset-file",
        str(cases),
        "--prompt-file",
        str(baseline),
        "--baseline",
        str(baseline),
        "--evaluator",
        "exact_match",
        "--fail-on-regression",
    )
    assert same[0] == 0, same[1] + same[2]


def test_with_a_server_everything_comes_from_it_and_the_results_go_back(
    server: ServerProcess, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    dataset = make_dataset(server, questions(5))
    production = make_prompt(server, tag="production").split("@")[0]
    report = tmp_path / "eval.md"
    code, out, err = gate(
        fake_openai,
        server.http_url,
        "--dataset",
        f"{dataset}@1",
        "--prompt-file",
        str(prompt_file(tmp_path)),
        "--baseline",
        f"{production}@production",
        "--evaluator",
        "exact_match",
        "--fail-on-regression",
        "--fail-under",
        "1",
        "--name",
        "pr-42",
        "--report",
        str(report),
    )
    assert code == 0, out + err
    assert out.count("uploaded experiment") == 2
    with api(server) as client:
        listed = client.get("/experiments", params={"dataset": dataset}).json()["data"]
    assert sorted(e["name"] for e in listed) == ["pr-42 (baseline)", "pr-42 (candidate)"]
    assert {e["origin"] for e in listed} == {"import"} and {e["dataset_version"] for e in listed} == {1}
    candidate = next(e for e in listed if e["name"] == "pr-42 (candidate)")
    assert candidate["summary"]["score"] == 1.0 and candidate["config"]["evaluators"][0]["spec"] == "exact_match"
    assert candidate["config"]["task"]["prompt_source"].startswith("file ")
    with api(server) as client:
        runs = client.get(f"/experiments/{candidate['id']}/runs").json()["data"]
    span_id = runs[0]["span_id"]
    rows = wait_for(
        lambda: server.sql(f"SELECT project, name FROM spans WHERE span_id = '{span_id}'"), what="the gate's span"
    )
    assert rows == [["experiments", "chat gpt-4o-mini"]]
    assert server.sql(f"SELECT name FROM annotations WHERE span_id = '{span_id}'") == [["exact_match"]]
    assert f"dataset **{dataset}@1** (5 examples, 5 runs)" in report.read_text(encoding="utf-8")


def test_no_upload_keeps_results_local(server: ServerProcess, fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    dataset = make_dataset(server, questions(2))
    prompt = make_prompt(server)
    code, out, err = gate(
        fake_openai,
        server.http_url,
        "--dataset",
        dataset,
        "--prompt",
        prompt,
        "--evaluator",
        "exact_match",
        "--no-upload",
    )
    assert code == 0, out + err
    with api(server) as client:
        assert client.get("/experiments", params={"dataset": dataset}).json()["data"] == []


def usage_cases(tmp_path: Path) -> list[tuple[list[str], str]]:
    cases, prompt = str(dataset_file(tmp_path, 2)), str(prompt_file(tmp_path))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"input": {"q": 1}}\nnot json\n', encoding="utf-8")
    both = ["--dataset-file", cases, "--prompt-file", prompt]
    return [
        (["--prompt-file", prompt, "--evaluator", "exact_match"], "either --dataset or --dataset-file"),
        (["--dataset", "x", *both, "--evaluator", "exact_match"], "either --dataset or --dataset-file"),
        (["--dataset-file", cases, "--evaluator", "exact_match"], "either --prompt or --prompt-file"),
        (both, "at least one --evaluator"),
        ([*both, "--evaluator", "exact_match", "--fail-on-regression"], "needs a --baseline"),
        ([*both, "--evaluator", "no_such_evaluator"], "unknown evaluator"),
        ([*both, "--evaluator", "regex:pattern=("], "pattern"),
        (["--dataset-file", str(bad), "--prompt-file", prompt, "--evaluator", "exact_match"], "line 2"),
        (
            ["--dataset-file", str(tmp_path / "missing.jsonl"), "--prompt-file", prompt, "--evaluator", "exact_match"],
            "cannot read",
        ),
        (["--dataset-file", cases, "--prompt-file", cases, "--evaluator", "exact_match"], "prompt file must end in"),
        (
            ["--dataset", "intents", "--prompt-file", prompt, "--evaluator", "exact_match"],
            "cannot reach the spanlab server",
        ),
        ([*both, "--evaluator", "exact_match", "--provider", "nowhere"], "unknown provider 'nowhere'"),
        ([*both, "--evaluator", "exact_match", "--param", "stream=true"], "stream"),
        ([*both, "--evaluator", "exact_match", "--fail-under", "1.5"], "--fail-under"),
    ]


def test_usage_errors_exit_2_with_a_clear_message(tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    for args, message in usage_cases(tmp_path):
        code, out, err = gate(fake_openai, OFFLINE, *args)
        assert code == 2, (args, out, err)
        assert message in err, (args, err)
    assert fake_openai.requests == [], "no model was called"


def test_unknown_things_on_the_server_are_usage_errors(
    server: ServerProcess, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    prompt = str(prompt_file(tmp_path))
    dataset = make_dataset(server, questions(1))
    cases: list[tuple[list[str], str]] = [
        (["--dataset", "no-such-dataset", "--prompt-file", prompt], "no dataset named"),
        (["--dataset", f"{dataset}@7", "--prompt-file", prompt], "has no version 7"),
        (["--dataset", "bad@ref", "--prompt-file", prompt], "NAME@VERSION"),
        (["--dataset", dataset, "--prompt", "no-such-prompt@production"], "no-such-prompt"),
        (["--dataset", dataset, "--prompt-file", prompt, "--baseline", "no-such-prompt@production"], "no-such-prompt"),
    ]
    for args, message in cases:
        code, out, err = gate(fake_openai, server.http_url, *args, "--evaluator", "exact_match")
        assert code == 2, (args, out, err)
        assert message in err, (args, err)
