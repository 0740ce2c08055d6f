"""The server's experiments: started by a request, run in the background, watched and cancelled by others.

:meth:`ExperimentService.start` checks everything before anything is stored — the dataset and version (pinned:
the current one unless given), its examples, the prompt version, the provider, the model, every evaluator — then
records the experiment as ``running`` and runs it in a thread of its own with its own event loop (the
``openai.AsyncOpenAI`` clients belong to it). Finished runs are stored in batches as they come (with their
evaluations as span annotations), so ``GET …/runs`` shows progress; at the end the summary is computed from
the stored runs and the status set: ``finished``, ``cancelled``, or ``failed`` with the reason.

Model calls are traced into the project ``experiments`` through the tracer given (in the server, straight into
the collector). At most :attr:`ExperimentService.max_running` experiments run at once; one more is refused.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from collector.store.database import Store
from replay.datasets.models import Example
from replay.datasets.store import DatasetStore
from replay.errors import Conflict, InvalidInput
from replay.evaluators import Evaluator
from replay.evaluators.base import describe
from replay.experiments.api import evaluator_infos
from replay.experiments.compare import Comparison, compare_experiments
from replay.experiments.evaluators import EvaluatorRequest, JudgeClients, build_evaluators
from replay.experiments.models import (
    MAX_JOBS,
    MAX_REPETITIONS,
    MAX_RETRIES,
    MAX_TIMEOUT_SECONDS,
    Experiment,
    ExperimentConfig,
    ExperimentRun,
    ExperimentStatus,
    Progress,
)
from replay.experiments.runner import ExperimentRunner, RunPlan
from replay.experiments.store import ExperimentStore
from replay.experiments.summary import summarize_experiment
from replay.experiments.tasks import PromptTask
from replay.experiments.tracing import ExperimentTracer
from replay.prompts.hub import PromptHub
from replay.providers import ProviderRegistry

__all__ = ["ExperimentRequest", "ExperimentService"]

_log = logging.getLogger(__name__)
_FLUSH_RUNS = 200
_FLUSH_SECONDS = 0.5


class ExperimentRequest(BaseModel):
    """``POST /api/v1/experiments``: a prompt version (+ overrides) over a dataset version, with evaluators."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    name: str | None = Field(None, min_length=1, max_length=200, description="A name to find it by.")
    dataset: str = Field(min_length=1, max_length=200, description="The dataset's name.")
    dataset_version: int | None = Field(None, ge=0, le=2**31 - 1, description="Default: the current version.")
    prompt: str = Field(min_length=1, max_length=500, description="NAME, NAME@3 or NAME@TAG.")
    provider: str | None = Field(
        None, min_length=1, max_length=64, description="Default: the version's, else the default."
    )
    model: str | None = Field(None, min_length=1, max_length=500, description="Default: the version's model.")
    parameters: dict[str, Any] = Field(default_factory=dict, max_length=64, description="Overrides; null removes.")
    evaluators: list[str | EvaluatorRequest] = Field(
        default_factory=list, max_length=20, description="Specs, e.g. 'exact_match' or {name, options}."
    )
    jobs: int = Field(8, ge=1, le=MAX_JOBS)
    repetitions: int = Field(1, ge=1, le=MAX_REPETITIONS)
    retries: int = Field(3, ge=0, le=MAX_RETRIES)
    timeout_seconds: float = Field(120.0, gt=0, le=MAX_TIMEOUT_SECONDS)
    metadata: dict[str, Any] = Field(default_factory=dict)


@dataclass
class _Job:
    experiment: Experiment
    examples: list[Example]
    task: PromptTask
    evaluators: list[Evaluator]
    judges: JudgeClients
    cancel: threading.Event = field(default_factory=threading.Event)
    progress: Progress = field(default_factory=lambda: Progress(total=0))
    thread: threading.Thread | None = None


class ExperimentService:
    """Background experiments of one server (see the module docstring)."""

    def __init__(self, store: Store, *, tracer: ExperimentTracer | None = None, max_running: int = 8) -> None:
        self.store = store
        self.experiments = ExperimentStore(store)
        self.tracer = tracer
        self.max_running = max_running
        self._jobs: dict[str, _Job] = {}
        self._lock = threading.Lock()
        self._stopping = False

    # -- starting -----------------------------------------------------------------------------------------------
    def start(self, request: ExperimentRequest, providers: ProviderRegistry) -> Experiment:
        """Check the request, record the experiment and start it; errors (404/409/422) store nothing."""
        datasets = DatasetStore(self.store)
        dataset = datasets.get_dataset(request.dataset)
        version = dataset.version if request.dataset_version is None else request.dataset_version
        examples = datasets.get_examples(request.dataset, version=version)
        if not examples:
            raise InvalidInput(f"dataset {request.dataset!r} version {version} has no examples to run")
        prompt = PromptHub(self.store).resolve(request.prompt)
        resolved = providers.resolve(requested=request.provider, preferred=prompt.model_provider)
        task = PromptTask(
            prompt,
            resolved,
            model=request.model,
            parameters=request.parameters,
            request_timeout=request.timeout_seconds,
        )
        judges = JudgeClients(providers, timeout=request.timeout_seconds)
        evaluators, specs = build_evaluators(request.evaluators, judges=judges, remote=True)
        config = ExperimentConfig(
            task=task.config,
            evaluators=evaluator_infos(evaluators, specs),
            jobs=request.jobs,
            repetitions=request.repetitions,
            retries=request.retries,
            timeout_seconds=request.timeout_seconds,
            metadata=request.metadata,
        )
        total = len(examples) * request.repetitions
        experiment = Experiment(
            id=str(uuid.uuid4()),
            name=request.name,
            dataset=request.dataset,
            dataset_version=version,
            origin="server",
            status="running",
            config=config,
            progress=Progress(total=total),
            created_at=datetime.now(UTC),
        )
        job = _Job(experiment, examples, task, evaluators, judges, progress=Progress(total=total))
        with self._lock:
            if self._stopping:
                raise Conflict("the server is shutting down; start the experiment on the next one")
            running = sum(1 for other in self._jobs.values() if other.thread and other.thread.is_alive())
            if running >= self.max_running:
                raise Conflict(f"{running} experiments are running already; wait for one or cancel one")
            self.experiments.create(experiment)
            self._jobs[experiment.id] = job
        job.thread = threading.Thread(target=self._run, args=(job,), name=f"spanlab-experiment-{experiment.id[:8]}")
        job.thread.start()
        return self.get(experiment.id)

    # -- reading and cancelling ---------------------------------------------------------------------------------
    def get(self, experiment_id: str) -> Experiment:
        """The stored experiment, with live progress while it runs here."""
        experiment = self.experiments.get(experiment_id)
        job = self._jobs.get(experiment_id)
        if job is not None and experiment.status == "running":
            experiment = experiment.model_copy(update={"progress": job.progress})
        return experiment

    def cancel(self, experiment_id: str) -> Experiment:
        """Ask a running experiment to stop (it turns ``cancelled`` within moments); 409 when it is not running."""
        experiment = self.experiments.get(experiment_id)
        job = self._jobs.get(experiment_id)
        if experiment.status != "running" or job is None:
            raise Conflict(f"experiment {experiment_id} is {experiment.status}, not running: nothing to cancel")
        job.cancel.set()
        return self.get(experiment_id)

    def compare(self, experiment_ids: Sequence[str], *, evaluator: str | None = None) -> Comparison:
        """:func:`~replay.experiments.compare.compare_experiments` of stored experiments, the first the baseline."""
        loaded = [(self.get(i), self.experiments.runs(i)) for i in experiment_ids]
        return compare_experiments(loaded, evaluator=evaluator)

    def stop(self, *, timeout: float = 10.0) -> None:
        """Cancel every running experiment and wait (at most ``timeout`` seconds) for them to wind down."""
        with self._lock:
            self._stopping = True
            jobs = list(self._jobs.values())
        for job in jobs:
            job.cancel.set()
        deadline = time.monotonic() + timeout
        for job in jobs:
            if job.thread is not None:
                job.thread.join(max(0.0, deadline - time.monotonic()))

    # -- the background run -------------------------------------------------------------------------------------
    def _run(self, job: _Job) -> None:
        experiment_id = job.experiment.id
        try:
            asyncio.run(self._arun(job))
        except Exception as exc:
            _log.exception("experiment %s failed", experiment_id)
            try:
                self.experiments.finish(experiment_id, status="failed", summary=None, error=describe(exc))
            except Exception:  # the store is closing: the next start marks it interrupted
                _log.warning("could not record the failure of experiment %s", experiment_id, exc_info=True)
        finally:
            with self._lock:
                self._jobs.pop(experiment_id, None)

    async def _arun(self, job: _Job) -> None:
        experiment = job.experiment
        config = experiment.config
        plan = RunPlan(
            experiment_id=experiment.id,
            dataset=experiment.dataset,
            dataset_version=experiment.dataset_version,
            name=experiment.name,
            jobs=config.jobs,
            repetitions=config.repetitions,
            retries=config.retries,
            timeout_seconds=config.timeout_seconds,
        )
        runner = ExperimentRunner(job.task, job.evaluators, plan, tracer=self.tracer, cancel=job.cancel)
        started = time.perf_counter()
        pending: list[ExperimentRun] = []
        flushed = time.monotonic()
        try:
            async for run in runner.iterate(job.examples):
                job.progress = job.progress.model_copy(
                    update={"done": job.progress.done + 1, "errors": job.progress.errors + (run.error is not None)}
                )
                pending.append(run)
                if len(pending) >= _FLUSH_RUNS or time.monotonic() - flushed > _FLUSH_SECONDS:
                    await asyncio.to_thread(self.experiments.add_runs, experiment.id, pending, config.evaluators)
                    pending, flushed = [], time.monotonic()
            await asyncio.to_thread(self.experiments.add_runs, experiment.id, pending, config.evaluators)
        finally:
            await job.judges.aclose()
        runs = await asyncio.to_thread(self.experiments.runs, experiment.id)
        summary = summarize_experiment(
            runs,
            evaluators=job.evaluators,
            repetitions=config.repetitions,
            duration_seconds=time.perf_counter() - started,
        )
        if self.tracer is not None:  # the spans are handed to the collector before the status says "finished"
            await asyncio.to_thread(self.tracer.flush)
        if self._stopping:
            await asyncio.to_thread(
                self.experiments.finish, experiment.id, status="failed", summary=summary, error="the server stopped"
            )
        else:
            status: ExperimentStatus = "cancelled" if job.cancel.is_set() else "finished"
            await asyncio.to_thread(self.experiments.finish, experiment.id, status=status, summary=summary)
