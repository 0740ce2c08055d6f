"""Reads over the store: traces, spans, projects and read-only SQL.

- :mod:`collector.queries.filters` — the shared filter model, its SQL, keyset cursors, id checks;
- :mod:`collector.queries.traces` — the trace listing and the span tree of one trace;
- :mod:`collector.queries.spans` — the span listing and the full record of one span;
- :mod:`collector.queries.projects` — per-project totals;
- :mod:`collector.queries.sql` — user SQL, checked to be a single read-only SELECT, with row and time limits.

Each public function takes the :class:`~collector.store.database.Store` and runs on its per-thread read
cursor. Nothing is imported here, so that :mod:`collector.annotations` and these modules can import each
other's parts without an import cycle.
"""

from __future__ import annotations

__all__: list[str] = []
