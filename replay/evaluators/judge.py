"""LLM-as-judge: a model grades an output against a rubric and says why.

The rubric is a text template with ``{{input}}``, ``{{output}}``, ``{{expected}}`` and ``{{metadata}}``
placeholders, or a field of one (``{{input.question}}``, ``{{output.intent}}``; see
:class:`~replay.evaluators.extract.FieldPath`). Messages are shown by their content, structures as JSON, a
missing value as "(none)" (rendering is :mod:`instrumentation.template`'s).
The judge model is asked for a JSON object ``{"explanation", "label", "score"}`` — explanation first, so the
model reasons before it decides — through ``response_format`` ``json_schema`` (or ``json_object`` / plain text
for servers without structured outputs). With ``choices`` (label → score) the model picks a label and the
score follows from it; otherwise it gives a score within ``score_range``.

The model is reached through an OpenAI-compatible chat API: pass an ``openai.OpenAI`` or ``openai.AsyncOpenAI``
client (any ``base_url``: OpenAI, vLLM, Ollama, the local model), or any callable taking the request keyword
dict and returning a completion, a completion dict or the reply text (sync or async). An async client is used
through ``aevaluate`` only: its connections belong to the event loop that opened them.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal

import openai

from instrumentation.template import TemplateError, render_text, template_variables
from replay.errors import EvaluatorFailed, EvaluatorInvalid
from replay.evaluators.base import AnnotatorKind, BaseEvaluator, describe, is_async_callable, run_sync
from replay.evaluators.extract import FieldMissing, FieldPath, pick, strip_code_fence
from replay.evaluators.result import EvaluationResult

__all__ = ["RUBRIC_VARIABLES", "JudgeFormat", "LLMJudge", "parse_judgement"]

RUBRIC_VARIABLES = ("input", "output", "expected", "metadata")
JudgeFormat = Literal["json_schema", "json_object", "text"]
_SHOWN = 200
_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


class LLMJudge(BaseEvaluator):
    """An evaluator whose verdict comes from a model (see the module docstring).

    ``pass_threshold`` defaults to the middle of the score range (of the choices' scores with ``choices``).
    ``parameters`` are extra keyword arguments for ``chat.completions.create`` (e.g. ``seed``).
    """

    annotator_kind: AnnotatorKind = "LLM"

    def __init__(
        self,
        rubric_template: str,
        *,
        model: str,
        client: Any,
        name: str = "judge",
        choices: Mapping[str, float] | None = None,
        score_range: tuple[float, float] = (0.0, 1.0),
        pass_threshold: float | None = None,
        system_prompt: str | None = None,
        response_format: JudgeFormat = "json_schema",
        temperature: float | None = 0.0,
        max_tokens: int | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(name=name)
        self.rubric_template = rubric_template
        self._placeholders = _check_rubric(rubric_template, name)
        if not isinstance(model, str) or not model.strip():
            raise EvaluatorInvalid(f"{name}: give the judge model's name")
        self.model = model
        self.choices = _check_choices(choices, name)
        low, high = _check_range(score_range, name) if self.choices is None else _choice_range(self.choices)
        self.score_range = (low, high)
        self.pass_threshold = (low + high) / 2 if pass_threshold is None else float(pass_threshold)
        if response_format not in ("json_schema", "json_object", "text"):
            raise EvaluatorInvalid(f"{name}: response_format must be json_schema, json_object or text")
        self.response_format = response_format
        self.system_prompt = system_prompt if system_prompt is not None else self._instructions()
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.parameters = dict(parameters or {})
        self._create, self._is_async = _resolve_client(client, name)

    # -- the request ------------------------------------------------------------------------------------------
    def _instructions(self) -> str:
        verdict = (
            f'"label": exactly one of {", ".join(json.dumps(c) for c in self.choices)}'
            if self.choices is not None
            else f'"score": a number from {self.score_range[0]:g} (worst) to {self.score_range[1]:g} (best), '
            '"label": a one- or two-word verdict'
        )
        return (
            "You are a strict, careful evaluator. Grade the output as the rubric says. Answer with only a JSON "
            'object with the keys "explanation": one to three sentences on why (when the output falls short, say '
            f"exactly what is wrong), then {verdict}."
        )

    def judgement_schema(self) -> dict[str, Any]:
        """The JSON schema the judge's answer must follow (strict-mode compatible)."""
        properties: dict[str, Any] = {"explanation": {"type": "string", "description": "Why, briefly."}}
        if self.choices is not None:
            properties["label"] = {"type": "string", "enum": list(self.choices)}
        else:
            low, high = self.score_range
            properties["score"] = {"type": "number", "description": f"From {low:g} (worst) to {high:g} (best)."}
            properties["label"] = {"type": "string", "description": "A one- or two-word verdict."}
        return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}

    def request(self, *, input: Any, output: Any, expected: Any, metadata: Mapping[str, Any]) -> dict[str, Any]:
        """The ``chat.completions.create`` keyword arguments for one row."""
        roots = {"input": input, "output": output, "expected": expected, "metadata": dict(metadata) or None}
        values: dict[str, Any] = {}
        for placeholder, (root, path) in self._placeholders.items():
            try:
                value = pick(roots[root], path)
            except FieldMissing as missing:
                raise EvaluatorFailed(f"the rubric's {{{{{placeholder}}}}} has no value: {missing}") from None
            values[placeholder] = "(none)" if value is None else value
        rubric = render_text(self.rubric_template, values)
        request: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "system", "content": self.system_prompt}, {"role": "user", "content": rubric}],
        }
        if self.temperature is not None:
            request["temperature"] = self.temperature
        if self.max_tokens is not None:
            request["max_tokens"] = self.max_tokens
        if self.response_format == "json_schema":
            schema = {"name": "judgement", "strict": True, "schema": self.judgement_schema()}
            request["response_format"] = {"type": "json_schema", "json_schema": schema}
        elif self.response_format == "json_object":
            request["response_format"] = {"type": "json_object"}
        return {**request, **self.parameters}

    # -- evaluation -------------------------------------------------------------------------------------------
    def judge(self, *, input: Any, output: Any, expected: Any, metadata: Mapping[str, Any]) -> EvaluationResult:
        if self._is_async:
            # an AsyncOpenAI client's connections belong to the event loop that opened them, so driving it from
            # a fresh loop per call would break on the second call
            raise EvaluatorFailed(f"judge {self.name!r} has an async client: call aevaluate, or give it a sync client")
        reply = self._create(**self.request(input=input, output=output, expected=expected, metadata=metadata))
        if inspect.isawaitable(reply):
            reply = run_sync(reply, what=f"judge {self.name!r}")
        return self._verdict(reply)

    async def aevaluate(
        self, *, input: Any = None, output: Any, expected: Any = None, metadata: Mapping[str, Any] | None = None
    ) -> EvaluationResult:
        if not self._is_async:
            return await super().aevaluate(input=input, output=output, expected=expected, metadata=metadata)
        try:
            request = self.request(input=input, output=output, expected=expected, metadata=metadata or {})
            reply = self._create(**request)
            return self._verdict(await reply if inspect.isawaitable(reply) else reply)
        except Exception as error:
            return EvaluationResult.failure(self.name, describe(error))

    def _verdict(self, reply: Any) -> EvaluationResult:
        text, details = _reply_text(reply)
        verdict = parse_judgement(text, choices=self.choices, score_range=self.score_range)
        score = verdict["score"]
        return EvaluationResult(
            name=self.name,
            score=score,
            label=verdict["label"],
            explanation=verdict["explanation"],
            passed=score >= self.pass_threshold,
            metadata={"judge_model": self.model, **details},
        )


def parse_judgement(
    text: str, *, choices: Mapping[str, float] | None = None, score_range: tuple[float, float] = (0.0, 1.0)
) -> dict[str, Any]:
    """A judge's answer as ``{"score", "label", "explanation"}``; :class:`EvaluatorFailed` saying what came back.

    Tolerates a code fence or prose around the JSON object. With ``choices`` the label must be one of them
    (case-insensitively) and sets the score; otherwise the score must be a number within ``score_range``.
    """
    answer = _json_object(text)
    explanation = answer.get("explanation")
    if explanation is not None and not isinstance(explanation, str):
        explanation = json.dumps(explanation, ensure_ascii=False)
    label = answer.get("label")
    if choices is not None:
        canonical = {choice.casefold(): choice for choice in choices}
        if not isinstance(label, str) or label.strip().casefold() not in canonical:
            raise EvaluatorFailed(
                f"the judge answered the label {label!r}, which is not one of {', '.join(map(repr, choices))}"
            )
        label = canonical[label.strip().casefold()]
        return {"score": float(choices[label]), "label": label, "explanation": explanation}
    score = _number(answer.get("score"))
    low, high = score_range
    if score is None or not low <= score <= high:
        raise EvaluatorFailed(
            f"the judge answered the score {answer.get('score')!r}; expected a number from {low:g} to {high:g}"
        )
    return {"score": score, "label": label if isinstance(label, str) and label else None, "explanation": explanation}


def _json_object(text: str) -> dict[str, Any]:
    shown = text if len(text) <= _SHOWN else text[:_SHOWN] + "…"
    candidates = [strip_code_fence(text).strip()]
    if (match := _OBJECT.search(text)) is not None:
        candidates.append(match.group(0))
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
        raise EvaluatorFailed(f"the judge answered a JSON {type(value).__name__}, not an object: {shown!r}")
    raise EvaluatorFailed(f"the judge's answer is not a JSON object: {shown!r}")


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _reply_text(reply: Any) -> tuple[str, dict[str, Any]]:
    """The judge's text and what to keep about the call (usage, finish reason)."""
    if isinstance(reply, str):
        return reply, {}
    data = reply.model_dump() if hasattr(reply, "model_dump") else reply
    if not isinstance(data, Mapping) or not data.get("choices"):
        raise EvaluatorFailed(f"the judge call returned {type(reply).__name__} without choices")
    choice = data["choices"][0]
    message = choice.get("message") or {}
    details = {key: data[key] for key in ("usage",) if data.get(key)}
    details["finish_reason"] = choice.get("finish_reason")
    if message.get("refusal"):
        raise EvaluatorFailed(f"the judge refused: {message['refusal']}")
    content = message.get("content")
    if not isinstance(content, str) or not content.strip():
        raise EvaluatorFailed(f"the judge returned no text (finish_reason={choice.get('finish_reason')!r})")
    if choice.get("finish_reason") == "length":
        raise EvaluatorFailed("the judge's answer was cut off at max_tokens; raise max_tokens")
    return content, details


def _resolve_client(client: Any, name: str) -> tuple[Callable[..., Any], bool]:
    create = getattr(getattr(getattr(client, "chat", None), "completions", None), "create", None)
    if create is None:
        if not callable(client):
            raise EvaluatorInvalid(
                f"{name}: client must be an openai.OpenAI or AsyncOpenAI client or a callable, "
                f"not {type(client).__name__}"
            )
        function = client

        def create(**request: Any) -> Any:
            return function(request)

        return create, is_async_callable(function)
    return create, isinstance(client, openai.AsyncOpenAI) or is_async_callable(create)


def _check_rubric(rubric: object, name: str) -> dict[str, tuple[str, FieldPath | None]]:
    """The rubric's placeholders as (row value, path into it): ``{{input.question}}`` → ("input", question)."""
    if not isinstance(rubric, str) or not rubric.strip():
        raise EvaluatorInvalid(f"{name}: the rubric must be a non-empty text")
    try:
        used = template_variables(rubric)
    except TemplateError as error:
        raise EvaluatorInvalid(f"{name}: bad rubric template: {error}") from None
    unknown = [variable for variable in used if variable.split(".", 1)[0] not in RUBRIC_VARIABLES]
    if unknown:
        raise EvaluatorInvalid(
            f"{name}: the rubric uses {', '.join('{{' + v + '}}' for v in unknown)}; it may use "
            f"{', '.join('{{' + v + '}}' for v in RUBRIC_VARIABLES)}, or a field of one, e.g. {{{{input.question}}}}"
        )
    placeholders: dict[str, tuple[str, FieldPath | None]] = {}
    for variable in used:
        root, _, rest = variable.partition(".")
        placeholders[variable] = (root, FieldPath.parse(rest) if rest else None)
    if "output" not in {root for root, _ in placeholders.values()}:
        raise EvaluatorInvalid(f"{name}: the rubric must show the judge the output with {{{{output}}}}")
    return placeholders


def _check_choices(choices: Mapping[str, float] | None, name: str) -> dict[str, float] | None:
    if choices is None:
        return None
    if not isinstance(choices, Mapping) or len(choices) < 2:
        raise EvaluatorInvalid(f"{name}: choices must map at least two labels to scores, e.g. correct=1, incorrect=0")
    checked: dict[str, float] = {}
    for label, score in choices.items():
        if not isinstance(label, str) or not label.strip() or _number(score) is None or isinstance(score, str):
            raise EvaluatorInvalid(f"{name}: choice {label!r} → {score!r} must be a non-empty label and a number")
        checked[label] = float(score)
    return checked


def _check_range(score_range: tuple[float, float], name: str) -> tuple[float, float]:
    try:
        low, high = (float(bound) for bound in score_range)
    except (TypeError, ValueError):
        raise EvaluatorInvalid(f"{name}: score_range must be two numbers (low, high)") from None
    if not low < high:
        raise EvaluatorInvalid(f"{name}: score_range must have low < high, not ({low:g}, {high:g})")
    return low, high


def _choice_range(choices: Mapping[str, float]) -> tuple[float, float]:
    return min(choices.values()), max(choices.values())
