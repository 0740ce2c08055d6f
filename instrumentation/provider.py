"""The ``TracerProvider`` :func:`~instrumentation.register.register` builds: the SDK's own, except that
flushing or shutting it down first waits for the LLM calls still being recorded on the background thread
(:mod:`instrumentation.background`), so ``provider.force_flush()`` exports every call made before it."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider

from instrumentation.background import flush

__all__ = ["SpanlabTracerProvider"]

_SHUTDOWN_TIMEOUT_SECONDS = 30.0


class SpanlabTracerProvider(TracerProvider):
    def force_flush(self, timeout_millis: int = 30000) -> bool:
        recorded = flush(timeout_millis / 1000)
        return super().force_flush(timeout_millis) and recorded

    def shutdown(self) -> None:
        flush(_SHUTDOWN_TIMEOUT_SECONDS)
        super().shutdown()
