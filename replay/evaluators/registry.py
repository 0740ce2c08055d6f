"""Evaluators by name, for the CLI and config files: ``--evaluator NAME[:key=value,...]``.

Spec syntax::

    exact_match
    exact_match:case_insensitive=true,field=intent
    regex:pattern=^\\d{1,3}$,mode=fullmatch
    json_schema:schema=@schema.json
    judge:rubric=@rubric.txt,model=gpt-4o-mini,choices=correct:1|incorrect:0
    python:my_evals:tone_is_polite            (a callable or Evaluator in an importable module)

Options are separated by commas; a comma only separates when ``key=`` follows it, so values such as
``{1,3}`` need no quoting. A value ``@path`` is the content of that file (relative to ``base_dir``, default
the current directory); ``@@`` starts a value with a literal ``@``. Booleans are true/false/yes/no/1/0, lists
are separated by ``|``, ``choices`` are ``label:score|label:score`` and ``score_range`` is ``low..high``.
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from replay.errors import EvaluatorInvalid
from replay.evaluators.base import Evaluator, as_evaluator
from replay.evaluators.classification import Classification
from replay.evaluators.judge import LLMJudge
from replay.evaluators.structured import JSONSchemaMatch, NumericTolerance, ValidJSON
from replay.evaluators.text import Contains, ExactMatch, Regex, StringSimilarity

__all__ = ["EVALUATORS", "EvaluatorKind", "EvaluatorSpec", "build_evaluator", "parse_evaluator_spec"]

_SPLIT = re.compile(r",(?=\s*[A-Za-z_][A-Za-z0-9_]*\s*=)")
_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_MAX_FILE_BYTES = 1024 * 1024
_TRUE, _FALSE = {"true", "yes", "1", "on"}, {"false", "no", "0", "off"}


@dataclass(frozen=True)
class EvaluatorSpec:
    """A parsed spec: the evaluator name, its raw options and, for ``python``, the ``module:attribute`` target."""

    name: str
    options: dict[str, str] = field(default_factory=dict)
    target: str | None = None


@dataclass(frozen=True)
class EvaluatorKind:
    """A named evaluator: how to build it, its options (name → kind) and which are required."""

    build: Callable[..., Evaluator]
    options: Mapping[str, str]
    required: frozenset[str] = frozenset()
    summary: str = ""


_FIELD = {"name": "text", "field": "text", "expected_field": "text"}
_NORMALIZE = {"case_insensitive": "bool", "strip": "bool", "collapse_whitespace": "bool", "strip_punctuation": "bool"}
EVALUATORS: dict[str, EvaluatorKind] = {
    "exact_match": EvaluatorKind(ExactMatch, {**_FIELD, **_NORMALIZE, "json": "bool"}, summary="output = expected"),
    "contains": EvaluatorKind(
        Contains, {**_FIELD, "texts": "texts", "mode": "text", "case_insensitive": "bool"}, summary="output contains"
    ),
    "regex": EvaluatorKind(
        Regex,
        {
            "name": "text",
            "field": "text",
            "pattern": "text",
            "mode": "text",
            "ignore_case": "bool",
            "multiline": "bool",
        },
        frozenset({"pattern"}),
        "output matches a regular expression",
    ),
    "valid_json": EvaluatorKind(
        ValidJSON, {"name": "text", "field": "text", "allow_code_fence": "bool"}, summary="output is JSON"
    ),
    "json_schema": EvaluatorKind(
        JSONSchemaMatch,
        {"name": "text", "field": "text", "schema": "json"},
        frozenset({"schema"}),
        "output fits a schema",
    ),
    "similarity": EvaluatorKind(
        StringSimilarity,
        {**_FIELD, "method": "text", "threshold": "float", "case_insensitive": "bool", "collapse_whitespace": "bool"},
        summary="string similarity to expected ≥ threshold",
    ),
    "numeric": EvaluatorKind(
        NumericTolerance,
        {**_FIELD, "abs_tol": "float", "rel_tol": "float", "find_number": "bool"},
        summary="number within tolerance of expected",
    ),
    "classification": EvaluatorKind(
        Classification, {**_FIELD, "labels": "texts", "case_insensitive": "bool"}, summary="label = expected label"
    ),
    "judge": EvaluatorKind(
        LLMJudge,
        {
            "name": "text",
            "rubric": "text",
            "model": "text",
            "choices": "choices",
            "score_range": "range",
            "pass_threshold": "float",
            "response_format": "text",
            "temperature": "float",
            "max_tokens": "int",
            "system_prompt": "text",
            "provider": "text",
        },
        frozenset({"rubric", "model"}),
        "an LLM grades the output with a rubric",
    ),
}
_PYTHON_OPTIONS = {"name": "text", "threshold": "float"}


def parse_evaluator_spec(text: str) -> EvaluatorSpec:
    """Split a spec into name, options and target; :class:`EvaluatorInvalid` for anything malformed."""
    if not isinstance(text, str) or not text.strip():
        raise EvaluatorInvalid("an evaluator spec is empty; write e.g. exact_match or regex:pattern=^\\d+$")
    name, _, rest = text.strip().partition(":")
    name = name.strip()
    target = None
    if name == "python":
        target, _, rest = rest.partition(",")
        if not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*", target.strip()):
            raise EvaluatorInvalid(
                f"bad evaluator spec {text!r}: write python:module:function, e.g. python:my_evals:polite"
            )
        target = target.strip()
    elif name not in EVALUATORS:
        known = ", ".join([*EVALUATORS, "python"])
        raise EvaluatorInvalid(f"unknown evaluator {name!r} in {text!r}; known evaluators: {known}")
    options: dict[str, str] = {}
    for item in _SPLIT.split(rest) if rest.strip() else []:
        key, equals, value = item.partition("=")
        key = key.strip()
        if not equals or not _NAME.fullmatch(key):
            raise EvaluatorInvalid(f"bad option {item!r} in evaluator spec {text!r}: write key=value")
        if key in options:
            raise EvaluatorInvalid(f"option {key!r} is given twice in evaluator spec {text!r}")
        if not value:
            raise EvaluatorInvalid(f"option {key!r} in evaluator spec {text!r} has no value")
        options[key] = value
    return EvaluatorSpec(name=name, options=options, target=target)


def build_evaluator(
    spec: str | EvaluatorSpec,
    *,
    judge_client: Any = None,
    judge_model: str | None = None,
    judge_provider: Callable[[str], Any] | None = None,
    base_dir: Path | None = None,
) -> Evaluator:
    """The evaluator a spec describes.

    ``judge`` needs a model client: ``judge_client`` (an OpenAI-compatible client or callable), or, when the
    spec says ``provider=NAME``, ``judge_provider(NAME)`` (e.g. a client for a configured provider, such as the
    local model). ``judge_model`` is the model when the spec names none. ``python`` targets are imported with
    ``base_dir`` (default: the current directory) on the import path, as ``python -m`` would have it.
    """
    parsed = parse_evaluator_spec(spec) if isinstance(spec, str) else spec
    base = base_dir if base_dir is not None else Path.cwd()
    if parsed.target is not None:
        options = _convert(parsed, _PYTHON_OPTIONS, base)
        return as_evaluator(_import_target(parsed.target, base), **options)
    kind = EVALUATORS[parsed.name]
    options = _convert(parsed, kind.options, base)
    if parsed.name == "judge" and judge_model and "model" not in options:
        options["model"] = judge_model
    missing = sorted(kind.required - options.keys())
    if missing:
        raise EvaluatorInvalid(
            f"evaluator {parsed.name!r} needs option{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
        )
    if parsed.name == "judge":
        options["client"] = _judge_client(options.pop("provider", None), judge_client, judge_provider)
    positional = [options.pop(key) for key in ("texts", "pattern", "schema", "rubric") if key in options]
    return kind.build(*positional, **options)


def _judge_client(provider: str | None, client: Any, client_for: Callable[[str], Any] | None) -> Any:
    if provider is None:
        if client is None:
            raise EvaluatorInvalid("the judge evaluator needs a model client; configure a provider for the judge")
        return client
    if client_for is None:
        raise EvaluatorInvalid(f"the judge asks for provider {provider!r}, but no providers are available here")
    try:
        return client_for(provider)
    except Exception as error:
        raise EvaluatorInvalid(f"the judge's provider {provider!r} cannot be used: {error}") from None


def _convert(spec: EvaluatorSpec, kinds: Mapping[str, str], base: Path) -> dict[str, Any]:
    converted: dict[str, Any] = {}
    for key, raw in spec.options.items():
        if key not in kinds:
            raise EvaluatorInvalid(
                f"evaluator {spec.name!r} has no option {key!r}; its options are {', '.join(sorted(kinds))}"
            )
        value = _read_value(raw, key, base)
        try:
            converted[key] = _CONVERTERS[kinds[key]](value)
        except ValueError as error:
            raise EvaluatorInvalid(f"option {key!r} of evaluator {spec.name!r}: {error}") from None
    return converted


def _read_value(raw: str, key: str, base: Path) -> str:
    if raw.startswith("@@"):
        return raw[1:]
    if not raw.startswith("@"):
        return raw
    path = base / raw[1:]
    try:
        if path.stat().st_size > _MAX_FILE_BYTES:
            raise EvaluatorInvalid(f"option {key!r}: the file {raw[1:]!r} is larger than 1 MiB")
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise EvaluatorInvalid(f"option {key!r}: cannot read the file {raw[1:]!r}: {error}") from None


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE | _FALSE:
        return lowered in _TRUE
    raise ValueError(f"expected true or false, not {value!r}")


def _number(kind: type[int] | type[float]) -> Callable[[str], float]:
    def convert(value: str) -> float:
        try:
            return kind(value.strip())
        except ValueError:
            raise ValueError(f"expected {'an integer' if kind is int else 'a number'}, not {value!r}") from None

    return convert


def _texts(value: str) -> list[str]:
    return [item for item in value.split("|") if item]


def _json(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError as error:
        raise ValueError(f"not valid JSON ({error})") from None


def _choices(value: str) -> dict[str, float]:
    choices: dict[str, float] = {}
    for item in value.split("|"):
        label, colon, score = item.rpartition(":")
        if not colon or not label.strip():
            raise ValueError(f"write label:score|label:score, e.g. correct:1|incorrect:0, not {value!r}")
        choices[label.strip()] = _number(float)(score)
    return choices


def _range(value: str) -> tuple[float, float]:
    low, dots, high = value.partition("..")
    if not dots:
        raise ValueError(f"write low..high, e.g. 1..5, not {value!r}")
    return _number(float)(low), _number(float)(high)


_CONVERTERS: dict[str, Callable[[str], Any]] = {
    "text": str,
    "bool": _bool,
    "float": _number(float),
    "int": _number(int),
    "texts": _texts,
    "json": _json,
    "choices": _choices,
    "range": _range,
}


def _import_target(target: str, base: Path) -> Any:
    module_name, _, attribute = target.partition(":")
    added = str(base) not in sys.path
    if added:
        sys.path.insert(0, str(base))
    try:
        module = importlib.import_module(module_name)
    except Exception as error:
        raise EvaluatorInvalid(f"cannot import module {module_name!r} for evaluator python:{target}: {error}") from None
    finally:
        if added:
            sys.path.remove(str(base))
    value: Any = module
    for part in attribute.split("."):
        if not hasattr(value, part):
            raise EvaluatorInvalid(f"module {module_name!r} has no {attribute!r} (evaluator python:{target})")
        value = getattr(value, part)
    if inspect.isclass(value):  # an evaluator class: built with its defaults
        try:
            value = value()
        except Exception as error:
            raise EvaluatorInvalid(f"cannot build python:{target} with no arguments: {error}") from None
    return value
