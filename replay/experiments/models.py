"""The objects of an experiment: its configuration, its runs, its summary and its record.

An *experiment* runs a task over every example of one dataset version, ``repetitions`` times each, and judges
every output with the same evaluators. One execution of the task on one example is a *run*
(:class:`ExperimentRun`): what went in, what came out (or why nothing did), how long it took, what it cost, the
traced span of its model call, and every evaluation. :class:`Experiment` is the stored record: configuration,
status, live progress and, once finished, the :class:`ExperimentSummary`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from replay.evaluators import EvaluatedRow, EvaluationResult, EvaluationSummary
from replay.evaluators.base import AnnotatorKind

__all__ = [
    "MAX_IMPORT_RUNS",
    "MAX_JOBS",
    "MAX_REPETITIONS",
    "MAX_RETRIES",
    "MAX_TIMEOUT_SECONDS",
    "Consistency",
    "EvaluatorConsistency",
    "EvaluatorInfo",
    "Experiment",
    "ExperimentConfig",
    "ExperimentImport",
    "ExperimentOrigin",
    "ExperimentRun",
    "ExperimentStatus",
    "ExperimentSummary",
    "Progress",
    "TaskConfig",
]

MAX_JOBS = 256
MAX_IMPORT_RUNS = 200_000
MAX_REPETITIONS = 20
MAX_RETRIES = 10
MAX_TIMEOUT_SECONDS = 3600.0

ExperimentStatus = Literal["running", "finished", "failed", "cancelled"]
ExperimentOrigin = Literal["server", "import"]


class TaskConfig(BaseModel):
    """What the task is, as recorded: a prompt version (+ overrides) or a Python callable (by name)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    kind: Literal["prompt", "python"]
    prompt: str | None = Field(None, max_length=500, description="The prompt version run, NAME@VERSION.")
    prompt_source: str | None = Field(None, max_length=2000, description="Where it came from, e.g. a file.")
    provider: str | None = Field(None, max_length=64, description="The model provider called.")
    model: str | None = Field(None, max_length=500, description="The model called.")
    parameters: dict[str, Any] = Field(default_factory=dict, description="Parameter overrides on the version's.")
    function: str | None = Field(None, max_length=500, description="The callable's name (python tasks).")
    config: dict[str, Any] = Field(default_factory=dict, description="The config passed to the callable.")


class EvaluatorInfo(BaseModel):
    """One evaluator of an experiment: its name (the annotation name), its spec when built from one, and who it
    is as an annotator (CODE or LLM)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    spec: str | None = Field(None, max_length=20_000)
    annotator_kind: AnnotatorKind = "CODE"


class ExperimentConfig(BaseModel):
    """How an experiment was run (stored with it, shown by ``spanlab experiments show``)."""

    model_config = ConfigDict(extra="forbid")

    task: TaskConfig
    evaluators: list[EvaluatorInfo] = Field(default_factory=list, max_length=50)
    jobs: int = Field(8, ge=1, le=MAX_JOBS, description="Runs in flight at once.")
    repetitions: int = Field(1, ge=1, le=MAX_REPETITIONS, description="Runs per example.")
    retries: int = Field(3, ge=0, le=MAX_RETRIES, description="Retries of a run on 408/409/429/5xx/no connection.")
    timeout_seconds: float = Field(
        120.0, gt=0, le=MAX_TIMEOUT_SECONDS, description="Longest one run may take, retries included."
    )
    metadata: dict[str, Any] = Field(default_factory=dict)


class ExperimentRun(BaseModel):
    """One run of the task on one example (one repetition of it).

    ``error`` is set when the task gave no output (after its retries, or past the timeout); such a run has no
    evaluations. ``trace_id``/``span_id`` name the traced span of the run's (last) model call, on which its
    evaluations are stored as annotations.
    """

    model_config = ConfigDict(extra="forbid")

    example_id: str = Field(min_length=1, max_length=200)
    repetition: int = Field(0, ge=0, lt=MAX_REPETITIONS)
    position: int = Field(0, ge=0, description="The example's position in the dataset version.")
    input: Any = None
    expected_output: Any = None
    output: Any = None
    error: str | None = None
    attempts: int = Field(1, ge=0, le=MAX_RETRIES + 1)
    latency_ms: float | None = Field(None, ge=0, allow_inf_nan=False)
    input_tokens: int | None = Field(None, ge=0)
    output_tokens: int | None = Field(None, ge=0)
    cost: float | None = Field(None, ge=0, allow_inf_nan=False)
    trace_id: str | None = Field(None, pattern=r"^[0-9a-f]{32}$")
    span_id: str | None = Field(None, pattern=r"^[0-9a-f]{16}$")
    evaluations: list[EvaluationResult] = Field(default_factory=list, max_length=50)
    started_at: datetime

    @property
    def key(self) -> tuple[str, int]:
        return self.example_id, self.repetition

    def evaluated_row(self) -> EvaluatedRow:
        """This run as the evaluators' summary functions see it."""
        return EvaluatedRow(
            example_id=self.example_id,
            input=self.input,
            output=self.output,
            expected=self.expected_output,
            metadata={"repetition": self.repetition},
            evaluations=self.evaluations,
            error=self.error,
        )


class EvaluatorConsistency(BaseModel):
    """How one evaluator's verdicts agree across the repetitions of the same example."""

    agreement: float | None = Field(None, description="Share of examples whose runs all pass or all fail.")
    mean_score_stdev: float | None = Field(None, description="Mean over examples of the score's stdev.")


class Consistency(BaseModel):
    """Agreement across repetitions (only with ``repetitions`` > 1), over examples with two or more outputs."""

    repetitions: int
    examples: int = Field(description="Examples with at least two successful runs.")
    output_agreement: float | None = Field(None, description="Share of them whose outputs are all identical.")
    evaluators: dict[str, EvaluatorConsistency] = Field(default_factory=dict)


class ExperimentSummary(BaseModel):
    """Everything an experiment measured, over all its runs.

    ``score`` is :func:`~replay.evaluators.compute_score` of the evaluator summaries (the first evaluator's
    pass rate, else its mean score; None without evaluators). ``latency_ms`` has p50/p90/p99 and mean over
    successful runs; cost and tokens are totals over runs that reported them.
    """

    runs: int
    examples: int
    errors: int = Field(description="Runs whose task failed.")
    error_rate: float | None = None
    score: float | None = None
    evaluators: dict[str, EvaluationSummary] = Field(default_factory=dict)
    latency_ms: dict[str, float | None] = Field(default_factory=dict)
    cost: float | None = None
    mean_cost: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    consistency: Consistency | None = None
    duration_seconds: float | None = None

    def metrics(self) -> dict[str, float | None]:
        """The summary as flat numeric metrics (``score``, ``error_rate``, ``cost``, ``latency_p50_ms``, …,
        ``EVALUATOR.pass_rate``, ``EVALUATOR.mean_score``), for comparisons."""
        flat: dict[str, float | None] = {
            "score": self.score,
            "error_rate": self.error_rate,
            "errors": float(self.errors),
            "cost": self.cost,
            "mean_cost": self.mean_cost,
            "input_tokens": None if self.input_tokens is None else float(self.input_tokens),
            "output_tokens": None if self.output_tokens is None else float(self.output_tokens),
        }
        for key in ("p50", "p90", "p99", "mean"):
            flat[f"latency_{key}_ms"] = self.latency_ms.get(key)
        for name, summary in self.evaluators.items():
            for metric, value in summary.metrics.items():
                if metric not in ("count", "task_errors", "min_score", "max_score"):
                    flat[f"{name}.{metric}"] = value
        return flat


class Progress(BaseModel):
    """How far a run has got: runs to do, runs done, and how many of those failed."""

    total: int = Field(ge=0)
    done: int = Field(0, ge=0)
    errors: int = Field(0, ge=0)


class Experiment(BaseModel):
    """An experiment as stored: what ran, on what, how far it got, and its summary once it ended.

    ``status``: ``running``, then ``finished`` (every run done; some may have failed), ``failed`` (it could
    not go on, see ``error``; also an experiment the server stopped during) or ``cancelled``. ``origin`` is
    ``server`` for experiments the server ran, ``import`` for results computed elsewhere and imported.
    """

    id: str
    name: str | None = None
    dataset: str
    dataset_version: int | None = None
    origin: ExperimentOrigin = "server"
    status: ExperimentStatus
    config: ExperimentConfig
    progress: Progress
    summary: ExperimentSummary | None = None
    error: str | None = None
    created_at: datetime
    finished_at: datetime | None = None

    @property
    def label(self) -> str:
        """A short name for tables and reports: the name, else the task's prompt or function, else the id."""
        return self.name or self.config.task.prompt or self.config.task.function or self.id[:8]


class ExperimentImport(BaseModel):
    """Results computed elsewhere (a Python task, ``spanlab eval`` on a CI machine), to store as an experiment.

    The server recomputes the summary from ``runs``; ``evaluator_summaries`` adds what only the client could
    compute (summary evaluators, e.g. a confusion matrix). Run evaluations become annotations on the runs' spans.
    """

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(None, pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
    name: str | None = Field(None, min_length=1, max_length=200)
    dataset: str = Field(min_length=1, max_length=200)
    dataset_version: int | None = Field(None, ge=0)
    status: Literal["finished", "failed", "cancelled"] = "finished"
    error: str | None = Field(None, max_length=10_000)
    config: ExperimentConfig
    runs: list[ExperimentRun] = Field(max_length=MAX_IMPORT_RUNS)
    evaluator_summaries: dict[str, EvaluationSummary] = Field(default_factory=dict, max_length=100)
    created_at: datetime | None = None
    finished_at: datetime | None = None
    duration_seconds: float | None = Field(None, ge=0, allow_inf_nan=False)
