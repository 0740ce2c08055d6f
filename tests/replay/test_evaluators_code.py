"""The code evaluators and output extraction, each failure explained in words."""

from __future__ import annotations

import difflib
from typing import Any

import pytest
from openai.types.chat import ChatCompletion

from replay.errors import EvaluatorInvalid
from replay.evaluators import (
    Classification,
    Contains,
    EvaluationResult,
    ExactMatch,
    FieldPath,
    JSONSchemaMatch,
    NumericTolerance,
    Regex,
    StringSimilarity,
    ValidJSON,
    classification_report,
)
from replay.evaluators.extract import FieldMissing, pick, unwrap

MESSAGE = {"role": "assistant", "content": '{"intent": "card_arrival", "confidence": 0.9}'}


def completion(content: str | None, tool_calls: list[dict[str, Any]] | None = None) -> ChatCompletion:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return ChatCompletion.model_validate(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 0,
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        }
    )


# -- extraction -----------------------------------------------------------------------------------------------
def test_unwrap_reduces_every_message_shape_to_its_content() -> None:
    assert unwrap("plain") == "plain"
    assert unwrap({"intent": "x"}) == {"intent": "x"}
    assert unwrap(MESSAGE) == MESSAGE["content"]
    history = [{"role": "user", "content": "hi"}, MESSAGE, {"role": "tool", "content": "t", "tool_call_id": "1"}]
    assert unwrap(history) == MESSAGE["content"]
    parts = {"role": "assistant", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}
    assert unwrap(parts) == "ab"
    assert unwrap(completion("done")) == "done"
    assert unwrap(completion("done").model_dump()) == "done"
    call = {"id": "c1", "type": "function", "function": {"name": "refund", "arguments": "{}"}}
    assert unwrap(completion(None, [call])) == [call]


def test_field_paths_pick_values_out_of_structured_outputs() -> None:
    assert pick(MESSAGE, FieldPath.parse("intent")) == "card_arrival"
    assert pick('```json\n{"a": {"b": [1, {"c": 2}]}}\n```', FieldPath.parse("a.b[1].c")) == 2
    assert pick({"odd key": 1}, FieldPath.parse("$['odd key']")) == 1
    with pytest.raises(FieldMissing, match=r"no field 'intnt' at the top level: it is keys 'intent', 'confidence'"):
        pick(MESSAGE, FieldPath.parse("intnt"))
    with pytest.raises(FieldMissing, match=r"no item \[3\] at a: it is a list of 1"):
        pick({"a": [1]}, FieldPath.parse("a[3]"))
    with pytest.raises(FieldMissing, match="the value is text, not JSON"):
        pick("not json", FieldPath.parse("a"))
    for bad in ("", ".a", "a..b", "a[x]", "a b"):
        with pytest.raises(EvaluatorInvalid, match="field path"):
            FieldPath.parse(bad)


def test_field_on_output_fails_but_on_expected_errors() -> None:
    evaluator = ExactMatch(field="intent")
    assert evaluator.evaluate(output=MESSAGE, expected="card_arrival").passed is True
    assert evaluator.evaluate(output=MESSAGE, expected={"intent": "card_arrival"}).passed is True
    missing_output = evaluator.evaluate(output={"label": "x"}, expected="card_arrival")
    assert missing_output.passed is False and missing_output.error is None
    assert "the output has no such field: no field 'intent'" in (missing_output.explanation or "")
    missing_expected = evaluator.evaluate(output=MESSAGE, expected={"label": "card_arrival"})
    assert missing_expected.error is not None and "expected value has no such field" in missing_expected.error
    # an expected value kept as an assistant message (e.g. promoted from a span) is compared by its content
    assert (
        ExactMatch().evaluate(output=completion("card_arrival"), expected=MESSAGE | {"content": "card_arrival"}).passed
    )
    assert evaluator.evaluate(output=MESSAGE, expected=[{"role": "user", "content": "q"}, MESSAGE]).passed is True
    split = ExactMatch(field="answer.intent", expected_field="intent")
    assert split.evaluate(output={"answer": {"intent": "a"}}, expected={"intent": "a"}).passed is True


# -- exact match, contains, regex -----------------------------------------------------------------------------
def test_exact_match_explains_the_mismatch() -> None:
    result = ExactMatch().evaluate(output="card_delivery_estimate", expected="card_arrival")
    assert result == EvaluationResult(
        name="exact_match",
        score=0.0,
        passed=False,
        explanation="expected 'card_arrival', got 'card_delivery_estimate'",
    )
    assert ExactMatch().evaluate(output="  card_arrival\n", expected="card_arrival").passed is True
    assert ExactMatch(strip=False).evaluate(output="card_arrival\n", expected="card_arrival").passed is False
    assert (
        ExactMatch().evaluate(output="x", expected=None).error
        == "exact_match needs an expected value and the example has none"
    )


@pytest.mark.parametrize(
    ("options", "output", "expected", "passed"),
    [
        ({"case_insensitive": True}, "Card Arrival", "card arrival", True),
        ({}, "Card Arrival", "card arrival", False),
        ({"collapse_whitespace": True}, "card \n  arrival", "card arrival", True),
        ({"strip_punctuation": True}, "Paris.", "Paris", True),
        ({"strip_punctuation": True, "case_insensitive": True}, "“Yes!”", "yes", True),
    ],
)
def test_exact_match_normalization(options: dict[str, Any], output: str, expected: str, passed: bool) -> None:
    assert ExactMatch(**options).evaluate(output=output, expected=expected).passed is passed


def test_exact_match_failure_names_the_normalization() -> None:
    result = ExactMatch(case_insensitive=True, strip_punctuation=True).evaluate(output="no", expected="yes")
    assert result.explanation == "expected 'yes', got 'no' (ignoring case, punctuation)"


def test_exact_match_json_is_canonical_and_points_at_the_difference() -> None:
    evaluator = ExactMatch(json=True)
    assert evaluator.evaluate(output='{"b": [1, 2.0], "a": true}', expected={"a": True, "b": [1.0, 2]}).passed
    assert evaluator.evaluate(output='{"a": 1}', expected='{"a": true}').explanation == "at $.a: expected true, got 1"
    nested = evaluator.evaluate(
        output={"items": [{"sku": "A"}, {"sku": "C"}]}, expected={"items": [{"sku": "A"}, {"sku": "B"}]}
    )
    assert nested.explanation == 'at $.items[1].sku: expected "B", got "C"'
    assert evaluator.evaluate(output={"a": 1, "x": 2}, expected={"a": 1}).explanation == (
        "at $.x: expected nothing (no such key), got 2"
    )
    assert evaluator.evaluate(output=[1], expected=[1, 2]).explanation == "at $: expected 2 items, got 1 items"
    not_json = evaluator.evaluate(output="{oops", expected={})
    assert not_json.passed is False and "the output is not valid JSON" in (not_json.explanation or "")
    assert "expected value is not valid JSON" in (evaluator.evaluate(output="{}", expected="{oops").error or "")


def test_contains_any_all_and_expected() -> None:
    any_of = Contains(["refund", "chargeback"])
    assert any_of.evaluate(output="I want a refund").metadata == {"found": ["refund"]}
    failed = any_of.evaluate(output="Hello")
    assert failed.explanation == "the output contains none of 'refund', 'chargeback'; got 'Hello'"
    all_of = Contains(["card", "arrive"], mode="all", case_insensitive=True)
    assert all_of.evaluate(output="When will my CARD ARRIVE?").passed is True
    partial = all_of.evaluate(output="my card")
    assert partial.explanation == "the output lacks 'arrive' (found 'card'); got 'my card'"
    assert partial.metadata == {"found": ["card"], "missing": ["arrive"]}
    assert Contains().evaluate(output="It is Paris, France", expected="Paris").passed is True
    assert Contains().evaluate(output="x", expected=None).error is not None
    for bad in ([], [""], "refund"):
        with pytest.raises(EvaluatorInvalid, match="non-empty list of non-empty texts"):
            Contains(bad)
    with pytest.raises(EvaluatorInvalid, match="mode must be 'any' or 'all'"):
        Contains(["a"], mode="most")  # type: ignore[arg-type]


def test_regex_search_and_fullmatch() -> None:
    assert Regex(r"\d{4}").evaluate(output="order 1234 shipped").metadata == {"match": "1234"}
    full = Regex(r"\d{1,3}", mode="fullmatch")
    assert full.evaluate(output="123").passed is True
    assert full.evaluate(output="1234").explanation == r"the output does not match /\d{1,3}/ as a whole; got '1234'"
    assert Regex("^yes$", ignore_case=True).evaluate(output="YES").passed is True
    assert Regex("^b", multiline=True).evaluate(output="a\nb").passed is True
    assert Regex("^b").evaluate(output="a\nb").passed is False
    with pytest.raises(EvaluatorInvalid, match=r"bad regular expression '\(unclosed'"):
        Regex("(unclosed")
    with pytest.raises(EvaluatorInvalid, match="mode must be 'search' or 'fullmatch'"):
        Regex("a", mode="match")  # type: ignore[arg-type]


# -- JSON, schema, numbers ------------------------------------------------------------------------------------
def test_valid_json() -> None:
    evaluator = ValidJSON()
    assert evaluator.evaluate(output='{"a": 1}').passed is True
    assert evaluator.evaluate(output={"already": "structured"}).passed is True
    broken = evaluator.evaluate(output='{"a": 1,}')
    assert broken.passed is False
    assert "the output is not valid JSON: Expecting property name enclosed in double quotes: line 1 column 9" in (
        broken.explanation or ""
    )
    fenced = '```json\n{"a": 1}\n```'
    assert "(it is wrapped in a code fence)" in (evaluator.evaluate(output=fenced).explanation or "")
    assert ValidJSON(allow_code_fence=True).evaluate(output=fenced).passed is True
    assert evaluator.evaluate(output=None).explanation == "the output is empty, not JSON"


SCHEMA = {
    "type": "object",
    "properties": {
        "intent": {"enum": ["card_arrival", "lost_card"]},
        "items": {"type": "array", "items": {"type": "object", "properties": {"qty": {"type": "integer"}}}},
    },
    "required": ["intent"],
    "additionalProperties": False,
}


def test_json_schema_reports_the_failing_path_and_rule() -> None:
    evaluator = JSONSchemaMatch(SCHEMA)
    assert evaluator.evaluate(output='{"intent": "lost_card", "items": [{"qty": 2}]}').passed is True
    bad_item = evaluator.evaluate(output={"intent": "lost_card", "items": [{"qty": "two"}]})
    assert bad_item.explanation == "at $.items[0].qty: 'two' is not of type 'integer'"
    several = evaluator.evaluate(output={"intent": "refund", "extra": 1})
    assert several.passed is False and (several.explanation or "").endswith("(and 1 more error)")
    assert {error["path"] for error in several.metadata["errors"]} == {"$.intent", "$"}
    assert "not valid JSON" in (evaluator.evaluate(output="intent: lost_card").explanation or "")
    on_field = JSONSchemaMatch({"type": "integer", "minimum": 1}, field="qty")
    assert on_field.evaluate(output={"qty": 0}).explanation == "at $: 0 is less than the minimum of 1"


def test_an_invalid_schema_is_refused_when_built() -> None:
    with pytest.raises(
        EvaluatorInvalid, match=r"the schema itself is invalid at \$.properties.a.type: 'strnig' is not valid"
    ):
        JSONSchemaMatch({"type": "object", "properties": {"a": {"type": "strnig"}}})
    with pytest.raises(EvaluatorInvalid, match="must be an object, not list"):
        JSONSchemaMatch([1])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "output", "expected", "passed"),
    [
        ({}, "42", 42, True),
        ({}, 42.0000000001, "42", True),
        ({}, "1,234.5", "1234.5", True),
        ({"abs_tol": 0.5}, "42.4", 42, True),
        ({"abs_tol": 0.5}, "42.6", 42, False),
        ({"rel_tol": 0.01}, 990, 1000, True),
        ({"rel_tol": 0.01}, 989, 1000, False),
        ({"find_number": True}, "The total is -3.5e2 dollars.", -350, True),
    ],
)
def test_numeric_tolerance(options: dict[str, Any], output: Any, expected: Any, passed: bool) -> None:
    assert NumericTolerance(**options).evaluate(output=output, expected=expected).passed is passed


def test_numeric_tolerance_explanations() -> None:
    off = NumericTolerance(abs_tol=0.5).evaluate(output="43.2", expected=42)
    assert off.explanation == "expected 42 ± 0.5, got 43.2 (off by 1.2)"
    assert NumericTolerance().evaluate(output="about 42", expected=42).explanation == (
        "the output 'about 42' is not a number; expected 42"
    )
    assert NumericTolerance(find_number=True).evaluate(output="none", expected=1).explanation == (
        "the output 'none' holds no number; expected 1"
    )
    assert "the expected value 'n/a' is not a number" in (
        NumericTolerance().evaluate(output=1, expected="n/a").error or ""
    )
    assert NumericTolerance().evaluate(output=True, expected=1).passed is False
    with pytest.raises(EvaluatorInvalid, match="abs_tol must be a finite number"):
        NumericTolerance(abs_tol=-1)


# -- similarity -----------------------------------------------------------------------------------------------
def test_similarity_methods_against_known_values() -> None:
    # kitten -> sitting: 3 edits over 7 characters; difflib: 2 * 4 matching / 13 characters
    levenshtein = StringSimilarity(threshold=0.5).evaluate(output="kitten", expected="sitting")
    assert levenshtein.score == pytest.approx(1 - 3 / 7, abs=1e-6) and levenshtein.passed is True
    indel = StringSimilarity(method="indel").evaluate(output="kitten", expected="sitting")
    assert indel.score == pytest.approx(difflib.SequenceMatcher(None, "kitten", "sitting").ratio(), abs=1e-6)
    assert indel.explanation == "indel similarity 0.62 is below 0.80: expected 'sitting', got 'kitten'"
    token_sort = StringSimilarity(method="token_sort").evaluate(output="arrival card", expected="card arrival")
    assert token_sort.score == 1.0
    jaro = StringSimilarity(method="jaro_winkler").evaluate(output="MARTHA", expected="MARHTA")
    assert jaro.score == pytest.approx(0.961111, abs=1e-6)  # the textbook Jaro-Winkler example
    assert StringSimilarity(case_insensitive=True).evaluate(output="PARIS ", expected="paris").score == 1.0
    with pytest.raises(EvaluatorInvalid, match="unknown method 'cosine'; choose one of levenshtein, indel"):
        StringSimilarity(method="cosine")
    with pytest.raises(EvaluatorInvalid, match="threshold must be between 0 and 1"):
        StringSimilarity(threshold=2)


# -- classification -------------------------------------------------------------------------------------------
def test_classification_row_explains_and_flags_unknown_labels() -> None:
    evaluator = Classification(labels=["card_arrival", "lost_card"])
    right = evaluator.evaluate(output=" Card_Arrival", expected="card_arrival")
    assert right.passed is False  # case matters unless asked
    assert Classification(case_insensitive=True).evaluate(output=" Card_Arrival", expected="card_arrival").passed
    wrong = evaluator.evaluate(output="card_delivery_estimate", expected="card_arrival")
    assert wrong.explanation == "expected 'card_arrival', got 'card_delivery_estimate' (not a known label)"
    assert wrong.metadata == {"predicted": "card_delivery_estimate", "expected": "card_arrival"}
    mixed_up = evaluator.evaluate(output="lost_card", expected="card_arrival")
    assert mixed_up.explanation == "expected 'card_arrival', got 'lost_card'"


def test_classification_report_matches_scikit_learns_documented_example() -> None:
    # sklearn.metrics.classification_report docs: y_true = [0, 1, 2, 2, 2], y_pred = [0, 0, 2, 2, 1]
    report = classification_report(["0", "1", "2", "2", "2"], ["0", "0", "2", "2", "1"])
    per_class = {label: (m.precision, m.recall, m.f1, m.support) for label, m in report.per_class.items()}
    assert per_class["0"] == pytest.approx((0.5, 1.0, 2 / 3, 1))
    assert per_class["1"] == (0.0, 0.0, 0.0, 1)
    assert per_class["2"] == pytest.approx((1.0, 2 / 3, 0.8, 3))
    assert report.accuracy == pytest.approx(0.6) and report.micro_f1 == pytest.approx(0.6)
    assert (report.macro_precision, report.macro_recall) == pytest.approx((0.5, 0.5556), abs=1e-4)
    assert report.macro_f1 == pytest.approx(0.4889, abs=1e-4)
    assert report.weighted_f1 == pytest.approx(0.6133, abs=1e-4)
    assert report.confusion == {"0": {"0": 1}, "1": {"0": 1}, "2": {"1": 1, "2": 2}}
    with pytest.raises(ValueError, match="2 expected labels but 1 predicted"):
        classification_report(["a", "b"], ["a"])
