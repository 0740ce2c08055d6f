"""Experiments: a dataset version x a task x evaluators → runs, scores, a summary; comparisons of experiments.

- :mod:`~replay.experiments.models` — :class:`ExperimentConfig`, :class:`ExperimentRun`,
  :class:`ExperimentSummary`, :class:`Experiment` (the stored record), :class:`ExperimentImport`.
- :mod:`~replay.experiments.tasks` — :class:`PromptTask` (a prompt version through a provider) and
  :class:`FunctionTask` (your ``task(input, config)``).
- :mod:`~replay.experiments.runner` — :class:`ExperimentRunner`: asyncio, ``jobs`` at once, retries with
  backoff, per-run timeout, error isolation, cancellation.
- :mod:`~replay.experiments.api` — :func:`run_experiment` / :func:`arun_experiment`, the Python API.
- :mod:`~replay.experiments.summary`, :mod:`~replay.experiments.compare` — summaries and side-by-side comparison.
- :mod:`~replay.experiments.store`, :mod:`~replay.experiments.service` — persistence and the server's
  background runs; :mod:`~replay.experiments.online` — online evaluation rules for incoming spans.
- :mod:`~replay.experiments.gate` and :mod:`~replay.experiments.report` — the CI gate and its reports.
"""

from __future__ import annotations

from replay.experiments.api import ExperimentResult, arun_experiment, as_examples, run_experiment
from replay.experiments.models import (
    Experiment,
    ExperimentConfig,
    ExperimentImport,
    ExperimentRun,
    ExperimentSummary,
    Progress,
    TaskConfig,
)
from replay.experiments.retry import Backoff
from replay.experiments.runner import ExperimentRunner, RunPlan
from replay.experiments.summary import summarize_experiment
from replay.experiments.tasks import FunctionTask, PromptTask, Task, TaskOutput
from replay.experiments.tracing import EXPERIMENTS_PROJECT, ExperimentTracer, RunLabels

__all__ = [
    "EXPERIMENTS_PROJECT",
    "Backoff",
    "Experiment",
    "ExperimentConfig",
    "ExperimentImport",
    "ExperimentResult",
    "ExperimentRun",
    "ExperimentRunner",
    "ExperimentSummary",
    "ExperimentTracer",
    "FunctionTask",
    "Progress",
    "PromptTask",
    "RunLabels",
    "RunPlan",
    "Task",
    "TaskConfig",
    "TaskOutput",
    "arun_experiment",
    "as_examples",
    "run_experiment",
    "summarize_experiment",
]
