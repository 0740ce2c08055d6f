"""``spanlab optimize``: improve a prompt version on a dataset, on the server, with a live progress view.

The run is started with ``POST /api/v1/optimizations`` and followed through its live status (phase, iteration,
rollouts, scores, the latest candidates and messages) until it ends; Ctrl-C cancels it. Then the summary table
is printed and the result (``result.json``) and the score history (``score-history.svg``) are saved side by
side in ``--output-dir``/ID. ``--watch ID`` follows a run already started, ``--cancel ID`` cancels one and
``--detach`` only starts it. ``@path`` values in ``--evaluator`` specs are read here and sent inline.

Exit status: 0 when the run completed; 1 when the server refuses or cannot be reached, or the run failed, was
cancelled or interrupted; 2 on usage errors (bad options, unreadable files).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from optimizer.result import OptimizationResult
from spanlab.cli_experiments import evaluator_bodies, parameters, parse_dataset_ref
from spanlab.client import SpanlabClient, cli_settings, exit_on_client_error

__all__ = ["optimize_command", "progress_view"]

POLL_SECONDS = 1.0
SHOWN_CANDIDATES = 8
SHOWN_MESSAGES = 6
DEFAULT_OUTPUT = Path(".spanlab/optimizations")


def optimize_command(
    prompt: Annotated[str | None, typer.Option(help="The starting prompt: NAME, NAME@3 or NAME@TAG.")] = None,
    dataset: Annotated[str | None, typer.Option(help="NAME or NAME@VERSION (default: the current version).")] = None,
    evaluator: Annotated[
        list[str] | None, typer.Option(help="An evaluator spec (the first one scores); default exact_match.")
    ] = None,
    name: Annotated[str | None, typer.Option(help="A name for the run.")] = None,
    provider: Annotated[str | None, typer.Option(help="The task's provider (default: the version's).")] = None,
    model: Annotated[str | None, typer.Option(help="The task's model (default: the version's).")] = None,
    param: Annotated[list[str] | None, typer.Option(help="A task parameter, name=value (JSON); repeatable.")] = None,
    reflection_model: Annotated[str | None, typer.Option(help="The reasoning model (default: the task's).")] = None,
    reflection_provider: Annotated[str | None, typer.Option(help="Its provider (default: the task's).")] = None,
    reflection_format: Annotated[
        str, typer.Option(help="How it is asked for JSON: json_schema, json_object or text.")
    ] = "json_schema",
    max_iterations: Annotated[int, typer.Option(min=0, help="Iterations at most.")] = 5,
    budget_rollouts: Annotated[int | None, typer.Option(min=1, help="Search rollouts at most.")] = None,
    patience: Annotated[int | None, typer.Option(min=1, help="Stop after N iterations without gain.")] = None,
    minibatch_size: Annotated[int, typer.Option(min=1, help="Training examples per iteration.")] = 8,
    split: Annotated[str | None, typer.Option(help="Fractions TRAIN,VALIDATION,TEST (default 0.5,0.25,0.25).")] = None,
    no_split: Annotated[bool, typer.Option("--no-split", help="Use every example for train and validation.")] = False,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the split and the search.")] = 0,
    strategy: Annotated[
        list[str] | None, typer.Option(help="reflection and/or fewshot (default both); repeatable.")
    ] = None,
    parent_selection: Annotated[str, typer.Option(help="best or pareto.")] = "best",
    num_prompts: Annotated[int, typer.Option(min=1, help="New prompts per reflection.")] = 1,
    demos: Annotated[int | None, typer.Option(min=1, help="Demonstrations per few-shot candidate.")] = None,
    runs: Annotated[int, typer.Option(min=1, help="Repetitions per example.")] = 1,
    jobs: Annotated[int, typer.Option(min=1, help="Rollouts at once.")] = 4,
    tag: Annotated[str | None, typer.Option(help="Tag the saved winner, e.g. staging.")] = None,
    no_save: Annotated[bool, typer.Option("--no-save", help="Do not save the winner as a prompt version.")] = False,
    output_dir: Annotated[Path, typer.Option(help="Where result.json and score-history.svg go.")] = DEFAULT_OUTPUT,
    detach: Annotated[bool, typer.Option("--detach", help="Start the run and return its id.")] = False,
    watch: Annotated[str | None, typer.Option(help="Follow a run already started (its id).")] = None,
    cancel: Annotated[str | None, typer.Option(help="Cancel a running optimization (its id).")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the final JSON instead of tables.")] = False,
) -> None:
    """Optimize a prompt version on a dataset: reflect on failures, try few-shot demonstrations, keep the best
    on validation, prove it on test, and save the winner as a new prompt version."""
    settings = cli_settings()
    if cancel is not None:
        with exit_on_client_error(), SpanlabClient.from_settings(settings) as client:
            run = client.cancel_optimization(cancel)
        typer.echo(f"cancelling optimization {run['id']} ({run['status']})")
        return
    body = None
    if watch is None:
        if prompt is None or dataset is None:
            raise typer.BadParameter("give --prompt and --dataset (or --watch ID / --cancel ID)")
        body = _body(locals())
    with exit_on_client_error(), SpanlabClient.from_settings(settings) as client:
        run = client.start_optimization(body) if body is not None else client.get_optimization(str(watch))
        if detach:
            typer.echo(run["id"])
            return
        run = follow(client, run, quiet=json_output)
        svg = client.optimization_svg(run["id"])
    folder = save_outputs(run, svg, output_dir)
    if json_output:
        typer.echo(json.dumps(run, indent=2))
    else:
        final_view(run, folder)
    if run["status"] != "completed":
        raise typer.Exit(1)


def _body(options: dict[str, Any]) -> dict[str, Any]:
    dataset_name, dataset_version = parse_dataset_ref(options["dataset"])
    body: dict[str, Any] = {
        "prompt": options["prompt"],
        "dataset": dataset_name,
        "dataset_version": dataset_version,
        "name": options["name"],
        "evaluators": evaluator_bodies(options["evaluator"]) or None,
        "provider": options["provider"],
        "model": options["model"],
        "parameters": parameters(options["param"]),
        "reflection_model": options["reflection_model"],
        "reflection_provider": options["reflection_provider"],
        "reflection_format": options["reflection_format"],
        "max_iterations": options["max_iterations"],
        "budget_rollouts": options["budget_rollouts"],
        "patience": options["patience"],
        "minibatch_size": options["minibatch_size"],
        "split": False if options["no_split"] else _fractions(options["split"]),
        "seed": options["seed"],
        "strategies": options["strategy"],
        "parent_selection": options["parent_selection"],
        "num_prompts": options["num_prompts"],
        "demos": options["demos"],
        "runs": options["runs"],
        "jobs": options["jobs"],
        "save": not options["no_save"],
        "tag": options["tag"],
    }
    if options["no_split"] and options["split"] is not None:
        raise typer.BadParameter("give --split or --no-split, not both")
    return {key: value for key, value in body.items() if value is not None}


def _fractions(text: str | None) -> list[float] | None:
    if text is None:
        return None
    parts = text.split(",")
    try:
        fractions = [float(part) for part in parts]
    except ValueError:
        fractions = []
    if len(fractions) != 3:
        raise typer.BadParameter(f"{text!r}: write three fractions TRAIN,VALIDATION,TEST, e.g. 0.5,0.25,0.25")
    return fractions


def follow(client: SpanlabClient, run: dict[str, Any], *, quiet: bool = False) -> dict[str, Any]:
    """Poll the run until it ends, showing its progress; the first Ctrl-C cancels it, a second one stops
    watching (the run goes on being cancelled on the server)."""
    console = Console(stderr=quiet)
    with Live(progress_view(run), console=console, refresh_per_second=4, transient=quiet) as live:
        try:
            while run["status"] == "running":
                time.sleep(POLL_SECONDS)
                run = client.get_optimization(run["id"])
                live.update(progress_view(run))
        except KeyboardInterrupt:
            client.cancel_optimization(run["id"])
            live.console.print("cancelling… (Ctrl-C again to stop watching)")
            while run["status"] == "running":
                time.sleep(POLL_SECONDS)
                run = client.get_optimization(run["id"])
                live.update(progress_view(run))
    return run


def progress_view(run: dict[str, Any]) -> Group:
    """The live view of a run: status line, scores, the latest candidates and messages."""
    progress = run["progress"]
    budget = f"/{progress['budget_rollouts']}" if progress.get("budget_rollouts") else ""
    header = Text(f"optimization {run['name']}  ", style="bold")
    header.append(f"{run['status']} · {progress['phase']} · iteration {progress['iteration']}/")
    header.append(f"{progress['max_iterations']} · rollouts {progress['search_rollouts']}{budget}")
    scores = Text(
        f"validation: start {_score(progress.get('baseline_score'))} · best {_score(progress.get('best_score'))}"
    )
    if progress.get("best_candidate_id"):
        scores.append(f" ({progress['best_candidate_id']})")
    table = Table(title_justify="left", expand=False)
    for column in ("candidate", "iter", "origin", "parent", "minibatch", "validation", "status"):
        table.add_column(column)
    for point in progress["candidates"][-SHOWN_CANDIDATES:]:
        minibatch = (
            ""
            if point.get("minibatch_score") is None
            else (f"{_score(point.get('parent_minibatch_score'))} → {_score(point['minibatch_score'])}")
        )
        table.add_row(
            point["id"], str(point["iteration"]), point["origin"], point.get("parent_id") or "", minibatch,
            _score(point.get("validation_score")), point["status"],
        )  # fmt: skip
    messages = [Text(message, style="dim") for message in progress["messages"][-SHOWN_MESSAGES:]]
    return Group(header, scores, table, *messages)


def final_view(run: dict[str, Any], folder: Path) -> None:
    console = Console()
    if run.get("result"):
        console.print(OptimizationResult.model_validate(run["result"]).summary_view())
    if run.get("saved_version"):
        console.print(f"saved as [bold]{run['saved_version']}[/]")
    if run.get("error"):
        console.print(f"[red]{run['status']}: {run['error']}[/]")
    elif run["status"] != "completed":
        console.print(f"[yellow]{run['status']}[/]")
    console.print(f"result and score history: {folder}")


def save_outputs(run: dict[str, Any], svg: str, output_dir: Path) -> Path:
    """Write ``result.json`` (the whole run) and ``score-history.svg`` into ``output_dir``/ID."""
    folder = output_dir / run["id"]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "result.json").write_text(json.dumps(run, indent=2), encoding="utf-8")
        (folder / "score-history.svg").write_text(svg, encoding="utf-8")
    except OSError as exc:
        typer.echo(f"error: cannot write the result into {folder}: {exc}", err=True)
        raise typer.Exit(1) from None
    return folder


def _score(value: Any) -> str:
    return "—" if value is None else f"{value:.3f}"
