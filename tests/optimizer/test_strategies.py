"""The strategies' parts: what reflection shows and how its answer is read, few-shot selection, where
demonstrations go in a prompt, and the candidate pool (best, tie-break, Pareto parents)."""

from __future__ import annotations

import json
import random

import pytest

from optimizer.candidates import Candidate, CandidatePool
from optimizer.errors import ReflectionUnusable
from optimizer.fewshot import default_demo_count, select_demonstrations
from optimizer.iteration import passes_gate
from optimizer.prompt import CandidatePrompt, Demonstration, PromptFrame
from optimizer.reflection import build_reflection, parse_proposal
from replay.datasets.models import Example
from replay.evaluators import EvaluatedRow, EvaluationResult, labelize
from tests.optimizer.support import examples

FRAME = PromptFrame(
    [{"role": "system", "content": "Classify {{question}} for {{bank}}."}, {"role": "user", "content": "{{question}}"}]
)


def candidate(cid: str, scores: dict[str, float], *, length: int = 10, instruction: str = "x") -> Candidate:
    total = sum(scores.values()) / len(scores) if scores else None
    return Candidate(
        id=cid,
        iteration=0,
        origin="reflection",
        prompt=CandidatePrompt(instruction=instruction),
        length=length,
        validation_score=total,
        example_scores=scores,
    )


def row(example: Example, output: str, *, passed: bool, explanation: str | None = None) -> EvaluatedRow:
    verdict = EvaluationResult(name="intent", passed=passed, score=float(passed), label=None, explanation=explanation)
    return EvaluatedRow(
        example_id=example.id,
        input=example.input,
        output=output,
        expected=example.expected_output,
        evaluations=[verdict],
    )


def test_reflection_shows_failures_with_every_explanation_buckets_and_history() -> None:
    data = examples(6)
    data[0].metadata["annotations"] = [
        {"name": "correctness", "label": "wrong_intent", "explanation": "asked about a card, got loan",
         "annotator_kind": "HUMAN"},
        {"name": "judge", "score": 0.0, "explanation": "the answer ignores the question", "annotator_kind": "LLM"},
    ]  # fmt: skip
    rows = [
        row(data[0], "loan", passed=False, explanation="expected 'card', got 'loan'"),
        row(data[1], "loan", passed=True),
        EvaluatedRow(example_id=data[2].id, input=data[2].input, expected="fee", error="provider answered HTTP 500"),
    ]
    parent = candidate("c0", {"a": 0.25}, instruction="Classify {{question}} for {{bank}}.")
    earlier = candidate("c1", {"a": 0.5}, instruction="An earlier try")
    request = build_reflection(
        frame=FRAME,
        parent=parent,
        rows=rows,
        examples={example.id: example for example in data},
        history=[parent, earlier],
        labelization=labelize,
        num_prompts=2,
    )
    user = request.user
    assert "<instruction>\nClassify {{question}} for {{bank}}.\n</instruction>" in user
    assert "Placeholders it must keep: {{bank}}, {{question}}." in user
    assert "## Failing examples (2 of the 3 in this batch)" in user
    assert "Input: q00 about card\nOutput: loan\nExpected: card" in user
    assert "intent failed (score 0): expected 'card', got 'loan'" in user
    assert "annotation correctness on the source span (HUMAN, label wrong_intent): asked about a card, got loan" in user
    assert "annotation judge on the source span (LLM): the answer ignores the question" in user
    assert "Output: (the task failed: provider answered HTTP 500)" in user
    assert "### Outcome: pass" in user and "q01 about loan" in user, "one example per bucket, passing ones too"
    assert "- c1 (reflection), validation score 0.500:\n  An earlier try" in user
    assert request.example_ids == ["ex00", "ex02", "ex01"]
    assert "2 new, complete instruction(s)" in request.system and "{{variable}}" in request.system
    schema = request.response_format["json_schema"]["schema"]
    assert schema["required"] == ["diagnosis", "prompts"] and request.response_format["type"] == "json_schema"


@pytest.mark.parametrize(
    ("answer", "prompts"),
    [
        ({"diagnosis": "d", "prompts": ["Name it: {{question}} at {{bank}}"]}, ["Name it: {{question}} at {{bank}}"]),
        ('Sure! {"diagnosis": "d", "prompt": "Name it: {{question}} {{bank}}"} Hope it helps.',
         ["Name it: {{question}} {{bank}}"]),
        ('```json\n{"prompts": ["A {{question}} {{bank}}", "A {{question}} {{bank}}", "B {{question}}"]}\n```',
         ["A {{question}} {{bank}}"]),
    ],
)  # fmt: skip
def test_answers_are_read_leniently_in_form(answer: object, prompts: list[str]) -> None:
    text = answer if isinstance(answer, str) else json.dumps(answer)
    proposal = parse_proposal(text, frame=FRAME, parent_instruction="old {{question}} {{bank}}", num_prompts=3)
    assert proposal.prompts == prompts


def test_answers_are_read_strictly_in_content() -> None:
    parsed = parse_proposal(
        {"prompts": ["Keep {{question}} {{bank}}", "Drop {{question}}", "old {{question}} {{bank}}", 7]},
        frame=FRAME,
        parent_instruction="old {{question}} {{bank}}",
        num_prompts=1,
    )
    assert parsed.prompts == ["Keep {{question}} {{bank}}"]
    assert parsed.refused == [
        "prompt 2 drops the variable(s) {{bank}}",
        "prompt 3 repeats an instruction already tried",
        "prompt 4 is empty or not a text",
    ]


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("", "gave an empty answer"),
        ("I would add the intents.", "not a JSON object"),
        ("[1, 2]", "JSON but not an object"),
        ('{"diagnosis": "only words"}', 'the answer has no "prompts"'),
        (
            '{"prompts": ["{{ broken"]}',
            "no usable prompt in the answer: prompt 1 has a malformed placeholder at character 0",
        ),
        ('{"prompts": ["' + "x" * 20_001 + '"]}', "longer than 20000 characters"),
    ],
)
def test_unusable_answers_say_why(answer: str, message: str) -> None:
    with pytest.raises(ReflectionUnusable, match=message):
        parse_proposal(answer, frame=PromptFrame("Plain text prompt"), parent_instruction="p", num_prompts=1)


def test_demonstrations_spread_over_labels_and_prefer_passing_examples() -> None:
    train = [*examples(12), Example(id="braces", input={"question": "{{x}}"}, expected_output="card")]
    train.append(Example(id="unlabeled", input={"question": "q about fee"}))
    assert default_demo_count(train) == 3
    passing = {"ex03", "ex07"}
    picks = [select_demonstrations(train, k=3, rng=random.Random(seed), passing=passing) for seed in range(20)]
    for demos in picks:
        assert sorted(d.label or "" for d in demos) == ["card", "fee", "loan"]
        assert {"ex03", "ex07"} <= {d.example_id for d in demos}, "passed examples come first in their label"
        assert not {"braces", "unlabeled"} & {d.example_id for d in demos}
    assert len({tuple(d.example_id for d in demos) for demos in picks}) > 1, "each draw may differ"
    assert len(select_demonstrations(train, k=50, rng=random.Random(0))) == 12


def test_demonstrations_go_after_the_system_messages_or_into_a_text_prompt() -> None:
    demo = Demonstration(example_id="e", input={"question": "lost card", "bank": "Nova"}, output="card_lost")
    template = FRAME.template(CandidatePrompt(instruction="New {{question}} {{bank}}", demos=[demo]))
    assert template == [
        {"role": "system", "content": "New {{question}} {{bank}}"},
        {"role": "user", "content": "lost card"},
        {"role": "assistant", "content": "card_lost"},
        {"role": "user", "content": "{{question}}"},
    ]
    text = PromptFrame("Answer with the intent.")
    demo = Demonstration(example_id="e", input={"question": "lost card"}, output="card_lost")
    assert text.for_task(CandidatePrompt(instruction="Answer.", demos=[demo])) == (
        "Answer.\n\nExamples:\n\nInput: lost card\nOutput: card_lost"
    )
    assert text.messages(text.starting(), {"question": "hi"})[1] == {"role": "user", "content": "hi"}


def test_the_pool_keeps_the_best_breaks_ties_by_length_and_samples_pareto_parents() -> None:
    pool = CandidatePool()
    assert pool.add(candidate("c0", {"a": 1, "b": 0, "c": 0}, length=50))
    assert not pool.add(candidate("c1", {"a": 0, "b": 1, "c": 0}, length=60)), "a tie with a longer prompt"
    assert pool.add(candidate("c2", {"a": 0, "b": 0, "c": 1}, length=40)), "a tie with a shorter prompt wins"
    assert not pool.add(candidate("c3", {"a": 0, "b": 0, "c": 0}, length=1))
    assert pool.best().id == "c2"
    assert pool.front() == {"c0": 1, "c1": 1, "c2": 1}, "c3 tops no example"
    chosen = {pool.choose_parent("pareto", random.Random(seed)).id for seed in range(30)}
    assert chosen == {"c0", "c1", "c2"}
    assert pool.choose_parent("best", random.Random(0)).id == "c2"


def test_the_minibatch_gate_wants_a_gain_or_a_shorter_prompt_that_scores() -> None:
    parent = candidate("c0", {}, length=100)
    better, shorter, shorter_but_failing, longer = (
        candidate(f"c{i}", {}, length=length) for i, length in enumerate((120, 50, 50, 120), 1)
    )
    for item, score in ((better, 0.5), (shorter, 0.25), (shorter_but_failing, 0.0), (longer, 0.25)):
        item.minibatch_score = score
    assert passes_gate(better, parent, 0.25) and passes_gate(shorter, parent, 0.25)
    assert not passes_gate(longer, parent, 0.25), "a tie with a longer prompt"
    assert not passes_gate(shorter_but_failing, parent, 0.0), "two prompts failing everything tell nothing apart"
    with pytest.raises(ReflectionUnusable, match="prompt 1 has no words"):
        parse_proposal('{"prompts": ["..."]}', frame=PromptFrame("p"), parent_instruction="p", num_prompts=1)
