"""What one evaluation of one row says, and how anything an evaluator returns becomes that.

An :class:`EvaluationResult` carries up to four views of a judgement: a ``score`` (a number), a ``label`` (a
category), an ``explanation`` (why, in words) and ``passed`` (the pass/fail view McNemar's test and the
"failing examples" lists use). ``error`` is set instead when the evaluator itself could not judge the row (it
raised, returned something unusable, or a judge answered nonsense): an errored row is neither a pass nor a fail.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from collector.annotations import AnnotationInput
from replay.errors import EvaluatorFailed

__all__ = ["RESULT_KEYS", "EvaluationResult", "coerce_result"]

RESULT_KEYS = ("score", "label", "explanation", "passed", "metadata")
_ANNOTATION_LABEL_MAX = 200
_ANNOTATION_EXPLANATION_MAX = 10_000


class EvaluationResult(BaseModel):
    """One evaluator's verdict on one row (see the module docstring for what each field means)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="The evaluator's name, e.g. 'exact_match'.")
    score: float | None = Field(None, allow_inf_nan=False, description="A number; higher is better.")
    label: str | None = Field(None, description="A category, e.g. 'correct' or 'wrong_intent'.")
    explanation: str | None = Field(None, description="Why, in words; always set when a row fails.")
    passed: bool | None = Field(None, description="The pass/fail view, when the evaluator has one.")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Evaluator-specific details.")
    error: str | None = Field(None, description="Why the evaluator could not judge the row; then it judged nothing.")

    @classmethod
    def failure(cls, name: str, error: str, **metadata: Any) -> EvaluationResult:
        """The result of an evaluator that could not judge a row."""
        return cls(name=name, error=error, metadata=metadata)

    def to_annotation(self, *, annotator_kind: Literal["HUMAN", "LLM", "CODE"] = "CODE") -> AnnotationInput:
        """This result as a span annotation (``passed`` and ``error`` travel in the metadata).

        Long labels and explanations are cut to what the annotation store accepts; an errored result is stored
        with its error as the explanation, so it is visible on the span like any other feedback.
        """
        metadata = dict(self.metadata)
        if self.passed is not None:
            metadata["passed"] = self.passed
        if self.error is not None:
            metadata["error"] = self.error
        explanation = self.explanation if self.error is None else f"evaluator error: {self.error}"
        return AnnotationInput(
            name=self.name,
            score=self.score,
            label=None if self.label is None else self.label[:_ANNOTATION_LABEL_MAX],
            explanation=None if explanation is None else explanation[:_ANNOTATION_EXPLANATION_MAX],
            annotator_kind=annotator_kind,
            metadata=metadata or None,
        )


def coerce_result(value: object, *, name: str, threshold: float | None = None) -> EvaluationResult:
    """Turn what an evaluator returned into an :class:`EvaluationResult` named ``name``.

    Accepted: an ``EvaluationResult`` (kept, under the evaluator's ``name``, so rows are keyed consistently);
    a ``bool`` (score 1/0 and passed); an ``int``/``float`` (the score); a ``str`` (the label); a
    ``(score, explanation)`` pair; a ``dict`` with any of the keys in :data:`RESULT_KEYS`. With a ``threshold``,
    a number without an explicit ``passed`` passes when ``score >= threshold``.
    Anything else raises :class:`EvaluatorFailed` naming the evaluator and what it returned.
    """
    if isinstance(value, EvaluationResult):
        return value if value.name == name else value.model_copy(update={"name": name})
    if isinstance(value, bool):
        return EvaluationResult(name=name, score=float(value), passed=value)
    if isinstance(value, int | float):
        score = _score(value, name)
        return EvaluationResult(name=name, score=score, passed=_passes(score, threshold))
    if isinstance(value, str):
        return EvaluationResult(name=name, label=value)
    if isinstance(value, tuple):
        return _from_pair(value, name, threshold)
    if isinstance(value, Mapping):
        return _from_mapping(value, name, threshold)
    raise EvaluatorFailed(
        f"evaluator {name!r} returned {type(value).__name__}; return a bool, a number, a label (str), "
        f"a (score, explanation) pair, a dict with keys {', '.join(RESULT_KEYS)}, or an EvaluationResult"
    )


def _score(value: object, name: str) -> float:
    if isinstance(value, bool):
        return float(value)
    if not isinstance(value, int | float):
        raise EvaluatorFailed(f"evaluator {name!r} returned a score of type {type(value).__name__}; use a number")
    score = float(value)
    if not math.isfinite(score):
        raise EvaluatorFailed(f"evaluator {name!r} returned the score {score}; a score must be a finite number")
    return score


def _passes(score: float, threshold: float | None) -> bool | None:
    return None if threshold is None else score >= threshold


def _from_pair(value: tuple[Any, ...], name: str, threshold: float | None) -> EvaluationResult:
    if len(value) != 2 or not isinstance(value[1], str | None):
        kinds = ", ".join(type(item).__name__ for item in value)
        raise EvaluatorFailed(f"evaluator {name!r} returned a tuple of ({kinds}); a tuple must be (score, explanation)")
    score = _score(value[0], name)
    passed = value[0] if isinstance(value[0], bool) else _passes(score, threshold)
    return EvaluationResult(name=name, score=score, explanation=value[1], passed=passed)


def _from_mapping(value: Mapping[Any, Any], name: str, threshold: float | None) -> EvaluationResult:
    unknown = [str(key) for key in value if key not in RESULT_KEYS]
    if unknown:
        raise EvaluatorFailed(
            f"evaluator {name!r} returned a dict with unknown keys {', '.join(map(repr, unknown))}; "
            f"allowed keys: {', '.join(RESULT_KEYS)}"
        )
    score = None if value.get("score") is None else _score(value["score"], name)
    passed = value.get("passed")
    if passed is None and score is not None:
        passed = value["score"] if isinstance(value["score"], bool) else _passes(score, threshold)
    checks = {"label": str, "explanation": str, "passed": bool, "metadata": dict}
    fields = {"label": value.get("label"), "explanation": value.get("explanation"), "passed": passed}
    fields["metadata"] = value.get("metadata") or {}
    for key, kind in checks.items():
        if fields[key] is not None and not isinstance(fields[key], kind):
            raise EvaluatorFailed(
                f"evaluator {name!r} returned {key!r} of type {type(fields[key]).__name__}; use {kind.__name__}"
            )
    return EvaluationResult(name=name, score=score, **fields)
