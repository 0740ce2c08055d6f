"""The Python API: run a whole experiment in-process and get its record, runs and summary back.

::

    from replay.experiments import run_experiment

    def triage(input, config):                        # your own pipeline, sync or async
        return my_app.classify(input["question"], model=config["model"])

    result = run_experiment(
        examples,                                     # Examples, or dicts {"input", "expected_output", "id"?}
        triage,                                       # or a PromptTask (a prompt version through a provider)
        ["exact_match:case_insensitive=true", polite], # Evaluators, callables or spec strings
        config={"model": "gpt-4o-mini"},
        dataset="intents", dataset_version=3, jobs=16, repetitions=3,
    )
    print(result.summary.score, result.summary.latency_ms["p90"])

Nothing is stored: upload with ``SpanlabClient.import_experiment(result.to_import())`` (``spanlab eval`` does).
Pass ``tracer=ExperimentTracer.to_server(url)`` to trace the runs into a spanlab server. Examples given as
dicts without an ``id`` get one derived from their content (stable across runs and orderings, so two
experiments on the same file compare example by example).
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import ValidationError

from replay.datasets.models import Example, ExampleInput
from replay.errors import InvalidInput
from replay.evaluators import EvaluatedRow, Evaluator, SummaryEvaluator, as_evaluator, build_evaluator
from replay.experiments.models import (
    EvaluatorInfo,
    Experiment,
    ExperimentConfig,
    ExperimentImport,
    ExperimentRun,
    ExperimentSummary,
    Progress,
)
from replay.experiments.retry import Backoff
from replay.experiments.runner import ExperimentRunner, RunPlan
from replay.experiments.summary import summarize_experiment
from replay.experiments.tasks import FunctionTask, Task
from replay.experiments.tracing import ExperimentTracer

__all__ = [
    "ExperimentResult",
    "arun_experiment",
    "as_examples",
    "as_task",
    "evaluator_infos",
    "run_experiment",
]

OnRun = Callable[[ExperimentRun, Progress], None]


@dataclass
class ExperimentResult:
    """A finished (or cancelled) experiment: its record, with the summary, and its runs in dataset order."""

    experiment: Experiment
    runs: list[ExperimentRun]

    @property
    def id(self) -> str:
        return self.experiment.id

    @property
    def summary(self) -> ExperimentSummary:
        assert self.experiment.summary is not None
        return self.experiment.summary

    def rows(self) -> list[EvaluatedRow]:
        """The runs as evaluated rows (for :func:`~replay.evaluators.labelize`, ``bucket_rows``, an optimizer)."""
        return [run.evaluated_row() for run in self.runs]

    def to_import(self) -> ExperimentImport:
        """This result as the body of ``POST /api/v1/experiments/import``."""
        experiment = self.experiment
        status = "finished" if experiment.status == "running" else experiment.status
        return ExperimentImport(
            id=experiment.id,
            name=experiment.name,
            dataset=experiment.dataset,
            dataset_version=experiment.dataset_version,
            status=status,
            error=experiment.error,
            config=experiment.config,
            runs=self.runs,
            evaluator_summaries=self.summary.evaluators,
            created_at=experiment.created_at,
            finished_at=experiment.finished_at,
            duration_seconds=self.summary.duration_seconds,
        )


def as_examples(items: Sequence[Example | ExampleInput | Mapping[str, Any]]) -> list[Example]:
    """Examples as-is; :class:`ExampleInput`\\ s or dicts become examples, keeping a dict's ``id`` or deriving
    one from the content (a repeated example gets ``-2``, ``-3``… appended)."""
    examples: list[Example] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        if isinstance(item, Example):
            examples.append(item)
            continue
        data = item.model_dump() if isinstance(item, ExampleInput) else dict(item)
        given = data.pop("id", None)
        for key in ("created_at", "updated_at"):
            data.pop(key, None)
        try:
            parsed = ExampleInput.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise InvalidInput(f"example {index}: {problems}") from None
        example_id = str(given) if given is not None else _content_id(parsed, seen)
        examples.append(Example(id=example_id, **parsed.model_dump()))
    ids = [example.id for example in examples]
    if len(set(ids)) != len(ids):
        raise InvalidInput("two examples share an id; every example needs its own")
    return examples


def _content_id(example: ExampleInput, seen: dict[str, int]) -> str:
    content = orjson.dumps([example.input, example.expected_output], option=orjson.OPT_SORT_KEYS)
    digest = hashlib.sha256(content).hexdigest()[:16]
    seen[digest] = seen.get(digest, 0) + 1
    return digest if seen[digest] == 1 else f"{digest}-{seen[digest]}"


def as_task(task: Task | Callable[..., Any], *, config: Mapping[str, Any] | None = None) -> Task:
    """A :class:`Task` as-is (``config`` must then be None), or a callable as a :class:`FunctionTask`."""
    if isinstance(task, Task):
        if config is not None:
            raise InvalidInput("config goes to a Python callable task; a PromptTask takes its overrides itself")
        return task
    return FunctionTask(task, config=config)


def evaluator_infos(evaluators: Sequence[Evaluator], specs: Sequence[str | None] | None = None) -> list[EvaluatorInfo]:
    """What to record about each evaluator; :class:`InvalidInput` when two share a name (their annotations and
    summaries would mix)."""
    names = [evaluator.name for evaluator in evaluators]
    doubled = sorted({name for name in names if names.count(name) > 1})
    if doubled:
        raise InvalidInput(f"evaluator names must differ; {', '.join(map(repr, doubled))} is used twice (set name=)")
    specs = list(specs) if specs is not None else [None] * len(evaluators)
    return [
        EvaluatorInfo(name=evaluator.name, spec=spec, annotator_kind=evaluator.annotator_kind)
        for evaluator, spec in zip(evaluators, specs, strict=True)
    ]


def _build(evaluators: Sequence[Evaluator | Callable[..., Any] | str]) -> tuple[list[Evaluator], list[str | None]]:
    built: list[Evaluator] = []
    specs: list[str | None] = []
    for evaluator in evaluators:
        if isinstance(evaluator, str):
            built.append(build_evaluator(evaluator))
            specs.append(evaluator)
        else:
            built.append(as_evaluator(evaluator))
            specs.append(None)
    return built, specs


async def arun_experiment(
    examples: Sequence[Example | ExampleInput | Mapping[str, Any]],
    task: Task | Callable[..., Any],
    evaluators: Sequence[Evaluator | Callable[..., Any] | str] = (),
    *,
    dataset: str = "local",
    dataset_version: int | None = None,
    name: str | None = None,
    experiment_id: str | None = None,
    config: Mapping[str, Any] | None = None,
    summary_evaluators: Sequence[SummaryEvaluator | Callable[..., Any]] = (),
    jobs: int = 8,
    repetitions: int = 1,
    retries: int = 3,
    timeout: float = 120.0,
    tracer: ExperimentTracer | None = None,
    backoff: Backoff | None = None,
    cancel: threading.Event | None = None,
    on_run: OnRun | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> ExperimentResult:
    """Run an experiment in this event loop (see the module docstring); :class:`InvalidInput` for bad settings,
    before any run."""
    items = as_examples(examples)
    if not items:
        raise InvalidInput("an experiment needs at least one example")
    the_task = as_task(task, config=config)
    built, specs = _build(evaluators)
    settings = {"jobs": jobs, "repetitions": repetitions, "retries": retries}
    experiment_config = _config(the_task, built, specs, timeout=timeout, metadata=metadata, **settings)
    plan = RunPlan(
        experiment_id=experiment_id or str(uuid.uuid4()),
        dataset=dataset,
        dataset_version=dataset_version,
        name=name,
        jobs=jobs,
        repetitions=repetitions,
        retries=retries,
        timeout_seconds=timeout,
    )
    cancel = cancel or threading.Event()
    runner = ExperimentRunner(the_task, built, plan, tracer=tracer, backoff=backoff, cancel=cancel)
    progress = Progress(total=len(items) * repetitions)
    created_at, started = datetime.now(UTC), time.perf_counter()
    runs: list[ExperimentRun] = []
    async for run in runner.iterate(items):
        runs.append(run)
        progress = progress.model_copy(update={"done": progress.done + 1, "errors": progress.errors + bool(run.error)})
        if on_run is not None:
            on_run(run, progress)
    runs.sort(key=lambda run: (run.position, run.repetition))
    duration = time.perf_counter() - started
    summary = summarize_experiment(
        runs,
        evaluators=built,
        summary_evaluators=summary_evaluators,
        repetitions=repetitions,
        duration_seconds=duration,
    )
    if tracer is not None:
        await asyncio.to_thread(tracer.flush)
    experiment = Experiment(
        id=plan.experiment_id,
        name=name,
        dataset=dataset,
        dataset_version=dataset_version,
        origin="import",
        status="cancelled" if cancel.is_set() else "finished",
        config=experiment_config,
        progress=progress,
        summary=summary,
        created_at=created_at,
        finished_at=datetime.now(UTC),
    )
    return ExperimentResult(experiment=experiment, runs=runs)


def _config(
    task: Task,
    evaluators: Sequence[Evaluator],
    specs: Sequence[str | None],
    *,
    timeout: float,
    metadata: Mapping[str, Any] | None,
    **settings: int,
) -> ExperimentConfig:
    try:
        return ExperimentConfig(
            task=task.config,
            evaluators=evaluator_infos(evaluators, specs),
            timeout_seconds=timeout,
            metadata=dict(metadata or {}),
            **settings,
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InvalidInput(f"experiment settings: {problems}") from None


def run_experiment(
    examples: Sequence[Example | ExampleInput | Mapping[str, Any]],
    task: Task | Callable[..., Any],
    evaluators: Sequence[Evaluator | Callable[..., Any] | str] = (),
    **options: Any,
) -> ExperimentResult:
    """:func:`arun_experiment` from sync code (in a fresh event loop); inside a running loop, await that instead."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(arun_experiment(examples, task, evaluators, **options))
    raise InvalidInput("run_experiment was called inside a running event loop; await arun_experiment instead")
