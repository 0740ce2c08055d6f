"""Reflection: what the reasoning model is shown, and how its answer becomes new prompts.

:func:`build_reflection` makes the two prompts sent to the reasoning model (kept on the iteration's record, so
what it saw is inspectable) from **training rows only** — the loop passes the parent's minibatch rows:

- the current instruction, its validation score and the ``{{variables}}`` it must keep;
- the failing examples (at most ``max_failures``), each with its input, the output, the expected output and
  every explanation there is: the evaluators' (why the row failed) and the annotations on the example's source
  span (human feedback, judge critiques) that promotion copied into ``metadata["annotations"]``;
- one example per label bucket (``labelization_function``; by default the first evaluator's label, else
  pass/fail), so the model sees what succeeds as well as what fails;
- earlier candidates with their scores, best first.

It asks for a diagnosis and ``num_prompts`` new instruction(s), as the JSON object ``{"diagnosis": "…",
"prompts": ["…"]}`` (``response_format`` ``json_schema``, :func:`proposal_schema`).

:func:`parse_proposal` is lenient about the form — a code fence, prose around the object, ``prompt`` instead of
``prompts`` — and strict about the content: a prompt must be a text with words in it, differ from its parent,
keep the instruction's variables and use no unknown one. An answer without any usable prompt raises
:class:`~optimizer.errors.ReflectionUnusable` saying why; the loop records that as a failed proposal.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, Field

from optimizer.candidates import Candidate
from optimizer.errors import ReflectionUnusable
from optimizer.evaluation import row_failed
from optimizer.prompt import PromptFrame, as_text
from replay.datasets.models import Example
from replay.evaluators import EvaluatedRow, bucket_rows
from replay.evaluators.extract import strip_code_fence

__all__ = [
    "MAX_INSTRUCTION_CHARS",
    "Proposal",
    "ReflectionRequest",
    "build_reflection",
    "parse_proposal",
    "proposal_schema",
]

MAX_INSTRUCTION_CHARS = 20_000
_SHOWN_CHARS = 1_500
_HISTORY = 8
_OBJECT = re.compile(r"\{.*\}", re.DOTALL)
_SYSTEM = """You improve the instruction of a prompt for a language-model task.

You are shown the current instruction, training examples it failed on — each with its input, the model's \
output, the expected output and feedback explaining what was wrong — one example of each kind of outcome, and \
earlier attempts with their scores (higher is better).

First diagnose: what patterns explain the failures, and what does the instruction fail to say? Then write \
{count} new, complete instruction(s) that fix those failures without breaking what works. Each must:
- stand alone: it replaces the current instruction entirely;
- keep every {{{{variable}}}} placeholder of the current instruction exactly as written;
- state the rules the feedback reveals, in general terms (do not copy the examples: they are only a sample);
- keep the output format the expected outputs show.

Answer with only a JSON object: {{"diagnosis": "<what goes wrong and why>", "prompts": ["<new instruction>"]}}."""


class ReflectionRequest(BaseModel):
    """The prompts sent to the reasoning model for one iteration, and what they show."""

    system: str
    user: str
    response_format: dict[str, Any]
    num_prompts: int = Field(ge=1)
    example_ids: list[str] = Field(description="Every example the prompts show (all from the training part).")


class Proposal(BaseModel):
    """What the reasoning model proposed: its diagnosis, the usable new instructions, and what was refused."""

    diagnosis: str = ""
    prompts: list[str]
    refused: list[str] = Field(default_factory=list, description="Why each unusable prompt was dropped.")


def proposal_schema(num_prompts: int) -> dict[str, Any]:
    """The ``response_format`` asking for ``{"diagnosis", "prompts"}`` (strict-mode compatible)."""
    schema = {
        "type": "object",
        "properties": {
            "diagnosis": {"type": "string", "description": "What goes wrong and why."},
            "prompts": {
                "type": "array",
                "items": {"type": "string"},
                "description": f"{num_prompts} complete new instruction(s).",
            },
        },
        "required": ["diagnosis", "prompts"],
        "additionalProperties": False,
    }
    return {"type": "json_schema", "json_schema": {"name": "prompt_proposal", "schema": schema, "strict": True}}


def build_reflection(
    *,
    frame: PromptFrame,
    parent: Candidate,
    rows: Sequence[EvaluatedRow],
    examples: Mapping[str, Example],
    history: Sequence[Candidate],
    labelization: Callable[[EvaluatedRow], str],
    num_prompts: int = 1,
    max_failures: int = 8,
) -> ReflectionRequest:
    """The reflection prompts for ``parent`` from its minibatch ``rows`` (see the module docstring)."""
    failures = _first_per_example([row for row in rows if row_failed(row)])[:max_failures]
    shown = {str(row.example_id) for row in failures}
    buckets = []
    for label, members in bucket_rows(rows, labelization).items():
        fresh = [row for row in members if str(row.example_id) not in shown]
        buckets.append((label, (fresh or members)[0]))
    sections = [
        _current(frame, parent),
        _failures(failures, examples, len(_first_per_example(list(rows)))),
        _buckets(buckets, examples),
        _history(history, parent),
        f"## Your answer\n\nDiagnose the failures, then write {num_prompts} new instruction(s) as the JSON object "
        '{"diagnosis": "...", "prompts": ["..."]}.',
    ]
    ids = list(dict.fromkeys([*(str(row.example_id) for row in failures), *(str(r.example_id) for _, r in buckets)]))
    return ReflectionRequest(
        system=_SYSTEM.format(count=num_prompts),
        user="\n\n".join(section for section in sections if section),
        response_format=proposal_schema(num_prompts),
        num_prompts=num_prompts,
        example_ids=ids,
    )


def _first_per_example(rows: list[EvaluatedRow]) -> list[EvaluatedRow]:
    seen: dict[str, EvaluatedRow] = {}
    for row in rows:
        seen.setdefault(str(row.example_id), row)
    return list(seen.values())


def _current(frame: PromptFrame, parent: Candidate) -> str:
    score = "not scored" if parent.validation_score is None else f"{parent.validation_score:.3f}"
    variables = ", ".join(f"{{{{{name}}}}}" for name in sorted(frame.instruction_variables)) or "none"
    demos = f"\n\nIt is followed by {len(parent.prompt.demos)} worked example(s), added separately." * bool(
        parent.prompt.demos
    )
    return (
        f"## Current instruction (validation score {score})\n\n<instruction>\n{parent.prompt.instruction}\n"
        f"</instruction>\n\nPlaceholders it must keep: {variables}.{demos}"
    )


def _failures(rows: list[EvaluatedRow], examples: Mapping[str, Example], total: int) -> str:
    if not rows:
        return f"## Failing examples\n\nNone: all {total} training example(s) of this batch passed."
    parts = [f"## Failing examples ({len(rows)} of the {total} in this batch)"]
    for number, row in enumerate(rows, 1):
        parts.append(f"### Failure {number}\n\n{_row(row, examples.get(str(row.example_id)))}")
    return "\n\n".join(parts)


def _buckets(buckets: list[tuple[str, EvaluatedRow]], examples: Mapping[str, Example]) -> str:
    if len(buckets) < 2:
        return ""
    parts = ["## One example of each outcome"]
    for label, row in buckets:
        parts.append(f"### Outcome: {label}\n\n{_row(row, examples.get(str(row.example_id)))}")
    return "\n\n".join(parts)


def _history(history: Sequence[Candidate], parent: Candidate) -> str:
    scored = [c for c in history if c.id != parent.id and (c.validation_score is not None or c.status == "rejected")]
    if not scored:
        return ""
    scored.sort(key=lambda c: (c.validation_score is None, -(c.validation_score or 0.0)))
    lines = ["## Earlier attempts (best first)"]
    for candidate in scored[:_HISTORY]:
        if candidate.validation_score is not None:
            outcome = f"validation score {candidate.validation_score:.3f}"
        else:
            outcome = f"rejected: minibatch score {candidate.minibatch_score or 0:.3f} did not beat its parent"
        lines.append(f"- {candidate.id} ({candidate.origin}), {outcome}:\n  {_clip(candidate.prompt.instruction, 400)}")
    return "\n".join(lines)


def _row(row: EvaluatedRow, example: Example | None) -> str:
    output = f"(the task failed: {row.error})" if row.error is not None else _clip(as_text(row.output))
    lines = [
        f"Input: {_clip(as_text(row.input))}",
        f"Output: {output}",
        f"Expected: {_clip(as_text(row.expected)) if row.expected is not None else '(not given)'}",
    ]
    feedback = _feedback(row, example)
    if feedback:
        lines.append("Feedback:\n" + "\n".join(f"- {item}" for item in feedback))
    return "\n".join(lines)


def _feedback(row: EvaluatedRow, example: Example | None) -> list[str]:
    items = []
    for result in row.evaluations:
        if result.error is not None:
            items.append(f"{result.name}: could not judge ({_clip(result.error, 300)})")
            continue
        verdict = {True: "passed", False: "failed", None: "judged"}[result.passed]
        facts = [f"label {result.label}"] * (result.label is not None) + [f"score {result.score:g}"] * (
            result.score is not None
        )
        why = f": {_clip(result.explanation, 600)}" if result.explanation else ""
        items.append(f"{result.name} {verdict}{' (' + ', '.join(facts) + ')' if facts else ''}{why}")
    annotations = (example.metadata.get("annotations") if example else None) or []
    for note in annotations if isinstance(annotations, list) else []:
        if isinstance(note, dict) and (note.get("explanation") or note.get("label")):
            who = note.get("annotator_kind") or "annotator"
            label = f", label {note['label']}" if note.get("label") else ""
            why = f": {_clip(str(note['explanation']), 600)}" if note.get("explanation") else ""
            items.append(f"annotation {note.get('name', '?')} on the source span ({who}{label}){why}")
    return items


def _clip(text: str, limit: int = _SHOWN_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + f"… ({len(text) - limit} more characters)"


# -- the answer -----------------------------------------------------------------------------------------------
def parse_proposal(answer: object, *, frame: PromptFrame, parent_instruction: str, num_prompts: int) -> Proposal:
    """The usable prompts of a reasoning model's answer (text or an already parsed object); see the module
    docstring. :class:`ReflectionUnusable` when there is none."""
    data = _as_object(answer)
    texts = data.get("prompts")
    if texts is None:
        texts = next((data[key] for key in ("prompt", "new_prompt", "instruction") if key in data), None)
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, list) or not texts:
        raise ReflectionUnusable('the answer has no "prompts": expected {"diagnosis": "…", "prompts": ["…"]}')
    prompts: list[str] = []
    refused: list[str] = []
    for number, text in enumerate(texts, 1):
        try:
            prompts.append(_usable(text, frame, parent_instruction, prompts))
        except ValueError as why:
            refused.append(f"prompt {number} {why}")
    if not prompts:
        raise ReflectionUnusable("no usable prompt in the answer: " + "; ".join(refused))
    diagnosis = data.get("diagnosis")
    return Proposal(
        diagnosis="" if diagnosis is None else _clip(str(diagnosis), 4_000),
        prompts=prompts[:num_prompts],
        refused=refused,
    )


def _as_object(answer: object) -> dict[str, Any]:
    if isinstance(answer, Mapping):
        return dict(answer)
    if not isinstance(answer, str) or not answer.strip():
        raise ReflectionUnusable("the reasoning model gave an empty answer")
    text = strip_code_fence(answer.strip())
    try:
        data = json.loads(text)
    except ValueError:
        match = _OBJECT.search(text)
        try:
            data = json.loads(match.group(0)) if match else None
        except ValueError:
            data = None
        if data is None:
            raise ReflectionUnusable(f"the answer is not a JSON object: {_clip(answer, 200)!r}") from None
    if not isinstance(data, dict):
        raise ReflectionUnusable(f"the answer is JSON but not an object: {_clip(answer, 200)!r}")
    return data


def _usable(text: object, frame: PromptFrame, parent: str, taken: list[str]) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ValueError("is empty or not a text")
    text = text.strip()
    if len(text) > MAX_INSTRUCTION_CHARS:
        raise ValueError(f"is longer than {MAX_INSTRUCTION_CHARS} characters")
    if not any(char.isalnum() for char in text):
        raise ValueError("has no words")
    if text == parent.strip() or text in taken:
        raise ValueError("repeats an instruction already tried")
    return frame.check_instruction(text)
