"""Reading a :class:`~optimizer.loop.PromptOptimization`'s ``config`` and filling in the built-in defaults.

``config`` keys the optimizer reads (every other key is passed on to the task untouched):

- ``prompt`` (required): the starting prompt — a :class:`~replay.prompts.models.PromptVersion`, a chat
  template (a list of messages) or a text (the system instruction);
- ``model_name``: the task model; default: the prompt version's model, else the provider's default model;
- ``provider``: the task's provider — a :class:`~replay.providers.Provider`, or a name looked up in
  ``providers``; default: the prompt version's provider when configured, else the registry's default;
- ``parameters``: invocation parameters of the built-in task, over the prompt version's;
- ``runs``: repetitions per example (default 1); an example's score is the mean over its runs;
- ``reflection_model``, ``reflection_provider``, ``reflection_parameters``: the built-in reasoning model;
  default: the task's provider and model;
- ``reflection_format``: ``json_schema`` (default), ``json_object`` or ``text`` — how the reasoning model is
  asked for JSON;
- ``dataset_name``, ``dataset_version``: where the examples came from (experiments and the winner's lineage).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from optimizer.errors import OptimizerInvalid
from optimizer.models import ProviderTask, ReasoningModel
from replay.datasets.models import Example, ExampleInput
from replay.errors import InvalidInput
from replay.prompts.models import PromptVersion
from replay.providers import Provider, ProviderRegistry

__all__ = ["OPTIMIZER_KEYS", "as_examples", "default_task", "reasoning_model", "starting_prompt", "task_provider"]

OPTIMIZER_KEYS = frozenset(
    {
        "prompt", "model_name", "provider", "parameters", "runs", "reflection_model", "reflection_provider",
        "reflection_parameters", "reflection_format", "dataset_name", "dataset_version",
    }
)  # fmt: skip


def starting_prompt(config: Mapping[str, Any]) -> tuple[str | list[dict[str, Any]], PromptVersion | None]:
    """The starting prompt (template or text) and the prompt version it came from, if any."""
    if "prompt" not in config:
        raise OptimizerInvalid('config needs "prompt": a prompt version, a chat template or an instruction text')
    prompt = config["prompt"]
    if isinstance(prompt, PromptVersion):
        return prompt.template, prompt
    if isinstance(prompt, str) or (isinstance(prompt, list) and all(isinstance(m, dict) for m in prompt)):
        return prompt, None
    raise OptimizerInvalid(
        f'config["prompt"] must be a PromptVersion, a list of messages or a text, not {type(prompt).__name__}'
    )


def as_examples(dataset: Sequence[Example | Mapping[str, Any]]) -> list[Example]:
    """The dataset as :class:`Example` s; plain dicts ``{input, expected_output, metadata}`` get ids ``ex-1``…"""
    if isinstance(dataset, str | bytes) or not isinstance(dataset, Sequence):
        raise OptimizerInvalid("dataset must be a list of examples (Example objects or {input, expected_output} dicts)")
    examples = []
    for number, item in enumerate(dataset, 1):
        if isinstance(item, Example):
            examples.append(item)
            continue
        if not isinstance(item, Mapping):
            raise OptimizerInvalid(f"dataset item {number} is a {type(item).__name__}, not an example")
        fields = dict(item)
        example_id = str(fields.pop("id", f"ex-{number}"))
        try:
            checked = ExampleInput.model_validate(fields)
        except (ValidationError, InvalidInput) as exc:
            raise OptimizerInvalid(f"dataset item {number}: {exc}") from None
        examples.append(Example(id=example_id, **checked.model_dump()))
    if not examples:
        raise OptimizerInvalid("the dataset is empty: nothing to optimize on")
    return examples


def task_provider(
    config: Mapping[str, Any], version: PromptVersion | None, providers: ProviderRegistry | None, key: str = "provider"
) -> Provider | None:
    """The provider ``config[key]`` names (or is), else the version's, else the registry's default."""
    chosen = config.get(key)
    if isinstance(chosen, Provider):
        return chosen
    if chosen is not None and not isinstance(chosen, str):
        raise OptimizerInvalid(f'config["{key}"] must be a provider or a provider name')
    if providers is None:
        if chosen is not None:
            raise OptimizerInvalid(f'config["{key}"] names provider {chosen!r}, but no providers were given')
        return None
    name = chosen or (version.model_provider if version and version.model_provider in providers.names() else None)
    return providers.get(name or providers.default_name)


def default_task(
    config: Mapping[str, Any], version: PromptVersion | None, providers: ProviderRegistry | None
) -> ProviderTask:
    """The built-in task: the candidate prompt through the configured provider and model."""
    provider = task_provider(config, version, providers)
    if provider is None:
        raise OptimizerInvalid('the built-in task needs a provider: set config["provider"] or pass providers=')
    model = config.get("model_name") or (version.model_name if version else None) or provider.default_model
    if not model:
        raise OptimizerInvalid('the built-in task needs a model: set config["model_name"]')
    parameters = {**(version.invocation_parameters if version else {}), **dict(config.get("parameters") or {})}
    return ProviderTask(
        provider,
        str(model),
        parameters=parameters,
        tools=version.tools if version else None,
        response_format=version.response_format if version else None,
    )


def reasoning_model(
    config: Mapping[str, Any], version: PromptVersion | None, providers: ProviderRegistry | None, task: object
) -> ReasoningModel:
    """The built-in reasoning model: ``reflection_*`` settings, else the task's provider and model."""
    provider = task_provider(config, version, providers, "reflection_provider")
    if "reflection_provider" not in config and isinstance(task, ProviderTask):
        provider = task.provider
    if provider is None:
        raise OptimizerInvalid(
            'the built-in reasoning model needs a provider: set config["reflection_provider"] or pass providers='
        )
    model = config.get("reflection_model")
    if not model:
        same_provider = isinstance(task, ProviderTask) and task.provider.name == provider.name
        model = task.model if same_provider and isinstance(task, ProviderTask) else provider.default_model
    if not model:
        raise OptimizerInvalid('the built-in reasoning model needs a model: set config["reflection_model"]')
    response_format = config.get("reflection_format", "json_schema")
    if response_format not in ("json_schema", "json_object", "text"):
        raise OptimizerInvalid('config["reflection_format"] must be json_schema, json_object or text')
    return ReasoningModel(
        provider,
        str(model),
        parameters=dict(config.get("reflection_parameters") or {}),
        response_format=response_format,
    )
