"""LLM-as-judge against the fake OpenAI-compatible server: requests, verdicts, and every way an answer goes wrong."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import openai
import pytest

from replay.errors import EvaluatorFailed, EvaluatorInvalid
from replay.evaluators import EvaluationResult, LLMJudge, parse_judgement
from tests.fakeopenai import ChatReply, ErrorReply, FakeOpenAI, Usage

RUBRIC = (
    "A customer wrote: {{input}}\nThe assistant classified it as: {{output}}\n"
    "The right intent is: {{expected}}\nIs the classification right?"
)
CHOICES = {"correct": 1.0, "incorrect": 0.0}


def sync_client(fake: FakeOpenAI) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake.base_url, api_key="sk-test", max_retries=0)


def async_client(fake: FakeOpenAI) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=fake.base_url, api_key="sk-test", max_retries=0)


def answer(**fields: Any) -> ChatReply:
    return ChatReply(content=json.dumps(fields), usage=Usage(120, 30))


def test_request_shape_and_default_reply(fake_openai: FakeOpenAI) -> None:
    judge = LLMJudge(RUBRIC, model="gpt-4o-mini", client=sync_client(fake_openai), name="intent_judge")
    result = judge.evaluate(
        input={"text": "Where is my card?"},
        output={"role": "assistant", "content": "card_delivery_estimate"},
        expected="card_arrival",
    )
    # the fake answers a json_schema request with the schema's minimal instance
    assert result == EvaluationResult(
        name="intent_judge",
        score=0.0,
        label="fake",
        explanation="fake",
        passed=False,
        metadata=result.metadata,
    )
    assert result.metadata["judge_model"] == "gpt-4o-mini" and result.metadata["usage"]["total_tokens"] > 0
    body = fake_openai.requests[0].body
    assert body["model"] == "gpt-4o-mini" and body["temperature"] == 0.0
    system, user = body["messages"]
    assert (
        system["role"] == "system"
        and '"explanation"' in system["content"]
        and "from 0 (worst) to 1" in system["content"]
    )
    assert user["content"] == (
        'A customer wrote: {"text":"Where is my card?"}\nThe assistant classified it as: card_delivery_estimate\n'
        "The right intent is: card_arrival\nIs the classification right?"
    )
    schema = body["response_format"]["json_schema"]
    assert body["response_format"]["type"] == "json_schema" and schema["strict"] is True
    assert schema["schema"]["required"] == ["explanation", "score", "label"]
    assert schema["schema"]["additionalProperties"] is False


def test_choices_constrain_the_label_and_set_the_score(fake_openai: FakeOpenAI) -> None:
    judge = LLMJudge(RUBRIC, model="gpt-4o-mini", client=sync_client(fake_openai), choices=CHOICES)
    fake_openai.script.push(
        answer(
            explanation="The customer asks where the card is; delivery estimate is a different intent.",
            label="incorrect",
        ),
        answer(explanation="Matches.", label="Correct"),
    )
    wrong = judge.evaluate(input="Where is my card?", output="card_delivery_estimate", expected="card_arrival")
    assert (wrong.score, wrong.label, wrong.passed) == (0.0, "incorrect", False)
    assert wrong.explanation == "The customer asks where the card is; delivery estimate is a different intent."
    assert wrong.metadata["usage"]["prompt_tokens"] == 120 and wrong.metadata["finish_reason"] == "stop"
    right = judge.evaluate(input="Where is my card?", output="card_arrival", expected="card_arrival")
    assert (right.score, right.label, right.passed) == (1.0, "correct", True)
    properties = fake_openai.requests[0].body["response_format"]["json_schema"]["schema"]["properties"]
    assert properties["label"] == {"type": "string", "enum": ["correct", "incorrect"]} and "score" not in properties


def test_score_range_and_threshold(fake_openai: FakeOpenAI) -> None:
    judge = LLMJudge(
        "Rate the helpfulness of {{output}}", model="gpt-4o-mini", client=sync_client(fake_openai), score_range=(1, 5)
    )
    assert judge.pass_threshold == 3.0
    fake_openai.script.push(answer(explanation="ok", score=3, label="adequate"), answer(explanation="meh", score="2.5"))
    assert judge.evaluate(output="x").passed is True
    low = judge.evaluate(output="y")
    assert (low.score, low.passed, low.label) == (2.5, False, None)
    assert "from 1 (worst) to 5 (best)" in fake_openai.requests[0].body["messages"][0]["content"]


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (
            ChatReply(content="I think it is correct."),
            "the judge's answer is not a JSON object: 'I think it is correct.'",
        ),
        (ChatReply(content="[1, 2]"), "the judge answered a JSON list, not an object"),
        (
            answer(explanation="?", label="maybe"),
            "the judge answered the label 'maybe', which is not one of 'correct', 'incorrect'",
        ),
        (answer(explanation="?"), "the judge answered the label None"),
        (ChatReply(content=""), "the judge returned no text (finish_reason='stop')"),
        (ChatReply(content='{"explanation": "The output', finish_reason="length"), "cut off at max_tokens"),
        (ErrorReply(status=500), "InternalServerError: Error code: 500"),
        (ErrorReply(status=429, retry_after=0.01), "RateLimitError: Error code: 429"),
    ],
)
def test_unusable_answers_become_errored_results(fake_openai: FakeOpenAI, reply: Any, error: str) -> None:
    judge = LLMJudge(RUBRIC, model="gpt-4o-mini", client=sync_client(fake_openai), choices=CHOICES)
    fake_openai.script.push(reply)
    result = judge.evaluate(input="q", output="a", expected="b")
    assert result.error is not None and error in result.error, result.error
    assert (result.score, result.passed, result.label) == (None, None, None)


def test_an_out_of_range_score_is_an_error(fake_openai: FakeOpenAI) -> None:
    judge = LLMJudge("Grade {{output}}", model="gpt-4o-mini", client=sync_client(fake_openai), score_range=(1, 5))
    fake_openai.script.push(answer(explanation="great", score=7), answer(explanation="?", score=True))
    assert judge.evaluate(output="x").error == "the judge answered the score 7; expected a number from 1 to 5"
    assert judge.evaluate(output="x").error == "the judge answered the score True; expected a number from 1 to 5"


def test_json_object_and_text_modes(fake_openai: FakeOpenAI) -> None:
    json_object = LLMJudge(
        "Grade {{output}}", model="gpt-4o-mini", client=sync_client(fake_openai), response_format="json_object"
    )
    default = json_object.evaluate(output="x")  # the fake's json_object default is {"reply": ...}
    assert default.error == "the judge answered the score None; expected a number from 0 to 1"
    assert fake_openai.requests[-1].body["response_format"] == {"type": "json_object"}
    text = LLMJudge(
        "Grade {{output}}",
        model="gpt-4o-mini",
        client=sync_client(fake_openai),
        response_format="text",
        temperature=None,
        max_tokens=200,
        parameters={"seed": 7},
    )
    fake_openai.script.push(
        ChatReply(content='Sure! ```json\n{"explanation": "fine", "score": 0.9, "label": "good"}\n```')
    )
    result = text.evaluate(output="x")
    assert (result.score, result.label, result.passed) == (0.9, "good", True)
    body = fake_openai.requests[-1].body
    assert "response_format" not in body and "temperature" not in body
    assert (body["max_tokens"], body["seed"]) == (200, 7)


def test_async_client(fake_openai: FakeOpenAI) -> None:
    judge = LLMJudge(RUBRIC, model="gpt-4o-mini", client=async_client(fake_openai), choices=CHOICES)
    fake_openai.script.set_latency(0.05)
    fake_openai.script.add_rule("right-answer", answer(explanation="yes", label="correct"))

    async def grade_all() -> tuple[list[EvaluationResult], EvaluationResult]:
        rows = [judge.aevaluate(input="q", output=f"right-answer {i}", expected="e") for i in range(6)]
        results = await asyncio.gather(*rows)
        fake_openai.script.push(ErrorReply(status=500))
        return results, await judge.aevaluate(output="x")

    results, failed = asyncio.run(grade_all())
    assert [r.score for r in results] == [1.0] * 6
    calls = sorted(request.received_at for request in fake_openai.requests[:6])
    assert calls[-1] - calls[0] < 0.05 * 3  # sent together, not one after another
    assert failed.error is not None and "InternalServerError" in failed.error
    # an AsyncOpenAI client is bound to its event loop: the sync entry point refuses it instead of breaking later
    assert judge.evaluate(output="right-answer").error == (
        "judge 'judge' has an async client: call aevaluate, or give it a sync client"
    )


def test_sync_client_in_aevaluate_and_callable_clients(fake_openai: FakeOpenAI) -> None:
    judge = LLMJudge(RUBRIC, model="gpt-4o-mini", client=sync_client(fake_openai), choices=CHOICES)
    fake_openai.script.push(answer(explanation="yes", label="correct"))
    assert asyncio.run(judge.aevaluate(output="a")).score == 1.0

    requests: list[dict[str, Any]] = []

    def text_reply(request: dict[str, Any]) -> str:
        requests.append(request)
        return '{"explanation": "no", "label": "incorrect"}'

    async def completion_dict(request: dict[str, Any]) -> dict[str, Any]:
        message = {"role": "assistant", "content": None, "refusal": "I can't grade this."}
        return {"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}

    assert LLMJudge(RUBRIC, model="m", client=text_reply, choices=CHOICES).evaluate(output="a").label == "incorrect"
    assert requests[0]["model"] == "m" and requests[0]["messages"][1]["content"].startswith("A customer wrote: (none)")
    refused = asyncio.run(LLMJudge(RUBRIC, model="m", client=completion_dict).aevaluate(output="a"))
    assert refused.error == "the judge refused: I can't grade this."
    odd = LLMJudge(RUBRIC, model="m", client=lambda request: 42).evaluate(output="a")
    assert odd.error == "the judge call returned int without choices"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"rubric_template": "Is it good?"}, r"the rubric must show the judge the output with \{\{output\}\}"),
        (
            {"rubric_template": "{{output}} vs {{reference.text}}"},
            r"the rubric uses \{\{reference.text\}\}; it may use \{\{input\}\}.*or a field of one",
        ),
        ({"rubric_template": "{{input.question}}"}, r"must show the judge the output"),
        ({"rubric_template": "{{output.0}}"}, "bad field path '0'"),
        ({"rubric_template": "{{ output }} {{bad name}}"}, "bad rubric template: text: malformed placeholder"),
        ({"rubric_template": ""}, "the rubric must be a non-empty text"),
        ({"model": " "}, "give the judge model's name"),
        ({"choices": {"only": 1}}, "choices must map at least two labels"),
        ({"choices": {"good": "1", "bad": 0}}, "choice 'good' → '1' must be a non-empty label and a number"),
        ({"score_range": (5, 1)}, "score_range must have low < high"),
        ({"score_range": ("a", "b")}, "score_range must be two numbers"),
        ({"response_format": "xml"}, "response_format must be json_schema, json_object or text"),
        ({"client": object()}, "client must be an openai.OpenAI or AsyncOpenAI client or a callable, not object"),
    ],
)
def test_construction_errors(arguments: dict[str, Any], message: str) -> None:
    options: dict[str, Any] = {"rubric_template": "Grade {{output}}", "model": "m", "client": lambda request: "{}"}
    options.update(arguments)
    with pytest.raises(EvaluatorInvalid, match=message):
        LLMJudge(options.pop("rubric_template"), **options)


def test_rubric_fields_reach_into_structured_values() -> None:
    requests: list[dict[str, Any]] = []

    def reply(request: dict[str, Any]) -> str:
        requests.append(request)
        return '{"explanation": "ok", "label": "correct"}'

    judge = LLMJudge(
        "Q: {{input.question}} A: {{output.intent}} want {{expected}}",
        model="m",
        client=reply,
        choices=CHOICES,
    )
    output = {"role": "assistant", "content": '{"intent": "card_arrival", "scores": [0.9]}'}
    assert judge.evaluate(input={"question": "Where?"}, output=output, expected="card_arrival").label == "correct"
    assert requests[0]["messages"][1]["content"] == "Q: Where? A: card_arrival want card_arrival"
    missing = judge.evaluate(input={"text": "Where?"}, output=output)
    assert missing.error is not None
    assert missing.error.startswith("the rubric's {{input.question}} has no value: no field 'question'")


def test_parse_judgement_tolerates_wrapping_but_not_nonsense() -> None:
    assert parse_judgement('Here you go: {"score": 1, "explanation": {"why": "ok"}} Thanks!') == {
        "score": 1.0,
        "label": None,
        "explanation": '{"why": "ok"}',
    }
    assert parse_judgement('{"label": " INCORRECT ", "explanation": "x"}', choices=CHOICES)["label"] == "incorrect"
    with pytest.raises(EvaluatorFailed, match=r"is not a JSON object: 'x\{'"):
        parse_judgement("x{")
    long = "no json here " * 40
    with pytest.raises(EvaluatorFailed, match=r"…'$"):
        parse_judgement(long)
