"""The evaluator protocol: user callables adapted by parameter name, return values coerced, errors isolated."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from replay.errors import EvaluatorFailed, EvaluatorInvalid
from replay.evaluators import (
    EvaluationResult,
    Evaluator,
    ExactMatch,
    FunctionEvaluator,
    as_evaluator,
    coerce_result,
)

ROW: dict[str, Any] = {"input": {"question": "q"}, "output": "out", "expected": "exp", "metadata": {"split": "test"}}


def test_passes_only_the_arguments_a_callable_names() -> None:
    seen: dict[str, Any] = {}

    def only_output_and_expected(output: str, expected: str) -> bool:
        seen.update(output=output, expected=expected)
        return output == expected

    result = as_evaluator(only_output_and_expected).evaluate(**ROW)
    assert seen == {"output": "out", "expected": "exp"}
    assert result == EvaluationResult(name="only_output_and_expected", score=0.0, passed=False)


def test_keyword_catch_all_and_positional_only_parameters() -> None:
    def everything(**row: Any) -> float:
        assert row == ROW
        return 0.25

    def positional(output: str, /, *, metadata: dict[str, Any]) -> str:
        return f"{output}-{metadata['split']}"

    assert as_evaluator(everything).evaluate(**ROW).score == 0.25
    assert as_evaluator(positional).evaluate(**ROW).label == "out-test"
    metadata_default = as_evaluator(lambda output: output).evaluate(output="x")
    assert metadata_default.label == "x"


def test_a_parameter_it_cannot_fill_is_refused_when_built() -> None:
    def wants_reference(output: str, reference: str) -> bool:
        return output == reference

    with pytest.raises(EvaluatorInvalid, match=r"'wants_reference' asks for 'reference'.*input, output, expected"):
        as_evaluator(wants_reference)
    with pytest.raises(EvaluatorInvalid, match="positional-only parameter 'k'"):
        as_evaluator(lambda k=1, /, output=None: True)
    with pytest.raises(EvaluatorInvalid, match="must be a callable or an Evaluator, not int"):
        as_evaluator(3)  # type: ignore[arg-type]
    # optional extra parameters are fine: they keep their defaults
    assert as_evaluator(lambda output, strict=True: strict).evaluate(output="x").passed is True


@pytest.mark.parametrize(
    ("returned", "expected"),
    [
        (True, {"score": 1.0, "passed": True}),
        (False, {"score": 0.0, "passed": False}),
        (3, {"score": 3.0, "passed": None}),
        (0.5, {"score": 0.5}),
        ("wrong_intent", {"label": "wrong_intent", "score": None}),
        ((0.0, "missed the date"), {"score": 0.0, "explanation": "missed the date", "passed": None}),
        ((True, "fine"), {"score": 1.0, "passed": True, "explanation": "fine"}),
        (
            {"score": 1, "label": "ok", "explanation": "why", "metadata": {"k": 1}},
            {"label": "ok", "metadata": {"k": 1}},
        ),
        ({"passed": False, "explanation": "no"}, {"passed": False, "score": None}),
    ],
)
def test_accepted_return_values(returned: object, expected: dict[str, Any]) -> None:
    result = coerce_result(returned, name="e")
    assert result.error is None
    for key, value in expected.items():
        assert getattr(result, key) == value, key


def test_threshold_gives_numbers_a_pass_fail_view() -> None:
    assert coerce_result(0.7, name="e", threshold=0.7).passed is True
    assert coerce_result(0.69, name="e", threshold=0.7).passed is False
    assert coerce_result({"score": 0.2}, name="e", threshold=0.1).passed is True
    assert coerce_result({"score": 0.2, "passed": False}, name="e", threshold=0.1).passed is False
    assert as_evaluator(lambda output: len(output), threshold=3).evaluate(output="abcd").passed is True


def test_an_evaluation_result_is_kept_under_the_evaluators_name() -> None:
    def custom(output: str) -> EvaluationResult:
        return EvaluationResult(name="inner", score=0.3, label="meh", explanation="so-so")

    result = as_evaluator(custom, name="tone").evaluate(output="x")
    assert result == EvaluationResult(name="tone", score=0.3, label="meh", explanation="so-so")


@pytest.mark.parametrize(
    ("returned", "message"),
    [
        (None, "evaluator 'e' returned NoneType; return a bool, a number"),
        ([1, 2], "evaluator 'e' returned list"),
        ({"score": 1, "reason": "x", "verdict": 2}, "unknown keys 'reason', 'verdict'; allowed keys: score, label"),
        ((1, 2, 3), r"returned a tuple of \(int, int, int\); a tuple must be \(score, explanation\)"),
        ((0.5, 7), r"tuple must be \(score, explanation\)"),
        (math.nan, "returned the score nan; a score must be a finite number"),
        ({"score": "high"}, "a score of type str; use a number"),
        ({"label": 3}, "returned 'label' of type int; use str"),
        ({"passed": "yes"}, "returned 'passed' of type str; use bool"),
    ],
)
def test_unusable_return_values_name_the_evaluator_and_type(returned: object, message: str) -> None:
    with pytest.raises(EvaluatorFailed, match=message):
        coerce_result(returned, name="e")
    result = as_evaluator(lambda output: returned, name="e").evaluate(output="x")
    assert result.error is not None and result.score is None and result.passed is None
    assert result.name == "e"


def test_an_exception_becomes_an_errored_result() -> None:
    def broken(output: str) -> bool:
        raise KeyError("intent")

    result = as_evaluator(broken).evaluate(output="x")
    assert result == EvaluationResult(name="broken", error="KeyError: 'intent'")


def test_async_callables_work_from_both_entry_points() -> None:
    async def slow_check(output: str, expected: str) -> tuple[float, str]:
        await asyncio.sleep(0)
        return (1.0 if output == expected else 0.0, f"compared {output!r}")

    evaluator = as_evaluator(slow_check)
    assert evaluator.evaluate(output="a", expected="a").score == 1.0
    result = asyncio.run(evaluator.aevaluate(output="a", expected="b"))
    assert (result.score, result.explanation) == (0.0, "compared 'a'")

    async def failing(output: str) -> bool:
        raise RuntimeError("judge offline")

    assert asyncio.run(as_evaluator(failing).aevaluate(output="x")).error == "RuntimeError: judge offline"


def test_sync_evaluate_of_an_async_callable_inside_a_running_loop_is_an_error_not_a_hang() -> None:
    async def check(output: str) -> bool:
        return True

    async def main() -> EvaluationResult:
        return as_evaluator(check).evaluate(output="x")

    result = asyncio.run(main())
    assert result.error is not None and "use aevaluate" in result.error


def test_sync_evaluators_run_off_the_event_loop_in_aevaluate() -> None:
    import threading

    threads: list[str] = []

    def record(output: str) -> bool:
        threads.append(threading.current_thread().name)
        return True

    asyncio.run(as_evaluator(record).aevaluate(output="x"))
    assert threads and threads[0] != threading.main_thread().name


def test_callable_objects_and_built_ins_satisfy_the_protocol() -> None:
    class Polite:
        __name__ = "polite"

        async def __call__(self, output: str) -> bool:
            return "please" in output

    evaluator = as_evaluator(Polite())
    assert isinstance(evaluator, FunctionEvaluator) and evaluator.name == "polite"
    assert asyncio.run(evaluator.aevaluate(output="please do")).passed is True
    exact = ExactMatch()
    assert isinstance(exact, Evaluator) and as_evaluator(exact) is exact
    with pytest.raises(EvaluatorInvalid, match="already an evaluator"):
        as_evaluator(exact, name="other")
    with pytest.raises(EvaluatorInvalid, match="non-blank text"):
        as_evaluator(lambda output: True, name=" ")


def test_results_become_span_annotations() -> None:
    passed = EvaluationResult(name="exact_match", score=1.0, passed=True, metadata={"k": 1})
    annotation = passed.to_annotation()
    assert (annotation.name, annotation.score, annotation.annotator_kind) == ("exact_match", 1.0, "CODE")
    assert annotation.metadata == {"k": 1, "passed": True}
    errored = EvaluationResult.failure("judge", "RateLimitError: slow down").to_annotation(annotator_kind="LLM")
    assert errored.explanation == "evaluator error: RateLimitError: slow down"
    assert errored.metadata == {"error": "RateLimitError: slow down"}
    long = EvaluationResult(name="j", label="x" * 500, explanation="y" * 20_000).to_annotation()
    assert len(long.label or "") == 200 and len(long.explanation or "") == 10_000
