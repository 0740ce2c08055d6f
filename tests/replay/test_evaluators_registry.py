"""Evaluator specs as the CLI takes them: parsing, files, options, user modules, and clear errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from replay.errors import EvaluatorInvalid
from replay.evaluators import (
    Classification,
    Contains,
    EvaluatorSpec,
    ExactMatch,
    FunctionEvaluator,
    JSONSchemaMatch,
    LLMJudge,
    NumericTolerance,
    Regex,
    StringSimilarity,
    ValidJSON,
    build_evaluator,
    parse_evaluator_spec,
)


def judge_reply(request: dict[str, Any]) -> str:
    return '{"explanation": "fine", "label": "correct"}'


def test_parse_splits_name_options_and_target() -> None:
    assert parse_evaluator_spec("exact_match") == EvaluatorSpec("exact_match")
    assert parse_evaluator_spec(r"regex:pattern=^\d{1,3}$,mode=fullmatch") == EvaluatorSpec(
        "regex", {"pattern": r"^\d{1,3}$", "mode": "fullmatch"}
    )
    assert parse_evaluator_spec("contains:texts=a,b|c, mode=all") == EvaluatorSpec(
        "contains", {"texts": "a,b|c", "mode": "all"}
    )
    assert parse_evaluator_spec("python:my_evals.tone:polite,name=tone") == EvaluatorSpec(
        "python", {"name": "tone"}, "my_evals.tone:polite"
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "an evaluator spec is empty"),
        ("exact", "unknown evaluator 'exact' in 'exact'; known evaluators: exact_match, contains, regex"),
        ("regex:pattern", "bad option 'pattern' in evaluator spec 'regex:pattern': write key=value"),
        ("regex:Pattern=a", "bad option 'Pattern=a'"),
        ("regex:pattern=a,pattern=b", "option 'pattern' is given twice"),
        ("regex:pattern=", "option 'pattern' in evaluator spec 'regex:pattern=' has no value"),
        ("python:nomodule", "write python:module:function"),
        ("python:a b:c", "write python:module:function"),
    ],
)
def test_malformed_specs(spec: str, message: str) -> None:
    with pytest.raises(EvaluatorInvalid, match=message):
        build_evaluator(spec)


def test_builds_every_built_in() -> None:
    built = {
        "exact_match:case_insensitive=yes,field=intent": ExactMatch,
        "contains:texts=refund|chargeback,mode=all": Contains,
        r"regex:pattern=^\d+$": Regex,
        "valid_json:allow_code_fence=true": ValidJSON,
        'json_schema:schema={"type": "object", "required": ["a"]}': JSONSchemaMatch,
        "similarity:method=indel,threshold=0.9": StringSimilarity,
        "numeric:abs_tol=0.5,find_number=1": NumericTolerance,
        "classification:labels=a|b|c,case_insensitive=off": Classification,
    }
    for spec, kind in built.items():
        assert type(build_evaluator(spec)) is kind, spec
    exact = build_evaluator("exact_match:case_insensitive=yes,name=intent_match")
    assert exact.name == "intent_match"
    assert exact.evaluate(output="A", expected="a").passed is True
    assert build_evaluator("contains:texts=refund|chargeback,mode=all").evaluate(output="refund").passed is False
    regex = build_evaluator(r"regex:pattern=^\d{1,3}$")
    assert [regex.evaluate(output=text).passed for text in ("123", "1234")] == [True, False]
    numeric = build_evaluator("numeric:abs_tol=0.5,find_number=1")
    assert numeric.evaluate(output="about 3.4", expected=3).passed is True


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("exact_match:case=true", r"'exact_match' has no option 'case'; its options are case_insensitive, collapse"),
        ("exact_match:strip=maybe", "option 'strip' of evaluator 'exact_match': expected true or false, not 'maybe'"),
        ("similarity:threshold=high", "option 'threshold' of evaluator 'similarity': expected a number, not 'high'"),
        ("judge:rubric=x,model=m,max_tokens=1.5", "expected an integer, not '1.5'"),
        ("json_schema:schema={oops", "option 'schema' of evaluator 'json_schema': not valid JSON"),
        ("regex:mode=fullmatch", "evaluator 'regex' needs option pattern"),
        ("judge:choices=a:1|b:0", "evaluator 'judge' needs options model, rubric"),
        ("judge:rubric=x,model=m,choices=good|bad", "write label:score|label:score"),
        ("judge:rubric=x,model=m,score_range=1-5", "write low..high"),
        ("regex:pattern=(", "bad regular expression"),
        ("similarity:method=cosine", "unknown method 'cosine'"),
        ('json_schema:schema={"type": 5}', "the schema itself is invalid"),
    ],
)
def test_bad_options_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(EvaluatorInvalid, match=message):
        build_evaluator(spec, judge_client=judge_reply)


def test_values_from_files(tmp_path: Path) -> None:
    (tmp_path / "schema.json").write_text(json.dumps({"type": "object", "required": ["intent"]}))
    (tmp_path / "rubric.txt").write_text("Is {{output}} the intent for {{input}}? Expected {{expected}}.")
    schema = build_evaluator("json_schema:schema=@schema.json", base_dir=tmp_path)
    assert schema.evaluate(output="{}").explanation == "at $: 'intent' is a required property"
    judge = build_evaluator(
        "judge:rubric=@rubric.txt,model=gpt-4o-mini,choices=correct:1|incorrect:0,name=intent_judge",
        judge_client=judge_reply,
        base_dir=tmp_path,
    )
    assert isinstance(judge, LLMJudge) and judge.name == "intent_judge"
    assert judge.rubric_template.startswith("Is {{output}}")
    assert judge.choices == {"correct": 1.0, "incorrect": 0.0}
    assert judge.evaluate(output="card_arrival").score == 1.0
    at_sign = build_evaluator("contains:texts=@@user|@team", base_dir=tmp_path)
    assert isinstance(at_sign, Contains) and at_sign.texts == ["@user", "@team"]
    with pytest.raises(EvaluatorInvalid, match=r"option 'schema': cannot read the file 'missing\.json'"):
        build_evaluator("json_schema:schema=@missing.json", base_dir=tmp_path)
    (tmp_path / "big.json").write_bytes(b" " * (1024 * 1024 + 1))
    with pytest.raises(EvaluatorInvalid, match=r"the file 'big\.json' is larger than 1 MiB"):
        build_evaluator("json_schema:schema=@big.json", base_dir=tmp_path)
    (tmp_path / "latin1.txt").write_bytes(b"caf\xe9 {{output}}")
    with pytest.raises(EvaluatorInvalid, match=r"cannot read the file 'latin1\.txt'.*utf-8"):
        build_evaluator("judge:rubric=@latin1.txt,model=m", judge_client=judge_reply, base_dir=tmp_path)


def test_judge_provider_option() -> None:
    clients = {"local": judge_reply}

    def client_for(name: str) -> Any:
        if name not in clients:
            raise LookupError(f"unknown provider {name!r}; configured providers: local")
        return clients[name]

    spec = "judge:rubric=Grade {{output}},model=smollm2-135m,provider=local,choices=correct:1|incorrect:0"
    judge = build_evaluator(spec, judge_provider=client_for)
    assert judge.evaluate(output="x").label == "correct"
    with pytest.raises(
        EvaluatorInvalid, match="provider 'cloud' cannot be used: unknown provider 'cloud'; configured providers: local"
    ):
        build_evaluator(spec.replace("local", "cloud"), judge_provider=client_for)
    with pytest.raises(EvaluatorInvalid, match="asks for provider 'local', but no providers are available here"):
        build_evaluator(spec, judge_client=judge_reply)


def test_judge_needs_a_client_and_takes_a_default_model() -> None:
    with pytest.raises(EvaluatorInvalid, match="the judge evaluator needs a model client"):
        build_evaluator("judge:rubric=Grade {{output}},model=m")
    judge = build_evaluator(
        "judge:rubric=Grade {{output}},score_range=1..5,pass_threshold=4",
        judge_client=judge_reply,
        judge_model="smollm2-135m",
    )
    assert isinstance(judge, LLMJudge)
    assert (judge.model, judge.score_range, judge.pass_threshold) == ("smollm2-135m", (1.0, 5.0), 4.0)


@pytest.fixture
def user_module(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "team_evals.py").write_text(
        "from replay.evaluators import BaseEvaluator, EvaluationResult, ExactMatch\n"
        "def polite(output):\n"
        "    return 'please' in output\n"
        "def score(output, expected):\n"
        "    return len(output) / 10\n"
        "strict = ExactMatch(name='strict', strip=False)\n"
        "class Short(BaseEvaluator):\n"
        "    def __init__(self):\n"
        "        super().__init__(name='short')\n"
        "    def judge(self, *, input, output, expected, metadata):\n"
        "        return EvaluationResult(name=self.name, passed=len(output) < 5)\n"
        "class NeedsArgs(BaseEvaluator):\n"
        "    def __init__(self, limit):\n"
        "        super().__init__(name='needs')\n"
        "broken = 1 / 0 if False else None\n"
    )
    (tmp_path / "broken_evals.py").write_text("raise RuntimeError('bad import')\n")
    yield tmp_path
    for name in ("team_evals", "broken_evals"):
        sys.modules.pop(name, None)


def test_python_targets(user_module: Path) -> None:
    polite = build_evaluator("python:team_evals:polite", base_dir=user_module)
    assert isinstance(polite, FunctionEvaluator) and polite.evaluate(output="please").passed is True
    scored = build_evaluator("python:team_evals:score,name=length,threshold=0.5", base_dir=user_module)
    assert scored.name == "length" and scored.evaluate(output="123456", expected=None).passed is True
    assert build_evaluator("python:team_evals:strict", base_dir=user_module).name == "strict"
    assert build_evaluator("python:team_evals:Short", base_dir=user_module).evaluate(output="hi").passed is True
    assert str(user_module) not in sys.path  # the import path is restored


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("python:no_such_module:f", "cannot import module 'no_such_module' for evaluator python:no_such_module:f"),
        ("python:broken_evals:f", "cannot import module 'broken_evals'.*bad import"),
        ("python:team_evals:missing", "module 'team_evals' has no 'missing'"),
        ("python:team_evals:broken", "an evaluator must be a callable or an Evaluator, not NoneType"),
        ("python:team_evals:NeedsArgs", "cannot build python:team_evals:NeedsArgs with no arguments"),
        ("python:team_evals:strict,name=x", "already an evaluator"),
        (
            "python:team_evals:polite,field=x",
            "evaluator 'python' has no option 'field'; its options are name, threshold",
        ),
    ],
)
def test_python_target_errors(user_module: Path, spec: str, message: str) -> None:
    with pytest.raises(EvaluatorInvalid, match=message):
        build_evaluator(spec, base_dir=user_module)
