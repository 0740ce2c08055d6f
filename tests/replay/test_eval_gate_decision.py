"""The CI gate's decision and reports in-process: errors count as failures, the regression check needs
significance, and the JUnit XML tells failures from errors."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest

from replay.evaluators import EvaluationResult
from replay.experiments import run_experiment
from replay.experiments.gate import evaluate_gate, gate_score
from replay.experiments.report import junit_xml, markdown_report


def rows(count: int) -> list[dict[str, Any]]:
    return [{"id": f"e{i}", "input": {"n": i}, "expected_output": i} for i in range(count)]


def answer(input: dict[str, Any]) -> int:
    if input["n"] == 3:
        raise RuntimeError("pipeline down")
    return int(input["n"])


def off_by_one(input: dict[str, Any]) -> int:
    return int(input["n"]) + (1 if input["n"] % 2 else 0)


def test_task_and_evaluator_errors_count_as_failures_in_the_gate_score() -> None:
    def flaky(output: int) -> Any:
        if output == 2:
            raise ValueError("cannot judge")
        return True

    result = run_experiment(rows(5), answer, [flaky])
    assert result.summary.evaluators["flaky"].metrics["pass_rate"] == 1.0, "the summary leaves errors out"
    assert gate_score(result.runs, "flaky") == pytest.approx(3 / 5), "the gate does not"
    scored = run_experiment(rows(4), off_by_one, [lambda output, expected: 1.0 / (1 + abs(output - expected))])
    assert gate_score(scored.runs, "<lambda>") == pytest.approx((1 + 0.5 + 1 + 0.5) / 4), "mean score without passes"
    assert gate_score([], "x") is None


def test_fail_under_and_no_regression_checks() -> None:
    baseline = run_experiment(rows(6), lambda input: input["n"], ["exact_match"])
    slightly_worse = run_experiment(rows(6), lambda input: input["n"] if input["n"] else -1, ["exact_match"])
    gate = evaluate_gate(slightly_worse, baseline, fail_under=0.8, fail_on_regression=True)
    checks = {check.name: check for check in gate.checks}
    assert checks["fail-under"].passed and "score 0.8333 vs at least 0.8" in checks["fail-under"].detail
    assert checks["no-regression"].passed, "one regressed example in six is not significant"
    assert "McNemar 0 improved / 1 regressed" in checks["no-regression"].detail
    assert gate.passed and gate.baseline_score == 1.0
    worse = run_experiment(rows(30), off_by_one, ["exact_match"])
    bigger = run_experiment(rows(30), lambda input: input["n"], ["exact_match"])
    failed = evaluate_gate(worse, bigger, fail_on_regression=True)
    assert not failed.passed and "significantly more regressions" in failed.checks[0].detail
    assert evaluate_gate(worse).passed, "no check asked for: the gate holds"


def test_junit_tells_failures_from_errors_and_the_report_lists_them() -> None:
    result = run_experiment(rows(4), off_by_one, ["exact_match", lambda output: EvaluationResult.failure("x", "no")])
    result.runs[2] = result.runs[2].model_copy(update={"error": "timed out after 1 s", "evaluations": []})
    suite = ET.fromstring(junit_xml(result)).find("testsuite")
    assert suite is not None and (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("8", "2", "5")
    failure = suite.find("testcase[@classname='exact_match']/failure")
    assert failure is not None and "expected 1, got 2" in (failure.get("message") or "").replace("'", "")
    assert 'input: {"n": 1}' in (failure.text or "")
    gate = evaluate_gate(result, fail_under=0.9)
    report = markdown_report(gate, result, title="PR 7")
    assert report.startswith("## spanlab eval: ❌ gate fails") and "PR 7 · dataset **local**" in report
    assert "- `e2`: the task failed: timed out after 1 s" in report and "### Failing examples (3 of 4 runs)" in report
