"""Comparing experiments in-process: per-example changes, repetitions and errors, the statistics, mismatched
datasets, refused comparisons, the SVG chart, and summaries recomputed from runs."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any

import pytest

from replay.errors import Conflict, InvalidInput
from replay.evaluators import EvaluationResult, EvaluationSummary
from replay.experiments import Experiment, ExperimentConfig, ExperimentRun, Progress, TaskConfig, summarize_experiment
from replay.experiments.compare import compare_experiments, example_scores
from replay.experiments.models import EvaluatorInfo
from replay.experiments.summary import merge_summaries
from replay.experiments.svg import comparison_svg

NOW = datetime(2025, 3, 1, tzinfo=UTC)


def run(
    example: str, passed: bool | None, *, repetition: int = 0, error: str | None = None, **extra: Any
) -> ExperimentRun:
    evaluations = (
        []
        if error or passed is None
        else [
            EvaluationResult(
                name="match", score=float(passed), passed=passed, explanation=None if passed else f"{example} wrong"
            )
        ]
    )
    return ExperimentRun(
        example_id=example,
        repetition=repetition,
        position=int(example[1:]),
        output=f"out {example}",
        error=error,
        evaluations=evaluations,
        started_at=NOW,
        **extra,
    )


def experiment(
    runs: list[ExperimentRun], *, dataset: str = "qs", version: int | None = 1, status: str = "finished", **cfg: Any
) -> tuple[Experiment, list[ExperimentRun]]:
    config = ExperimentConfig(
        task=TaskConfig(kind="python", function="f"), evaluators=[EvaluatorInfo(name="match")], **cfg
    )
    record = Experiment(
        id=f"{len(runs)}-{id(runs)}",
        dataset=dataset,
        dataset_version=version,
        status=status,
        config=config,
        progress=Progress(total=len(runs), done=len(runs)),
        summary=summarize_experiment(runs, evaluators=config.evaluators),
        created_at=NOW,
    )
    return record, runs


def test_per_example_changes_with_the_outputs_and_explanations() -> None:
    base = experiment([run("e0", True), run("e1", True), run("e2", False), run("e3", True)])
    cand = experiment([run("e0", True), run("e1", False), run("e2", True), run("e3", True, cost=0.5)])
    comparison = compare_experiments([base, cand])
    (candidate,) = comparison.candidates
    assert candidate.primary == "match" and candidate.changes == {"improved": 1, "regressed": 1, "unchanged": 2}
    (regressed,) = candidate.regressions
    assert (regressed.example_id, regressed.baseline_score, regressed.candidate_score) == ("e1", 1.0, 0.0)
    assert regressed.candidate_explanation == "e1 wrong" and regressed.candidate_output == "out e1"
    assert candidate.improvements[0].example_id == "e2"
    assert candidate.metrics["score"].delta == 0.0 and candidate.metrics["cost"].candidate == 0.5
    stats = candidate.evaluators["match"]
    assert stats.examples == 4 and stats.mcnemar is not None and stats.mcnemar.p_value == 1.0
    assert stats.bootstrap is not None and stats.bootstrap.mean_delta == 0.0 and not stats.bootstrap.significant
    assert comparison.warnings == []


def test_repetitions_average_and_task_errors_count_as_failures() -> None:
    runs = [run("e0", True), run("e0", False, repetition=1), run("e1", None, error="timed out"), run("e2", True)]
    scores = example_scores(runs, "match")
    assert scores == {"e0": (0.5, True), "e1": (0.0, False), "e2": (1.0, True)}
    judged_badly = ExperimentRun(
        example_id="e3",
        position=3,
        evaluations=[EvaluationResult.failure("match", "judge answered nonsense")],
        started_at=NOW,
    )
    assert "e3" not in example_scores([judged_badly], "match"), "an evaluator error is left out"


def test_a_clear_regression_is_significant() -> None:
    base = experiment([run(f"e{i}", True) for i in range(40)])
    cand = experiment([run(f"e{i}", i < 10) for i in range(40)])
    stats = compare_experiments([base, cand]).candidates[0].evaluators["match"]
    assert stats.bootstrap is not None and stats.bootstrap.high < 0 and stats.bootstrap.significant
    assert stats.mcnemar is not None and stats.mcnemar.method == "chi2" and stats.mcnemar.p_value < 1e-6


def test_other_dataset_versions_are_matched_by_id_with_a_warning() -> None:
    base = experiment([run("e0", True), run("e1", True), run("e2", True)])
    cand = experiment([run("e1", False), run("e2", True), run("e3", True)], version=2, status="cancelled")
    comparison = compare_experiments([base, cand])
    candidate = comparison.candidates[0]
    assert (candidate.missing, candidate.extra) == (1, 1)
    assert candidate.changes == {"improved": 0, "regressed": 1, "unchanged": 1}
    assert any("version 2" in w and "matched by id" in w for w in comparison.warnings)
    assert any("cancelled" in w for w in comparison.warnings)
    renamed = experiment([run("e0", True)], dataset="other")
    assert any("dataset 'other'" in w for w in compare_experiments([base, renamed]).warnings)


def test_comparisons_that_make_no_sense_are_refused() -> None:
    base = experiment([run("e0", True)])
    with pytest.raises(InvalidInput, match="2 to 10"):
        compare_experiments([base])
    with pytest.raises(InvalidInput, match="no example in common"):
        compare_experiments([base, experiment([run("e9", True)])])
    with pytest.raises(Conflict, match="still running"):
        compare_experiments([base, experiment([run("e0", True)], status="running")])
    with pytest.raises(InvalidInput, match="no evaluator named 'other'"):
        compare_experiments([base, experiment([run("e0", True)])], evaluator="other")


def test_three_experiments_compare_with_the_first_and_draw_as_svg() -> None:
    base = experiment([run(f"e{i}", i % 2 == 0) for i in range(10)])
    better = experiment([run(f"e{i}", True) for i in range(10)])
    worse = experiment([run(f"e{i}", False) for i in range(10)])
    comparison = compare_experiments([base, better, worse])
    assert [c.changes["improved"] for c in comparison.candidates] == [5, 0]
    assert [c.changes["regressed"] for c in comparison.candidates] == [0, 5]
    svg = ET.fromstring(comparison_svg(comparison))
    assert svg.tag.endswith("svg")
    texts = " ".join(t.text or "" for t in svg.iter("{http://www.w3.org/2000/svg}text"))
    assert "(baseline)" in texts and "+0.500" in texts and "-0.500" in texts
    assert len(list(svg.iter("{http://www.w3.org/2000/svg}circle"))) == 2


def test_a_summary_from_runs_and_what_a_client_reported() -> None:
    runs = [run("e0", True, latency_ms=10.0, cost=0.1, input_tokens=3), run("e1", False, latency_ms=30.0)]
    runs.append(run("e2", None, error="boom"))
    summary = summarize_experiment(runs, evaluators=[EvaluatorInfo(name="match")])
    assert (summary.runs, summary.errors, summary.score) == (3, 1, 0.5)
    assert summary.latency_ms == {"p50": 20.0, "p90": 28.0, "p99": pytest.approx(29.8), "mean": 20.0}
    assert (summary.cost, summary.input_tokens, summary.output_tokens) == (0.1, 3, None)
    reported = {
        "match": EvaluationSummary(name="match", metrics={"pass_rate": 0.99, "macro_f1": 0.7}),
        "coverage": EvaluationSummary(name="coverage", metrics={"score": 0.3}),
    }
    merged = merge_summaries(summary, reported)
    assert merged.evaluators["match"].metrics["pass_rate"] == 0.5, "the computed value wins"
    assert (
        merged.evaluators["match"].metrics["macro_f1"] == 0.7 and merged.evaluators["coverage"].metrics["score"] == 0.3
    )
    assert merged.score == 0.5
