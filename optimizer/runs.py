"""The server's optimizations: started by a request, run in the background, watched and cancelled by others.

:meth:`OptimizationService.start` checks everything before anything is stored — the dataset version (pinned:
the current one unless given) and its examples, the prompt version (``NAME@TAG`` resolved and pinned), the
task and reflection providers and models, every evaluator, the split, the budget and the tag — then records the
run (with its split) as ``running`` and runs :class:`~optimizer.loop.PromptOptimization` in a thread of its
own. Progress is stored as the loop reports it; validation and test runs are stored as experiments (through
:class:`StoreRecorder`); at the end the winner is saved to the prompt hub (:func:`~optimizer.saving.save_winner`,
unless ``save`` is false) and the run is recorded ``completed``, ``cancelled`` or ``failed``.

At most :attr:`OptimizationService.max_running` optimizations run at once; one more is refused (409).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import openai
from pydantic import BaseModel, ConfigDict, Field, field_validator

from collector.queries.filters import invalid
from collector.store.database import Store
from optimizer.candidates import Candidate
from optimizer.errors import OptimizationCancelled, OptimizationConflict, OptimizerInvalid
from optimizer.loop import PromptOptimization
from optimizer.progress import OptimizationEvent, OptimizationProgress
from optimizer.recording import ExperimentRef
from optimizer.records import SERVER_STOPPED, OptimizationRecords, OptimizationRun
from optimizer.result import OptimizationResult
from optimizer.saving import save_winner
from replay.datasets.store import DatasetStore
from replay.evaluators import Evaluator, EvaluatorSpec, build_evaluator, parse_evaluator_spec
from replay.evaluators.base import describe
from replay.experiments.api import ExperimentResult
from replay.experiments.evaluators import EvaluatorRequest
from replay.experiments.store import ExperimentStore
from replay.experiments.tracing import ExperimentTracer
from replay.prompts.hub import PromptHub
from replay.prompts.models import check_tag_name
from replay.providers import ProviderRegistry

__all__ = ["OptimizationRequest", "OptimizationService", "StoreRecorder"]

_log = logging.getLogger(__name__)
_PROGRESS_SECONDS = 0.5  # at most this often is live progress written while nothing important happens


Strategy = Literal["reflection", "fewshot"]


def _default_evaluators() -> list[str | EvaluatorRequest]:
    return ["exact_match"]


def _default_strategies() -> list[Strategy]:
    return ["reflection", "fewshot"]


class OptimizationRequest(BaseModel):
    """``POST /api/v1/optimizations``: what to optimize, on what, judged how, and the search settings."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    prompt: str = Field(min_length=1, max_length=500, description="The starting prompt: NAME, NAME@3 or NAME@TAG.")
    dataset: str = Field(min_length=1, max_length=200, description="The dataset's name.")
    dataset_version: int | None = Field(None, ge=0, le=2**31 - 1, description="Default: the current version.")
    name: str | None = Field(None, min_length=1, max_length=200, description="Default: 'PROMPT on DATASET'.")
    evaluators: list[str | EvaluatorRequest] = Field(
        default_factory=_default_evaluators, min_length=1, max_length=20, description="The first one scores."
    )
    provider: str | None = Field(
        None, min_length=1, max_length=64, description="Task provider (default: the version's)."
    )
    model: str | None = Field(None, min_length=1, max_length=500, description="Task model (default: the version's).")
    parameters: dict[str, Any] = Field(default_factory=dict, max_length=64, description="Task parameter overrides.")
    reflection_provider: str | None = Field(None, min_length=1, max_length=64, description="Default: the task's.")
    reflection_model: str | None = Field(None, min_length=1, max_length=500, description="Default: the task's.")
    reflection_format: Literal["json_schema", "json_object", "text"] = "json_schema"
    reflection_parameters: dict[str, Any] = Field(
        default_factory=dict, max_length=64, description="Parameters of the reasoning model's calls."
    )
    max_iterations: int = Field(5, ge=0, le=200)
    budget_rollouts: int | None = Field(None, ge=1, le=10_000_000, description="Most search rollouts to spend.")
    patience: int | None = Field(None, ge=1, le=200, description="Stop after this many iterations without gain.")
    minibatch_size: int = Field(8, ge=1, le=1000)
    split: tuple[float, float, float] | bool = Field(True, description="(train, validation, test), or false: none.")
    seed: int = Field(0, ge=0, le=2**63 - 1)
    strategies: list[Strategy] = Field(default_factory=_default_strategies, min_length=1)
    parent_selection: Literal["best", "pareto"] = "best"
    num_prompts: int = Field(1, ge=1, le=8, description="New prompts asked of each reflection.")
    demos: int | None = Field(None, ge=1, le=32, description="Demonstrations per few-shot candidate.")
    runs: int = Field(1, ge=1, le=20, description="Repetitions per example.")
    jobs: int = Field(4, ge=1, le=64, description="Rollouts at once.")
    retries: int = Field(3, ge=0, le=10)
    timeout_seconds: float = Field(120.0, gt=0, le=3600)
    save: bool = Field(True, description="Save the winner as a new prompt version.")
    tag: str | None = Field(None, max_length=200, description="Move this tag to the saved winner (e.g. staging).")

    @field_validator("tag")
    @classmethod
    def _tag(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                check_tag_name(value)
            except ValueError as exc:
                raise invalid(str(exc)) from None
        return value


class StoreRecorder:
    """Stores the loop's validation and test runs as experiments of the server (``origin: import``);
    ``experiment_url`` says where an experiment is seen (the API layer knows its routes)."""

    def __init__(self, store: Store, *, experiment_url: Callable[[str], str], run_id: str) -> None:
        self.experiments = ExperimentStore(store)
        self.experiment_url = experiment_url
        self.run_id = run_id

    def record(
        self,
        *,
        optimization: str,
        candidate: Candidate,
        prompt: Any,
        part: str,
        experiment: ExperimentResult,
        score: float,
    ) -> ExperimentRef:
        data = experiment.to_import()
        data.config.metadata["optimization_id"] = self.run_id
        stored = self.experiments.import_experiment(data, experiment.summary)
        return ExperimentRef(id=stored.id, url=self.experiment_url(stored.id))


@dataclass
class _Job:
    run: OptimizationRun
    optimization: PromptOptimization
    request: OptimizationRequest
    progress: OptimizationProgress
    written: float = 0.0
    thread: threading.Thread | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class OptimizationService:
    """Background optimizations of one server (see the module docstring)."""

    def __init__(self, store: Store, *, tracer: ExperimentTracer | None = None, max_running: int = 2) -> None:
        self.store = store
        self.records = OptimizationRecords(store)
        self.tracer = tracer
        self.max_running = max_running
        self._jobs: dict[str, _Job] = {}
        self._lock = threading.Lock()
        self._stopping = False
        self.records.mark_interrupted()

    def start(
        self, request: OptimizationRequest, providers: ProviderRegistry, *, experiment_url: Callable[[str], str]
    ) -> OptimizationRun:
        """Check the request, record the run and start it; errors (404/409/422) store nothing.
        ``experiment_url(id)`` is the link of a stored experiment (``best_experiment_url`` is one)."""
        datasets = DatasetStore(self.store)
        dataset = datasets.get_dataset(request.dataset)
        dataset_version = dataset.version if request.dataset_version is None else request.dataset_version
        examples = datasets.get_examples(request.dataset, version=dataset_version)
        version = PromptHub(self.store).resolve(request.prompt)
        run_id = str(uuid.uuid4())
        name = request.name or f"{version.ref} on {request.dataset}"
        config: dict[str, Any] = {
            "prompt": version,
            "parameters": request.parameters,
            "runs": request.runs,
            "reflection_format": request.reflection_format,
            "reflection_parameters": request.reflection_parameters,
            "dataset_name": request.dataset,
            "dataset_version": dataset_version,
        }
        for key, value in (
            ("provider", request.provider),
            ("model_name", request.model),
            ("reflection_provider", request.reflection_provider),
            ("reflection_model", request.reflection_model),
        ):
            if value is not None:
                config[key] = value
        optimization = PromptOptimization(
            name,
            examples,
            evaluators=_evaluators(request.evaluators, providers, request.timeout_seconds),
            config=config,
            max_iterations=request.max_iterations,
            dataset_split=request.split,
            seed=request.seed,
            patience=request.patience,
            budget_rollouts=request.budget_rollouts,
            minibatch_size=request.minibatch_size,
            strategies=request.strategies,
            parent_selection=request.parent_selection,
            num_prompts=request.num_prompts,
            demos=request.demos,
            providers=providers,
            retries=request.retries,
            timeout=request.timeout_seconds,
            tracer=self.tracer,
            recorder=StoreRecorder(self.store, experiment_url=experiment_url, run_id=run_id),
        )
        split = optimization.split()
        _check_budget(request, split.sizes()["validation"])
        now = datetime.now(UTC)
        progress = OptimizationProgress(max_iterations=request.max_iterations, budget_rollouts=request.budget_rollouts)
        run = OptimizationRun(
            id=run_id,
            name=name,
            status="running",
            prompt=request.prompt,
            prompt_version=version.ref,
            dataset=request.dataset,
            dataset_version=dataset_version,
            request=request.model_dump(mode="json"),
            split=split,
            progress=progress,
            created_at=now,
            updated_at=now,
        )
        job = _Job(run, optimization, request, progress)
        optimization.on_event = functools.partial(self._progress, job)
        with self._lock:
            if self._stopping:
                raise OptimizationConflict("the server is stopping; start the optimization again once it is back")
            running = sum(1 for other in self._jobs.values() if other.thread and other.thread.is_alive())
            if running >= self.max_running:
                raise OptimizationConflict(f"{running} optimizations are running already; wait for one or cancel one")
            self.records.create(run)
            self._jobs[run_id] = job
        job.thread = threading.Thread(target=self._run, args=(job,), name=f"spanlab-optimize-{run_id[:8]}", daemon=True)
        job.thread.start()
        return self.get(run_id)

    # -- reading and cancelling ---------------------------------------------------------------------------------
    def get(self, run_id: str) -> OptimizationRun:
        """The stored run, with live progress while it runs here."""
        run = self.records.get(run_id)
        job = self._jobs.get(run_id)
        if job is not None and run.status == "running":
            with job.lock:
                run = run.model_copy(update={"progress": job.progress})
        return run

    def list_runs(self, *, limit: int = 50) -> list[OptimizationRun]:
        return self.records.list_runs(limit=limit)

    def cancel(self, run_id: str) -> OptimizationRun:
        """Ask a running optimization to stop (it turns ``cancelled`` within moments); 409 when it is not running."""
        run = self.records.get(run_id)
        job = self._jobs.get(run_id)
        if run.status != "running" or job is None:
            raise OptimizationConflict(f"optimization {run_id} is {run.status}, not running: nothing to cancel")
        job.optimization.cancel()
        return self.get(run_id)

    def stop(self, *, timeout: float = 10.0) -> None:
        """Cancel every running optimization and wait (at most ``timeout`` seconds) for them to wind down; each is
        recorded ``interrupted`` (the server stopped), before the store closes. Call when the server stops."""
        with self._lock:
            self._stopping = True
            jobs = list(self._jobs.values())
        for job in jobs:
            job.optimization.cancel()
        deadline = time.monotonic() + timeout
        for job in jobs:
            if job.thread is not None:
                job.thread.join(max(0.0, deadline - time.monotonic()))

    def wait(self, run_id: str, *, timeout: float) -> bool:
        """Wait until a run started here has ended; False when it is still running after ``timeout`` seconds."""
        job = self._jobs.get(run_id)
        if job is None or job.thread is None:
            return True
        job.thread.join(timeout)
        return not job.thread.is_alive()

    # -- the background run -------------------------------------------------------------------------------------
    def _progress(self, job: _Job, event: OptimizationEvent, progress: OptimizationProgress) -> None:
        with job.lock:
            job.progress = progress
        important = event.kind in ("baseline", "new_best", "stopped", "test")
        if important or time.monotonic() - job.written >= _PROGRESS_SECONDS:
            job.written = time.monotonic()
            self.records.update_progress(job.run.id, progress)

    def _run(self, job: _Job) -> None:
        run_id = job.run.id
        try:
            result = job.optimization.run(jobs=job.request.jobs)
            with job.lock:
                progress = job.progress.model_copy(update={"phase": "done"})
            if result.stop_reason == "cancelled" and self._stopping:
                self._fail(job, "interrupted", SERVER_STOPPED)
                return
            if result.stop_reason == "cancelled":
                self.records.finish(run_id, status="cancelled", progress=progress, result=result)
                return
            try:
                saved, note = self._save(job, result)
            except Exception as exc:
                _log.exception("optimization %s could not save its winner", run_id)
                error = f"the optimization finished but its winner could not be saved: {describe(exc)}"
                self.records.finish(run_id, status="failed", progress=progress, result=result, error=error)
                return
            progress.note(OptimizationEvent(kind="saved", message=note))
            self.records.finish(run_id, status="completed", progress=progress, result=result, saved_version=saved)
        except OptimizationCancelled as exc:
            if self._stopping:
                self._fail(job, "interrupted", SERVER_STOPPED)
            else:
                self._fail(job, "cancelled", str(exc))
        except Exception as exc:
            _log.exception("optimization %s failed", run_id)
            self._fail(job, "failed", describe(exc))
        finally:
            with self._lock:
                self._jobs.pop(run_id, None)

    def _save(self, job: _Job, result: OptimizationResult) -> tuple[str | None, str]:
        """Save the winner unless asked not to: (the saved NAME@VERSION or None, what happened)."""
        if not job.request.save:
            return None, "not saved (save=false)"
        base = job.optimization.version
        assert base is not None
        saved = save_winner(PromptHub(self.store), result, base, tag=job.request.tag, run_id=job.run.id)
        if saved.version is None:
            return None, saved.note
        result.saved_version = saved.version.ref
        tagged = f", tagged {saved.tag}" if saved.tag else ""
        return saved.version.ref, f"{saved.note}{tagged}"

    def _fail(self, job: _Job, status: Literal["failed", "cancelled", "interrupted"], error: str) -> None:
        try:
            with job.lock:
                progress = job.progress
            self.records.finish(job.run.id, status=status, progress=progress, error=error)
        except Exception:  # the store is closing: the next start marks the run interrupted
            _log.warning("could not record the end of optimization %s", job.run.id, exc_info=True)


def _check_budget(request: OptimizationRequest, validation: int) -> None:
    needed = validation * request.runs
    if request.budget_rollouts is not None and request.budget_rollouts < needed:
        raise OptimizerInvalid(
            f"budget_rollouts={request.budget_rollouts} does not cover the baseline validation run "
            f"({validation} examples x {request.runs} run(s) = {needed} rollouts)"
        )


def _evaluators(items: list[str | EvaluatorRequest], providers: ProviderRegistry, timeout: float) -> list[Evaluator]:
    """The request's evaluators; judges get sync clients of the configured providers (the loop calls them from
    its runner's threads). ``python:`` evaluators and ``@file`` values are refused: the server neither imports
    a caller's code nor reads its files."""
    clients: dict[str, openai.OpenAI] = {}

    def client(name: str) -> openai.OpenAI:
        if name not in clients:
            provider = providers.get(name)
            clients[name] = openai.OpenAI(base_url=provider.base_url, api_key=provider.api_key, timeout=timeout)
        return clients[name]

    built: list[Evaluator] = []
    for number, item in enumerate(items, 1):
        spec = item.spec() if isinstance(item, EvaluatorRequest) else parse_evaluator_spec(item)
        _check_remote(spec, number)
        default = client(providers.default_name) if spec.name == "judge" and "provider" not in spec.options else None
        try:
            built.append(build_evaluator(spec, judge_client=default, judge_provider=client))
        except OptimizerInvalid:
            raise
        except Exception as exc:
            raise OptimizerInvalid(f"evaluator {number} ({spec.name}): {exc}") from None
    names = [evaluator.name for evaluator in built]
    if len(set(names)) != len(names):
        raise OptimizerInvalid("two evaluators share a name; give one name=… so their scores do not mix")
    return built


def _check_remote(spec: EvaluatorSpec, number: int) -> None:
    if spec.target is not None or spec.name == "python":
        raise OptimizerInvalid(
            f"evaluator {number}: python: evaluators run only where your code is; use the Python API "
            "(optimizer.PromptOptimization) for those"
        )
    for key, value in spec.options.items():
        if value.startswith("@") and not value.startswith("@@"):
            raise OptimizerInvalid(
                f"evaluator {number} ({spec.name}): option {key!r} names a file; the server does not read files: "
                "send the content (the CLI does this for you)"
            )
