"""Running an experiment: every example x repetition through the task, concurrently, then every evaluator.

:class:`ExperimentRunner` is asyncio all the way (``openai.AsyncOpenAI`` for prompt tasks), with ``jobs`` runs
in flight at once. :meth:`ExperimentRunner.iterate` yields each :class:`ExperimentRun` as it finishes — callers
show progress and store runs as they come. Per run:

1. the task runs, at most ``timeout`` seconds all attempts included; a failure that may pass (see
   :mod:`replay.experiments.retry`) is retried up to ``retries`` times after a backoff with jitter (or the
   provider's ``Retry-After``); any other failure, or the timeout, ends the run with ``error`` set — the run is
   recorded and the others go on (error isolation);
2. on success, every evaluator judges the output (concurrently; evaluators never raise, see
   :mod:`replay.evaluators.base`).

Cancelling (a ``threading.Event``, so another thread may set it) stops the runs in flight at once; what
finished before is kept. :func:`arun_experiment` / :func:`run_experiment` run a whole experiment and return an
:class:`ExperimentResult` (record with summary, and the runs) — the Python API.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic_core import to_jsonable_python

from replay.datasets.models import Example
from replay.evaluators import EvaluationResult, Evaluator
from replay.evaluators.base import describe
from replay.experiments.models import ExperimentRun
from replay.experiments.retry import Backoff, describe_failure, is_retryable
from replay.experiments.tasks import Task, TaskOutput
from replay.experiments.tracing import ExperimentTracer, RunLabels

__all__ = ["ExperimentRunner", "RunPlan"]

_CANCEL_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class RunPlan:
    """What identifies the runs of one experiment (for their spans) and how they run."""

    experiment_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    dataset: str = "local"
    dataset_version: int | None = None
    name: str | None = None
    jobs: int = 8
    repetitions: int = 1
    retries: int = 3
    timeout_seconds: float = 120.0


class ExperimentRunner:
    """Runs ``task`` over examples and judges each output with ``evaluators`` (see the module docstring)."""

    def __init__(
        self,
        task: Task,
        evaluators: Sequence[Evaluator],
        plan: RunPlan,
        *,
        tracer: ExperimentTracer | None = None,
        backoff: Backoff | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        self.task = task
        self.evaluators = list(evaluators)
        self.plan = plan
        self.tracer = tracer
        self.backoff = backoff or Backoff()
        self.cancel = cancel or threading.Event()

    async def iterate(self, examples: Sequence[Example]) -> AsyncIterator[ExperimentRun]:
        """Each run as it finishes (in no particular order); stops early when :attr:`cancel` is set."""
        work = iter([(p, e, r) for r in range(self.plan.repetitions) for p, e in enumerate(examples)])
        finished: asyncio.Queue[ExperimentRun] = asyncio.Queue()

        async def worker() -> None:
            for position, example, repetition in work:  # one shared iterator: each item is taken once
                if self.cancel.is_set():
                    return
                await finished.put(await self.run_one(position, example, repetition))

        count = self.plan.repetitions * len(examples)
        workers = [asyncio.create_task(worker()) for _ in range(min(self.plan.jobs, count))]
        everything = asyncio.gather(*workers, return_exceptions=True)
        watcher = asyncio.create_task(self._watch_cancel(workers))
        try:
            while not (everything.done() and finished.empty()):
                getter = asyncio.ensure_future(finished.get())
                waiting: set[asyncio.Future[Any]] = {getter, everything}
                await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    yield getter.result()
                else:
                    getter.cancel()
            for outcome in everything.result():
                if isinstance(outcome, Exception):
                    raise outcome  # a bug in the runner or an evaluator object, not a failed run
        finally:
            watcher.cancel()
            for task in workers:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*workers, watcher, return_exceptions=True)
            await self.task.aclose()

    async def _watch_cancel(self, workers: list[asyncio.Task[None]]) -> None:
        while not self.cancel.is_set():
            await asyncio.sleep(_CANCEL_POLL_SECONDS)
        for task in workers:
            task.cancel()

    async def run_one(self, position: int, example: Example, repetition: int) -> ExperimentRun:
        """One run of one example: the task with retries and timeout, then the evaluations."""
        started_at = datetime.now(UTC)
        attempts = 0
        outcome: TaskOutput | None = None
        error: str | None = None
        try:
            async with asyncio.timeout(self.plan.timeout_seconds):
                while True:
                    attempts += 1
                    try:
                        outcome = await self.task.run(example, self._labels(example, repetition, attempts), self.tracer)
                        break
                    except Exception as exc:
                        if attempts > self.plan.retries or not is_retryable(exc):
                            error = describe_failure(exc) + _attempts(attempts)
                            break
                        await asyncio.sleep(self.backoff.delay(exc, attempts - 1))
        except TimeoutError:
            error = f"timed out after {self.plan.timeout_seconds:g} s{_attempts(attempts)}"
        output = None if outcome is None else to_jsonable_python(outcome.output, fallback=str)
        evaluations = await self.evaluate(example, output) if error is None else []
        return ExperimentRun(
            example_id=example.id,
            repetition=repetition,
            position=position,
            input=example.input,
            expected_output=example.expected_output,
            output=output,
            error=error,
            attempts=attempts,
            latency_ms=None if outcome is None else outcome.latency_ms,
            input_tokens=None if outcome is None else outcome.input_tokens,
            output_tokens=None if outcome is None else outcome.output_tokens,
            cost=None if outcome is None else outcome.cost,
            trace_id=None if outcome is None else outcome.trace_id,
            span_id=None if outcome is None else outcome.span_id,
            evaluations=evaluations,
            started_at=started_at,
        )

    async def evaluate(self, example: Example, output: Any) -> list[EvaluationResult]:
        """Every evaluator's result on one output (an evaluator that breaks its contract gives an error result)."""

        async def one(evaluator: Evaluator) -> EvaluationResult:
            try:
                return await evaluator.aevaluate(
                    input=example.input, output=output, expected=example.expected_output, metadata=example.metadata
                )
            except Exception as exc:
                return EvaluationResult.failure(evaluator.name, describe(exc))

        return list(await asyncio.gather(*(one(evaluator) for evaluator in self.evaluators)))

    def _labels(self, example: Example, repetition: int, attempt: int) -> RunLabels:
        return RunLabels(
            experiment_id=self.plan.experiment_id,
            experiment_name=self.plan.name,
            dataset=self.plan.dataset,
            dataset_version=self.plan.dataset_version,
            example_id=example.id,
            repetition=repetition,
            attempt=attempt,
            source_trace_id=example.source_trace_id,
            source_span_id=example.source_span_id,
        )


def _attempts(attempts: int) -> str:
    return f" (after {attempts} attempts)" if attempts > 1 else ""
