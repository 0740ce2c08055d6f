"""Side by side: two or more experiments on the same dataset, example by example, and whether a difference is real.

The first experiment is the *baseline*; each other one is a *candidate* compared with it:

- **per example**, on the primary evaluator (the baseline's first, unless chosen): improved, regressed or
  unchanged by the example's score, with the outputs and the evaluators' explanations of what changed;
- **every summary metric** (score, pass rates, mean scores, errors, cost, tokens, latency p50/p90/p99):
  candidate minus baseline (:func:`replay.stats.metric_deltas`);
- **is it real**: per evaluator both have, a paired bootstrap confidence interval on the mean score delta and,
  for pass/fail evaluators, McNemar's test (:mod:`replay.stats`).

An example's score on an evaluator is the mean over its repetitions of the run's score (its pass as 1/0 when
it has no score); a run whose *task* failed counts as 0 and failed, a run the *evaluator* could not judge is
left out. An example passes when at least half its runs pass. Examples are matched by id: on the same
dataset version that is every example; across versions or datasets a warning says so, and examples only one
side has are counted as ``missing``/``extra``. Comparing with a running experiment is refused (409).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field

from replay.errors import Conflict, InvalidInput
from replay.experiments.models import Experiment, ExperimentRun
from replay.stats import (
    BootstrapInterval,
    Change,
    McNemarResult,
    MetricDelta,
    change_counts,
    classify_change,
    mcnemar,
    metric_deltas,
    paired_bootstrap,
)

__all__ = [
    "CandidateComparison",
    "Comparison",
    "EvaluatorComparison",
    "ExampleChange",
    "ExperimentBrief",
    "compare_experiments",
    "example_scores",
]

MAX_COMPARED = 10


class ExperimentBrief(BaseModel):
    """Which experiment, on what."""

    id: str
    label: str
    dataset: str
    dataset_version: int | None
    status: str
    score: float | None


class ExampleChange(BaseModel):
    """One example whose primary score changed: both scores, outputs and explanations."""

    example_id: str
    change: Change
    baseline_score: float
    candidate_score: float
    input: Any = None
    expected_output: Any = None
    baseline_output: Any = None
    candidate_output: Any = None
    baseline_explanation: str | None = None
    candidate_explanation: str | None = Field(None, description="Why the candidate's output passed or failed.")


class EvaluatorComparison(BaseModel):
    """One evaluator across the paired examples."""

    name: str
    examples: int = Field(description="Examples both experiments scored on this evaluator.")
    baseline_mean: float | None = None
    candidate_mean: float | None = None
    changes: dict[str, int]
    bootstrap: BootstrapInterval | None = None
    mcnemar: McNemarResult | None = Field(None, description="Only for evaluators with a pass/fail view.")


class CandidateComparison(BaseModel):
    """A candidate against the baseline."""

    experiment: ExperimentBrief
    primary: str | None = Field(None, description="The evaluator examples are classified by.")
    changes: dict[str, int] = Field(description="Improved / regressed / unchanged examples on the primary.")
    regressions: list[ExampleChange] = Field(default_factory=list)
    improvements: list[ExampleChange] = Field(default_factory=list)
    evaluators: dict[str, EvaluatorComparison] = Field(default_factory=dict)
    metrics: dict[str, MetricDelta] = Field(default_factory=dict)
    missing: int = Field(0, description="Examples of the baseline the candidate did not run.")
    extra: int = Field(0, description="Examples only the candidate ran.")


class Comparison(BaseModel):
    """The baseline and each candidate compared with it."""

    baseline: ExperimentBrief
    candidates: list[CandidateComparison]
    confidence: float
    warnings: list[str] = Field(default_factory=list)


Scored = dict[str, tuple[float, bool | None]]  # example id → (mean score, passes)


def example_scores(runs: Sequence[ExperimentRun], evaluator: str) -> Scored:
    """Each example's score and pass on ``evaluator`` (see the module docstring)."""
    scores: dict[str, list[float]] = defaultdict(list)
    passes: dict[str, list[bool]] = defaultdict(list)
    for run in sorted(runs, key=lambda r: (r.position, r.repetition)):
        if run.error is not None:
            scores[run.example_id].append(0.0)
            passes[run.example_id].append(False)
            continue
        result = next((e for e in run.evaluations if e.name == evaluator), None)
        if result is None or result.error is not None:
            continue
        if result.passed is not None:
            passes[run.example_id].append(result.passed)
        if result.score is not None:
            scores[run.example_id].append(result.score)
        elif result.passed is not None:
            scores[run.example_id].append(1.0 if result.passed else 0.0)
    return {
        example: (math.fsum(values) / len(values), _majority(passes.get(example)))
        for example, values in scores.items()
        if values
    }


def _majority(verdicts: list[bool] | None) -> bool | None:
    return None if not verdicts else sum(verdicts) * 2 >= len(verdicts)


def compare_experiments(
    experiments: Sequence[tuple[Experiment, Sequence[ExperimentRun]]],
    *,
    evaluator: str | None = None,
    confidence: float = 0.95,
    resamples: int = 10_000,
    seed: int = 0,
) -> Comparison:
    """Compare the first experiment (baseline) with each of the others (see the module docstring)."""
    if not 2 <= len(experiments) <= MAX_COMPARED:
        raise InvalidInput(f"compare 2 to {MAX_COMPARED} experiments (got {len(experiments)})")
    ids = [experiment.id for experiment, _ in experiments]
    if len(set(ids)) != len(ids):
        raise InvalidInput("an experiment is named twice; compare different experiments")
    for experiment, _ in experiments:
        if experiment.status == "running":
            raise Conflict(f"experiment {experiment.id} is still running; compare it once it has finished")
    (baseline, baseline_runs), *others = experiments
    warnings = _warnings(baseline, [experiment for experiment, _ in others])
    primary = evaluator or next((info.name for info in baseline.config.evaluators), None)
    if evaluator is not None and evaluator not in {info.name for info in baseline.config.evaluators}:
        raise InvalidInput(f"the baseline has no evaluator named {evaluator!r}")
    candidates = [
        _candidate(baseline, baseline_runs, candidate, runs, primary, warnings, confidence, resamples, seed)
        for candidate, runs in others
    ]
    return Comparison(baseline=_brief(baseline), candidates=candidates, confidence=confidence, warnings=warnings)


def _warnings(baseline: Experiment, others: Sequence[Experiment]) -> list[str]:
    warnings: list[str] = []
    for other in [baseline, *others]:
        if other.status != "finished":
            warnings.append(f"experiment {other.id} is {other.status}: only its finished runs are compared")
    for other in others:
        if other.dataset != baseline.dataset:
            warnings.append(
                f"experiment {other.id} ran on dataset {other.dataset!r}, the baseline on {baseline.dataset!r}: "
                "examples are matched by id"
            )
        elif other.dataset_version != baseline.dataset_version:
            warnings.append(
                f"experiment {other.id} ran on {other.dataset} version {other.dataset_version}, the baseline on "
                f"version {baseline.dataset_version}: examples are matched by id"
            )
    return warnings


def _candidate(
    baseline: Experiment,
    baseline_runs: Sequence[ExperimentRun],
    candidate: Experiment,
    runs: Sequence[ExperimentRun],
    primary: str | None,
    warnings: list[str],
    confidence: float,
    resamples: int,
    seed: int,
) -> CandidateComparison:
    before_ids = {run.example_id for run in baseline_runs}
    after_ids = {run.example_id for run in runs}
    if before_ids and after_ids and not before_ids & after_ids:
        raise InvalidInput(f"experiments {baseline.id} and {candidate.id} have no example in common")
    names = [info.name for info in baseline.config.evaluators]
    shared = [name for name in names if name in {info.name for info in candidate.config.evaluators}]
    if primary is not None and primary not in shared:
        warnings.append(f"experiment {candidate.id} has no evaluator {primary!r}: no per-example changes for it")
    evaluators = {name: _evaluator(name, baseline_runs, runs, confidence, resamples, seed) for name in shared}
    comparison = CandidateComparison(
        experiment=_brief(candidate),
        primary=primary if primary in shared else None,
        changes={"improved": 0, "regressed": 0, "unchanged": 0},
        evaluators=evaluators,
        metrics=metric_deltas(_metrics(baseline), _metrics(candidate)),
        missing=len(before_ids - after_ids),
        extra=len(after_ids - before_ids),
    )
    if comparison.primary is not None:
        _per_example(comparison, comparison.primary, baseline_runs, runs)
    return comparison


def _metrics(experiment: Experiment) -> dict[str, float | None]:
    return experiment.summary.metrics() if experiment.summary is not None else {}


def _evaluator(
    name: str,
    baseline_runs: Sequence[ExperimentRun],
    runs: Sequence[ExperimentRun],
    confidence: float,
    resamples: int,
    seed: int,
) -> EvaluatorComparison:
    before, after = example_scores(baseline_runs, name), example_scores(runs, name)
    keys = [key for key in before if key in after]
    before_scores = [before[key][0] for key in keys]
    after_scores = [after[key][0] for key in keys]
    changes = change_counts(classify_change(b, a) for b, a in zip(before_scores, after_scores, strict=True))
    comparison = EvaluatorComparison(
        name=name,
        examples=len(keys),
        baseline_mean=math.fsum(before_scores) / len(keys) if keys else None,
        candidate_mean=math.fsum(after_scores) / len(keys) if keys else None,
        changes=dict(changes),
    )
    if keys:
        comparison.bootstrap = paired_bootstrap(
            before_scores, after_scores, confidence=confidence, resamples=resamples, seed=seed
        )
    verdicts = [(before[key][1], after[key][1]) for key in keys]
    pass_fail = [(b, a) for b, a in verdicts if b is not None and a is not None]
    if pass_fail:
        comparison.mcnemar = mcnemar([b for b, _ in pass_fail], [a for _, a in pass_fail])
    return comparison


def _per_example(
    comparison: CandidateComparison, name: str, baseline_runs: Sequence[ExperimentRun], runs: Sequence[ExperimentRun]
) -> None:
    before, after = example_scores(baseline_runs, name), example_scores(runs, name)
    first_before, first_after = _first_runs(baseline_runs), _first_runs(runs)
    counts: dict[str, int] = {"improved": 0, "regressed": 0, "unchanged": 0}
    for key, (score, _) in before.items():
        if key not in after:
            continue
        change = classify_change(score, after[key][0])
        counts[change] += 1
        if change == "unchanged":
            continue
        old, new = first_before[key], first_after[key]
        item = ExampleChange(
            example_id=key,
            change=change,
            baseline_score=score,
            candidate_score=after[key][0],
            input=new.input,
            expected_output=new.expected_output,
            baseline_output=old.output,
            candidate_output=new.output,
            baseline_explanation=_explanation(old, name),
            candidate_explanation=_explanation(new, name),
        )
        (comparison.regressions if change == "regressed" else comparison.improvements).append(item)
    comparison.changes = counts


def _first_runs(runs: Sequence[ExperimentRun]) -> dict[str, ExperimentRun]:
    """Each example's first run — a failing one when some repetition failed, to show what went wrong."""
    chosen: dict[str, ExperimentRun] = {}
    for run in sorted(runs, key=lambda r: (r.position, r.repetition)):
        current = chosen.get(run.example_id)
        if current is None or (current.error is None and run.error is not None):
            chosen[run.example_id] = run
    return chosen


def _explanation(run: ExperimentRun, name: str) -> str | None:
    if run.error is not None:
        return f"the task failed: {run.error}"
    result = next((e for e in run.evaluations if e.name == name), None)
    if result is None:
        return None
    return f"the evaluator failed: {result.error}" if result.error else result.explanation


def _brief(experiment: Experiment) -> ExperimentBrief:
    return ExperimentBrief(
        id=experiment.id,
        label=experiment.label,
        dataset=experiment.dataset,
        dataset_version=experiment.dataset_version,
        status=experiment.status,
        score=experiment.summary.score if experiment.summary else None,
    )
