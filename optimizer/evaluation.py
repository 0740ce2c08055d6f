"""Rollouts: a candidate prompt run on examples by the task, each output judged by the evaluators.

A *rollout* is one run of the task on one example; with ``runs`` repetitions an example costs ``runs``
rollouts (a run's retries are not extra rollouts). :class:`Rollouts` runs them through the experiments runner
(:func:`replay.experiments.arun_experiment`: ``jobs`` at a time, retries of transient provider failures, a
timeout per run, error isolation, tracing when a tracer is given) and counts them, their tokens and cost in
:class:`Usage`. A task that fails gives a run with ``error`` set and no evaluations; it still counts. A task
may return a :class:`replay.experiments.TaskOutput` to report tokens and cost.

The task contract (Datadog's): ``task(input, config) -> output``, where ``input`` is the example's input and
``config`` is the optimization's ``config`` with ``config["prompt"]`` set to the candidate — a chat template,
or a text when the starting prompt was a text (see :meth:`optimizer.prompt.PromptFrame.for_task`).

Per-example scores (what the minibatch gate and the Pareto front compare) come from the first evaluator of
each row (:func:`row_score`): 1/0 when it passes/fails, else its score; an errored row scores 0. The score of a
whole run is ``compute_score`` over :func:`~replay.evaluators.summarize_rows` — the caller's, or the pass rate
(else mean score) of the first evaluator.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from optimizer.prompt import CandidatePrompt, PromptFrame
from replay.datasets.models import Example
from replay.evaluators import EvaluatedRow, Evaluator
from replay.experiments.api import ExperimentResult, arun_experiment
from replay.experiments.tasks import FunctionTask
from replay.experiments.tracing import ExperimentTracer
from replay.model_call import DEFAULT_TIMEOUT_SECONDS
from replay.prompts.models import PromptVersion
from replay.providers import Provider

__all__ = [
    "Rollouts",
    "RolloutsCancelled",
    "Task",
    "Usage",
    "UsageRecord",
    "example_scores",
    "mean_score",
    "row_failed",
    "row_score",
    "task_config",
]

Task = Callable[[dict[str, Any], dict[str, Any]], Any]


class UsageRecord(BaseModel):
    """What a run spent: rollouts, reflection calls, tokens and cost (cost None where no price is known)."""

    rollouts: int = 0
    search_rollouts: int = 0
    test_rollouts: int = 0
    task_errors: int = 0
    reflection_calls: int = 0
    reflection_failures: int = 0
    task_input_tokens: int = 0
    task_output_tokens: int = 0
    reflection_input_tokens: int = 0
    reflection_output_tokens: int = 0
    cost: float | None = None


class Usage:
    """Thread-safe counters behind :class:`UsageRecord`; ``phase`` says whether rollouts count as search or test."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._record = UsageRecord()
        self.phase = "search"

    def rollout(self, *, error: bool) -> None:
        with self._lock:
            self._record.rollouts += 1
            if self.phase == "test":
                self._record.test_rollouts += 1
            else:
                self._record.search_rollouts += 1
            self._record.task_errors += int(error)

    def tokens(self, kind: str, input_tokens: int | None, output_tokens: int | None, cost: float | None) -> None:
        """Add one model call's usage; ``kind`` is ``task`` or ``reflection``."""
        with self._lock:
            record = self._record
            if kind == "task":
                record.task_input_tokens += input_tokens or 0
                record.task_output_tokens += output_tokens or 0
            else:
                record.reflection_input_tokens += input_tokens or 0
                record.reflection_output_tokens += output_tokens or 0
            if cost is not None:
                record.cost = (record.cost or 0.0) + cost

    def reflection(self, *, failed: bool) -> None:
        with self._lock:
            self._record.reflection_calls += 1
            self._record.reflection_failures += int(failed)

    @property
    def search_rollouts(self) -> int:
        with self._lock:
            return self._record.search_rollouts

    def snapshot(self) -> UsageRecord:
        with self._lock:
            return self._record.model_copy()


class Rollouts:
    """Runs candidates on examples through the experiments runner, on one event loop kept for the whole
    optimization (so async clients, e.g. judges', stay usable from one run to the next). Use as a context
    manager, or call :meth:`close`."""

    def __init__(
        self,
        *,
        task: Task,
        frame: PromptFrame,
        config: Mapping[str, Any],
        evaluators: Sequence[Evaluator],
        summary_evaluators: Sequence[Any] = (),
        usage: Usage,
        jobs: int = 1,
        runs: int = 1,
        retries: int = 0,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        tracer: ExperimentTracer | None = None,
        cancel: threading.Event | None = None,
        dataset: tuple[str, int | None] = ("local", None),
    ) -> None:
        self.task = task
        self.frame = frame
        self.config = task_config(config)
        self.evaluators = list(evaluators)
        self.summary_evaluators = list(summary_evaluators)
        self.usage = usage
        self.jobs = max(1, jobs)
        self.runs = max(1, runs)
        self.retries = retries
        self.timeout = timeout
        self.tracer = tracer
        self.cancel = cancel or threading.Event()
        self.dataset = dataset
        self._loop = asyncio.Runner()

    def __enter__(self) -> Rollouts:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._loop.close()

    def cost(self, examples: Sequence[Example]) -> int:
        """How many rollouts running ``examples`` takes."""
        return len(examples) * self.runs

    def run(
        self,
        candidate: CandidatePrompt,
        examples: Sequence[Example],
        *,
        name: str,
        metadata: Mapping[str, Any] | None = None,
    ) -> ExperimentResult:
        """Every example ``runs`` times; the experiment's runs are in example order. :class:`RolloutsCancelled`
        when :attr:`cancel` was set meanwhile (the partial result is of no use for comparing prompts)."""
        task = FunctionTask(self.task, config={**self.config, "prompt": self.frame.for_task(candidate)}, name=name)
        result = self._loop.run(
            arun_experiment(
                examples,
                task,
                self.evaluators,
                dataset=self.dataset[0],
                dataset_version=self.dataset[1],
                name=name[:200],
                summary_evaluators=self.summary_evaluators,
                jobs=self.jobs,
                repetitions=self.runs,
                retries=self.retries,
                timeout=self.timeout,
                tracer=self.tracer,
                cancel=self.cancel,
                metadata=metadata,
            )
        )
        for run in result.runs:
            self.usage.rollout(error=run.error is not None)
            self.usage.tokens("task", run.input_tokens, run.output_tokens, run.cost)
        if self.cancel.is_set():
            raise RolloutsCancelled(f"cancelled during {name}")
        return result


class RolloutsCancelled(Exception):
    """The optimization was cancelled while candidates were running."""


def task_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """What a task gets as ``config`` (before ``prompt`` is set): the optimization's config as JSON values —
    provider objects by name, a prompt version by its ``NAME@VERSION`` — as it is stored with each experiment."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Provider):
            value = value.name
        elif isinstance(value, PromptVersion):
            value = value.ref
        out[key] = to_jsonable_python(value, fallback=repr)
    return out


def row_score(row: EvaluatedRow) -> float:
    """The row's score by its first evaluator: 1/0 for pass/fail, else its score; 0 for any error."""
    if row.error is not None or not row.evaluations:
        return 0.0
    result = row.evaluations[0]
    if result.error is not None:
        return 0.0
    if result.passed is not None:
        return 1.0 if result.passed else 0.0
    return float(result.score) if result.score is not None else 0.0


def row_failed(row: EvaluatedRow) -> bool:
    """Whether a row is a failure worth reflecting on: an error, a fail, or a score below 1."""
    if row.error is not None or not row.evaluations or row.evaluations[0].error is not None:
        return True
    result = row.evaluations[0]
    if result.passed is not None:
        return not result.passed
    return result.score is None or result.score < 1.0


def example_scores(rows: Sequence[EvaluatedRow]) -> dict[str, float]:
    """Example id → the mean :func:`row_score` of its rows (its repetitions)."""
    scores: dict[str, list[float]] = {}
    for row in rows:
        scores.setdefault(str(row.example_id), []).append(row_score(row))
    return {example_id: math.fsum(values) / len(values) for example_id, values in scores.items()}


def mean_score(rows: Sequence[EvaluatedRow]) -> float:
    """The mean per-example score of ``rows`` (0 for no rows): what the minibatch gate compares."""
    scores = example_scores(rows)
    return math.fsum(scores.values()) / len(scores) if scores else 0.0
