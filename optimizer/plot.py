"""The score history as a picture: a hand-written SVG (no plotting library needed).

:func:`score_history_svg` draws, over iterations, every candidate scored on validation (a dot coloured by where
it came from: the starting prompt, reflection or few-shot), the best validation score so far as a step line,
the starting prompt's score as a dashed line, and — once the run is over — the test scores of the starting
prompt and the winner with the interval of their difference in the subtitle. Candidates rejected at the
minibatch gate have no validation score; the legend counts them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from xml.sax.saxutils import escape

from optimizer.progress import CandidatePoint
from optimizer.result import OptimizationResult, TestScore

__all__ = ["COLOURS", "result_svg", "score_history_svg"]

COLOURS = {"baseline": "#555555", "reflection": "#1f77b4", "fewshot": "#ff7f0e", "best": "#2ca02c"}
_W, _H = 760, 380
_LEFT, _RIGHT, _TOP, _BOTTOM = 60, 30, 74, 52
Scale = Callable[[float], float]


def result_svg(result: OptimizationResult) -> str:
    """:func:`score_history_svg` of a finished optimization."""
    return score_history_svg(
        result.points(),
        baseline_score=result.baseline_score,
        best_by_iteration=result.get_score_history()[1:],
        test=result.test_score,
        title=f"optimization {result.name}",
    )


def score_history_svg(
    points: Sequence[CandidatePoint],
    *,
    baseline_score: float | None,
    best_by_iteration: Sequence[float],
    test: TestScore | None = None,
    title: str = "optimization",
) -> str:
    """The picture (see the module docstring) as SVG text."""
    scored = [p for p in points if p.validation_score is not None]
    values = [p.validation_score for p in scored if p.validation_score is not None] + list(best_by_iteration)
    if test is not None:
        values += [test.baseline, test.best]
    low, high = min([0.0, *values]), max([1.0, *values])
    last = max([1, len(best_by_iteration), *(p.iteration for p in points)])

    def x(iteration: float) -> float:
        return _LEFT + (_W - _LEFT - _RIGHT) * iteration / last

    def y(score: float) -> float:
        return _H - _BOTTOM - (_H - _TOP - _BOTTOM) * (score - low) / ((high - low) or 1.0)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{_W}" height="{_H}" fill="white"/>',
        f'<text x="{_LEFT}" y="22" font-size="15" font-weight="bold">{escape(title)}</text>',
        f'<text x="{_LEFT}" y="42" fill="#333">{escape(_subtitle(baseline_score, best_by_iteration, test))}</text>',
        *_axes(x, y, low, high, last),
    ]
    if baseline_score is not None:
        parts.append(_line(x(0), y(baseline_score), x(last), y(baseline_score), COLOURS["baseline"], dashed=True))
    parts.append(_best_steps(x, y, baseline_score, best_by_iteration))
    for point in scored:
        assert point.validation_score is not None
        colour = COLOURS.get(point.origin, "#000")
        parts.append(
            f'<circle cx="{x(point.iteration):.1f}" cy="{y(point.validation_score):.1f}" r="5" fill="{colour}" '
            f'fill-opacity="0.8"><title>{escape(point.id)} ({point.origin}): {point.validation_score:.3f}</title>'
            "</circle>"
        )
    parts += _legend(len(points) - len(scored))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _subtitle(baseline: float | None, best: Sequence[float], test: TestScore | None) -> str:
    if baseline is None:
        return "scoring the starting prompt…"
    text = f"validation {baseline:.3f} → {max([baseline, *best]):.3f}"
    if test is not None:
        text += f"  ·  test {test.baseline:.3f} → {test.best:.3f}"
        if test.interval is not None:
            text += f" (Δ 95% CI [{test.interval.low:+.3f}, {test.interval.high:+.3f}], n={test.n})"
    return text


def _axes(x: Scale, y: Scale, low: float, high: float, last: int) -> list[str]:
    parts = []
    for step in range(5):
        score = low + (high - low) * step / 4
        parts.append(_line(_LEFT, y(score), _W - _RIGHT, y(score), "#dddddd"))
        parts.append(f'<text x="{_LEFT - 8}" y="{y(score) + 4:.1f}" text-anchor="end">{score:.2f}</text>')
    every = max(1, last // 10)
    for iteration in range(0, last + 1, every):
        parts.append(f'<text x="{x(iteration):.1f}" y="{_H - _BOTTOM + 18}" text-anchor="middle">{iteration}</text>')
    parts.append(f'<text x="{(_LEFT + _W - _RIGHT) / 2}" y="{_H - 12}" text-anchor="middle">iteration</text>')
    parts.append(
        f'<text x="16" y="{(_TOP + _H - _BOTTOM) / 2}" transform="rotate(-90 16 '
        f'{(_TOP + _H - _BOTTOM) / 2})" text-anchor="middle">validation score</text>'
    )
    return parts


def _best_steps(x: Scale, y: Scale, baseline: float | None, best: Sequence[float]) -> str:
    if baseline is None:
        return ""
    path = [f"M {x(0):.1f} {y(baseline):.1f}"]
    current = baseline
    for iteration, score in enumerate(best, 1):
        path.append(f"H {x(iteration):.1f}")
        if score != current:
            path.append(f"V {y(score):.1f}")
            current = score
    return f'<path d="{" ".join(path)}" fill="none" stroke="{COLOURS["best"]}" stroke-width="2"/>'


def _legend(rejected: int) -> list[str]:
    items = [
        ("starting prompt", COLOURS["baseline"]),
        ("reflection", COLOURS["reflection"]),
        ("few-shot", COLOURS["fewshot"]),
        ("best so far", COLOURS["best"]),
    ]
    parts = []
    left = _LEFT
    for label, colour in items:
        parts.append(f'<circle cx="{left + 5}" cy="54" r="5" fill="{colour}"/>')
        parts.append(f'<text x="{left + 14}" y="58">{escape(label)}</text>')
        left += 24 + 7 * len(label)
    if rejected:
        parts.append(
            f'<text x="{left + 6}" y="58" fill="#777">{rejected} not validated (minibatch gate or budget)</text>'
        )
    return parts


def _line(x1: float, y1: float, x2: float, y2: float, colour: str, *, dashed: bool = False) -> str:
    dash = ' stroke-dasharray="6 4"' if dashed else ""
    return f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{colour}"{dash}/>'
