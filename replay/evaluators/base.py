"""The row-evaluator protocol, the base class of the built-ins, and the adapter for user callables.

Contract of every evaluator: ``evaluate(*, input, output, expected, metadata)`` (and its ``aevaluate`` twin)
returns an :class:`EvaluationResult` and never raises because of the row: whatever goes wrong while judging
(the evaluator raised, returned nonsense, a judge call failed) comes back as a result with ``error`` set, so
one bad row cannot stop an experiment. Configuration errors surface earlier, when the evaluator is built, as
:class:`~replay.errors.EvaluatorInvalid`.
"""

from __future__ import annotations

import asyncio
import inspect
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal, Protocol, runtime_checkable

from replay.errors import EvaluatorFailed, EvaluatorInvalid
from replay.evaluators.extract import FieldMissing, FieldPath, pick, unwrap
from replay.evaluators.result import EvaluationResult, coerce_result

__all__ = [
    "ROW_ARGUMENTS",
    "AnnotatorKind",
    "BaseEvaluator",
    "Evaluator",
    "FieldEvaluator",
    "FunctionEvaluator",
    "as_evaluator",
    "check_name",
    "describe",
    "is_async_callable",
    "run_sync",
]

AnnotatorKind = Literal["HUMAN", "LLM", "CODE"]
ROW_ARGUMENTS = ("input", "output", "expected", "metadata")
_MAX_NAME = 200


@runtime_checkable
class Evaluator(Protocol):
    """What an experiment needs of an evaluator: a name, who it is (for annotations) and the two entry points."""

    name: str
    annotator_kind: AnnotatorKind

    def evaluate(
        self, *, input: Any = None, output: Any, expected: Any = None, metadata: Mapping[str, Any] | None = None
    ) -> EvaluationResult: ...

    async def aevaluate(
        self, *, input: Any = None, output: Any, expected: Any = None, metadata: Mapping[str, Any] | None = None
    ) -> EvaluationResult: ...


def check_name(name: object) -> str:
    """An evaluator name: 1 to 200 characters, not blank (it becomes an annotation name)."""
    if not isinstance(name, str) or not name.strip() or len(name) > _MAX_NAME:
        raise EvaluatorInvalid(f"an evaluator name must be a non-blank text of at most {_MAX_NAME} characters")
    return name


def describe(error: BaseException) -> str:
    """An exception as the ``error`` text of a result: our own errors by message, others with their type."""
    if isinstance(error, EvaluatorFailed):
        return str(error)
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


class BaseEvaluator(ABC):
    """Base of the built-in evaluators: subclasses implement :meth:`judge`; this class isolates its errors."""

    annotator_kind: AnnotatorKind = "CODE"
    # Whether :meth:`aevaluate` hands :meth:`evaluate` to a worker thread. A thread only helps code that waits
    # (I/O, a lock); pure-Python computation holds the GIL either way, and the hand-off costs more than a
    # built-in comparison (~60 µs of a run's CPU at experiment rates).
    runs_in_thread: bool = True

    def __init__(self, *, name: str) -> None:
        self.name = check_name(name)

    @abstractmethod
    def judge(self, *, input: Any, output: Any, expected: Any, metadata: Mapping[str, Any]) -> EvaluationResult:
        """Judge one row; may raise (the caller turns any exception into an errored result)."""

    def evaluate(
        self, *, input: Any = None, output: Any, expected: Any = None, metadata: Mapping[str, Any] | None = None
    ) -> EvaluationResult:
        try:
            return self.judge(input=input, output=output, expected=expected, metadata=metadata or {})
        except Exception as error:
            return EvaluationResult.failure(self.name, describe(error))

    async def aevaluate(
        self, *, input: Any = None, output: Any, expected: Any = None, metadata: Mapping[str, Any] | None = None
    ) -> EvaluationResult:
        """Runs :meth:`evaluate`, in a worker thread (see :attr:`runs_in_thread`) so that an evaluator that waits
        does not hold up the event loop."""
        if not self.runs_in_thread:
            return self.evaluate(input=input, output=output, expected=expected, metadata=metadata)
        return await asyncio.to_thread(self.evaluate, input=input, output=output, expected=expected, metadata=metadata)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class FieldEvaluator(BaseEvaluator):
    """A code evaluator comparing one value of the output with one value of the expected output.

    Both values are first reduced from OpenAI message shapes to their content (:func:`unwrap`). ``field`` picks
    the judged value out of a structured output (see :class:`FieldPath`); ``expected_field`` (default: the same
    path) picks the reference out of a structured expected value — a plain expected value (a string or number)
    is used whole. An output without the field *fails* (the model left it out); an expected value without it
    is an *error* (the dataset is at fault, not the model).
    """

    runs_in_thread = False  # the built-in comparisons compute and never wait

    def __init__(self, *, name: str, field: str | None = None, expected_field: str | None = None) -> None:
        super().__init__(name=name)
        self.field = None if field is None else FieldPath.parse(field)
        self.expected_field = self.field if expected_field is None else FieldPath.parse(expected_field)

    @abstractmethod
    def compare(self, output: Any, expected: Any) -> EvaluationResult:
        """Judge the picked values."""

    def judge(self, *, input: Any, output: Any, expected: Any, metadata: Mapping[str, Any]) -> EvaluationResult:
        try:
            value = pick(output, self.field)
        except FieldMissing as missing:
            return self.fail(f"the output has no such field: {missing}")
        return self.compare(value, self.pick_expected(expected))

    def pick_expected(self, expected: Any) -> Any:
        """The reference value: unwrapped from message shapes, then picked by ``expected_field`` when structured."""
        if self.expected_field is None or isinstance(expected, str | int | float | bool) or expected is None:
            return unwrap(expected)
        try:
            return pick(expected, self.expected_field)
        except FieldMissing as missing:
            raise EvaluatorFailed(f"the expected value has no such field: {missing}") from None

    def passes(self, explanation: str | None = None, *, score: float = 1.0, **metadata: Any) -> EvaluationResult:
        return EvaluationResult(name=self.name, score=score, passed=True, explanation=explanation, metadata=metadata)

    def fail(self, explanation: str, *, score: float = 0.0, **metadata: Any) -> EvaluationResult:
        return EvaluationResult(name=self.name, score=score, passed=False, explanation=explanation, metadata=metadata)


class FunctionEvaluator(BaseEvaluator):
    """A user callable as an evaluator: it gets only those of ``input, output, expected, metadata`` it names.

    The callable may be sync or async and return anything :func:`coerce_result` accepts; a ``**kwargs``
    parameter receives all four. ``threshold`` gives bare numeric scores a pass/fail view.
    """

    def __init__(
        self,
        function: Callable[..., Any],
        *,
        name: str | None = None,
        threshold: float | None = None,
        annotator_kind: AnnotatorKind = "CODE",
    ) -> None:
        super().__init__(name=name or str(getattr(function, "__name__", type(function).__name__)))
        self.function = function
        self.threshold = threshold
        self.annotator_kind = annotator_kind
        self._positional, self._keywords = _wanted_arguments(function, self.name)
        self._is_async = is_async_callable(function)

    def _call(self, row: Mapping[str, Any]) -> Any:
        args = [row[key] for key in self._positional]
        return self.function(*args, **{key: row[key] for key in self._keywords})

    def judge(self, *, input: Any, output: Any, expected: Any, metadata: Mapping[str, Any]) -> EvaluationResult:
        row = {"input": input, "output": output, "expected": expected, "metadata": metadata}
        value = self._call(row)
        if inspect.isawaitable(value):
            value = run_sync(value, what=f"evaluator {self.name!r}")
        return coerce_result(value, name=self.name, threshold=self.threshold)

    async def aevaluate(
        self, *, input: Any = None, output: Any, expected: Any = None, metadata: Mapping[str, Any] | None = None
    ) -> EvaluationResult:
        if not self._is_async:
            return await super().aevaluate(input=input, output=output, expected=expected, metadata=metadata)
        row = {"input": input, "output": output, "expected": expected, "metadata": metadata or {}}
        try:
            return coerce_result(await self._call(row), name=self.name, threshold=self.threshold)
        except Exception as error:
            return EvaluationResult.failure(self.name, describe(error))


def as_evaluator(
    evaluator: Evaluator | Callable[..., Any], *, name: str | None = None, threshold: float | None = None
) -> Evaluator:
    """An :class:`Evaluator` as-is, or any callable wrapped in a :class:`FunctionEvaluator`."""
    if isinstance(evaluator, Evaluator):
        if name is not None or threshold is not None:
            raise EvaluatorInvalid(
                f"{evaluator!r} is already an evaluator; set its name and threshold where it is built"
            )
        return evaluator
    if not callable(evaluator):
        raise EvaluatorInvalid(f"an evaluator must be a callable or an Evaluator, not {type(evaluator).__name__}")
    return FunctionEvaluator(evaluator, name=name, threshold=threshold)


def _wanted_arguments(function: Callable[..., Any], name: str) -> tuple[list[str], list[str]]:
    """Which row arguments the callable takes: (passed positionally, passed by keyword)."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError) as error:
        raise EvaluatorInvalid(f"cannot read the parameters of evaluator {name!r}: {error}") from None
    positional: list[str] = []
    keywords: list[str] = []
    for parameter in parameters:
        if parameter.kind is parameter.VAR_KEYWORD:
            keywords.extend(key for key in ROW_ARGUMENTS if key not in positional and key not in keywords)
        elif parameter.kind is parameter.VAR_POSITIONAL:
            continue
        elif parameter.name in ROW_ARGUMENTS:
            (positional if parameter.kind is parameter.POSITIONAL_ONLY else keywords).append(parameter.name)
        elif parameter.default is parameter.empty:
            raise EvaluatorInvalid(
                f"evaluator {name!r} asks for {parameter.name!r}; an evaluator may take any of "
                f"{', '.join(ROW_ARGUMENTS)} (by these names)"
            )
        elif parameter.kind is parameter.POSITIONAL_ONLY:
            raise EvaluatorInvalid(
                f"evaluator {name!r} has the positional-only parameter {parameter.name!r}, which would shift the "
                "row arguments; make it keyword-only"
            )
    return positional, keywords


def is_async_callable(function: object) -> bool:
    """Whether calling ``function`` gives a coroutine: an async function (also behind ``functools.wraps``
    decorators, as the ``openai`` client's methods are), or an object with an async ``__call__``."""
    if inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(type(function).__call__):
        return True
    return callable(function) and inspect.iscoroutinefunction(inspect.unwrap(function))


def run_sync(value: Awaitable[Any], *, what: str) -> Any:
    """Await ``value`` from sync code: in a fresh event loop, or :class:`EvaluatorFailed` inside a running one."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_await(value))
    if inspect.iscoroutine(value):
        value.close()  # never awaited: close it so Python does not warn about it
    raise EvaluatorFailed(f"{what} is async and was called from a running event loop; use aevaluate")


async def _await(value: Awaitable[Any]) -> Any:
    return await value
