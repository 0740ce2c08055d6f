"""Classification: a row evaluator (predicted label = expected label) that is also a summary evaluator.

Over all rows it reports what scikit-learn's ``classification_report`` and ``confusion_matrix`` would: per class
precision, recall, F1 and support, their macro and support-weighted averages, micro F1 and accuracy. Conventions:

- classes are the labels seen as expected or predicted, sorted;
- precision of a class never predicted, recall of a class never expected, and F1 when both are 0 are 0
  (scikit-learn's ``zero_division=0``);
- with one true and one predicted label per row, micro precision = micro recall = micro F1 = accuracy.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from replay.errors import EvaluatorFailed, EvaluatorInvalid
from replay.evaluators.base import FieldEvaluator
from replay.evaluators.extract import as_text
from replay.evaluators.result import EvaluationResult
from replay.evaluators.summary import EvaluatedRow, EvaluationSummary
from replay.evaluators.text import TextNormalization, quote

__all__ = ["ClassMetrics", "Classification", "ClassificationReport", "classification_report"]


class ClassMetrics(BaseModel):
    precision: float
    recall: float
    f1: float
    support: int


class ClassificationReport(BaseModel):
    """Per-class and averaged metrics; ``confusion[expected][predicted]`` counts rows (zeros omitted)."""

    n: int
    labels: list[str]
    per_class: dict[str, ClassMetrics]
    accuracy: float
    macro_precision: float
    macro_recall: float
    macro_f1: float
    weighted_f1: float
    micro_f1: float
    confusion: dict[str, dict[str, int]]

    def metrics(self) -> dict[str, float | None]:
        """The headline numbers, as a summary's metrics."""
        names = ("accuracy", "macro_precision", "macro_recall", "macro_f1", "weighted_f1", "micro_f1")
        return {"n": float(self.n), **{name: getattr(self, name) for name in names}}


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def classification_report(expected: Sequence[str], predicted: Sequence[str]) -> ClassificationReport:
    """The report for paired label lists (see the module docstring); ``ValueError`` if they differ in length."""
    if len(expected) != len(predicted):
        raise ValueError(f"{len(expected)} expected labels but {len(predicted)} predicted")
    pairs = Counter(zip(expected, predicted, strict=True))
    labels = sorted(set(expected) | set(predicted))
    true_counts, predicted_counts = Counter(expected), Counter(predicted)
    per_class: dict[str, ClassMetrics] = {}
    for label in labels:
        hits = pairs[(label, label)]
        precision, recall = _ratio(hits, predicted_counts[label]), _ratio(hits, true_counts[label])
        per_class[label] = ClassMetrics(
            precision=precision, recall=recall, f1=_f1(precision, recall), support=true_counts[label]
        )
    n = len(expected)
    accuracy = _ratio(sum(pairs[(label, label)] for label in labels), n)
    count = len(labels) or 1
    confusion: dict[str, dict[str, int]] = {}
    for (want, got), times in sorted(pairs.items()):
        confusion.setdefault(want, {})[got] = times
    return ClassificationReport(
        n=n,
        labels=labels,
        per_class=per_class,
        accuracy=accuracy,
        macro_precision=sum(m.precision for m in per_class.values()) / count,
        macro_recall=sum(m.recall for m in per_class.values()) / count,
        macro_f1=sum(m.f1 for m in per_class.values()) / count,
        weighted_f1=sum(m.f1 * m.support for m in per_class.values()) / n if n else 0.0,
        micro_f1=accuracy,
        confusion=confusion,
    )


class Classification(FieldEvaluator):
    """Row: the predicted label equals the expected one (after normalization). Summary: a classification report.

    ``labels``, when given, is the known label set: a prediction outside it still just fails, but the
    explanation says it is not a known label (a model inventing classes is a different failure from a mix-up).
    """

    def __init__(
        self,
        *,
        labels: Sequence[str] | None = None,
        case_insensitive: bool = False,
        name: str = "classification",
        field: str | None = None,
        expected_field: str | None = None,
    ) -> None:
        super().__init__(name=name, field=field, expected_field=expected_field)
        if labels is not None and (isinstance(labels, str) or not all(isinstance(x, str) and x for x in labels)):
            raise EvaluatorInvalid(f"{name}: labels must be a list of non-empty texts")
        self.normalization = TextNormalization(case_insensitive=case_insensitive, collapse_whitespace=True)
        self.labels = None if labels is None else {self.normalization.apply(label) for label in labels}

    def compare(self, output: Any, expected: Any) -> EvaluationResult:
        if expected is None:
            raise EvaluatorFailed(f"{self.name} needs an expected label and the example has none")
        got = self.normalization.apply(as_text(output))
        want = self.normalization.apply(as_text(expected))
        if got == want:
            return self.passes(predicted=got, expected=want)
        unknown = "" if self.labels is None or got in self.labels else " (not a known label)"
        return self.fail(f"expected {quote(want)}, got {quote(got)}{unknown}", predicted=got, expected=want)

    def summarize(self, rows: Sequence[EvaluatedRow]) -> EvaluationSummary:
        """A classification report over the rows this evaluator judged; rows it could not judge are counted."""
        expected: list[str] = []
        predicted: list[str] = []
        for row in rows:
            result = row.evaluation(self.name)
            if result is not None and result.error is None and "predicted" in result.metadata:
                expected.append(str(result.metadata["expected"]))
                predicted.append(str(result.metadata["predicted"]))
        skipped = len(rows) - len(expected)
        if not expected:
            return EvaluationSummary(name=self.name, error="no row was classified", metrics={"skipped": float(skipped)})
        report = classification_report(expected, predicted)
        return EvaluationSummary(
            name=self.name,
            metrics={**report.metrics(), "skipped": float(skipped)},
            details=report.model_dump(include={"labels", "per_class", "confusion"}),
        )
