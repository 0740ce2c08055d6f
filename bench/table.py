"""Plain-text tables for the benchmark reports (also valid Markdown, to paste into bench/README.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["format_table"]


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """A Markdown table of ``rows`` (columns from the first row); numbers are right-aligned."""
    if not rows:
        return "(no rows)"
    columns = list(rows[0])
    cells = [[str(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    numeric = [all(_looks_numeric(r[i]) for r in cells) for i in range(len(columns))]

    def line(values: Sequence[str]) -> str:
        padded = [v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric, strict=True)]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if n else ("-" * (w + 2)) for w, n in zip(widths, numeric, strict=True))
    return "\n".join([line(columns), rule + "|", *(line(r) for r in cells)])


def _looks_numeric(value: str) -> bool:
    stripped = value.replace(",", "").replace(".", "").replace("-", "").replace("%", "")
    return stripped.isdigit() or value in ("", "—")
