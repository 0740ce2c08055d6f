"""Summaries over a run's rows: aggregates, summary evaluators, one score, and row buckets."""

from __future__ import annotations

from typing import Any

import pytest

from replay.errors import EvaluatorInvalid
from replay.evaluators import (
    Classification,
    EvaluatedRow,
    EvaluationResult,
    EvaluationSummary,
    ExactMatch,
    as_evaluator,
    as_summary_evaluator,
    bucket_rows,
    compute_score,
    labelize,
    summarize_rows,
)

CASES = [  # (output, expected) of a small intent classifier
    ("card_arrival", "card_arrival"),
    ("lost_card", "card_arrival"),
    ("lost_card", "lost_card"),
    ("card_arrival", "lost_card"),
    ("refund", "refund"),
]


def run(evaluators: list[Any], cases: list[tuple[Any, Any]] = CASES) -> list[EvaluatedRow]:
    """What an experiment runner hands over: each case evaluated by each evaluator."""
    rows = []
    for index, (output, expected) in enumerate(cases):
        results = [e.evaluate(input={"i": index}, output=output, expected=expected) for e in evaluators]
        rows.append(EvaluatedRow(example_id=str(index), output=output, expected=expected, evaluations=results))
    return rows


def test_aggregates_per_row_evaluator() -> None:
    def length(output: str) -> float:
        if output == "refund":
            raise ValueError("boom")
        return float(len(output))

    rows = run([ExactMatch(), as_evaluator(length)])
    rows.append(EvaluatedRow(example_id="9", error="TimeoutError: no answer in 30 s"))
    summaries = summarize_rows(rows)
    assert list(summaries) == ["exact_match", "length"]
    exact = summaries["exact_match"].metrics
    assert exact == {
        "count": 5.0,
        "errors": 0.0,
        "task_errors": 1.0,
        "mean_score": 0.6,
        "min_score": 0.0,
        "max_score": 1.0,
        "passed": 3.0,
        "failed": 2.0,
        "pass_rate": 0.6,
    }
    lengths = summaries["length"].metrics
    assert (lengths["count"], lengths["errors"], lengths["pass_rate"]) == (4.0, 1.0, None)
    assert lengths["mean_score"] == pytest.approx((12 + 9 + 9 + 12) / 4)


def test_classification_summary_merges_into_its_aggregates() -> None:
    classification = Classification()
    rows = run([classification])
    rows.append(EvaluatedRow(example_id="x", error="task failed"))
    summary = summarize_rows(rows, evaluators=[classification])["classification"]
    assert summary.metrics["pass_rate"] == 0.6 and summary.metrics["accuracy"] == 0.6
    assert summary.metrics["skipped"] == 1.0 and summary.metrics["n"] == 5.0
    # card_arrival: P 1/2 R 1/2; lost_card: P 1/2 R 1/2; refund: 1 / 1
    assert summary.metrics["macro_f1"] == pytest.approx((0.5 + 0.5 + 1) / 3)
    assert summary.details["confusion"]["card_arrival"] == {"card_arrival": 1, "lost_card": 1}
    assert summary.details["labels"] == ["card_arrival", "lost_card", "refund"]
    assert summary.details["label_counts"] == {}  # the row aggregates' details are kept too
    nothing = Classification().summarize([EvaluatedRow(error="x")])
    assert nothing.error == "no row was classified" and nothing.metrics == {"skipped": 1.0}


def test_summary_callables_get_the_columns_they_name() -> None:
    def f1_like(outputs: list[str], expected: list[str]) -> dict[str, Any]:
        hits = sum(o == e for o, e in zip(outputs, expected, strict=True))
        return {
            "hits": hits,
            "share": hits / len(outputs),
            "misses": [o for o, e in zip(outputs, expected, strict=True) if o != e],
        }

    def from_evaluations(evaluations: list[dict[str, EvaluationResult]], rows: list[EvaluatedRow]) -> float:
        assert len(rows) == len(evaluations)
        return sum(bool(e["exact_match"].passed) for e in evaluations) / len(rows)

    def verdict(**columns: Any) -> EvaluationResult:
        return EvaluationResult(name="ignored", score=len(columns["inputs"]), label="small", explanation="5 rows")

    rows = run([ExactMatch()])
    summaries = summarize_rows(rows, summary_evaluators=[f1_like, from_evaluations, verdict])
    assert summaries["f1_like"].metrics == {"hits": 3.0, "share": 0.6}
    assert summaries["f1_like"].details == {"misses": ["lost_card", "card_arrival"]}
    assert summaries["from_evaluations"].metrics == {"score": 0.6}
    assert summaries["verdict"] == EvaluationSummary(
        name="verdict", metrics={"score": 5.0}, details={"label": "small"}, explanation="5 rows"
    )


def test_summary_callables_are_isolated_and_checked() -> None:
    def broken(rows: list[EvaluatedRow]) -> float:
        raise ZeroDivisionError("division by zero")

    def wrong_type(rows: list[EvaluatedRow]) -> object:
        return ["not", "a", "summary"]

    def infinite(rows: list[EvaluatedRow]) -> dict[str, float]:
        return {"ratio": float("inf")}

    summaries = summarize_rows(run([ExactMatch()]), summary_evaluators=[broken, wrong_type, infinite])
    assert summaries["broken"].error == "ZeroDivisionError: division by zero"
    assert summaries["wrong_type"].error == (
        "summary evaluator 'wrong_type' returned list; return a number, a dict of metrics, "
        "an EvaluationResult or an EvaluationSummary"
    )
    assert "returned inf for 'ratio'; metrics must be finite" in (summaries["infinite"].error or "")

    def asks_for_other(rows: list[EvaluatedRow], baseline: object) -> float:
        return 0.0

    with pytest.raises(EvaluatorInvalid, match="asks for 'baseline'; it may take any of rows, inputs, outputs"):
        as_summary_evaluator(asks_for_other)
    with pytest.raises(EvaluatorInvalid, match="must be a callable, not str"):
        as_summary_evaluator("accuracy")  # type: ignore[arg-type]


def test_the_runs_evaluators_order_the_summaries_even_without_results() -> None:
    exact, classification = ExactMatch(), Classification()
    failed_run = [EvaluatedRow(example_id="0", error="timeout"), EvaluatedRow(example_id="1", error="timeout")]
    summaries = summarize_rows(failed_run, evaluators=[classification, exact])
    assert list(summaries) == ["classification", "exact_match"]
    assert summaries["exact_match"].metrics["task_errors"] == 2.0
    assert summaries["classification"].error == "no row was classified"
    assert compute_score(summaries) == 0.0  # nothing passed: a gate on this run fails

    class Exploding:
        name = "exploding"

        def summarize(self, rows: object) -> EvaluationSummary:
            raise RuntimeError("bug")

    assert summarize_rows([], summary_evaluators=[Exploding()])["exploding"].error == "RuntimeError: bug"


def test_compute_score_defaults_to_the_primary_pass_rate() -> None:
    summaries = summarize_rows(run([ExactMatch(), as_evaluator(lambda output: len(output) / 20, name="len")]))
    assert compute_score(summaries) == 0.6
    assert compute_score(summaries, primary="len") == pytest.approx((12 + 9 + 9 + 12 + 6) / 5 / 20)
    assert compute_score(summaries, metric="max_score") == 1.0
    report = {"acc": EvaluationSummary(name="acc", metrics={"accuracy": 0.7, "macro_f1": 0.5})}
    assert compute_score(report) == 0.7
    nothing_scored = {"e": EvaluationSummary(name="e", metrics={"pass_rate": None, "mean_score": None})}
    assert compute_score(nothing_scored) == 0.0


def test_compute_score_usage_errors() -> None:
    with pytest.raises(EvaluatorInvalid, match="no evaluator summaries"):
        compute_score({})
    summaries = {"e": EvaluationSummary(name="e", metrics={"f2": 0.3})}
    with pytest.raises(EvaluatorInvalid, match="no summary named 'x'; there are 'e'"):
        compute_score(summaries, primary="x")
    with pytest.raises(EvaluatorInvalid, match="has no metric 'pass_rate' or 'mean_score' or 'accuracy' or 'score'"):
        compute_score(summaries)
    assert compute_score(summaries, metric="f2") == 0.3


def test_labelize_buckets_rows() -> None:
    def judge_like(output: str, expected: str) -> dict[str, Any]:
        return {"score": float(output == expected), "label": "correct" if output == expected else "wrong_intent"}

    rows = run([as_evaluator(judge_like), ExactMatch()])
    assert [labelize(row) for row in rows] == ["correct", "wrong_intent", "correct", "wrong_intent", "correct"]
    assert [labelize(row, evaluator="exact_match") for row in rows] == ["pass", "fail", "pass", "fail", "pass"]
    special = [
        EvaluatedRow(error="timeout"),
        EvaluatedRow(),
        EvaluatedRow(evaluations=[EvaluationResult.failure("j", "boom")]),
        EvaluatedRow(evaluations=[EvaluationResult(name="s", score=4)]),
        EvaluatedRow(evaluations=[EvaluationResult(name="s", explanation="only words")]),
    ]
    assert [labelize(row) for row in special] == ["error", "unevaluated", "evaluator_error", "score=4", "unlabeled"]
    buckets = bucket_rows(rows)
    assert {label: [row.example_id for row in group] for label, group in buckets.items()} == {
        "correct": ["0", "2", "4"],
        "wrong_intent": ["1", "3"],
    }
    by_expected = bucket_rows(rows, lambda row: str(row.expected))
    assert list(by_expected) == ["card_arrival", "lost_card", "refund"]
