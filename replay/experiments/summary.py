"""An experiment's summary from its runs: evaluator aggregates, one score, latency, cost, errors, consistency.

:func:`summarize_experiment` is a pure function of the runs (and the evaluators, for summary evaluators such as
``classification``'s confusion matrix), so a summary can be recomputed from stored runs at any time.

Consistency across repetitions (``repetitions`` > 1) is measured over the examples with at least two successful
runs: ``output_agreement`` is the share whose outputs are all identical (compared as canonical JSON), and per
evaluator ``agreement`` is the share whose runs all passed or all failed, ``mean_score_stdev`` the mean over
examples of the population standard deviation of the scores.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from replay.errors import InvalidInput
from replay.evaluators import EvaluationSummary, SummaryEvaluator, compute_score, summarize_rows
from replay.experiments.models import Consistency, EvaluatorConsistency, ExperimentRun, ExperimentSummary
from replay.stats import latency_percentiles

__all__ = ["merge_summaries", "summarize_experiment"]


def summarize_experiment(
    runs: Sequence[ExperimentRun],
    *,
    evaluators: Sequence[object] = (),
    summary_evaluators: Sequence[SummaryEvaluator | Callable[..., Any]] = (),
    repetitions: int = 1,
    duration_seconds: float | None = None,
) -> ExperimentSummary:
    """The summary of ``runs`` (see the module docstring). ``evaluators`` are the row evaluators in order (the
    first is the primary one for the score); objects with just a ``name`` will do."""
    ordered = sorted(runs, key=lambda run: (run.position, run.repetition))
    rows = [run.evaluated_row() for run in ordered]
    summaries = summarize_rows(rows, evaluators=evaluators, summary_evaluators=summary_evaluators)
    errors = sum(1 for run in ordered if run.error is not None)
    latencies = [run.latency_ms for run in ordered if run.error is None and run.latency_ms is not None]
    costs = [run.cost for run in ordered if run.cost is not None]
    latency: dict[str, float | None] = dict(latency_percentiles(latencies))
    latency["mean"] = math.fsum(latencies) / len(latencies) if latencies else None
    return ExperimentSummary(
        runs=len(ordered),
        examples=len({run.example_id for run in ordered}),
        errors=errors,
        error_rate=errors / len(ordered) if ordered else None,
        score=score_of(summaries),
        evaluators=summaries,
        latency_ms=latency,
        cost=math.fsum(costs) if costs else None,
        mean_cost=math.fsum(costs) / len(costs) if costs else None,
        input_tokens=_total(run.input_tokens for run in ordered),
        output_tokens=_total(run.output_tokens for run in ordered),
        consistency=consistency(ordered, repetitions) if repetitions > 1 else None,
        duration_seconds=duration_seconds,
    )


def score_of(summaries: Mapping[str, EvaluationSummary]) -> float | None:
    """:func:`~replay.evaluators.compute_score`, or None when there is nothing to score."""
    if not summaries:
        return None
    try:
        return compute_score(summaries)
    except InvalidInput:  # the primary evaluator gives labels only
        return None


def merge_summaries(computed: ExperimentSummary, reported: Mapping[str, EvaluationSummary]) -> ExperimentSummary:
    """``computed`` with what a client ``reported`` beyond it: extra metrics and details of each evaluator (the
    computed values win where both have one) and summaries of its summary evaluators; the score is recomputed."""
    merged = dict(computed.evaluators)
    for name, summary in reported.items():
        base = merged.get(name)
        if base is None:
            merged[name] = summary
        else:
            merged[name] = base.model_copy(
                update={
                    "metrics": {**summary.metrics, **base.metrics},
                    "details": {**summary.details, **base.details},
                    "explanation": base.explanation or summary.explanation,
                }
            )
    return computed.model_copy(update={"evaluators": merged, "score": score_of(merged)})


def consistency(runs: Sequence[ExperimentRun], repetitions: int) -> Consistency:
    """Agreement across repetitions (see the module docstring)."""
    by_example: dict[str, list[ExperimentRun]] = defaultdict(list)
    for run in runs:
        if run.error is None:
            by_example[run.example_id].append(run)
    groups = [group for group in by_example.values() if len(group) >= 2]
    agreeing = sum(1 for group in groups if len({_canonical(run.output) for run in group}) == 1)
    names = list(dict.fromkeys(result.name for run in runs for result in run.evaluations))
    return Consistency(
        repetitions=repetitions,
        examples=len(groups),
        output_agreement=agreeing / len(groups) if groups else None,
        evaluators={name: _evaluator_consistency(groups, name) for name in names},
    )


def _evaluator_consistency(groups: Sequence[Sequence[ExperimentRun]], name: str) -> EvaluatorConsistency:
    verdicts: list[bool] = []
    stdevs: list[float] = []
    for group in groups:
        results = [result for run in group if (result := run.evaluated_row().evaluation(name)) is not None]
        passes = [result.passed for result in results if result.error is None and result.passed is not None]
        scores = [result.score for result in results if result.error is None and result.score is not None]
        if len(passes) >= 2:
            verdicts.append(len(set(passes)) == 1)
        if len(scores) >= 2:
            stdevs.append(statistics.pstdev(scores))
    return EvaluatorConsistency(
        agreement=sum(verdicts) / len(verdicts) if verdicts else None,
        mean_score_stdev=math.fsum(stdevs) / len(stdevs) if stdevs else None,
    )


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _total(values: Any) -> int | None:
    present = [value for value in values if value is not None]
    return sum(present) if present else None
