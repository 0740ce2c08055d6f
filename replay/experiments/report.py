"""The CI gate's reports: Markdown fit for a pull-request comment, and JUnit XML for CI test views.

The Markdown report has the verdict, a summary table (candidate, baseline and delta for the gate score, every
evaluator's pass rate and mean score, errors, cost and latency p50/p90/p99), each check with its numbers, the
confidence-interval and McNemar lines of every evaluator, the regressed examples with the evaluator's
explanation of what went wrong, and the candidate's failing examples.

The JUnit XML has one ``<testcase>`` per example x evaluator (``classname`` = evaluator, ``name`` = example id and
repetition): a failed evaluation is a ``<failure>`` carrying the explanation, a failed task or an evaluator that
could not judge is an ``<error>``.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

from replay.experiments.api import ExperimentResult
from replay.experiments.gate import GateResult
from replay.experiments.models import ExperimentRun, ExperimentSummary

__all__ = ["junit_xml", "markdown_report"]

MAX_LISTED = 20
_CELL = 160


def markdown_report(
    gate: GateResult, candidate: ExperimentResult, baseline: ExperimentResult | None = None, *, title: str = ""
) -> str:
    """The Markdown report (see the module docstring)."""
    verdict = "✅ gate holds" if gate.passed else "❌ gate fails"
    lines = [f"## spanlab eval: {verdict}", ""]
    lines.append(_what(candidate, baseline, title))
    lines += ["", *_table(gate, candidate.summary, baseline.summary if baseline else None), ""]
    for check in gate.checks:
        lines.append(f"- {'✅' if check.passed else '❌'} **{check.name}**: {check.detail}")
    if gate.comparison is not None:
        lines += ["", *_statistics(gate), *_regressions(gate)]
    failing = [run for run in candidate.runs if _failure(run, gate.primary) is not None]
    if failing:
        lines += ["", f"### Failing examples ({len(failing)} of {len(candidate.runs)} runs)", ""]
        for run in failing[:MAX_LISTED]:
            lines.append(f"- `{run.example_id}`: {_cut(_failure(run, gate.primary))}")
            lines.append(
                f"  input {_code(run.input)} · expected {_code(run.expected_output)} · got {_code(run.output)}"
            )
        if len(failing) > MAX_LISTED:
            lines.append(f"- … and {len(failing) - MAX_LISTED} more")
    return "\n".join(lines) + "\n"


def _what(candidate: ExperimentResult, baseline: ExperimentResult | None, title: str) -> str:
    experiment = candidate.experiment
    version = "" if experiment.dataset_version is None else f"@{experiment.dataset_version}"
    task = experiment.config.task
    text = f"{title + ' · ' if title else ''}dataset **{experiment.dataset}{version}** ({candidate.summary.examples} "
    text += (
        f"examples, {candidate.summary.runs} runs) · candidate **{experiment.label}** ({task.provider} / {task.model})"
    )
    if baseline is not None:
        text += f" · baseline **{baseline.experiment.label}**"
    return text


def _table(gate: GateResult, after: ExperimentSummary, before: ExperimentSummary | None) -> list[str]:
    header = ["| metric | candidate |", "|---|---:|"]
    if before is not None:
        header = ["| metric | candidate | baseline | delta |", "|---|---:|---:|---:|"]
    rows: list[tuple[str, float | None, float | None, str]] = [
        (f"gate score ({gate.primary})", gate.score, gate.baseline_score, "{:.4f}")
    ]
    for name, summary in after.evaluators.items():
        other = before.evaluators.get(name) if before is not None else None
        for metric in ("pass_rate", "mean_score"):
            if summary.metrics.get(metric) is not None:
                previous = other.metrics.get(metric) if other is not None else None
                rows.append((f"{name} {metric.replace('_', ' ')}", summary.metrics[metric], previous, "{:.4f}"))
    rows.append(("task errors", float(after.errors), float(before.errors) if before else None, "{:.0f}"))
    rows.append(("cost (USD)", after.cost, before.cost if before else None, "{:.6f}"))
    for key in ("p50", "p90", "p99"):
        previous = before.latency_ms.get(key) if before else None
        rows.append((f"latency {key} (ms)", after.latency_ms.get(key), previous, "{:.1f}"))
    lines = list(header)
    for label, value, previous, form in rows:
        cells = [label, _number(value, form)]
        if before is not None:
            delta = None if value is None or previous is None else value - previous
            cells += [
                _number(previous, form),
                "" if delta is None else ("+" if delta >= 0 else "") + form.format(delta),
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _statistics(gate: GateResult) -> list[str]:
    assert gate.comparison is not None
    candidate = gate.comparison.candidates[0]
    lines = ["### Is the difference real?", ""]
    for name, evaluator in candidate.evaluators.items():
        parts = [f"{evaluator.examples} paired examples"]
        if evaluator.bootstrap is not None:
            b = evaluator.bootstrap
            parts.append(
                f"paired bootstrap {b.confidence:.0%} CI on the score delta [{b.low:+.4f}, {b.high:+.4f}] "
                f"(mean {b.mean_delta:+.4f})"
            )
        if evaluator.mcnemar is not None:
            m = evaluator.mcnemar
            parts.append(f"McNemar ({m.method}): {m.improved} improved, {m.regressed} regressed, p = {m.p_value:.4g}")
        lines.append(f"- **{name}**: " + "; ".join(parts))
    lines += [f"- ⚠️ {warning}" for warning in gate.comparison.warnings]
    return lines


def _regressions(gate: GateResult) -> list[str]:
    assert gate.comparison is not None
    candidate = gate.comparison.candidates[0]
    changes = candidate.changes
    lines = [
        "",
        f"### Regressions ({changes['regressed']} regressed, {changes['improved']} improved, "
        f"{changes['unchanged']} unchanged on {candidate.primary})",
        "",
    ]
    for change in candidate.regressions[:MAX_LISTED]:
        lines.append(
            f"- `{change.example_id}`: {change.baseline_score:.2f} → {change.candidate_score:.2f} — "
            f"{_cut(change.candidate_explanation or 'no explanation')}"
        )
        lines.append(
            f"  input {_code(change.input)} · was {_code(change.baseline_output)} · "
            f"now {_code(change.candidate_output)}"
        )
    if len(candidate.regressions) > MAX_LISTED:
        lines.append(f"- … and {len(candidate.regressions) - MAX_LISTED} more")
    return lines


def _failure(run: ExperimentRun, primary: str | None) -> str | None:
    """Why a run fails the gate, or None when it passes."""
    if run.error is not None:
        return f"the task failed: {run.error}"
    result = next((e for e in run.evaluations if e.name == primary), None)
    if result is None:
        return None
    if result.error is not None:
        return f"the evaluator failed: {result.error}"
    return (result.explanation or "failed") if result.passed is False else None


def junit_xml(candidate: ExperimentResult, *, suite: str = "spanlab eval") -> str:
    """The JUnit XML (see the module docstring)."""
    cases: list[ET.Element] = []
    failures = errors = 0
    for run in candidate.runs:
        names = [info.name for info in candidate.experiment.config.evaluators]
        for name in names:
            case = ET.Element("testcase", classname=name, name=f"{run.example_id}#{run.repetition}")
            case.set("time", f"{(run.latency_ms or 0) / 1000:.3f}")
            result = next((e for e in run.evaluations if e.name == name), None)
            if run.error is not None or result is None or result.error is not None:
                message = run.error or (result.error if result is not None else "not evaluated")
                ET.SubElement(case, "error", message=_cut(message or ""), type="error").text = message
                errors += 1
            elif result.passed is False:
                explanation = result.explanation or "failed"
                failure = ET.SubElement(case, "failure", message=_cut(explanation), type="failure")
                failure.text = f"{explanation}\ninput: {_json(run.input)}\nexpected: {_json(run.expected_output)}\n"
                failure.text += f"output: {_json(run.output)}"
                failures += 1
            cases.append(case)
    root = ET.Element("testsuites")
    suite_element = ET.SubElement(
        root, "testsuite", name=suite, tests=str(len(cases)), failures=str(failures), errors=str(errors)
    )
    suite_element.extend(cases)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _number(value: float | None, form: str) -> str:
    return "—" if value is None else form.format(value)


def _json(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def _code(value: Any) -> str:
    text = " ".join(_json(value).split()).replace("`", "'")
    return f"`{_cut(text)}`"


def _cut(text: str | None) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= _CELL else text[: _CELL - 1] + "…"
