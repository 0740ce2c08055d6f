"""Text evaluators: exact match, contains, regex and string similarity.

All compare the output's text (see :func:`~replay.evaluators.extract.as_text`; a ``field`` picks a value out of
a structured output first) and fail with an explanation that quotes what was expected and what came back.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from rapidfuzz import fuzz
from rapidfuzz.distance import Indel, JaroWinkler, Levenshtein

from replay.errors import EvaluatorFailed, EvaluatorInvalid
from replay.evaluators.base import FieldEvaluator
from replay.evaluators.extract import as_text
from replay.evaluators.jsonvalue import canonical_json, first_difference, load_json
from replay.evaluators.result import EvaluationResult

__all__ = ["SIMILARITY_METHODS", "Contains", "ExactMatch", "Regex", "StringSimilarity", "TextNormalization", "quote"]

_QUOTE_LIMIT = 160
_WHITESPACE = re.compile(r"\s+")

SIMILARITY_METHODS: dict[str, Callable[[str, str], float]] = {
    "levenshtein": lambda a, b: Levenshtein.normalized_similarity(a, b),
    "indel": lambda a, b: Indel.normalized_similarity(a, b),  # difflib's ratio, exactly and fast
    "jaro_winkler": lambda a, b: JaroWinkler.normalized_similarity(a, b),
    "token_sort": lambda a, b: fuzz.token_sort_ratio(a, b) / 100.0,
}


def quote(value: Any) -> str:
    """A value as it is quoted in explanations: its text in quotes, cut at 160 characters."""
    text = as_text(value)
    return repr(text if len(text) <= _QUOTE_LIMIT else text[:_QUOTE_LIMIT] + "…")


@dataclass(frozen=True)
class TextNormalization:
    """How texts are normalized before comparing; :meth:`describe` says it in words for explanations."""

    case_insensitive: bool = False
    strip: bool = True
    collapse_whitespace: bool = False
    strip_punctuation: bool = False

    def apply(self, text: str) -> str:
        if self.strip_punctuation:
            text = "".join(char for char in text if not unicodedata.category(char).startswith("P"))
        if self.collapse_whitespace:
            text = _WHITESPACE.sub(" ", text)
        if self.strip or self.collapse_whitespace:
            text = text.strip()
        return text.casefold() if self.case_insensitive else text

    def describe(self) -> str:
        """The normalization in words, for explanations; stripping, the default, goes without saying."""
        ignored = [
            what
            for what, on in (
                ("case", self.case_insensitive),
                ("repeated whitespace", self.collapse_whitespace),
                ("punctuation", self.strip_punctuation),
            )
            if on
        ]
        return f" (ignoring {', '.join(ignored)})" if ignored else ""


def _needs_expected(name: str, expected: Any) -> Any:
    if expected is None:
        raise EvaluatorFailed(f"{name} needs an expected value and the example has none")
    return expected


class ExactMatch(FieldEvaluator):
    """The output equals the expected value, after normalization; ``json=True`` compares parsed JSON instead.

    JSON comparison is canonical: key order and number spelling (``1`` vs ``1.0``) do not matter, and a
    mismatch names the first differing path.
    """

    def __init__(
        self,
        *,
        name: str = "exact_match",
        field: str | None = None,
        expected_field: str | None = None,
        case_insensitive: bool = False,
        strip: bool = True,
        collapse_whitespace: bool = False,
        strip_punctuation: bool = False,
        json: bool = False,
    ) -> None:
        super().__init__(name=name, field=field, expected_field=expected_field)
        self.normalization = TextNormalization(case_insensitive, strip, collapse_whitespace, strip_punctuation)
        self.json = json

    def compare(self, output: Any, expected: Any) -> EvaluationResult:
        expected = _needs_expected(self.name, expected)
        if self.json:
            return self._compare_json(output, expected)
        if self.normalization.apply(as_text(output)) == self.normalization.apply(as_text(expected)):
            return self.passes()
        return self.fail(f"expected {quote(expected)}, got {quote(output)}{self.normalization.describe()}")

    def _compare_json(self, output: Any, expected: Any) -> EvaluationResult:
        try:
            reference = load_json(expected)
        except ValueError as error:
            raise EvaluatorFailed(f"the expected value is not valid JSON: {error}") from None
        try:
            value = load_json(output)
        except ValueError as error:
            return self.fail(f"the output is not valid JSON ({error}): got {quote(output)}")
        if canonical_json(value) == canonical_json(reference):
            return self.passes()
        where, want, got = first_difference(reference, value)
        return self.fail(f"at {where}: expected {want}, got {got}")


class Contains(FieldEvaluator):
    """The output contains any (or all) of ``texts``; without ``texts``, it contains the expected value."""

    def __init__(
        self,
        texts: Sequence[str] | None = None,
        *,
        mode: Literal["any", "all"] = "any",
        case_insensitive: bool = False,
        name: str = "contains",
        field: str | None = None,
        expected_field: str | None = None,
    ) -> None:
        super().__init__(name=name, field=field, expected_field=expected_field)
        if texts is not None and (
            isinstance(texts, str) or not texts or not all(isinstance(t, str) and t for t in texts)
        ):
            raise EvaluatorInvalid(f"{name}: give a non-empty list of non-empty texts to look for")
        if mode not in ("any", "all"):
            raise EvaluatorInvalid(f"{name}: mode must be 'any' or 'all', not {mode!r}")
        self.texts = None if texts is None else list(texts)
        self.mode = mode
        self.case_insensitive = case_insensitive

    def compare(self, output: Any, expected: Any) -> EvaluationResult:
        wanted = self.texts if self.texts is not None else [as_text(_needs_expected(self.name, expected))]
        fold = str.casefold if self.case_insensitive else str
        text = fold(as_text(output))
        found = [item for item in wanted if fold(item) in text]
        missing = [item for item in wanted if item not in found]
        if found if self.mode == "any" else not missing:
            return self.passes(found=found)
        shown = ", ".join(map(quote, missing))
        explanation = (
            f"the output contains none of {shown}"
            if self.mode == "any"
            else f"the output lacks {shown}" + (f" (found {', '.join(map(quote, found))})" if found else "")
        )
        return self.fail(f"{explanation}; got {quote(output)}", found=found, missing=missing)


class Regex(FieldEvaluator):
    """The output matches ``pattern``: anywhere (``mode="search"``) or as a whole (``mode="fullmatch"``)."""

    def __init__(
        self,
        pattern: str,
        *,
        mode: Literal["search", "fullmatch"] = "search",
        ignore_case: bool = False,
        multiline: bool = False,
        name: str = "regex",
        field: str | None = None,
    ) -> None:
        super().__init__(name=name, field=field)
        if mode not in ("search", "fullmatch"):
            raise EvaluatorInvalid(f"{name}: mode must be 'search' or 'fullmatch', not {mode!r}")
        flags = (re.IGNORECASE if ignore_case else 0) | (re.MULTILINE | re.DOTALL if multiline else 0)
        try:
            self.pattern = re.compile(pattern, flags)
        except (re.error, TypeError) as error:
            raise EvaluatorInvalid(f"{name}: bad regular expression {pattern!r}: {error}") from None
        self.mode = mode

    def compare(self, output: Any, expected: Any) -> EvaluationResult:
        text = as_text(output)
        match = self.pattern.fullmatch(text) if self.mode == "fullmatch" else self.pattern.search(text)
        if match is not None:
            return self.passes(match=match.group(0)[:_QUOTE_LIMIT])
        how = "as a whole" if self.mode == "fullmatch" else "anywhere"
        return self.fail(f"the output does not match /{self.pattern.pattern}/ {how}; got {quote(text)}")


class StringSimilarity(FieldEvaluator):
    """How alike output and expected are, from 0 to 1; passes at ``threshold`` or above.

    Methods: ``levenshtein`` (1 - edit distance / longer length), ``indel`` (difflib's ratio: 2 * matches / total
    length), ``jaro_winkler`` (favours a shared prefix; for short strings such as names) and ``token_sort``
    (indel ratio of the sorted words; word order does not matter).
    """

    def __init__(
        self,
        *,
        method: str = "levenshtein",
        threshold: float = 0.8,
        case_insensitive: bool = False,
        collapse_whitespace: bool = True,
        name: str = "similarity",
        field: str | None = None,
        expected_field: str | None = None,
    ) -> None:
        super().__init__(name=name, field=field, expected_field=expected_field)
        if method not in SIMILARITY_METHODS:
            raise EvaluatorInvalid(f"{name}: unknown method {method!r}; choose one of {', '.join(SIMILARITY_METHODS)}")
        if not 0.0 <= threshold <= 1.0:
            raise EvaluatorInvalid(f"{name}: threshold must be between 0 and 1, not {threshold}")
        self.method = method
        self.threshold = threshold
        self.normalization = TextNormalization(case_insensitive, True, collapse_whitespace, False)

    def compare(self, output: Any, expected: Any) -> EvaluationResult:
        expected = _needs_expected(self.name, expected)
        got, want = self.normalization.apply(as_text(output)), self.normalization.apply(as_text(expected))
        score = round(SIMILARITY_METHODS[self.method](got, want), 6)
        if score >= self.threshold:
            return self.passes(score=score, method=self.method)
        return self.fail(
            f"{self.method} similarity {score:.2f} is below {self.threshold:.2f}: "
            f"expected {quote(expected)}, got {quote(output)}",
            score=score,
            method=self.method,
        )
