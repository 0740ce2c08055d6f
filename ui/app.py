"""The FastAPI application: OTLP/HTTP receiver, REST API under ``/api/v1``, ``/docs`` and ``/healthz``."""

from __future__ import annotations

import os

from fastapi import Depends, FastAPI

from collector.service import Collector
from replay.local_model import LocalModel
from replay.providers import ProviderRegistry
from replay.tracing import CollectorSpanExporter, ReplayTracer
from spanlab.settings import Settings
from ui import llm, otlp
from ui.api import router as api_router
from ui.auth import require_api_key
from ui.errors import install_error_handlers
from ui.workers import install_workers

__all__ = ["create_app"]


def create_app(collector: Collector, settings: Settings | None = None) -> FastAPI:
    """Build the app around an already started collector (its lifecycle belongs to the caller)."""
    settings = settings or Settings(**{})
    app = FastAPI(
        title="spanlab",
        summary="Collect LLM traces over OpenTelemetry and turn them into a prompt-improvement loop.",
        version="0.1.0",
        openapi_url="/api/v1/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.collector = collector
    app.state.settings = settings
    # Replay and the local model: providers from the environment (read once, here), replay calls traced into the
    # collector itself, SmolLM2 loaded on its first request.
    app.state.providers = ProviderRegistry.from_environment(settings.providers, os.environ)
    app.state.replay_tracer = ReplayTracer(CollectorSpanExporter(collector))
    app.state.local_model = LocalModel()
    install_workers(app, collector)  # experiments and online evaluation (started by `spanlab serve`)
    install_error_handlers(app)
    app.include_router(otlp.router)
    app.include_router(api_router, prefix="/api/v1", dependencies=[Depends(require_api_key)])
    app.include_router(llm.router, dependencies=[Depends(require_api_key)])

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """Liveness: 200 while the server runs."""
        return {"status": "ok"}

    return app
