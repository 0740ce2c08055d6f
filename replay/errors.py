"""The replay package's errors (prompt hub, datasets, promotion, replay, experiments).

ReplayError                 base; ``status_code`` is the HTTP status the API answers with
├── NotFound                no such prompt, version, tag, dataset, example or span (HTTP 404)
├── Conflict                the request contradicts what is stored, e.g. a name already taken (HTTP 409)
├── TooLarge                an upload past its size limit (HTTP 413)
└── InvalidInput            a bad prompt file, template, variables, import file or filter (HTTP 422)
    ├── TemplateInvalid     a chat template that cannot be rendered (also an ``instrumentation.template.TemplateError``)
    └── VariablesMissing    a render without some of the template's variables (also a ``MissingVariable``)

Evaluators (``replay.evaluators``):

├── InvalidInput
│   └── EvaluatorInvalid    an evaluator that cannot be built: unknown name or option, bad pattern, schema, rubric
└── EvaluatorFailed         an evaluator returned no usable result, or a judge answered unusably (HTTP 502);
                            a run records it on the row as ``EvaluationResult.error``, it never escapes a run

Other engineers append their classes below with targeted edits; every class keeps a ``status_code``.
"""

from __future__ import annotations

from collections.abc import Sequence

from instrumentation.template import MissingVariable, TemplateError

__all__ = [
    "Conflict",
    "EvaluatorFailed",
    "EvaluatorInvalid",
    "InvalidInput",
    "NotFound",
    "ReplayError",
    "TemplateInvalid",
    "TooLarge",
    "VariablesMissing",
]


class ReplayError(Exception):
    """Base of every error the replay package raises on purpose; the API maps it to ``{"error": …}``."""

    status_code: int = 400


class NotFound(ReplayError):
    status_code = 404


class Conflict(ReplayError):
    status_code = 409


class TooLarge(ReplayError):
    status_code = 413


class InvalidInput(ReplayError):
    status_code = 422


class TemplateInvalid(InvalidInput, TemplateError):
    """A chat template that is not a list of messages with well-formed ``{{variable}}`` placeholders.

    Also a :class:`instrumentation.template.TemplateError`, so either hierarchy catches it.
    """


class VariablesMissing(InvalidInput, MissingVariable):
    """Rendering a template without some of its variables; ``missing`` lists them in order of first use.

    Also a :class:`instrumentation.template.MissingVariable` (and so a ``KeyError``), so either hierarchy catches it.
    """

    def __init__(self, missing: Sequence[str]) -> None:
        MissingVariable.__init__(self, missing)


class EvaluatorInvalid(InvalidInput):
    """An evaluator that cannot be built: an unknown name or option in a spec, a bad pattern, schema or rubric."""


class EvaluatorFailed(ReplayError):
    """An evaluator returned something that is not a result, or an LLM judge's answer could not be used."""

    status_code = 502


# -- replay of spans and examples, model providers, the local model (replay/runner.py and friends) -------------
#
# InvalidInput
# ├── Unreplayable           the span/example cannot be rebuilt into a model call; ``missing`` lists what lacks
# ├── UnknownProvider        a provider name the server does not know (or ``openai`` without OPENAI_* env)
# └── ProviderNotConfigured  a known provider whose API key variable was not set when the server started
# ProviderError              the provider failed the call (HTTP 502); ``provider``, ``provider_status``
# ├── ProviderTimeout        no answer in time (HTTP 504)
# └── ProviderUnreachable    no connection (HTTP 502)
# LocalModelUnavailable      the embedded model is not installed or cannot load (HTTP 503)

__all__ += [
    "LocalModelUnavailable",
    "ProviderError",
    "ProviderNotConfigured",
    "ProviderTimeout",
    "ProviderUnreachable",
    "UnknownProvider",
    "Unreplayable",
]


class Unreplayable(InvalidInput):
    """A replay cannot be rebuilt; ``missing`` names each missing piece, the message says all of them."""

    def __init__(self, subject: str, missing: Sequence[str]) -> None:
        self.missing = list(missing)
        super().__init__(f"{subject} cannot be replayed: " + "; ".join(self.missing))


class UnknownProvider(InvalidInput):
    pass


class ProviderNotConfigured(InvalidInput):
    pass


class ProviderError(ReplayError):
    """The model provider failed the call; nothing was stored. ``provider_status`` is its HTTP status, if any."""

    status_code = 502

    def __init__(self, message: str, *, provider: str, provider_status: int | None = None) -> None:
        super().__init__(message)
        self.provider = provider
        self.provider_status = provider_status


class ProviderTimeout(ProviderError):
    status_code = 504


class ProviderUnreachable(ProviderError):
    pass


class LocalModelUnavailable(ReplayError):
    status_code = 503
