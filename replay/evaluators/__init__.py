"""Evaluators: judge a model's output row by row, summarize a run, and fold it into one score.

Row evaluators (:class:`Evaluator`) return an :class:`EvaluationResult` and never raise because of a row.
Built-ins: :class:`ExactMatch`, :class:`Contains`, :class:`Regex`, :class:`ValidJSON`, :class:`JSONSchemaMatch`,
:class:`StringSimilarity`, :class:`NumericTolerance`, :class:`Classification` (also a summary evaluator) and
:class:`LLMJudge`; any callable becomes one with :func:`as_evaluator`. :func:`summarize_rows`,
:func:`compute_score` and :func:`labelize` work on a run's :class:`EvaluatedRow` list; :func:`build_evaluator`
builds one from a CLI spec such as ``regex:pattern=^\\d+$``.
"""

from __future__ import annotations

from replay.evaluators.base import BaseEvaluator, Evaluator, FieldEvaluator, FunctionEvaluator, as_evaluator
from replay.evaluators.classification import Classification, ClassificationReport, classification_report
from replay.evaluators.extract import FieldPath
from replay.evaluators.judge import LLMJudge, parse_judgement
from replay.evaluators.registry import EVALUATORS, EvaluatorSpec, build_evaluator, parse_evaluator_spec
from replay.evaluators.result import EvaluationResult, coerce_result
from replay.evaluators.structured import JSONSchemaMatch, NumericTolerance, ValidJSON
from replay.evaluators.summary import (
    EvaluatedRow,
    EvaluationSummary,
    ScoreFunction,
    SummaryEvaluator,
    as_summary_evaluator,
    bucket_rows,
    compute_score,
    labelize,
    summarize_rows,
)
from replay.evaluators.text import Contains, ExactMatch, Regex, StringSimilarity

__all__ = [
    "EVALUATORS",
    "BaseEvaluator",
    "Classification",
    "ClassificationReport",
    "Contains",
    "EvaluatedRow",
    "EvaluationResult",
    "EvaluationSummary",
    "Evaluator",
    "EvaluatorSpec",
    "ExactMatch",
    "FieldEvaluator",
    "FieldPath",
    "FunctionEvaluator",
    "JSONSchemaMatch",
    "LLMJudge",
    "NumericTolerance",
    "Regex",
    "ScoreFunction",
    "StringSimilarity",
    "SummaryEvaluator",
    "ValidJSON",
    "as_evaluator",
    "as_summary_evaluator",
    "bucket_rows",
    "build_evaluator",
    "classification_report",
    "coerce_result",
    "compute_score",
    "labelize",
    "parse_evaluator_spec",
    "parse_judgement",
    "summarize_rows",
]
