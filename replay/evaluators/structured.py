"""Evaluators of structured outputs and numbers: valid JSON, JSON schema, numeric tolerance."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator, exceptions, validators

from replay.errors import EvaluatorFailed, EvaluatorInvalid
from replay.evaluators.base import FieldEvaluator
from replay.evaluators.jsonvalue import load_json
from replay.evaluators.result import EvaluationResult
from replay.evaluators.text import quote

__all__ = ["JSONSchemaMatch", "NumericTolerance", "ValidJSON", "parse_number"]

_MESSAGE_LIMIT = 300
_LISTED_ERRORS = 10
_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|[-+]?\.\d+")


class ValidJSON(FieldEvaluator):
    """The output is JSON (a structured output is JSON already). A code fence around it fails unless allowed."""

    def __init__(self, *, name: str = "valid_json", field: str | None = None, allow_code_fence: bool = False) -> None:
        super().__init__(name=name, field=field)
        self.allow_code_fence = allow_code_fence

    def compare(self, output: Any, expected: Any) -> EvaluationResult:
        if not isinstance(output, str | bytes):
            return self.passes() if output is not None else self.fail("the output is empty, not JSON")
        try:
            load_json(output) if self.allow_code_fence else json.loads(output)
        except ValueError as error:
            hint = "" if self.allow_code_fence or "```" not in output else " (it is wrapped in a code fence)"
            return self.fail(f"the output is not valid JSON: {error}{hint}; got {quote(output)}")
        return self.passes()


class JSONSchemaMatch(FieldEvaluator):
    """The output, parsed as JSON, validates against ``schema``; a failure names the failing path and rule.

    The schema's ``$schema`` picks the draft (default 2020-12); the schema is checked when the evaluator is built.
    """

    def __init__(
        self, schema: Mapping[str, Any] | bool, *, name: str = "json_schema", field: str | None = None
    ) -> None:
        super().__init__(name=name, field=field)
        if not isinstance(schema, Mapping | bool):
            raise EvaluatorInvalid(f"{name}: a JSON schema must be an object, not {type(schema).__name__}")
        schema = dict(schema) if isinstance(schema, Mapping) else schema
        validator_class = validators.validator_for(schema, default=Draft202012Validator)
        try:
            validator_class.check_schema(schema)
        except exceptions.SchemaError as error:
            where = error.json_path if hasattr(error, "json_path") else "$"
            raise EvaluatorInvalid(f"{name}: the schema itself is invalid at {where}: {_cut(error.message)}") from None
        self.schema = schema
        self.validator = validator_class(schema)

    def compare(self, output: Any, expected: Any) -> EvaluationResult:
        try:
            instance = load_json(output)
        except ValueError as error:
            return self.fail(f"the output is not valid JSON ({error}); got {quote(output)}")
        errors = list(self.validator.iter_errors(instance))
        if not errors:
            return self.passes()
        best = exceptions.best_match(errors)
        more = f" (and {len(errors) - 1} more error{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
        listed = [{"path": error.json_path, "message": _cut(error.message)} for error in errors[:_LISTED_ERRORS]]
        return self.fail(f"at {best.json_path}: {_cut(best.message)}{more}", errors=listed)


class NumericTolerance(FieldEvaluator):
    """The output is a number within tolerance of the expected one: ``|got - want| <= max(abs_tol, rel_tol * |want|)``.

    The output may be a number or text holding just a number (``"1,234.5"`` reads as 1234.5); with
    ``find_number=True`` the first number in a longer text counts ("The answer is 42." → 42).
    """

    def __init__(
        self,
        *,
        abs_tol: float = 0.0,
        rel_tol: float = 1e-9,
        find_number: bool = False,
        name: str = "numeric",
        field: str | None = None,
        expected_field: str | None = None,
    ) -> None:
        super().__init__(name=name, field=field, expected_field=expected_field)
        for option, value in (("abs_tol", abs_tol), ("rel_tol", rel_tol)):
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise EvaluatorInvalid(f"{name}: {option} must be a finite number ≥ 0, not {value!r}")
        self.abs_tol = float(abs_tol)
        self.rel_tol = float(rel_tol)
        self.find_number = find_number

    def compare(self, output: Any, expected: Any) -> EvaluationResult:
        want = parse_number(expected, find=False)
        if want is None:
            raise EvaluatorFailed(f"{self.name}: the expected value {quote(expected)} is not a number")
        got = parse_number(output, find=self.find_number)
        if got is None:
            where = "holds no number" if self.find_number else "is not a number"
            return self.fail(f"the output {quote(output)} {where}; expected {want:g}")
        allowed = max(self.abs_tol, self.rel_tol * abs(want))
        difference = abs(got - want)
        if difference <= allowed:
            return self.passes(difference=difference)
        return self.fail(
            f"expected {want:g} ± {allowed:g}, got {got:g} (off by {difference:g})",
            difference=difference,
        )


def parse_number(value: Any, *, find: bool) -> float | None:
    """A finite number from a number or a text (thousands commas allowed); the first in the text with ``find``."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    match = _NUMBER.search(text) if find else _NUMBER.fullmatch(text)
    if match is None:
        return None
    number = float(match.group(0).replace(",", ""))
    return number if math.isfinite(number) else None


def _cut(message: str) -> str:
    return message if len(message) <= _MESSAGE_LIMIT else message[:_MESSAGE_LIMIT] + "…"
