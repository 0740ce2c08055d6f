"""``spanlab optimize`` against a real server whose ``openai`` provider is the fake model server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from spanlab.cli_optimize import optimize_command
from tests.fakeopenai import FakeOpenAI
from tests.optimizer.support import BETTER, call, script_models, setup_prompt_and_dataset
from tests.server import ServerProcess, start_server

app = typer.Typer()
app.command()(optimize_command)  # one command: invoked without its name, as `spanlab optimize` is
runner = CliRunner()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, fake_openai_server: FakeOpenAI) -> Iterator[ServerProcess]:
    db = tmp_path_factory.mktemp("optimize-cli") / "spanlab.duckdb"
    server = start_server(db, env={**fake_openai_server.client_env(), "SPANLAB_PROVIDERS": "{}"})
    yield server
    assert server.stop() == 0, "\n".join(server.output)


def run(server: ServerProcess, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env={"SPANLAB_URL": server.http_url, "COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


def test_optimize_shows_progress_and_the_summary_and_saves_the_result_beside_the_picture(
    server: ServerProcess, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    script_models(fake_openai, setup_prompt_and_dataset(server, "cli-triage"))
    code, out, err = run(
        server, "--prompt", "cli-triage@production", "--dataset", "cli-triage@1", "--evaluator", "exact_match",
        "--max-iterations", "1", "--minibatch-size", "4", "--strategy", "reflection", "--tag", "staging",
        "--split", "0.5,0.25,0.25", "--seed", "1", "--output-dir", str(tmp_path),
    )  # fmt: skip
    assert code == 0, out + err
    for text in ("optimization cli-triage@1 on cli-triage", "validation score", "0.000 → 1.000", "95% CI"):
        assert text in out
    assert "saved as cli-triage@2" in out
    (folder,) = tmp_path.iterdir()
    saved = json.loads((folder / "result.json").read_text())
    assert saved["status"] == "completed" and saved["result"]["best_prompt"] == [{"role": "user", "content": BETTER}]
    assert (folder / "score-history.svg").read_text().startswith("<svg")
    assert call(server, "GET", "/api/v1/prompts/cli-triage/versions/staging").json()["version"] == 2

    code, out, err = run(server, "--watch", saved["id"], "--json", "--output-dir", str(tmp_path))
    assert code == 0, err
    assert json.loads(out)["id"] == saved["id"], "--watch follows (here: shows) a run already started"
    code, out, err = run(server, "--cancel", saved["id"])
    assert code == 1 and "HTTP 409" in err and "completed, not running" in err


def test_detach_starts_a_run_that_cancel_stops(server: ServerProcess, fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    setup_prompt_and_dataset(server, "cli-detach")
    fake_openai.script.set_latency(0.2)
    code, out, err = run(server, "--prompt", "cli-detach", "--dataset", "cli-detach", "--max-iterations", "50",
                         "--detach")  # fmt: skip
    assert code == 0, err
    run_id = out.strip()
    code, out, err = run(server, "--cancel", run_id)
    assert code == 0 and f"cancelling optimization {run_id}" in out
    code, out, err = run(server, "--watch", run_id, "--output-dir", str(tmp_path))
    assert code == 1 and "cancelled" in out


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        ([], 2, "give --prompt and --dataset"),
        (["--prompt", "p", "--dataset", "d", "--split", "0.5,0.5"], 2, "three fractions"),
        (["--prompt", "p", "--dataset", "d", "--split", "0.5,0.3,0.2", "--no-split"], 2, "not both"),
        (["--prompt", "p", "--dataset", "d@latest"], 2, "NAME or NAME@VERSION"),
        (["--prompt", "p", "--dataset", "d", "--param", "temperature"], 2, "--param"),
        (["--prompt", "p", "--dataset", "d", "--evaluator", "contains:texts=@missing.txt"], 2, "cannot read the file"),
        (["--prompt", "p", "--dataset", "d", "--max-iterations", "-1"], 2, "greater than or equal to 0"),
        (["--prompt", "no-such", "--dataset", "no-such"], 1, "HTTP 404: no dataset named 'no-such'"),
        (["--watch", "not-an-id"], 1, "HTTP 422"),
    ],
)
def test_bad_options_and_refusals(server: ServerProcess, args: list[str], code: int, message: str) -> None:
    exit_code, out, err = run(server, *args)
    assert exit_code == code, out + err
    assert message in out + err
