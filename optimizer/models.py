"""The built-in model calls: the default task (a prompt run through a provider) and the default
``optimization_task`` (the reasoning model), both through :func:`replay.model_call.call_model` — the ``openai``
client against any OpenAI-compatible provider, the local model included.

- :class:`ProviderTask` — ``task(input, config)``: renders ``config["prompt"]`` (a chat template, or a text sent
  as the system message with the input as the user's) with the example's input and returns the answer's text
  (or the assistant message when the model called tools).
- :class:`ReasoningModel` — ``optimization_task(system_prompt, user_prompt, config)``: sends the reflection
  prompts and returns the answer's text. ``config["reflection_response_format"]`` (set by the loop) asks for
  the proposal's JSON schema; ``response_format="json_object"`` or ``"text"`` is for servers without
  structured outputs.

The task reports tokens, cost and latency as a :class:`~replay.experiments.TaskOutput`, which the experiments
runner records per run; the reasoning model adds its usage to the optimization's
:class:`~optimizer.evaluation.Usage` once the loop binds it. Provider failures raise
:class:`~replay.errors.ProviderError`: a failed task call is an errored run, a failed reasoning call a failed
proposal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from instrumentation.template import render_messages
from optimizer.evaluation import Usage
from optimizer.prompt import as_text
from replay.experiments.tasks import TaskOutput
from replay.model_call import DEFAULT_TIMEOUT_SECONDS, ModelOutput, call_model
from replay.providers import Provider
from replay.rebuild import ReplayRequest

__all__ = ["ProviderTask", "ReasoningModel"]


class _ModelCaller:
    def __init__(
        self,
        provider: Provider,
        model: str,
        *,
        parameters: Mapping[str, Any] | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self.provider = provider
        self.model = model
        self.parameters = dict(parameters or {})
        self.timeout = timeout

    def _call(
        self,
        messages: list[dict[str, Any]],
        *,
        tools: list[dict[str, Any]] | None = None,
        response_format: dict[str, Any] | None = None,
    ) -> ModelOutput:
        request = ReplayRequest(
            provider=self.provider.name,
            base_url=self.provider.base_url,
            model=self.model,
            messages=messages,
            parameters=self.parameters,
            tools=tools,
            response_format=response_format,
            built_from="messages",
        )
        return call_model(self.provider, request, timeout=self.timeout)


class ProviderTask(_ModelCaller):
    """The default task: the candidate prompt filled with the example's input, sent to ``provider``."""

    def __init__(
        self,
        provider: Provider,
        model: str,
        *,
        parameters: Mapping[str, Any] | None = None,
        tools: list[dict[str, Any]] | None = None,
        response_format: dict[str, Any] | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        super().__init__(provider, model, parameters=parameters, timeout=timeout)
        self.tools = tools
        self.response_format = response_format

    def __call__(self, input: dict[str, Any], config: dict[str, Any]) -> TaskOutput:
        prompt = config["prompt"]
        if isinstance(prompt, str):
            messages = [{"role": "system", "content": prompt}, {"role": "user", "content": as_text(input)}]
        else:
            messages = render_messages(prompt, input)
        output = self._call(messages, tools=self.tools, response_format=self.response_format)
        return TaskOutput(
            output=output.messages[0] if output.tool_calls else output.text or "",
            latency_ms=output.latency_ms,
            input_tokens=output.input_tokens,
            output_tokens=output.output_tokens,
            cost=output.cost,
        )


class ReasoningModel(_ModelCaller):
    """The default ``optimization_task``: the reflection prompts sent to ``provider``'s ``model``."""

    def __init__(
        self,
        provider: Provider,
        model: str,
        *,
        parameters: Mapping[str, Any] | None = None,
        response_format: Literal["json_schema", "json_object", "text"] = "json_schema",
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        super().__init__(provider, model, parameters=parameters, timeout=timeout)
        self.response_format = response_format
        self.usage: Usage | None = None

    def bind_usage(self, usage: Usage) -> None:
        """Count this model's tokens and cost in ``usage`` from now on."""
        self.usage = usage

    def __call__(self, system_prompt: str, user_prompt: str, config: dict[str, Any]) -> str:
        wanted = config.get("reflection_response_format")
        response_format: dict[str, Any] | None = None
        if self.response_format == "json_schema" and isinstance(wanted, dict):
            response_format = wanted
        elif self.response_format != "text":
            response_format = {"type": "json_object"}
        messages = [{"role": "system", "content": system_prompt}, {"role": "user", "content": user_prompt}]
        output = self._call(messages, response_format=response_format)
        if self.usage is not None:
            self.usage.tokens("reflection", output.input_tokens, output.output_tokens, output.cost)
        return output.text or ""
