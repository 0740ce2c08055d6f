"""The optimization loop's mechanics, exactly: split hygiene, best-from-best, the minibatch gate, every stopping
rule, the tie-break, rollout accounting and failures of the reasoning model.

The task is :class:`~tests.optimizer.support.PromptAwareTask` (its answers follow the prompt); the reasoning
model is the built-in one, talking to the fake model server, whose answers each test scripts in order (only
reflection calls reach it). 24 examples split 12 train / 6 validation / 6 test; minibatches of 4.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from optimizer.errors import OptimizationCancelled, OptimizerInvalid, TaskFailed
from optimizer.loop import PromptOptimization
from optimizer.progress import OptimizationEvent, OptimizationProgress
from replay.evaluators import EvaluationSummary
from tests.fakeopenai import ChatReply, ErrorReply, FakeOpenAI
from tests.optimizer.support import TEMPLATE, PromptAwareTask, examples, proposal, reasoner

ALL = "Name the intent. KNOW-card KNOW-loan KNOW-fee"


def optimization(fake: FakeOpenAI, task: PromptAwareTask, **options: Any) -> PromptOptimization:
    settings: dict[str, Any] = {
        "max_iterations": 3,
        "seed": 0,
        "minibatch_size": 4,
        "strategies": ("reflection",),
        "retries": 0,
        **options,
    }
    config = {
        "prompt": settings.pop("prompt", TEMPLATE),
        "reflection_provider": reasoner(fake),
        **settings.pop("config", {}),
    }
    return PromptOptimization("loop-test", examples(), task=task, config=config, **settings)


def reflection_bodies(fake: FakeOpenAI) -> list[dict[str, Any]]:
    return [request.body for request in fake.requests if request.path.endswith("/chat/completions")]


def test_reflection_and_selection_never_see_held_out_examples(fake_openai: FakeOpenAI) -> None:
    task = PromptAwareTask()
    fake_openai.script.push(proposal("KNOW-card"), proposal("KNOW-card KNOW-loan"), proposal(ALL))

    def on_event(event: OptimizationEvent, progress: OptimizationProgress) -> None:
        if event.kind == "stopped":
            task.phase = "test"

    run = optimization(fake_openai, task, strategies=("reflection", "fewshot"), on_event=on_event)
    result = run.run(jobs=3)
    split = result.split
    assert split == run.split(), "the split is deterministic in the seed and kept with the result"
    assert split.sizes() == {"train": 4 * 3, "validation": 2 * 3, "test": 2 * 3}, "stratified: 2 of each label"
    question = {example.id: example.input["question"] for example in run.examples}
    train, validation, test = ({question[i] for i in split.ids(p)} for p in ("train", "validation", "test"))
    assert validation <= task.questions("search") <= train | validation, "the search ran on train and validation"
    assert task.questions("test") == test, "test is scored after the search, and only then"
    assert sum(1 for q, _, phase in task.calls if phase == "test") == 2 * len(test), "start and winner, once each"
    for record in result.history:
        assert set(record.minibatch) <= set(split.train)
        assert record.reflection is None or set(record.reflection.example_ids) <= set(split.train)
    for candidate in result.candidates:
        assert {demo.example_id for demo in candidate.prompt.demos} <= set(split.train)
    bodies = reflection_bodies(fake_openai)
    assert len(bodies) == result.usage.reflection_calls >= 1
    for body in bodies:
        text = json.dumps(body["messages"])
        assert not any(q in text for q in validation | test), "reflection prompts show training examples only"
        assert body["response_format"]["json_schema"]["name"] == "prompt_proposal"


def test_each_iteration_starts_from_the_best_so_far(fake_openai: FakeOpenAI) -> None:
    fake_openai.script.push(proposal("KNOW-card"), proposal("KNOW-card KNOW-loan"), proposal(ALL))
    result = optimization(fake_openai, PromptAwareTask()).run()
    assert [record.parent_id for record in result.history] == ["c0", "c1", "c2"]
    assert [c.validation_score for c in result.candidates] == pytest.approx([0, 1 / 3, 2 / 3, 1])
    assert result.get_score_history() == pytest.approx([0, 1 / 3, 2 / 3, 1])
    assert (result.best_candidate_id, result.best_iteration, result.best_score) == ("c3", 3, 1.0)
    users = [body["messages"][1]["content"] for body in reflection_bodies(fake_openai)]
    assert "<instruction>\nKNOW-card\n</instruction>" in users[1], "iteration 2 reflects on the best: c1"
    assert "<instruction>\nKNOW-card KNOW-loan\n</instruction>" in users[2]
    assert "c1 (reflection), validation score 0.333" in users[2], "earlier candidates are shown with scores"
    assert result.best_prompt == [{"role": "system", "content": ALL}, TEMPLATE[1]]
    test = result.test_score
    assert test is not None and (test.baseline, test.best, test.n) == (0.0, 1.0, 6)
    assert test.interval is not None and test.interval.low > 0, "the gain's interval excludes zero"


def test_a_candidate_must_beat_its_parent_on_the_minibatch_before_validation(fake_openai: FakeOpenAI) -> None:
    fake_openai.script.push(proposal("Classify the banking question very carefully, thinking it over."))
    result = optimization(fake_openai, PromptAwareTask(), max_iterations=1).run()
    rejected = result.candidates[1]
    assert rejected.status == "rejected" and rejected.validation_score is None
    assert (rejected.parent_minibatch_score, rejected.minibatch_score) == (0.0, 0.0)
    assert result.usage.search_rollouts == 6 + 4 + 4, "baseline validation + parent and candidate minibatches"
    assert result.best_candidate_id == "c0" and result.saved_version is None


def test_a_tie_goes_to_the_shorter_prompt(fake_openai: FakeOpenAI) -> None:
    fake_openai.script.push(proposal("KNOW-card"))
    start = [{"role": "system", "content": "Classify the banking question, please. KNOW-card"}, TEMPLATE[1]]
    result = optimization(fake_openai, PromptAwareTask(), max_iterations=1, prompt=start).run()
    baseline, shorter = result.candidates
    assert baseline.validation_score == shorter.validation_score == pytest.approx(1 / 3)
    assert shorter.length < baseline.length and shorter.status == "validated"
    assert result.best_candidate_id == shorter.id


@pytest.mark.parametrize(
    ("options", "replies", "reason", "iterations", "search_rollouts"),
    [
        ({"max_iterations": 2}, ["KNOW-card", "KNOW-card KNOW-loan"], "max_iterations", 2, 6 + 2 * (4 + 4 + 6)),
        (
            {"patience": 2, "max_iterations": 9},
            ["Classify it, then think about it twice.", "Classify it, then think about it three times."],
            "patience",
            2,
            6 + 2 * (4 + 4),
        ),
        ({"budget_rollouts": 20}, ["KNOW-card"], "budget", 1, 20),
        ({"budget_rollouts": 19}, ["KNOW-card"], "budget", 1, 14),
        ({"budget_rollouts": 6}, [], "budget", 0, 6),
    ],
)
def test_the_search_stops_by_its_rules_and_never_overspends(
    fake_openai: FakeOpenAI,
    options: dict[str, Any],
    replies: list[str],
    reason: str,
    iterations: int,
    search_rollouts: int,
) -> None:
    fake_openai.script.push(*(proposal(text) for text in replies))
    result = optimization(fake_openai, PromptAwareTask(), **options).run()
    assert (result.stop_reason, result.total_iterations) == (reason, iterations)
    usage = result.usage
    assert usage.search_rollouts == search_rollouts
    assert usage.test_rollouts == (6 if result.best_candidate_id == "c0" else 12)
    assert usage.rollouts == usage.search_rollouts + usage.test_rollouts
    if "budget_rollouts" in options:
        assert usage.search_rollouts <= options["budget_rollouts"]
    if options.get("budget_rollouts") == 19:
        assert result.candidates[-1].status == "over_budget", "its validation run would have passed the budget"


def test_a_stopping_condition_on_the_best_summaries_ends_the_search(fake_openai: FakeOpenAI) -> None:
    fake_openai.script.push(proposal("KNOW-card"), proposal("KNOW-card KNOW-loan"), proposal(ALL))
    seen: list[float | None] = []

    def good_enough(summaries: dict[str, EvaluationSummary]) -> bool:
        seen.append(summaries["exact_match"].metrics["pass_rate"])
        return (summaries["exact_match"].metrics["pass_rate"] or 0) >= 0.6

    result = optimization(fake_openai, PromptAwareTask(), max_iterations=5, stopping_condition=good_enough).run()
    assert result.stop_reason == "stopping_condition" and result.total_iterations == 2
    assert seen == pytest.approx([0.0, 1 / 3, 2 / 3]), "checked on the baseline and on every new best"


def test_failures_of_the_reasoning_model_are_recorded_and_the_search_goes_on(fake_openai: FakeOpenAI) -> None:
    fake_openai.script.push(
        ErrorReply(status=500),
        ErrorReply(status=400, message="response_format is not supported"),
        ChatReply(content="You should name the intents."),
        proposal("", "Classify {{nothing}}"),
        ChatReply(content="```json\n" + json.dumps({"diagnosis": "no intents", "prompt": ALL}) + "\n```"),
    )
    result = optimization(fake_openai, PromptAwareTask(), max_iterations=5).run()
    errors = [record.reflection.error if record.reflection else None for record in result.history]
    assert errors[0] is not None and "HTTP 500" in errors[0]
    assert errors[1] is not None and "HTTP 400" in errors[1] and "response_format is not supported" in errors[1]
    assert errors[2] is not None and "not a JSON object" in errors[2]
    assert errors[3] is not None and "prompt 1 is empty" in errors[3] and "unknown variable(s) {{nothing}}" in errors[3]
    assert errors[4] is None and result.history[4].reflection is not None
    assert result.history[4].reflection.diagnosis == "no intents", "a fenced answer with 'prompt' is read"
    assert (result.usage.reflection_calls, result.usage.reflection_failures) == (5, 4)
    assert result.best_candidate_id == "c1" and result.best_score == 1.0 and result.total_iterations == 5


def test_fewshot_demonstrations_come_from_train_with_diverse_labels(fake_openai: FakeOpenAI) -> None:
    result = optimization(fake_openai, PromptAwareTask(), strategies=("fewshot",), demos=3, max_iterations=1).run()
    candidate = result.candidates[1]
    assert candidate.origin == "fewshot" and candidate.prompt.instruction == TEMPLATE[0]["content"]
    assert sorted(demo.label or "" for demo in candidate.prompt.demos) == ["card", "fee", "loan"]
    assert {demo.example_id for demo in candidate.prompt.demos} <= set(result.split.train)
    assert result.best_candidate_id == candidate.id and result.best_score == 1.0
    turns = result.best_prompt
    assert [m["role"] for m in turns] == ["system", "user", "assistant"] * 1 + ["user", "assistant"] * 2 + ["user"]
    assert fake_openai.requests == [], "the few-shot strategy calls no model"


def test_repetitions_multiply_rollouts_and_cancel_stops_the_search(fake_openai: FakeOpenAI) -> None:
    fake_openai.script.push(proposal("KNOW-card"), proposal("KNOW-card KNOW-loan"))
    holder: list[PromptOptimization] = []

    def cancel_in_iteration_two(event: OptimizationEvent, progress: OptimizationProgress) -> None:
        if event.kind == "iteration" and event.iteration == 2:
            holder[0].cancel()

    run = optimization(fake_openai, PromptAwareTask(), config={"runs": 2}, on_event=cancel_in_iteration_two)
    holder.append(run)
    result = run.run(jobs=4)
    assert result.stop_reason == "cancelled" and result.test_score is None
    assert result.usage.search_rollouts == 2 * (6 + 4 + 4 + 6), "iteration 2 was cancelled in its first run"
    assert result.usage.test_rollouts == 0


def test_a_task_failing_everywhere_or_an_early_cancel_has_no_result(fake_openai: FakeOpenAI) -> None:
    start = [{"role": "system", "content": "FAIL"}, TEMPLATE[1]]
    with pytest.raises(TaskFailed, match=r"the task failed on every validation example.*the task broke"):
        optimization(fake_openai, PromptAwareTask(), prompt=start).run()
    run = optimization(fake_openai, PromptAwareTask())
    run.cancel()
    with pytest.raises(OptimizationCancelled):
        run.run()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_iterations": -1}, "max_iterations must be an integer of at least 0"),
        ({"budget_rollouts": 0}, "budget_rollouts must be an integer of at least 1"),
        ({"strategies": ("guessing",)}, "strategies must be some of reflection, fewshot"),
        ({"parent_selection": "random"}, "parent_selection must be 'best' or 'pareto'"),
        ({"dataset_split": (0.5, 0.5, 0.5)}, "split fractions must add up to 1"),
        ({"prompt": [{"role": "system", "content": "{{ broken"}]}, "not a usable chat template"),
        ({"prompt": 42}, 'config\\["prompt"\\] must be a PromptVersion'),
    ],
)
def test_bad_settings_are_refused_before_any_rollout(
    fake_openai: FakeOpenAI, options: dict[str, Any], message: str
) -> None:
    task = PromptAwareTask()
    with pytest.raises(OptimizerInvalid, match=message):
        optimization(fake_openai, task, **options).run()
    assert task.calls == [] and fake_openai.requests == []


def test_a_budget_below_the_baseline_run_is_refused(fake_openai: FakeOpenAI) -> None:
    task = PromptAwareTask()
    with pytest.raises(OptimizerInvalid, match=r"budget_rollouts=5 does not cover the baseline validation run"):
        optimization(fake_openai, task, budget_rollouts=5).run()
    assert task.calls == []
