"""``spanlab experiments``: run a prompt version over a dataset on the server, watch it, list, show, compare.

``run`` starts the experiment (``POST /api/v1/experiments``) and follows it with a progress bar fed by its live
status until it ends (Ctrl-C cancels it); ``--no-wait`` only starts it. ``@path`` values in ``--evaluator``
specs are read here and sent inline. ``rules`` manages online-evaluation rules (:mod:`spanlab.cli_rules`).

Exit status: 0 on success (``run``: the experiment finished); 1 when the server refuses or cannot be reached,
or the experiment failed or was cancelled; 2 on usage errors (bad options, unreadable files).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console, Group
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from replay.errors import InvalidInput
from replay.experiments.compare import Comparison
from replay.experiments.evaluators import inline_files
from replay.experiments.svg import comparison_svg
from replay.overrides import parse_parameter
from spanlab.cli_rules import rules_app
from spanlab.client import SpanlabClient, cli_settings, exit_on_client_error

__all__ = ["comparison_view", "experiments_app", "parse_dataset_ref", "summary_view"]

experiments_app = typer.Typer(no_args_is_help=True, help="Experiments: a prompt version x a dataset x evaluators.")
experiments_app.add_typer(rules_app, name="rules")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the API's JSON.")]
POLL_SECONDS = 0.5


def parse_dataset_ref(text: str) -> tuple[str, int | None]:
    """``NAME`` or ``NAME@VERSION`` → (name, version); ``typer.BadParameter`` otherwise."""
    name, at, version = text.partition("@")
    if not name or (at and not version.isdigit()):
        raise typer.BadParameter(f"{text!r}: write NAME or NAME@VERSION (a number)", param_hint="--dataset")
    return name, int(version) if at else None


def evaluator_bodies(specs: list[str] | None) -> list[dict[str, Any]]:
    """Evaluator specs as the JSON the server takes, with ``@path`` values read from the files here."""
    bodies = []
    for text in specs or []:
        try:
            spec = inline_files(text)
        except InvalidInput as exc:
            raise typer.BadParameter(str(exc), param_hint="--evaluator") from None
        bodies.append({"name": spec.name, "options": spec.options, "target": spec.target})
    return bodies


def parameters(items: list[str] | None) -> dict[str, Any]:
    try:
        return dict(parse_parameter(item) for item in items or [])
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--param") from None


@experiments_app.command("run")
def run(
    dataset: Annotated[str, typer.Option(help="NAME or NAME@VERSION (default: the current version).")],
    prompt: Annotated[str, typer.Option(help="A prompt-hub version: NAME, NAME@3 or NAME@TAG.")],
    evaluator: Annotated[
        list[str] | None, typer.Option(help="An evaluator spec, e.g. exact_match; repeatable.")
    ] = None,
    name: Annotated[str | None, typer.Option(help="A name to find the experiment by.")] = None,
    model: Annotated[str | None, typer.Option(help="Another model than the version's.")] = None,
    provider: Annotated[str | None, typer.Option(help="Another provider (see GET /api/v1/providers).")] = None,
    param: Annotated[
        list[str] | None, typer.Option(help="A parameter override, name=value (JSON); repeatable.")
    ] = None,
    jobs: Annotated[int, typer.Option(min=1, max=256, help="Runs in flight at once.")] = 8,
    repetitions: Annotated[int, typer.Option(min=1, max=20, help="Runs per example.")] = 1,
    retries: Annotated[int, typer.Option(min=0, max=10, help="Retries on 429/5xx/no connection.")] = 3,
    timeout: Annotated[float, typer.Option(min=0.001, max=3600, help="Seconds one run may take.")] = 120.0,
    wait: Annotated[bool, typer.Option(help="Follow it until it ends (--no-wait: only start it).")] = True,
    json_output: JsonFlag = False,
) -> None:
    """Run a prompt version over a dataset version on the server, judged by evaluators, and show the summary."""
    dataset_name, version = parse_dataset_ref(dataset)
    body = {
        "name": name,
        "dataset": dataset_name,
        "dataset_version": version,
        "prompt": prompt,
        "model": model,
        "provider": provider,
        "parameters": parameters(param),
        "evaluators": evaluator_bodies(evaluator),
        "jobs": jobs,
        "repetitions": repetitions,
        "retries": retries,
        "timeout_seconds": timeout,
    }
    with exit_on_client_error(), SpanlabClient.from_settings(cli_settings()) as client:
        experiment = client.post("/experiments", json={k: v for k, v in body.items() if v is not None})
        if wait:
            experiment = _follow(client, experiment, quiet=json_output)
    if json_output:
        typer.echo(json.dumps(experiment, indent=2))
    else:
        Console().print(summary_view(experiment))
    if wait and experiment["status"] != "finished":
        raise typer.Exit(1)


def _follow(client: SpanlabClient, experiment: dict[str, Any], *, quiet: bool) -> dict[str, Any]:
    """Poll the experiment until it ends, with a progress bar; Ctrl-C cancels it."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), disable=quiet, transient=True) as bar:
        label = experiment.get("name") or experiment["id"][:8]
        task = bar.add_task(f"experiment {label}", total=experiment["progress"]["total"])
        try:
            while experiment["status"] == "running":
                time.sleep(POLL_SECONDS)
                experiment = client.get(f"/experiments/{experiment['id']}")
                progress = experiment["progress"]
                bar.update(
                    task, completed=progress["done"], description=f"experiment {label} ({progress['errors']} errors)"
                )
        except KeyboardInterrupt:
            client.post(f"/experiments/{experiment['id']}/cancel", json={})
            typer.echo(f"cancelling experiment {experiment['id']}…", err=True)
            while experiment["status"] == "running":
                time.sleep(POLL_SECONDS)
                experiment = client.get(f"/experiments/{experiment['id']}")
    return experiment


@experiments_app.command("list")
def list_experiments(
    dataset: Annotated[str | None, typer.Option(help="Only this dataset's experiments.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    json_output: JsonFlag = False,
) -> None:
    """Experiments, newest first: id, name, dataset, status, progress, score."""
    with exit_on_client_error(), SpanlabClient.from_settings(cli_settings()) as client:
        page = client.get("/experiments", params={"dataset": dataset, "limit": limit} if dataset else {"limit": limit})
    if json_output:
        typer.echo(json.dumps(page, indent=2))
        return
    table = Table(title=f"{len(page['data'])} experiment(s)", title_justify="left")
    for column in ("id", "name / task", "dataset", "status", "runs", "errors", "score", "created (UTC)"):
        table.add_column(column, overflow="fold")
    for e in page["data"]:
        progress, summary = e["progress"], e.get("summary") or {}
        table.add_row(
            e["id"],
            Text(e.get("name") or e["config"]["task"].get("prompt") or e["config"]["task"].get("function") or ""),
            _dataset(e),
            e["status"],
            f"{progress['done']}/{progress['total']}",
            str(progress["errors"]),
            _score(summary.get("score")),
            e["created_at"][:19].replace("T", " "),
        )
    Console().print(table)


@experiments_app.command("show")
def show(
    experiment_id: Annotated[str, typer.Argument(help="The experiment's id.")],
    runs: Annotated[bool, typer.Option("--runs", help="Also list its runs.")] = False,
    json_output: JsonFlag = False,
) -> None:
    """One experiment: its task, status and summary (and with --runs, every run with its evaluations)."""
    with exit_on_client_error(), SpanlabClient.from_settings(cli_settings()) as client:
        experiment = client.get(f"/experiments/{experiment_id}")
        rows = _all_runs(client, experiment_id) if runs else []
    if json_output:
        typer.echo(json.dumps({**experiment, "runs": rows} if runs else experiment, indent=2))
        return
    console = Console()
    console.print(summary_view(experiment))
    if runs:
        console.print(_runs_table(rows))


def _all_runs(client: SpanlabClient, experiment_id: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page = client.get(
            f"/experiments/{experiment_id}/runs", params={"limit": 1000, **({"cursor": cursor} if cursor else {})}
        )
        rows += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            return rows


@experiments_app.command("compare")
def compare(
    experiment_ids: Annotated[list[str], typer.Argument(help="Two or more experiment ids, the baseline first.")],
    evaluator: Annotated[
        str | None, typer.Option(help="Classify examples by this evaluator (default: the first).")
    ] = None,
    svg: Annotated[
        Path | None, typer.Option(dir_okay=False, help="Also write the comparison chart as SVG here.")
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Compare experiments side by side: per example improved/regressed/unchanged, metric deltas, and whether
    the difference is real (paired bootstrap CI, McNemar)."""
    if len(experiment_ids) < 2:
        raise typer.BadParameter("give at least two experiment ids, the baseline first")
    with exit_on_client_error(), SpanlabClient.from_settings(cli_settings()) as client:
        comparison = client.post(
            "/experiments/compare", json={"experiment_ids": experiment_ids, "evaluator": evaluator}
        )
    if svg is not None:
        svg.write_text(comparison_svg(Comparison.model_validate(comparison)), encoding="utf-8")
    if json_output:
        typer.echo(json.dumps(comparison, indent=2))
    else:
        Console().print(comparison_view(comparison))


@experiments_app.command("cancel")
def cancel(experiment_id: Annotated[str, typer.Argument(help="The experiment's id.")]) -> None:
    """Cancel a running experiment (the runs done so far are kept)."""
    with exit_on_client_error(), SpanlabClient.from_settings(cli_settings()) as client:
        client.post(f"/experiments/{experiment_id}/cancel", json={})
    typer.echo(f"cancelling experiment {experiment_id}")


# -- views ------------------------------------------------------------------------------------------------------
def summary_view(experiment: dict[str, Any]) -> Group:
    """An experiment's task, status and summary metrics."""
    task, summary = experiment["config"]["task"], experiment.get("summary")
    what = task.get("prompt") or task.get("function") or "?"
    where = f" via {task['provider']} / {task['model']}" if task.get("provider") else ""
    header = Text(f"experiment {experiment['id']}", style="bold")
    header.append(f"  {experiment.get('name') or ''}  {what}{where} on {_dataset(experiment)}")
    header.append(f" · {experiment['status']}")
    parts: list[Any] = [header]
    if experiment.get("error"):
        parts.append(Text(f"error: {experiment['error']}", style="red"))
    if summary:
        parts.append(_metrics_table(summary))
    else:
        progress = experiment["progress"]
        parts.append(Text(f"{progress['done']}/{progress['total']} runs done, {progress['errors']} errors"))
    return Group(*parts)


def _metrics_table(summary: dict[str, Any]) -> Table:
    table = Table(show_header=True, title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("score", _score(summary.get("score")))
    table.add_row("runs / examples", f"{summary['runs']} / {summary['examples']}")
    table.add_row("task errors", str(summary["errors"]))
    for name, evaluation in summary["evaluators"].items():
        metrics = evaluation["metrics"]
        for metric in ("pass_rate", "mean_score", "accuracy", "macro_f1", "errors"):
            if metrics.get(metric) is not None and (metric != "errors" or metrics[metric]):
                table.add_row(f"{name} {metric.replace('_', ' ')}", _score(metrics[metric]))
    latency = summary.get("latency_ms") or {}
    table.add_row("latency p50 / p90 / p99 (ms)", " / ".join(_ms(latency.get(k)) for k in ("p50", "p90", "p99")))
    table.add_row("cost (USD)", "—" if summary.get("cost") is None else f"{summary['cost']:.6f}")
    table.add_row("tokens in / out", f"{summary.get('input_tokens') or 0} / {summary.get('output_tokens') or 0}")
    consistency = summary.get("consistency")
    if consistency and consistency.get("output_agreement") is not None:
        label = f"same output in all {consistency['repetitions']} repetitions"
        table.add_row(label, _score(consistency["output_agreement"]))
    return table


def comparison_view(comparison: dict[str, Any]) -> Group:
    """Metric deltas per candidate, the statistics, and the regressed examples."""
    parts: list[Any] = [
        Text(f"baseline {comparison['baseline']['label']} ({comparison['baseline']['id']})", style="bold")
    ]
    for warning in comparison["warnings"]:
        parts.append(Text(f"warning: {warning}", style="yellow"))
    for candidate in comparison["candidates"]:
        brief, changes = candidate["experiment"], candidate["changes"]
        parts.append(Text(f"\ncandidate {brief['label']} ({brief['id']})", style="bold"))
        parts.append(
            Text(
                f"{changes['improved']} improved, {changes['regressed']} regressed, "
                f"{changes['unchanged']} unchanged on {candidate['primary']}"
            )
        )
        table = Table(show_header=True)
        for column in ("metric", "baseline", "candidate", "delta"):
            table.add_column(column, justify="left" if column == "metric" else "right")
        for name, delta in candidate["metrics"].items():
            if delta["baseline"] is not None or delta["candidate"] is not None:
                table.add_row(name, _score(delta["baseline"]), _score(delta["candidate"]), _signed(delta["delta"]))
        parts.append(table)
        for name, evaluator in candidate["evaluators"].items():
            parts.append(Text(f"{name}: " + _significance(evaluator)))
        for change in candidate["regressions"][:20]:
            parts.append(
                Text(f"  regressed {change['example_id']}: {change.get('candidate_explanation') or ''}", style="red")
            )
    return Group(*parts)


def _significance(evaluator: dict[str, Any]) -> str:
    parts = [f"{evaluator['examples']} paired"]
    if evaluator.get("bootstrap"):
        b = evaluator["bootstrap"]
        parts.append(f"delta {b['mean_delta']:+.4f}, {b['confidence']:.0%} CI [{b['low']:+.4f}, {b['high']:+.4f}]")
    if evaluator.get("mcnemar"):
        m = evaluator["mcnemar"]
        parts.append(f"McNemar {m['improved']} improved / {m['regressed']} regressed, p = {m['p_value']:.4g}")
    return "; ".join(parts)


def _runs_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title=f"{len(rows)} run(s)", title_justify="left")
    for column in ("example", "rep", "output / error", "evaluations", "ms"):
        table.add_column(column, overflow="ellipsis", no_wrap=column != "evaluations", max_width=60)
    for run in rows:
        shown = run["error"] or json.dumps(run["output"], ensure_ascii=False)
        verdicts = ", ".join(_verdict(e) for e in run["evaluations"])
        table.add_row(
            run["example_id"],
            str(run["repetition"]),
            Text(shown, style="red" if run["error"] else ""),
            verdicts,
            _ms(run.get("latency_ms")),
        )
    return table


def _verdict(evaluation: dict[str, Any]) -> str:
    if evaluation.get("error"):
        return f"{evaluation['name']}: error"
    if evaluation.get("passed") is not None:
        return f"{evaluation['name']}: {'pass' if evaluation['passed'] else 'fail'}"
    return f"{evaluation['name']}: {evaluation.get('label') or _score(evaluation.get('score'))}"


def _dataset(experiment: dict[str, Any]) -> str:
    version = experiment.get("dataset_version")
    return experiment["dataset"] + ("" if version is None else f"@{version}")


def _score(value: Any) -> str:
    return "—" if value is None else f"{value:.4g}"


def _signed(value: Any) -> str:
    return "" if value is None else f"{value:+.4g}"


def _ms(value: Any) -> str:
    return "—" if value is None else f"{value:.0f}"
