"""The experiment runner in-process, against the fake model server: concurrency, retries with backoff and
Retry-After, per-run timeout, error isolation, repetitions and consistency, Python tasks, cancellation, tracing."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import openai
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from replay.errors import InvalidInput
from replay.experiments import (
    Backoff,
    ExperimentTracer,
    PromptTask,
    TaskOutput,
    arun_experiment,
    as_examples,
    run_experiment,
)
from replay.experiments.retry import describe_failure, is_retryable, retry_after_seconds
from replay.prompts.models import PromptVersion
from replay.providers import Provider, ResolvedProvider
from tests.fakeopenai import ChatReply, ErrorReply, FakeOpenAI, Usage

FAST = Backoff(base=0.01, max_delay=0.05, rng=random.Random(7))


def version(template: str = "Q: {{q}}", **fields: Any) -> PromptVersion:
    return PromptVersion(
        prompt_name="triage",
        version=3,
        template=[{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": template}],
        model_name="gpt-4o-mini",
        created_at=datetime.now(UTC),
        content_hash="sha256:test",
        **fields,
    )


def task_for(fake: FakeOpenAI, **options: Any) -> PromptTask:
    provider = ResolvedProvider(Provider("fake", fake.base_url, "sk-test"), "test")
    return PromptTask(version(), provider, **options)


def examples(count: int, *, marker: str = "") -> list[dict[str, Any]]:
    return [
        {"input": {"q": f"question {i}{marker}"}, "expected_output": f"fake reply to: Q: question {i}"}
        for i in range(count)
    ]


def test_a_prompt_runs_over_every_example_with_usage_latency_and_evaluations(fake_openai: FakeOpenAI) -> None:
    fake_openai.script.add_rule("question 2", ChatReply(content="wrong", usage=Usage(10, 5)))
    result = run_experiment(examples(5), task_for(fake_openai), ["exact_match"], dataset="qs", dataset_version=4)
    assert [run.position for run in result.runs] == [0, 1, 2, 3, 4]
    bodies = [request.body for request in fake_openai.requests]
    assert {body["model"] for body in bodies} == {"gpt-4o-mini"}
    assert bodies[0]["messages"][0] == {"role": "system", "content": "Answer briefly."}
    third = result.runs[2]
    assert third.output == "wrong" and (third.input_tokens, third.output_tokens) == (10, 5)
    assert third.evaluations[0].passed is False and "wrong" in (third.evaluations[0].explanation or "")
    summary = result.summary
    assert summary.score == pytest.approx(0.8) and summary.errors == 0 and summary.runs == 5
    p50, p99 = summary.latency_ms["p50"], summary.latency_ms["p99"]
    assert p50 is not None and p99 is not None and p99 >= p50
    assert summary.cost is not None and summary.cost > 0
    assert summary.input_tokens == sum(run.input_tokens or 0 for run in result.runs)
    assert result.experiment.config.task.prompt == "triage@3" and result.experiment.dataset_version == 4
    assert result.experiment.status == "finished" and result.experiment.progress.done == 5


def test_runs_are_concurrent_up_to_jobs(fake_openai: FakeOpenAI) -> None:
    fake_openai.script.set_latency(0.4)
    result = run_experiment(examples(8), task_for(fake_openai), jobs=4)
    received = sorted(request.received_at for request in fake_openai.requests)
    assert received[3] - received[0] < 0.3, "the first four calls are in flight together"
    assert received[4] - received[0] >= 0.3, "the fifth waits for a free job"
    assert result.summary.errors == 0


def test_429_is_retried_after_its_retry_after(fake_openai: FakeOpenAI) -> None:
    fake_openai.script.add_rule("question 0", ErrorReply(status=429, retry_after=0.3))
    started = time.monotonic()
    backoff = Backoff(base=0.01, max_delay=1.0)  # without Retry-After the retries would come after ≤ 0.02 s
    result = run_experiment(examples(2), task_for(fake_openai), jobs=1, retries=2, backoff=backoff)
    first, second = result.runs
    assert first.error is not None and "HTTP 429" in first.error and "after 3 attempts" in first.error
    assert first.attempts == 3 and time.monotonic() - started >= 0.6, "Retry-After was honoured twice"
    assert second.error is None and second.attempts == 1


def test_5xx_is_retried_with_backoff_until_it_succeeds(fake_openai: FakeOpenAI) -> None:
    fake_openai.script.push(ErrorReply(status=503), ErrorReply(status=500))
    result = run_experiment(examples(1), task_for(fake_openai), ["exact_match"], retries=2, backoff=FAST)
    (run,) = result.runs
    assert run.error is None and run.attempts == 3 and run.evaluations[0].passed is True
    assert len(fake_openai.requests) == 3


def test_a_client_error_is_final_and_the_other_examples_go_on(fake_openai: FakeOpenAI) -> None:
    rows = examples(4)
    rows[1]["input"]["q"] += " [[error:400]]"
    result = run_experiment(rows, task_for(fake_openai), ["exact_match"], retries=3, backoff=FAST)
    failed = result.runs[1]
    assert failed.attempts == 1 and failed.evaluations == [] and failed.output is None
    assert failed.error is not None and failed.error.startswith("the provider answered HTTP 400")
    assert [run.error for i, run in enumerate(result.runs) if i != 1] == [None, None, None]
    assert result.summary.errors == 1 and result.summary.error_rate == 0.25
    assert result.summary.evaluators["exact_match"].metrics["task_errors"] == 1


def test_a_run_past_its_timeout_is_an_error_and_does_not_hold_the_others(fake_openai: FakeOpenAI) -> None:
    rows = examples(3)
    rows[0]["input"]["q"] += " [[latency:5]]"
    started = time.monotonic()
    result = run_experiment(rows, task_for(fake_openai), timeout=0.5, retries=0)
    assert time.monotonic() - started < 3
    assert result.runs[0].error == "timed out after 0.5 s"
    assert [run.error for run in result.runs[1:]] == [None, None]


def test_an_example_missing_a_variable_fails_before_any_call(fake_openai: FakeOpenAI) -> None:
    rows = [*examples(1), {"input": {"question": "x"}}]
    result = run_experiment(rows, task_for(fake_openai))
    assert result.runs[1].error is not None and "'q'" in result.runs[1].error
    assert len(fake_openai.requests) == 1


def test_overrides_reach_the_request_and_bad_ones_are_refused(fake_openai: FakeOpenAI) -> None:
    task = task_for(fake_openai, model="gpt-4.1-mini", parameters={"temperature": 0, "seed": 7})
    run_experiment(examples(1), task)
    body = fake_openai.requests[0].body
    assert (body["model"], body["temperature"], body["seed"]) == ("gpt-4.1-mini", 0, 7)
    with pytest.raises(InvalidInput, match="stream"):
        task_for(fake_openai, parameters={"stream": True})
    provider = ResolvedProvider(Provider("bare", fake_openai.base_url, "k"), "test")
    with pytest.raises(InvalidInput, match="no model"):
        PromptTask(version().model_copy(update={"model_name": None}), provider)


def test_repetitions_measure_consistency(fake_openai: FakeOpenAI) -> None:
    fake_openai.script.push(ChatReply(content="first answer"))
    result = run_experiment(examples(3), task_for(fake_openai), ["exact_match"], repetitions=2, jobs=1)
    assert len(result.runs) == 6 and {run.repetition for run in result.runs} == {0, 1}
    consistency = result.summary.consistency
    assert consistency is not None and consistency.examples == 3
    assert consistency.output_agreement == pytest.approx(2 / 3)
    assert consistency.evaluators["exact_match"].agreement == pytest.approx(2 / 3)
    assert consistency.evaluators["exact_match"].mean_score_stdev == pytest.approx((0.5 + 0 + 0) / 3)


def test_a_python_task_gets_input_and_config_and_its_failures_are_isolated() -> None:
    seen: list[Any] = []

    def task(input: dict[str, Any], config: dict[str, Any]) -> Any:
        seen.append(config)
        if input["q"] == "question 1":
            raise ValueError("my pipeline broke")
        return TaskOutput(output={"answer": input["q"].upper()}, input_tokens=3, output_tokens=2, cost=0.5)

    result = run_experiment(
        examples(3), task, [lambda output: (1.0, "shouted") if output["answer"].isupper() else 0.0], config={"k": 1}
    )
    assert seen == [{"k": 1}] * 3
    assert result.runs[1].error == "ValueError: my pipeline broke" and result.runs[1].attempts == 1
    assert result.runs[0].output == {"answer": "QUESTION 0"} and result.runs[0].latency_ms is not None
    assert result.summary.cost == 1.0 and result.summary.evaluators["<lambda>"].metrics["mean_score"] == 1.0
    assert result.experiment.config.task.kind == "python" and result.experiment.config.task.config == {"k": 1}


def test_an_async_python_task_and_an_input_only_one() -> None:
    async def shout(input: dict[str, Any]) -> str:
        await asyncio.sleep(0.01)
        return input["q"].upper()

    result = run_experiment(examples(2), shout, ["contains:texts=QUESTION"])
    assert [run.output for run in result.runs] == ["QUESTION 0", "QUESTION 1"]
    assert result.summary.score == 1.0


def test_bad_settings_are_refused_before_any_run() -> None:
    with pytest.raises(InvalidInput, match="must take"):
        run_experiment(examples(1), lambda: None)
    with pytest.raises(InvalidInput, match="jobs"):
        run_experiment(examples(1), str.upper, jobs=0)
    with pytest.raises(InvalidInput, match="at least one example"):
        run_experiment([], str.upper)
    with pytest.raises(InvalidInput, match="used twice"):
        run_experiment(examples(1), str.upper, ["exact_match", "exact_match"])
    with pytest.raises(InvalidInput, match="example 0: input"):
        run_experiment([{"expected_output": 1}], str.upper)
    with pytest.raises(InvalidInput, match="unknown evaluator"):
        run_experiment(examples(1), str.upper, ["no_such_thing"])


def test_example_ids_come_from_their_content() -> None:
    first = as_examples([{"input": {"a": 1}}, {"input": {"b": 2}}, {"input": {"a": 1}}, {"id": "mine", "input": {}}])
    again = as_examples([{"input": {"b": 2}}, {"input": {"a": 1}}])
    assert first[0].id == again[1].id and first[1].id == again[0].id
    assert first[2].id == first[0].id + "-2" and first[3].id == "mine"


def test_cancelling_stops_the_runs_in_flight_and_keeps_the_finished(fake_openai: FakeOpenAI) -> None:
    rows = examples(6)
    for row in rows[2:]:
        row["input"]["q"] += " [[latency:5]]"
    cancel = threading.Event()

    def on_run(run: Any, progress: Any) -> None:
        if progress.done == 2:
            cancel.set()

    started = time.monotonic()
    result = run_experiment(rows, task_for(fake_openai), jobs=2, cancel=cancel, on_run=on_run)
    assert time.monotonic() - started < 3
    assert result.experiment.status == "cancelled" and len(result.runs) == 2
    assert result.summary.runs == 2


def test_run_experiment_inside_an_event_loop_says_to_await() -> None:
    async def inside() -> None:
        with pytest.raises(InvalidInput, match="await arun_experiment"):
            run_experiment(examples(1), str.upper)
        result = await arun_experiment(examples(1), lambda input: input["q"])
        assert result.runs[0].output == "question 0"

    asyncio.run(inside())


def attributes(span: Any) -> dict[str, Any]:
    return dict(span.attributes or {})


def test_model_calls_are_traced_with_the_run_identity(fake_openai: FakeOpenAI) -> None:
    exporter = InMemorySpanExporter()
    tracer = ExperimentTracer.for_exporter(exporter)
    fake_openai.script.push(ErrorReply(status=500))
    rows = [
        {
            "id": "ex-1",
            "input": {"q": "hi"},
            "source_span_id": "00f067aa0ba902b7",
            "source_trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        }
    ]
    result = run_experiment(rows, task_for(fake_openai), dataset="qs", name="try", tracer=tracer, backoff=FAST)
    spans = sorted(exporter.get_finished_spans(), key=lambda span: span.start_time or 0)
    assert len(spans) == 2, "one span per attempt"
    failed, ok = spans
    assert failed.status.status_code.name == "ERROR" and attributes(failed)["spanlab.experiment.attempt"] == 1
    assert attributes(ok)["spanlab.experiment.attempt"] == 2
    assert (
        attributes(ok)["spanlab.experiment.id"] == result.id
        and attributes(ok)["spanlab.experiment.example_id"] == "ex-1"
    )
    assert (
        attributes(ok)["gen_ai.request.model"] == "gpt-4o-mini"
        and ok.resource.attributes["service.name"] == "experiments"
    )
    assert format(ok.context.span_id, "016x") == result.runs[0].span_id
    assert format(ok.links[0].context.span_id, "016x") == "00f067aa0ba902b7"
    assert '"experiment_name": "try"' in str(attributes(ok)["metadata"])
    tracer.shutdown()


def test_a_python_task_span_is_the_parent_of_what_it_traces() -> None:
    exporter = InMemorySpanExporter()
    tracer = ExperimentTracer.for_exporter(exporter)
    inner = tracer._provider.get_tracer("app")

    def task(input: dict[str, Any]) -> str:
        with inner.start_as_current_span("my step"):
            return "done"

    result = run_experiment(examples(1), task, tracer=tracer)
    by_name = {span.name: span for span in exporter.get_finished_spans()}
    parent = by_name["experiment task task"]
    assert by_name["my step"].parent is not None and by_name["my step"].parent.span_id == parent.context.span_id
    assert attributes(parent)["output.value"] == "done" and result.runs[0].span_id == format(
        parent.context.span_id, "016x"
    )
    tracer.shutdown()


def _status_error(fake: FakeOpenAI, status: int, headers: dict[str, str]) -> openai.APIStatusError:
    """The error the real client raises for a scripted answer."""
    fake.script.push(ErrorReply(status=status, message="slow down", headers=headers))
    client = openai.OpenAI(base_url=fake.base_url, api_key="sk-test", max_retries=0)
    try:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    except openai.APIStatusError as error:
        return error
    finally:
        client.close()
    raise AssertionError("the fake answered without an error")


def test_retry_decisions_and_delays(fake_openai: FakeOpenAI) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert retry_after_seconds(_status_error(fake_openai, 429, {"retry-after-ms": "250"})) == 0.25
    assert retry_after_seconds(_status_error(fake_openai, 503, {"retry-after": "2"})) == 2.0
    assert 28 <= (retry_after_seconds(_status_error(fake_openai, 503, {"retry-after": when})) or 0) <= 30
    assert retry_after_seconds(_status_error(fake_openai, 503, {"retry-after": "soon"})) is None
    statuses = (400, 404, 408, 409, 429, 500, 503)
    assert [is_retryable(_status_error(fake_openai, s, {})) for s in statuses] == [
        False, False, True, True, True, True, True,
    ]  # fmt: skip
    assert not is_retryable(ValueError("x"))
    backoff = Backoff(base=1.0, max_delay=4.0, rng=random.Random(1))
    delays = [backoff.delay(ValueError("x"), attempt) for attempt in range(6)]
    assert all(0 <= d <= min(4.0, 2**a) for a, d in enumerate(delays))
    assert backoff.delay(_status_error(fake_openai, 503, {"retry-after": "60"}), 0) == 4.0, "capped"
    assert describe_failure(_status_error(fake_openai, 400, {})) == "the provider answered HTTP 400: slow down"
