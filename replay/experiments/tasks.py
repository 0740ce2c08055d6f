"""What an experiment runs on each example: a prompt version called through a provider, or a Python callable.

:class:`PromptTask` fills a prompt version's template with the example's ``input`` as the variables, applies
model/parameter overrides exactly as a replay does (:func:`replay.rebuild.build_request`) and makes one
chat-completion call through :class:`~replay.experiments.chat_client.ChatClient` (aiohttp; no retries of its own:
the runner retries).
Its output is the reply's text, or the assistant message (``role``, ``content``, ``tool_calls``) when the
model called tools.

:class:`FunctionTask` wraps ``task(input)`` or ``task(input, config)``, sync or async, for users with their own
pipeline. A sync callable runs in a worker thread (with the run's tracing context, so spans it makes are
children of the run's span); it may return :class:`TaskOutput` to report tokens and cost.

Both implement :class:`Task`: ``await task.run(example, labels, tracer)`` → :class:`TaskOutput`, raising on
failure (the runner decides whether to retry, see :mod:`replay.experiments.retry`); ``await task.aclose()``
when the experiment ends.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, replace
from typing import Any, Protocol, runtime_checkable

from pydantic import ValidationError

from collector.normalize.pricing import estimate_cost
from replay.datasets.models import Example
from replay.errors import InvalidInput, ProviderError
from replay.evaluators.base import is_async_callable
from replay.experiments.chat_client import ChatClient
from replay.experiments.models import TaskConfig
from replay.experiments.tracing import ExperimentTracer, RunLabels
from replay.model_call import ModelOutput, request_body
from replay.overrides import ReplayOverrides
from replay.prompts.models import PromptVersion
from replay.providers import ResolvedProvider
from replay.rebuild import Baseline, ReplayRequest, build_request

__all__ = ["FunctionTask", "PromptTask", "Task", "TaskOutput"]

_MAX_THREADS = 64


@dataclass(frozen=True, slots=True)
class TaskOutput:
    """What one run of a task gave: the output and, where known, latency, tokens, cost and its span.

    A Python task may return one to report usage; ``latency_ms`` is then measured by the runner if left out.
    """

    output: Any
    latency_ms: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost: float | None = None
    trace_id: str | None = None
    span_id: str | None = None


@runtime_checkable
class Task(Protocol):
    """The runner's view of a task (see the module docstring)."""

    config: TaskConfig

    async def run(self, example: Example, labels: RunLabels, tracer: ExperimentTracer | None) -> TaskOutput: ...

    async def aclose(self) -> None: ...


class PromptTask:
    """A prompt version as a task (see the module docstring).

    ``provider`` is the chosen endpoint (:meth:`~replay.providers.ProviderRegistry.resolve`); ``model`` and
    ``parameters`` override the version's (``null`` removes a parameter; ``tools``/``response_format``
    replace those fields). :class:`~replay.errors.InvalidInput` at construction for bad overrides or when
    no model is named anywhere.
    """

    def __init__(
        self,
        version: PromptVersion,
        provider: ResolvedProvider,
        *,
        model: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        prompt_source: str | None = None,
        request_timeout: float = 120.0,
    ) -> None:
        try:
            self._overrides = ReplayOverrides(model=model, parameters=dict(parameters or {}))
        except ValidationError as exc:
            problems = "; ".join(str(error["msg"]) for error in exc.errors())
            raise InvalidInput(f"task overrides: {problems}") from None
        chosen = provider.pick_model(requested=model, preferred=version.model_name, recorded=None)
        if not chosen:
            raise InvalidInput(
                f"no model for {version.ref}: the version names none and provider {provider.provider.name!r} "
                "has no default model; give one (--model)"
            )
        self.version = version
        self.provider = provider
        self.request_timeout = request_timeout
        self.config = TaskConfig(
            kind="prompt",
            prompt=version.ref,
            prompt_source=prompt_source,
            provider=provider.provider.name,
            model=chosen,
            parameters=dict(parameters or {}),
        )
        self._client = ChatClient(provider.provider, timeout=request_timeout)

    def request(self, example: Example) -> ReplayRequest:
        """The call for one example; :class:`~replay.errors.VariablesMissing` names variables its input lacks."""
        baseline = Baseline(subject=f"example {example.id}", kind="LLM", variables=dict(example.input))
        return build_request(baseline, self._overrides, provider=self.provider, prompt=self.version)

    async def run(self, example: Example, labels: RunLabels, tracer: ExperimentTracer | None) -> TaskOutput:
        request = self.request(example)
        body = request_body(request)
        if tracer is None:
            return _task_output(await self._create(body))
        with tracer.model_call(request, labels) as span:
            output = await self._create(body)
            span.record(output)
            return replace(_task_output(output), trace_id=span.trace_id, span_id=span.span_id)

    async def _create(self, body: dict[str, Any]) -> ModelOutput:
        """One chat completion; ``extra_body`` is merged into the JSON as the ``openai`` client would."""
        payload = {key: value for key, value in body.items() if key != "extra_body"}
        payload.update(body.get("extra_body") or {})
        started = time.perf_counter()
        completion = await self._client.create(payload)
        latency_ms = (time.perf_counter() - started) * 1000
        return _model_output(completion, latency_ms, self.provider.provider.name)

    async def aclose(self) -> None:
        await self._client.aclose()


def _model_output(completion: Any, latency_ms: float, provider: str) -> ModelOutput:
    choices = completion.get("choices") if isinstance(completion, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ProviderError(f"provider {provider!r} answered without any choice", provider=provider)
    choice = min(choices, key=lambda c: c.get("index") or 0)
    reply = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    content = reply.get("content")
    message: dict[str, Any] = {"role": reply.get("role") or "assistant", "content": content}
    calls = [call for call in reply.get("tool_calls") or () if isinstance(call, dict)]
    if calls:
        message["tool_calls"] = calls
    usage = completion.get("usage") if isinstance(completion.get("usage"), dict) else {}
    input_tokens, output_tokens = _count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens"))
    model = completion.get("model") if isinstance(completion.get("model"), str) else None
    return ModelOutput(
        messages=[{**message, "finish_reason": choice.get("finish_reason")}],
        text=content if isinstance(content, str) else None,
        tool_calls=calls,
        finish_reason=choice.get("finish_reason"),
        model=model,
        response_id=completion.get("id") if isinstance(completion.get("id"), str) else None,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=_count(usage.get("total_tokens")),
        latency_ms=round(latency_ms, 3),
        cost=estimate_cost(model, input_tokens, output_tokens),
    )


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _task_output(output: ModelOutput) -> TaskOutput:
    value: Any = output.text
    if output.tool_calls:
        value = {"role": "assistant", "content": output.text, "tool_calls": output.tool_calls}
    return TaskOutput(
        output=value,
        latency_ms=output.latency_ms,
        input_tokens=output.input_tokens,
        output_tokens=output.output_tokens,
        cost=output.cost,
    )


class FunctionTask:
    """A Python callable ``task(input)`` or ``task(input, config)`` as a task (see the module docstring)."""

    def __init__(
        self, function: Callable[..., Any], *, config: Mapping[str, Any] | None = None, name: str | None = None
    ) -> None:
        if not callable(function):
            raise InvalidInput(f"a task must be a callable or a PromptTask, not {type(function).__name__}")
        self.function = function
        self.name = name or str(getattr(function, "__name__", type(function).__name__))
        self.task_config = dict(config or {})
        self._takes_config = _takes_config(function, self.name)
        self._is_async = is_async_callable(function)
        self._executor: ThreadPoolExecutor | None = None
        self.config = TaskConfig(kind="python", function=self.name, config=self.task_config)

    async def run(self, example: Example, labels: RunLabels, tracer: ExperimentTracer | None) -> TaskOutput:
        args: tuple[Any, ...] = (example.input, dict(self.task_config)) if self._takes_config else (example.input,)
        span_context = tracer.task_call(self.name, example.input, labels) if tracer is not None else nullcontext()
        with span_context as span:
            started = time.perf_counter()
            value = await self._call(args)
            latency_ms = (time.perf_counter() - started) * 1000
            result = value if isinstance(value, TaskOutput) else TaskOutput(output=value)
            if span is not None:
                span.record(result.output)
                result = replace(result, trace_id=span.trace_id, span_id=span.span_id)
        return result if result.latency_ms is not None else replace(result, latency_ms=round(latency_ms, 3))

    async def _call(self, args: tuple[Any, ...]) -> Any:
        if self._is_async:
            return await self.function(*args)
        if self._executor is None:
            self._executor = ThreadPoolExecutor(_MAX_THREADS, thread_name_prefix="spanlab-experiment-task")
        call = functools.partial(contextvars.copy_context().run, self.function, *args)
        value = await asyncio.get_running_loop().run_in_executor(self._executor, call)
        if inspect.isawaitable(value):  # a sync wrapper that returned a coroutine
            value = await value
        return value

    async def aclose(self) -> None:
        if self._executor is not None:
            # a timed-out call may still be running in its thread: do not wait for it
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None


def _takes_config(function: Callable[..., Any], name: str) -> bool:
    """Whether ``function`` takes ``(input, config)`` rather than ``(input)``."""
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError) as error:
        raise InvalidInput(f"cannot read the parameters of task {name!r}: {error}") from None
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    required += [p for p in parameters if p.kind is p.KEYWORD_ONLY and p.default is p.empty]
    variadic = any(p.kind is p.VAR_POSITIONAL for p in parameters)
    if len(required) > 2 or (not positional and not variadic):
        shown = ", ".join(map(str, parameters))
        raise InvalidInput(f"task {name!r} must take (input) or (input, config); it takes ({shown})")
    return variadic or len(positional) >= 2
