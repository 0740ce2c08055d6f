"""``spanlab experiments run|list|show|compare|cancel`` and ``spanlab experiments rules …`` through the Typer app
against a real server whose provider ``fake`` is the fake model server."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from spanlab.cli import app
from tests.fakeopenai import FakeOpenAI
from tests.replay.experiment_support import api, make_dataset, make_prompt, questions, start_experiment
from tests.replay.replay_support import closed_port, start_replay_server, unique
from tests.server import ServerProcess, wait_for

runner = CliRunner()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, fake_openai_server: FakeOpenAI) -> Iterator[ServerProcess]:
    server = start_replay_server(tmp_path_factory.mktemp("experiments-cli") / "spanlab.duckdb", fake_openai_server)
    yield server
    assert server.stop() == 0, "\n".join(server.output)


def cli(server: ServerProcess | str, *args: str) -> tuple[int, str, str]:
    url = server if isinstance(server, str) else server.http_url
    result = runner.invoke(app, ["experiments", *args], env={"SPANLAB_URL": url, "COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


def test_run_follows_the_experiment_and_shows_its_summary(server: ServerProcess, tmp_path: Path) -> None:
    rows = questions(4)
    rows[3]["expected_output"] = "no"
    dataset, prompt = make_dataset(server, rows), make_prompt(server)
    rubric = tmp_path / "pattern.txt"
    rubric.write_text("^fake reply", encoding="utf-8")
    code, out, err = cli(
        server,
        "run",
        "--dataset",
        f"{dataset}@1",
        "--prompt",
        prompt,
        "--evaluator",
        "exact_match",
        "--evaluator",
        f"regex:pattern=@{rubric}",
        "--name",
        "cli-run",
        "--param",
        "temperature=0",
    )
    assert code == 0, out + err
    assert "cli-run" in out and "finished" in out and f"on {dataset}@1" in out
    assert "exact_match pass rate" in out and "0.75" in out and "regex pass rate" in out
    with api(server) as client:
        (experiment,) = client.get("/experiments", params={"dataset": dataset}).json()["data"]
    assert experiment["config"]["evaluators"][1]["spec"] == "regex:pattern=^fake reply", "the file was read here"
    assert experiment["config"]["task"]["parameters"] == {"temperature": 0}

    code, out, err = cli(server, "list", "--dataset", dataset)
    assert code == 0 and experiment["id"] in out and "4/4" in out
    code, out, err = cli(server, "show", experiment["id"], "--runs")
    assert code == 0, err
    assert "4 run(s)" in out and "exact_match: fail" in out and "fake reply to: Q: question 3" in out
    code, out, err = cli(server, "show", experiment["id"], "--json", "--runs")
    assert code == 0 and len(json.loads(out)["runs"]) == 4


def test_no_wait_then_cancel(server: ServerProcess) -> None:
    rows = [{"input": {"q": f"slow {i} [[latency:3]]"}} for i in range(6)]
    code, out, err = cli(
        server,
        "run",
        "--dataset",
        make_dataset(server, rows),
        "--prompt",
        make_prompt(server),
        "--no-wait",
        "--jobs",
        "1",
        "--json",
    )
    assert code == 0, err
    experiment = json.loads(out)
    assert experiment["status"] == "running"
    code, out, err = cli(server, "cancel", experiment["id"])
    assert code == 0 and "cancelling" in out
    with api(server) as client:
        wait_for(
            lambda: client.get(f"/experiments/{experiment['id']}").json()["status"] == "cancelled",
            what="the experiment to be cancelled",
        )
    code, out, err = cli(server, "cancel", experiment["id"])
    assert code == 1 and "not running" in err


def test_compare_shows_deltas_statistics_and_regressions(server: ServerProcess, tmp_path: Path) -> None:
    dataset = make_dataset(server, questions(12))
    ids = []
    for template in ("Q: {{q}}", "Q: {{q}}?"):
        code, out, err = cli(
            server,
            "run",
            "--dataset",
            dataset,
            "--prompt",
            make_prompt(server, template),
            "--evaluator",
            "exact_match",
            "--json",
        )
        assert code == 0, err
        ids.append(json.loads(out)["id"])
    chart = tmp_path / "chart.svg"
    code, out, err = cli(server, "compare", *ids, "--svg", str(chart))
    assert code == 0, err
    assert "0 improved, 12 regressed, 0 unchanged on exact_match" in out
    assert "McNemar 0 improved / 12 regressed" in out and "regressed " in out
    assert chart.read_text(encoding="utf-8").startswith("<svg")
    code, out, err = cli(server, "compare", ids[0])
    assert code == 2 and "at least two" in err


def test_errors_give_exit_codes_and_clear_messages(server: ServerProcess) -> None:
    dataset, prompt = make_dataset(server, questions(1)), make_prompt(server)
    cases = [
        (["run", "--dataset", "no-such", "--prompt", prompt], 1, "no dataset named 'no-such'"),
        (["run", "--dataset", "bad@ref", "--prompt", prompt], 2, "NAME@VERSION"),
        (["run", "--dataset", dataset, "--prompt", prompt, "--param", "oops"], 2, "name=value"),
        (
            ["run", "--dataset", dataset, "--prompt", prompt, "--evaluator", "judge:rubric=@missing.txt,model=m"],
            2,
            "cannot read the file",
        ),
        (["run", "--dataset", dataset, "--prompt", prompt, "--evaluator", "nope"], 2, "unknown evaluator"),
        (["show", str(uuid.uuid4())], 1, "no experiment"),
        (["run", "--dataset", dataset, "--prompt", prompt, "--jobs", "0"], 2, "--jobs"),
    ]
    for args, status, message in cases:
        code, out, err = cli(server, *args)
        assert code == status, (args, out, err)
        assert message in err, (args, err)
    code, out, err = cli(f"http://127.0.0.1:{closed_port()}", "list")
    assert code == 1 and "cannot reach the spanlab server" in err


def test_rules_are_managed_from_the_command_line(server: ServerProcess) -> None:
    name = unique("cli-rule")
    code, out, err = cli(
        server,
        "rules",
        "add",
        name,
        "--evaluator",
        "valid_json",
        "--project",
        "bot",
        "--sample-rate",
        "0.25",
        "--json",
    )
    assert code == 0, err
    rule = json.loads(out)
    assert (rule["project"], rule["sample_rate"], rule["evaluators"]) == ("bot", 0.25, ["valid_json"])
    code, out, err = cli(server, "rules", "list")
    assert code == 0 and name in out and "project=bot" in out
    code, out, err = cli(server, "rules", "update", rule["id"], "--disable", "--sample-rate", "1")
    assert code == 0, err
    code, out, err = cli(server, "rules", "show", rule["id"])
    assert json.loads(out)["enabled"] is False and json.loads(out)["sample_rate"] == 1.0
    code, out, err = cli(server, "rules", "delete", rule["id"])
    assert code == 0 and "deleted" in out
    assert cli(server, "rules", "add", unique("r"))[0] == 2
    assert cli(server, "rules", "update", rule["id"])[0] == 2
    code, out, err = cli(server, "rules", "add", unique("r"), "--evaluator", "python:os:getcwd")
    assert code == 1 and "python: evaluators" in err


def test_a_started_experiment_shows_live_progress(server: ServerProcess) -> None:
    rows = [{"input": {"q": f"slow {i} [[latency:1]]"}} for i in range(4)]
    started = start_experiment(server, dataset=make_dataset(server, rows), prompt=make_prompt(server), jobs=1)
    code, out, err = cli(server, "show", started["id"])
    assert code == 0, err
    assert "running" in out and "runs done" in out
