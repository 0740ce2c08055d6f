"""The CI gate's decision: does a candidate prompt hold the bar, and is it no worse than the baseline?

The gate judges the *primary* evaluator (the first one). Its **gate score** counts every run: a run passes
when the evaluator passed it; a failed task or an evaluator error counts as a failure (score 0) — so a
prompt that breaks the model call cannot pass by having its errors left out. For an evaluator without a pass
view the gate score is the mean score with errors as 0.

Checks:

- ``--fail-under X``: the candidate's gate score is at least ``X``;
- ``--fail-on-regression`` (with a baseline): the candidate is not *significantly* worse on the primary
  evaluator — it fails when the paired bootstrap confidence interval of the score delta lies wholly below 0, or
  when McNemar's test finds more regressed than improved examples at ``p < alpha``. Differences within noise
  do not fail the gate; the report still lists every regressed example.

The gate holds when every requested check passes (with no check requested, it holds).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel, Field

from replay.experiments.api import ExperimentResult
from replay.experiments.compare import Comparison, compare_experiments
from replay.experiments.models import ExperimentRun

__all__ = ["GateCheck", "GateResult", "evaluate_gate", "gate_score"]


class GateCheck(BaseModel):
    """One check of the gate, whether it passed, and the numbers behind it in words."""

    name: str
    passed: bool
    detail: str


class GateResult(BaseModel):
    """The gate's verdict."""

    passed: bool
    primary: str | None
    score: float | None = Field(description="The candidate's gate score (see the module docstring).")
    baseline_score: float | None = None
    checks: list[GateCheck] = Field(default_factory=list)
    comparison: Comparison | None = None


def gate_score(runs: Sequence[ExperimentRun], evaluator: str) -> float | None:
    """The gate score of ``runs`` on ``evaluator`` (see the module docstring); None without runs."""
    if not runs:
        return None
    results = [next((e for e in run.evaluations if e.name == evaluator), None) for run in runs]
    has_pass_view = any(r is not None and r.error is None and r.passed is not None for r in results)
    values: list[float] = []
    for run, result in zip(runs, results, strict=True):
        if run.error is not None or result is None or result.error is not None:
            values.append(0.0)
        elif has_pass_view:
            values.append(1.0 if result.passed else 0.0)
        else:
            values.append(result.score or 0.0)
    return math.fsum(values) / len(values)


def evaluate_gate(
    candidate: ExperimentResult,
    baseline: ExperimentResult | None = None,
    *,
    fail_under: float | None = None,
    fail_on_regression: bool = False,
    alpha: float = 0.05,
) -> GateResult:
    """The gate's verdict on ``candidate`` (see the module docstring)."""
    primary = next((info.name for info in candidate.experiment.config.evaluators), None)
    score = gate_score(candidate.runs, primary) if primary else None
    result = GateResult(passed=True, primary=primary, score=score)
    if baseline is not None:
        result.baseline_score = gate_score(baseline.runs, primary) if primary else None
        result.comparison = compare_experiments(
            [(baseline.experiment, baseline.runs), (candidate.experiment, candidate.runs)]
        )
    if fail_under is not None:
        held = score is not None and score >= fail_under
        shown = "none" if score is None else f"{score:.4f}"
        result.checks.append(
            GateCheck(name="fail-under", passed=held, detail=f"score {shown} vs at least {fail_under:g}")
        )
    if fail_on_regression and result.comparison is not None:
        result.checks.append(_regression_check(result.comparison, alpha))
    result.passed = all(check.passed for check in result.checks)
    return result


def _regression_check(comparison: Comparison, alpha: float) -> GateCheck:
    candidate = comparison.candidates[0]
    evaluator = candidate.evaluators.get(candidate.primary or "")
    if evaluator is None:
        return GateCheck(name="no-regression", passed=True, detail="no evaluator in common with the baseline")
    problems: list[str] = []
    details: list[str] = []
    if evaluator.bootstrap is not None:
        interval = evaluator.bootstrap
        details.append(
            f"score delta {interval.mean_delta:+.4f}, {interval.confidence:.0%} CI [{interval.low:+.4f}, "
            f"{interval.high:+.4f}]"
        )
        if interval.high < 0:
            problems.append("the confidence interval lies below 0")
    if evaluator.mcnemar is not None:
        test = evaluator.mcnemar
        details.append(f"McNemar {test.improved} improved / {test.regressed} regressed, p = {test.p_value:.4g}")
        if test.p_value < alpha and test.regressed > test.improved:
            problems.append(f"significantly more regressions (p < {alpha:g})")
    verdict = "; ".join(problems) if problems else "no significant regression"
    return GateCheck(name="no-regression", passed=not problems, detail=f"{verdict}: {'; '.join(details)}")
