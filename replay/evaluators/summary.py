"""Judging a whole run: evaluated rows, per-evaluator aggregates, summary evaluators, one score, row buckets.

- :class:`EvaluatedRow` is what the experiment runner hands over: one run of one example and its evaluations.
- :func:`summarize_rows` gives every row evaluator its aggregates (count, errors, mean score, pass rate, labels)
  and runs the summary evaluators — callables over all rows — merging a summary into the row aggregates of the
  same name (so ``classification`` has its pass rate *and* its macro F1).
- :func:`compute_score` folds the summaries into the one number an optimizer maximizes and a CI gate checks.
- :func:`labelize` puts a row in a bucket (its first evaluator's label, else pass/fail), for the optimizer.
"""

from __future__ import annotations

import inspect
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from replay.errors import EvaluatorFailed, EvaluatorInvalid
from replay.evaluators.base import check_name, describe
from replay.evaluators.result import EvaluationResult

__all__ = [
    "SCORE_METRICS",
    "SUMMARY_ARGUMENTS",
    "EvaluatedRow",
    "EvaluationSummary",
    "FunctionSummaryEvaluator",
    "ScoreFunction",
    "SummaryEvaluator",
    "aggregate",
    "as_summary_evaluator",
    "bucket_rows",
    "compute_score",
    "labelize",
    "summarize_rows",
]

SUMMARY_ARGUMENTS = ("rows", "inputs", "outputs", "expected", "metadata", "evaluations")
SCORE_METRICS = ("pass_rate", "mean_score", "accuracy", "score")


class EvaluatedRow(BaseModel):
    """One run of one example: what went in, what came out, and every evaluation of it.

    ``error`` is set when the task itself failed (no output to judge); such a row has no evaluations.
    """

    model_config = ConfigDict(extra="forbid")

    example_id: str | None = None
    input: Any = None
    output: Any = None
    expected: Any = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    evaluations: list[EvaluationResult] = Field(default_factory=list)
    error: str | None = None

    def evaluation(self, name: str) -> EvaluationResult | None:
        """This row's result from the evaluator called ``name``, if it has one."""
        return next((result for result in self.evaluations if result.name == name), None)


class EvaluationSummary(BaseModel):
    """A judgement over all rows: numeric ``metrics`` (None = not computable) and JSON ``details``."""

    model_config = ConfigDict(extra="forbid")

    name: str
    metrics: dict[str, float | None] = Field(default_factory=dict)
    details: dict[str, Any] = Field(default_factory=dict)
    explanation: str | None = None
    error: str | None = None


@runtime_checkable
class SummaryEvaluator(Protocol):
    name: str

    def summarize(self, rows: Sequence[EvaluatedRow]) -> EvaluationSummary: ...


ScoreFunction = Callable[[Mapping[str, EvaluationSummary]], float]


def aggregate(rows: Sequence[EvaluatedRow], name: str) -> EvaluationSummary:
    """The aggregates of evaluator ``name`` over ``rows``.

    Metrics: ``count`` (rows it judged), ``errors`` (rows it could not judge), ``mean_score``/``min_score``/
    ``max_score`` over scored rows, ``passed``/``failed``, and ``pass_rate`` = passed / (passed + failed).
    Rows whose task failed are counted in ``task_errors`` and in neither. Details: ``label_counts`` (label → rows).
    """
    results = [result for row in rows if (result := row.evaluation(name)) is not None]
    judged = [result for result in results if result.error is None]
    scores = [result.score for result in judged if result.score is not None]
    passed = sum(1 for result in judged if result.passed is True)
    failed = sum(1 for result in judged if result.passed is False)
    labels = Counter(result.label for result in judged if result.label is not None)
    metrics: dict[str, float | None] = {
        "count": float(len(judged)),
        "errors": float(len(results) - len(judged)),
        "task_errors": float(sum(1 for row in rows if row.error is not None)),
        "mean_score": math.fsum(scores) / len(scores) if scores else None,
        "min_score": min(scores) if scores else None,
        "max_score": max(scores) if scores else None,
        "passed": float(passed),
        "failed": float(failed),
        "pass_rate": passed / (passed + failed) if passed + failed else None,
    }
    return EvaluationSummary(name=name, metrics=metrics, details={"label_counts": dict(labels.most_common())})


class FunctionSummaryEvaluator:
    """A user callable over all rows as a summary evaluator.

    It gets those of ``rows, inputs, outputs, expected, metadata, evaluations`` it names (``rows`` is the row
    list, the others are columns in row order; ``evaluations`` holds a ``{evaluator name: EvaluationResult}``
    dict per row; a ``**kwargs`` parameter receives all six). It returns an :class:`EvaluationSummary`, an
    :class:`EvaluationResult`, a number, or a dict (numbers → metrics, other values → details). Exceptions and
    unusable returns become a summary with ``error`` set.
    """

    def __init__(self, function: Callable[..., Any], *, name: str | None = None) -> None:
        self.name = check_name(name or getattr(function, "__name__", type(function).__name__))
        self.function = function
        try:
            parameters = inspect.signature(function).parameters.values()
        except (TypeError, ValueError) as error:
            raise EvaluatorInvalid(f"cannot read the parameters of summary evaluator {self.name!r}: {error}") from None
        self._wanted: list[str] = []
        for parameter in parameters:
            if parameter.kind is parameter.VAR_KEYWORD:
                self._wanted.extend(key for key in SUMMARY_ARGUMENTS if key not in self._wanted)
            elif parameter.name in SUMMARY_ARGUMENTS and parameter.kind is not parameter.POSITIONAL_ONLY:
                self._wanted.append(parameter.name)
            elif parameter.default is parameter.empty and parameter.kind is not parameter.VAR_POSITIONAL:
                raise EvaluatorInvalid(
                    f"summary evaluator {self.name!r} asks for {parameter.name!r}; it may take any of "
                    f"{', '.join(SUMMARY_ARGUMENTS)} (by keyword)"
                )

    def summarize(self, rows: Sequence[EvaluatedRow]) -> EvaluationSummary:
        columns: dict[str, Any] = {
            "rows": list(rows),
            "inputs": [row.input for row in rows],
            "outputs": [row.output for row in rows],
            "expected": [row.expected for row in rows],
            "metadata": [row.metadata for row in rows],
            "evaluations": [{result.name: result for result in row.evaluations} for row in rows],
        }
        try:
            return _coerce_summary(self.function(**{key: columns[key] for key in self._wanted}), self.name)
        except Exception as error:
            return EvaluationSummary(name=self.name, error=describe(error))


def as_summary_evaluator(
    evaluator: SummaryEvaluator | Callable[..., Any], *, name: str | None = None
) -> SummaryEvaluator:
    """A :class:`SummaryEvaluator` as-is, or a callable wrapped in a :class:`FunctionSummaryEvaluator`."""
    if isinstance(evaluator, SummaryEvaluator):
        return evaluator
    if not callable(evaluator):
        raise EvaluatorInvalid(f"a summary evaluator must be a callable, not {type(evaluator).__name__}")
    return FunctionSummaryEvaluator(evaluator, name=name)


def _coerce_summary(value: object, name: str) -> EvaluationSummary:
    if isinstance(value, EvaluationSummary):
        return value.model_copy(update={"name": name})
    if isinstance(value, EvaluationResult):
        details = {key: getattr(value, key) for key in ("label", "passed") if getattr(value, key) is not None}
        metrics = {} if value.score is None else {"score": value.score}
        return EvaluationSummary(name=name, metrics=metrics, details=details, explanation=value.explanation)
    if isinstance(value, bool | int | float):
        return EvaluationSummary(name=name, metrics={"score": _finite(value, name, "score")})
    if isinstance(value, Mapping):
        numbers: dict[str, float | None] = {}
        others: dict[str, Any] = {}
        for key, item in value.items():
            if item is None or isinstance(item, bool | int | float):
                numbers[str(key)] = None if item is None else _finite(item, name, str(key))
            else:
                others[str(key)] = item
        return EvaluationSummary(name=name, metrics=numbers, details=others)
    raise EvaluatorFailed(
        f"summary evaluator {name!r} returned {type(value).__name__}; return a number, a dict of metrics, "
        "an EvaluationResult or an EvaluationSummary"
    )


def _finite(value: float, name: str, key: str) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise EvaluatorFailed(f"summary evaluator {name!r} returned {number} for {key!r}; metrics must be finite")
    return number


def summarize_rows(
    rows: Sequence[EvaluatedRow],
    *,
    evaluators: Sequence[object] = (),
    summary_evaluators: Sequence[SummaryEvaluator | Callable[..., Any]] = (),
) -> dict[str, EvaluationSummary]:
    """Aggregates of every row evaluator, then each summary evaluator's summary.

    Row evaluators come in the order of ``evaluators`` (the run's row evaluators: so the first is the primary one
    even when no row got that far), then any other name found in the rows. Row evaluators that are also summary
    evaluators (:class:`~replay.evaluators.Classification`) are summarized too, before ``summary_evaluators``.
    A summary named like a row evaluator is merged into its aggregates (its metrics and details win).
    """
    names = [str(getattr(evaluator, "name", "")) for evaluator in evaluators]
    names += [result.name for row in rows for result in row.evaluations]
    summaries = {name: aggregate(rows, name) for name in dict.fromkeys(names) if name}
    summarizers = [evaluator for evaluator in evaluators if isinstance(evaluator, SummaryEvaluator)]
    for evaluator in [*summarizers, *map(as_summary_evaluator, summary_evaluators)]:
        try:
            summary = evaluator.summarize(rows)
        except Exception as error:
            summary = EvaluationSummary(name=evaluator.name, error=describe(error))
        if summary.name in summaries:
            base = summaries[summary.name]
            summary = summary.model_copy(
                update={"metrics": {**base.metrics, **summary.metrics}, "details": {**base.details, **summary.details}}
            )
        summaries[summary.name] = summary
    return summaries


def compute_score(
    summaries: Mapping[str, EvaluationSummary], *, primary: str | None = None, metric: str | None = None
) -> float:
    """One number for a run: a metric of the primary summary (default: the first).

    The metric is ``metric`` if given, else the first of ``pass_rate, mean_score, accuracy, score`` that the
    summary has a value for. A run where nothing could be scored (all such metrics None) scores 0.0, so a gate
    on it fails; a summary that has none of them at all is a usage error (:class:`EvaluatorInvalid`).
    """
    if not summaries:
        raise EvaluatorInvalid("no evaluator summaries to compute a score from; add an evaluator")
    name = primary if primary is not None else next(iter(summaries))
    if name not in summaries:
        raise EvaluatorInvalid(f"no summary named {name!r}; there are {', '.join(map(repr, summaries))}")
    summary = summaries[name]
    candidates = (metric,) if metric is not None else SCORE_METRICS
    present = [key for key in candidates if key in summary.metrics]
    if not present:
        raise EvaluatorInvalid(
            f"summary {name!r} has no metric {' or '.join(map(repr, candidates))}; "
            f"it has {', '.join(map(repr, summary.metrics)) or 'none'}"
        )
    value = next((summary.metrics[key] for key in present if summary.metrics[key] is not None), None)
    return 0.0 if value is None else float(value)


def labelize(row: EvaluatedRow, *, evaluator: str | None = None) -> str:
    """The bucket of a row: ``error`` (task failed), ``unevaluated``, ``evaluator_error``, else the evaluation's
    label, else ``pass``/``fail``, else ``score=<score>``, else ``unlabeled``.

    The evaluation is that of ``evaluator``, or the row's first.
    """
    if row.error is not None:
        return "error"
    result = row.evaluation(evaluator) if evaluator is not None else next(iter(row.evaluations), None)
    if result is None:
        return "unevaluated"
    if result.error is not None:
        return "evaluator_error"
    if result.label is not None:
        return result.label
    if result.passed is not None:
        return "pass" if result.passed else "fail"
    return "unlabeled" if result.score is None else f"score={result.score:g}"


def bucket_rows(
    rows: Sequence[EvaluatedRow], labelization: Callable[[EvaluatedRow], str] = labelize
) -> dict[str, list[EvaluatedRow]]:
    """Rows grouped by ``labelization(row)``, buckets in order of first appearance, rows in order."""
    buckets: dict[str, list[EvaluatedRow]] = {}
    for row in rows:
        buckets.setdefault(labelization(row), []).append(row)
    return buckets
