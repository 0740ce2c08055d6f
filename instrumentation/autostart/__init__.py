"""Zero-code start-up for ``spanlab run``: this folder goes first on the child's ``PYTHONPATH``, so its
``sitecustomize`` runs :func:`start` before the application's first line.

:func:`start` calls ``register(instrument=[])`` (exporter, resource and global tracer provider from the
environment ``spanlab run`` prepared), then OpenTelemetry's own auto-instrumentation ``initialize()`` —
the code behind ``opentelemetry-instrument`` — which loads every ``opentelemetry_instrumentor`` entry
point not listed in ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS``, spanlab's ``spanlab_openai`` among them.
Nothing here may stop the application: failures are logged and it runs uninstrumented.
"""

from __future__ import annotations

import logging
import os

__all__ = ["AUTOSTART_DIR", "start"]

AUTOSTART_DIR = os.path.dirname(os.path.abspath(__file__))
_log = logging.getLogger("spanlab.autostart")


def start() -> None:
    """Configure tracing and load the instrumentors (see the module docstring); never raises."""
    try:
        from instrumentation.register import register

        register(instrument=[])
    except Exception:
        _log.exception("spanlab could not configure tracing; the application runs without it")
        return
    try:
        from opentelemetry.instrumentation.auto_instrumentation import initialize

        initialize()
    except Exception:
        _log.exception("spanlab could not load the OpenTelemetry instrumentors")
