"""Replay of spans and dataset examples: rebuild the call, apply overrides, call the model, record the result.

:func:`replay` is the library entry point: a span (or a :class:`~replay.rebuild.Baseline`, e.g. of a dataset
example) and :class:`~replay.overrides.ReplayOverrides` in, a :class:`~replay.records.ReplayResult` out — the
original output beside the new one with their diff. It stores nothing. Steps:

1. resolve ``overrides.prompt`` through the prompt hub (``NAME``, ``NAME@3``, ``NAME@production``);
2. choose the provider (:meth:`~replay.providers.ProviderRegistry.resolve`) and build the request
   (:func:`~replay.rebuild.build_request`; an unreplayable span fails here, before any call);
3. call the model through the ``openai`` client, traced into the ``replay`` project when a tracer is given;
   provider failures raise :class:`~replay.errors.ProviderError` and nothing more happens;
4. diff the outputs.

:class:`Replayer` binds a store, providers, the hub and a tracer, loads spans and examples by id, and saves each
successful result in the ``replays`` table — in one write after the model answered, so a failed replay leaves
nothing behind.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from collector.errors import NotFound as SpanNotFound
from collector.queries.spans import SpanDetail, get_span
from collector.store.database import Store
from replay.datasets.store import DatasetStore
from replay.diff import diff_outputs
from replay.errors import InvalidInput, NotFound
from replay.model_call import DEFAULT_TIMEOUT_SECONDS, call_model, original_output
from replay.overrides import ReplayOverrides
from replay.prompts.hub import PromptHub
from replay.prompts.models import PromptVersion
from replay.providers import ProviderRegistry
from replay.rebuild import Baseline, baseline_from_example, baseline_from_span, build_request
from replay.records import ReplayResult, get_replay, list_replays, save_replay
from replay.tracing import ReplayTracer

__all__ = ["Replayer", "replay"]


def replay(
    target: SpanDetail | Baseline,
    overrides: ReplayOverrides | None = None,
    *,
    providers: ProviderRegistry,
    hub: PromptHub | None = None,
    tracer: ReplayTracer | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> ReplayResult:
    """Replay one span or baseline (see the module docstring); nothing is stored."""
    overrides = overrides or ReplayOverrides()
    baseline = baseline_from_span(target) if isinstance(target, SpanDetail) else target
    prompt = _prompt(hub, overrides.prompt) if overrides.prompt else None
    if prompt is None and hub is not None:
        _template_from_hub(baseline, hub)
    provider = providers.resolve(
        requested=overrides.provider,
        preferred=prompt.model_provider if prompt else None,
        recorded_provider=baseline.provider,
        recorded_base_url=baseline.base_url,
    )
    request = build_request(baseline, overrides, provider=provider, prompt=prompt)
    replay_ids: tuple[str | None, str | None] = (None, None)
    if tracer is None:
        output = call_model(provider.provider, request, timeout=timeout)
    else:
        with tracer.model_call(request, baseline) as span:
            replay_ids = (span.trace_id, span.span_id)
            output = call_model(provider.provider, request, timeout=timeout)
            span.record(output)
    original = original_output(baseline)
    return ReplayResult(
        id=str(uuid.uuid4()),
        created_at=datetime.now(UTC),
        source_trace_id=baseline.trace_id,
        source_span_id=baseline.span_id,
        dataset=baseline.dataset,
        example_id=baseline.example_id,
        provider=request.provider,
        model=request.model,
        request=request,
        overrides=overrides,
        original=original,
        output=output,
        diff=diff_outputs(original, output),
        expected_output=baseline.expected_output,
        replay_trace_id=replay_ids[0],
        replay_span_id=replay_ids[1],
    )


@dataclass
class Replayer:
    """Replays by id against ``store`` and records each result (see the module docstring)."""

    store: Store
    providers: ProviderRegistry
    tracer: ReplayTracer | None = None
    timeout: float = DEFAULT_TIMEOUT_SECONDS

    def replay_span(
        self, span_id: str, overrides: ReplayOverrides | None = None, *, trace_id: str | None = None
    ) -> ReplayResult:
        """Replay a stored span and save the result. Unknown span: the collector's ``NotFound`` (404)."""
        span = get_span(self.store, span_id, trace_id=trace_id)
        return self._run(baseline_from_span(span), overrides)

    def replay_example(self, dataset: str, example_id: str, overrides: ReplayOverrides | None = None) -> ReplayResult:
        """Replay a dataset example (current version) through its source span, with its input as the
        variables (or messages); an example whose span is gone needs a prompt or messages in ``overrides``."""
        example = DatasetStore(self.store).get_example(dataset, example_id)
        span = None
        note = None
        if example.source_span_id:
            try:
                span = get_span(self.store, example.source_span_id, trace_id=example.source_trace_id)
            except SpanNotFound:
                note = f"the example's source span {example.source_span_id} is no longer stored"
        baseline = baseline_from_example(example, dataset, span)
        if note:
            baseline.notes.append(note)
        return self._run(baseline, overrides)

    def get(self, replay_id: str) -> ReplayResult:
        return self.store.read(lambda con: get_replay(con, replay_id))

    def list_for_span(self, span_id: str, *, limit: int = 100) -> list[ReplayResult]:
        return self.store.read(lambda con: list_replays(con, span_id, limit=limit))

    def _run(self, baseline: Baseline, overrides: ReplayOverrides | None) -> ReplayResult:
        result = replay(
            baseline,
            overrides,
            providers=self.providers,
            hub=PromptHub(self.store),
            tracer=self.tracer,
            timeout=self.timeout,
        )
        self.store.write(lambda con: save_replay(con, result)).result()
        return result


def _prompt(hub: PromptHub | None, ref: str) -> PromptVersion:
    if hub is None:
        raise NotFound(f"prompt {ref!r}: no prompt hub to look it up in")
    return hub.resolve(ref)


def _template_from_hub(baseline: Baseline, hub: PromptHub) -> None:
    """Take the chat template of the span's own prompt version from the hub when the span recorded the
    prompt's name, version and variables but not its template."""
    name, version = baseline.prompt_name, baseline.prompt_version
    if baseline.template is not None or baseline.variables is None or not name or not (version or "").isdigit():
        return
    try:
        found = hub.get(name, version=int(version or 0))
    except (NotFound, InvalidInput):
        return
    baseline.template = found.template
    baseline.notes.append(f"the chat template of {found.ref} comes from the prompt hub")
