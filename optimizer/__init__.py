"""The optimizer: trace-derived evaluation feedback in, better prompt versions out, gains proven on held-out data.

:class:`PromptOptimization` (shaped after Datadog's prompt optimization) splits a dataset, scores the starting
prompt, and iterates: a reasoning model reflects on failing training examples and their explanations
(:mod:`optimizer.reflection`), a model-free strategy tries few-shot demonstrations (:mod:`optimizer.fewshot`),
candidates pass a minibatch gate before a validation run (:mod:`optimizer.loop`), and the winner is scored
once on test. :class:`OptimizationResult` holds what it found and spent; :func:`save_winner` pushes the winner
to the prompt hub with its lineage; :mod:`optimizer.runs` runs optimizations in the server.
"""

from __future__ import annotations

from optimizer.candidates import Candidate, CandidatePool
from optimizer.errors import (
    OptimizationCancelled,
    OptimizationConflict,
    OptimizationNotFound,
    OptimizerError,
    OptimizerInvalid,
    ReflectionUnusable,
    TaskFailed,
)
from optimizer.fewshot import select_demonstrations
from optimizer.loop import PromptOptimization
from optimizer.models import ProviderTask, ReasoningModel
from optimizer.plot import result_svg, score_history_svg
from optimizer.progress import OptimizationEvent, OptimizationProgress
from optimizer.prompt import CandidatePrompt, Demonstration, PromptFrame
from optimizer.recording import ExperimentRecorder, ExperimentRef
from optimizer.reflection import ReflectionRequest, build_reflection, parse_proposal
from optimizer.result import IterationRecord, OptimizationResult, ReflectionRecord, TestScore
from optimizer.saving import SavedWinner, save_winner
from optimizer.split import DatasetSplit, split_dataset

__all__ = [
    "Candidate",
    "CandidatePool",
    "CandidatePrompt",
    "DatasetSplit",
    "Demonstration",
    "ExperimentRecorder",
    "ExperimentRef",
    "IterationRecord",
    "OptimizationCancelled",
    "OptimizationConflict",
    "OptimizationEvent",
    "OptimizationNotFound",
    "OptimizationProgress",
    "OptimizationResult",
    "OptimizerError",
    "OptimizerInvalid",
    "PromptFrame",
    "PromptOptimization",
    "ProviderTask",
    "ReasoningModel",
    "ReflectionRecord",
    "ReflectionRequest",
    "ReflectionUnusable",
    "SavedWinner",
    "TaskFailed",
    "TestScore",
    "build_reflection",
    "parse_proposal",
    "result_svg",
    "save_winner",
    "score_history_svg",
    "select_demonstrations",
    "split_dataset",
]
