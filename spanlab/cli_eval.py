"""``spanlab eval``: the CI gate — run a prompt over a dataset, compare with a baseline, pass or fail the build.

::

    spanlab eval --dataset intents@3 --prompt-file prompts/triage.yaml --evaluator exact_match \\
                 --baseline support-triage@production --fail-under 0.9 --fail-on-regression \\
                 --report eval.md --junit eval.xml

The experiment runs *here*, calling the model provider directly (providers from ``OPENAI_*`` and
``SPANLAB_PROVIDERS``; ``local`` when the server answers), so it works on a CI machine without a server from
local files: ``--dataset-file`` (JSONL or CSV, see ``spanlab datasets import``) and ``--prompt-file`` (a prompt
file, see ``spanlab prompts push``). ``--dataset NAME[@VERSION]``, ``--prompt NAME@TAG`` and a ``--baseline``
reference are read from the server at ``SPANLAB_URL``; ``--baseline`` may also be a prompt file. When the server
answers, the model calls are traced into its ``experiments`` project and both experiments are uploaded
(``POST /api/v1/experiments/import``) unless ``--no-upload``.

The gate (see :mod:`replay.experiments.gate`): ``--fail-under`` the primary (first) evaluator's gate score;
``--fail-on-regression`` no significant regression against the baseline. ``--report`` writes Markdown for a
pull-request comment, ``--junit`` JUnit XML, ``--svg`` the comparison chart.

Exit status: 0 the gate holds; 1 it fails; 2 usage errors (bad or missing options, unknown dataset, prompt or
evaluator, malformed files, a server needed but unreachable).
"""

from __future__ import annotations

import asyncio
import functools
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn
from urllib.parse import quote

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from replay.datasets.files import parse_csv, parse_jsonl
from replay.datasets.models import Example
from replay.errors import ReplayError
from replay.evaluators import Evaluator
from replay.experiments.api import ExperimentResult, arun_experiment, as_examples
from replay.experiments.evaluators import JudgeClients, build_evaluators
from replay.experiments.gate import GateResult, evaluate_gate
from replay.experiments.models import ExperimentRun
from replay.experiments.models import Progress as RunProgress
from replay.experiments.report import junit_xml, markdown_report
from replay.experiments.svg import comparison_svg
from replay.experiments.tasks import PromptTask
from replay.experiments.tracing import ExperimentTracer
from replay.prompts.files import load_prompt_file
from replay.prompts.hub import parse_ref
from replay.prompts.models import PromptVersion, content_hash
from replay.providers import ProviderRegistry
from spanlab.cli_experiments import parameters, parse_dataset_ref, summary_view
from spanlab.client import SpanlabClient, SpanlabClientError, cli_settings
from spanlab.settings import Settings

__all__ = ["eval_command"]

MAX_DATASET_FILE_BYTES = 32 * 1024 * 1024
PING_SECONDS = 3.0
_PROMPT_SUFFIXES = (".yaml", ".yml", ".json")


def usage(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def eval_command(
    dataset: Annotated[str | None, typer.Option(help="A server dataset: NAME or NAME@VERSION.")] = None,
    dataset_file: Annotated[Path | None, typer.Option(dir_okay=False, help="A local JSONL or CSV dataset.")] = None,
    prompt: Annotated[str | None, typer.Option(help="A server prompt version: NAME, NAME@3 or NAME@TAG.")] = None,
    prompt_file: Annotated[Path | None, typer.Option(dir_okay=False, help="A local prompt file (YAML/JSON).")] = None,
    evaluator: Annotated[
        list[str] | None, typer.Option(help="An evaluator spec (the first is primary); repeatable.")
    ] = None,
    baseline: Annotated[
        str | None, typer.Option(help="Compare with: NAME@TAG on the server, or a prompt file.")
    ] = None,
    fail_under: Annotated[float | None, typer.Option(min=0.0, max=1.0, help="Fail below this gate score.")] = None,
    fail_on_regression: Annotated[bool, typer.Option(help="Fail on a significant regression vs --baseline.")] = False,
    report: Annotated[Path | None, typer.Option(dir_okay=False, help="Write the Markdown report here.")] = None,
    junit: Annotated[Path | None, typer.Option(dir_okay=False, help="Write JUnit XML here.")] = None,
    svg: Annotated[Path | None, typer.Option(dir_okay=False, help="Write the comparison chart (SVG) here.")] = None,
    provider: Annotated[
        str | None, typer.Option(help="The model provider (default: the prompt's, else default).")
    ] = None,
    model: Annotated[str | None, typer.Option(help="Another model than the prompt's.")] = None,
    param: Annotated[
        list[str] | None, typer.Option(help="A parameter override, name=value (JSON); repeatable.")
    ] = None,
    jobs: Annotated[int, typer.Option(min=1, max=256, help="Runs in flight at once.")] = 8,
    repetitions: Annotated[int, typer.Option(min=1, max=20, help="Runs per example.")] = 1,
    retries: Annotated[int, typer.Option(min=0, max=10, help="Retries on 429/5xx/no connection.")] = 3,
    timeout: Annotated[float, typer.Option(min=0.001, max=3600, help="Seconds one run may take.")] = 120.0,
    name: Annotated[str | None, typer.Option(help="A name for the uploaded experiment.")] = None,
    upload: Annotated[bool, typer.Option(help="Upload results when the server answers.")] = True,
) -> None:
    """Run a prompt over a dataset, compare with a baseline and exit 0 (gate holds), 1 (fails) or 2 (usage)."""
    _check_options(dataset, dataset_file, prompt, prompt_file, evaluator, baseline, fail_on_regression)
    assert evaluator is not None
    settings = cli_settings()
    client = _reachable(settings)
    try:
        if client is None and (dataset or prompt or (baseline and not _is_file(baseline))):
            usage(f"cannot reach the spanlab server at {settings.url}; use --dataset-file/--prompt-file or start it")
        examples, dataset_name, version = _examples(client, dataset, dataset_file)
        candidate = _prompt(client, prompt, prompt_file)
        reference = _prompt(client, None if _is_file(baseline) else baseline, _path(baseline))
        tracer = ExperimentTracer.to_server(settings.url) if client is not None and upload else None
        options = {"provider": provider, "model": model, "parameters": parameters(param), "timeout": timeout}
        run = {
            "dataset": dataset_name,
            "dataset_version": version,
            "jobs": jobs,
            "repetitions": repetitions,
            "retries": retries,
            "timeout": timeout,
            "tracer": tracer,
        }
        registry = _registry(settings, client)
        results = asyncio.run(_run(examples, candidate, reference, evaluator, registry, options, run, name))
        if tracer is not None:
            tracer.shutdown()
        second = results[1] if len(results) > 1 else None
        gate = evaluate_gate(results[0], second, fail_under=fail_under, fail_on_regression=fail_on_regression)
        _write(gate, results, report, junit, svg)
        _show(gate, results)
        if client is not None and upload:
            _upload(client, results)
        raise typer.Exit(0 if gate.passed else 1)
    except ReplayError as exc:
        usage(str(exc))
    finally:
        if client is not None:
            client.close()


def _check_options(
    dataset: str | None,
    dataset_file: Path | None,
    prompt: str | None,
    prompt_file: Path | None,
    evaluators: list[str] | None,
    baseline: str | None,
    fail_on_regression: bool,
) -> None:
    if (dataset is None) == (dataset_file is None):
        usage("give either --dataset or --dataset-file")
    if (prompt is None) == (prompt_file is None):
        usage("give either --prompt or --prompt-file")
    if not evaluators:
        usage("give at least one --evaluator (the first one decides the gate)")
    if fail_on_regression and baseline is None:
        usage("--fail-on-regression needs a --baseline to compare with")


def _registry(settings: Settings, client: SpanlabClient | None) -> ProviderRegistry:
    """Providers from this machine's environment, and the server's local model when the server answers."""
    registry = ProviderRegistry.from_environment(settings.providers, os.environ)
    if client is None:
        return registry
    return registry.with_local(f"{settings.url.rstrip('/')}/llm/v1", api_key=settings.api_key)


def _reachable(settings: Settings) -> SpanlabClient | None:
    """A client of the server when it answers, else None."""
    client = SpanlabClient(settings.url, api_key=settings.api_key, timeout=PING_SECONDS)
    try:
        client.get("/status")
    except SpanlabClientError:
        client.close()
        return None
    client.close()
    return SpanlabClient(settings.url, api_key=settings.api_key, timeout=120.0)


def _is_file(reference: str | None) -> bool:
    return reference is not None and (reference.endswith(_PROMPT_SUFFIXES) or Path(reference).is_file())


def _path(reference: str | None) -> Path | None:
    return Path(reference) if reference is not None and _is_file(reference) else None


def _examples(
    client: SpanlabClient | None, dataset: str | None, path: Path | None
) -> tuple[list[Example], str, int | None]:
    if path is not None:
        try:
            if path.stat().st_size > MAX_DATASET_FILE_BYTES:
                usage(f"{path} is larger than {MAX_DATASET_FILE_BYTES // (1024 * 1024)} MiB")
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            usage(f"cannot read {path}: {exc}")
        parsed = (
            parse_csv(text, source=str(path)) if path.suffix.lower() == ".csv" else parse_jsonl(text, source=str(path))
        )
        return as_examples(parsed), path.stem, None
    assert client is not None and dataset is not None
    name, version = parse_dataset_ref(dataset)
    try:
        current = client.get(f"/datasets/{quote(name, safe='')}")["version"]
        at = current if version is None else version
        page = client.get(f"/datasets/{quote(name, safe='')}/examples", params={"version": at})
    except SpanlabClientError as exc:
        usage(str(exc))
    examples = [Example.model_validate(item) for item in page["data"]]
    if not examples:
        usage(f"dataset {name!r} version {at} has no examples")
    return examples, name, at


def _prompt(client: SpanlabClient | None, reference: str | None, path: Path | None) -> tuple[PromptVersion, str] | None:
    """The prompt version and where it came from, or None when neither is given."""
    if path is not None:
        data = load_prompt_file(path)
        version = PromptVersion(
            prompt_name=data.name,
            version=1,
            template=data.template,
            model_provider=data.model_provider,
            model_name=data.model_name,
            invocation_parameters=data.invocation_parameters,
            tools=data.tools,
            response_format=data.response_format,
            metadata=data.metadata,
            commit_message=data.commit_message,
            created_at=datetime.now(UTC),
            content_hash=content_hash(data.content()),
        )
        return version, f"file {path}"
    if reference is None:
        return None
    assert client is not None
    name, number, tag = parse_ref(reference)
    which = str(number) if number is not None else tag or "latest"
    try:
        found = client.get(f"/prompts/{quote(name, safe='')}/versions/{quote(which, safe='')}")
    except SpanlabClientError as exc:
        usage(str(exc))
    return PromptVersion.model_validate(found), f"server {reference}"


async def _run(
    examples: list[Example],
    candidate: tuple[PromptVersion, str] | None,
    reference: tuple[PromptVersion, str] | None,
    specs: list[str],
    registry: ProviderRegistry,
    options: dict[str, Any],
    run: dict[str, Any],
    name: str | None,
) -> list[ExperimentResult]:
    """The candidate's experiment, then the baseline's (same examples, evaluators and settings); every task and
    evaluator is built before the first model call, so a bad option fails before anything runs."""
    tasks = [
        (which, _task(p, registry, options)) for which, p in (("candidate", candidate), ("baseline", reference)) if p
    ]
    judges = JudgeClients(registry, timeout=options["timeout"])
    try:
        evaluators, texts = build_evaluators(specs, judges=judges)
        results = []
        for which, task in tasks:
            label = f"{name or task.config.prompt} ({which})"
            result = await _experiment(examples, task, evaluators, label, which, run)
            for info, text in zip(result.experiment.config.evaluators, texts, strict=True):
                info.spec = text
            results.append(result)
        return results
    finally:
        await judges.aclose()


async def _experiment(
    examples: list[Example], task: PromptTask, evaluators: list[Evaluator], label: str, which: str, run: dict[str, Any]
) -> ExperimentResult:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        progress = bar.add_task(f"{which} {task.config.prompt}", total=len(examples) * run["repetitions"])
        on_run = functools.partial(_advance, bar, progress)
        return await arun_experiment(
            examples, task, evaluators, name=label, on_run=on_run, metadata={"gate": which}, **run
        )


def _advance(bar: Progress, task_id: TaskID, run: ExperimentRun, progress: RunProgress) -> None:
    bar.update(task_id, completed=progress.done)


def _task(prompt: tuple[PromptVersion, str], registry: ProviderRegistry, options: dict[str, Any]) -> PromptTask:
    version, source = prompt
    resolved = registry.resolve(requested=options["provider"], preferred=version.model_provider)
    task = PromptTask(
        version,
        resolved,
        model=options["model"],
        parameters=options["parameters"],
        prompt_source=source,
        request_timeout=options["timeout"],
    )
    if source.startswith("file "):
        task.config.prompt = f"{version.prompt_name} ({Path(source[5:]).name})"
    return task


def _write(
    gate: GateResult, results: list[ExperimentResult], report: Path | None, junit: Path | None, svg: Path | None
) -> None:
    baseline = results[1] if len(results) > 1 else None
    try:
        if report is not None:
            report.write_text(markdown_report(gate, results[0], baseline), encoding="utf-8")
        if junit is not None:
            junit.write_text(junit_xml(results[0]), encoding="utf-8")
        if svg is not None and gate.comparison is not None:
            svg.write_text(comparison_svg(gate.comparison), encoding="utf-8")
    except OSError as exc:
        usage(f"cannot write a report: {exc}")


def _show(gate: GateResult, results: list[ExperimentResult]) -> None:
    console = Console()
    for result in results:
        console.print(summary_view(orjson.loads(orjson.dumps(result.experiment.model_dump(mode="json")))))
    for check in gate.checks:
        console.print(f"{'✓' if check.passed else '✗'} {check.name}: {check.detail}")
    shown = "—" if gate.score is None else f"{gate.score:.4f}"
    console.print(f"[bold]{'gate holds' if gate.passed else 'gate fails'}[/] (gate score {shown} on {gate.primary})")


def _upload(client: SpanlabClient, results: list[ExperimentResult]) -> None:
    for result in results:
        body = orjson.dumps(result.to_import().model_dump(mode="json"))
        try:
            stored = client.post_content("/experiments/import", body, content_type="application/json")
        except SpanlabClientError as exc:
            typer.echo(f"warning: could not upload experiment {result.id}: {exc}", err=True)
            continue
        typer.echo(f"uploaded experiment {stored['id']} ({stored['name']}): spanlab experiments show {stored['id']}")
