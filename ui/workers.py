"""The server's background work for experiments and online evaluation, created with the app and started and
stopped by ``spanlab serve`` around serving (a test app built with :func:`ui.app.create_app` starts nothing).

- ``app.state.experiments`` — the :class:`~replay.experiments.service.ExperimentService` behind
  ``/api/v1/experiments``, its model calls traced into the collector (project ``experiments``);
- ``app.state.online_evaluator`` — the :class:`~replay.experiments.online.OnlineEvaluator` thread, started by
  :func:`start_workers` once the server knows its own address (the judges' ``local`` provider is this
  server's ``/llm/v1``).

:func:`start_workers` also marks experiments a previous process left ``running`` as failed.
"""

from __future__ import annotations

from fastapi import FastAPI

from collector.service import Collector
from optimizer.runs import OptimizationService
from replay.experiments.online import OnlineEvaluator
from replay.experiments.service import ExperimentService
from replay.experiments.tracing import ExperimentTracer
from replay.providers import ProviderRegistry

__all__ = ["install_workers", "self_url", "start_workers", "stop_workers"]


def install_workers(app: FastAPI, collector: Collector) -> None:
    """Create (without starting anything) the experiment service and the online evaluator on ``app.state``."""
    tracer = ExperimentTracer.to_collector(collector)
    app.state.experiment_tracer = tracer
    app.state.experiments = ExperimentService(collector.store, tracer=tracer)
    app.state.online_evaluator = None

    def idle() -> bool:
        return collector.pipeline.stats.pending_records == 0

    app.state.ingest_idle = idle


def start_workers(app: FastAPI, url: str) -> None:
    """Start the online evaluator; ``url`` is this server's own HTTP root (``http://127.0.0.1:4318``)."""
    service: ExperimentService = app.state.experiments
    service.experiments.mark_interrupted()
    registry: ProviderRegistry = app.state.providers
    api_key = app.state.settings.api_key

    def providers() -> ProviderRegistry:
        return registry.with_local(f"{url}/llm/v1", api_key=api_key)

    evaluator = OnlineEvaluator(service.store, providers, is_idle=app.state.ingest_idle)
    evaluator.start()
    app.state.online_evaluator = evaluator


def stop_workers(app: FastAPI) -> None:
    """Stop online evaluation, cancel running experiments (recorded as failed: the server stopped) and
    optimizations (recorded as interrupted), and flush their spans; call before the collector closes."""
    evaluator: OnlineEvaluator | None = app.state.online_evaluator
    if evaluator is not None:
        evaluator.stop()
    app.state.experiments.stop()
    optimizations: OptimizationService | None = getattr(app.state, "optimizations", None)  # made on first use
    if optimizations is not None:
        optimizations.stop()
    app.state.experiment_tracer.shutdown()


def self_url(host: str, port: int) -> str:
    """The URL this process reaches itself at when listening on ``host:port`` (any-address → loopback)."""
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
