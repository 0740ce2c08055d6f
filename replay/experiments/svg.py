"""A comparison as a small hand-written SVG: each experiment's score as a bar, and each candidate's score delta
with its bootstrap confidence interval against the zero line (no plotting library needed)."""

from __future__ import annotations

from xml.sax.saxutils import escape

from replay.experiments.compare import Comparison
from replay.stats import BootstrapInterval

__all__ = ["comparison_svg"]

_ROW = 28
_LABEL = 220
_BARS = 260
_GAP = 40
_DELTA = 260
_TOP = 56


def comparison_svg(comparison: Comparison) -> str:
    """The chart of ``comparison`` as an SVG document (UTF-8 text)."""
    rows: list[tuple[str, float | None, BootstrapInterval | None]] = [
        (comparison.baseline.label + " (baseline)", comparison.baseline.score, None)
    ]
    for candidate in comparison.candidates:
        primary = candidate.evaluators.get(candidate.primary or "")
        interval = primary.bootstrap if primary is not None else None
        rows.append((candidate.experiment.label, candidate.experiment.score, interval))
    spread = max([0.05, *(max(abs(i.low), abs(i.high)) for _, _, i in rows if i is not None)])
    width = _LABEL + _BARS + _GAP + _DELTA + 20
    height = _TOP + _ROW * len(rows) + 30
    delta_x = _LABEL + _BARS + _GAP
    zero = delta_x + _DELTA / 2
    primary_name = next((c.primary for c in comparison.candidates if c.primary), None) or "score"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="10" y="20" font-size="14" font-weight="bold">{escape(primary_name)}: score and change vs baseline'
        "</text>",
        f'<text x="{_LABEL}" y="{_TOP - 10}">score (0 to 1)</text>',
        f'<text x="{delta_x}" y="{_TOP - 10}">delta, {comparison.confidence:.0%} CI (±{spread:.2f})</text>',
        f'<line x1="{zero}" y1="{_TOP - 4}" x2="{zero}" y2="{_TOP + _ROW * len(rows)}" stroke="#888"/>',
    ]
    for index, (label, score, interval) in enumerate(rows):
        y = _TOP + index * _ROW
        parts.append(f'<text x="10" y="{y + 17}">{escape(label[:32])}</text>')
        if score is not None:
            bar = max(0.0, min(1.0, score)) * _BARS
            parts.append(f'<rect x="{_LABEL}" y="{y + 5}" width="{bar:.1f}" height="16" fill="#4a78c2"/>')
            parts.append(f'<text x="{_LABEL + bar + 4:.1f}" y="{y + 17}">{score:.3f}</text>')
        if interval is not None:
            scale = (_DELTA / 2) / spread
            low, high, mean = (zero + v * scale for v in (interval.low, interval.high, interval.mean_delta))
            color = "#2e8b57" if interval.low > 0 else "#c0392b" if interval.high < 0 else "#555"
            parts.append(
                f'<line x1="{low:.1f}" y1="{y + 13}" x2="{high:.1f}" y2="{y + 13}" stroke="{color}" stroke-width="2"/>'
            )
            parts.append(f'<circle cx="{mean:.1f}" cy="{y + 13}" r="4" fill="{color}"/>')
            parts.append(
                f'<text x="{delta_x}" y="{y + 27}" font-size="10">{interval.mean_delta:+.3f} '
                f"[{interval.low:+.3f}, {interval.high:+.3f}]</text>"
            )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
