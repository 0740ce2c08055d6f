"""Saving the winner to a real prompt hub with its lineage; tags only when asked; the result's views."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

import pytest

from collector.store.database import Store
from optimizer.errors import OptimizerInvalid
from optimizer.loop import PromptOptimization
from optimizer.plot import result_svg
from optimizer.result import OptimizationResult
from optimizer.saving import save_winner
from replay.prompts.hub import PromptHub
from replay.prompts.models import PromptVersion, PromptVersionInput
from tests.fakeopenai import FakeOpenAI
from tests.optimizer.support import TEMPLATE, PromptAwareTask, examples, proposal, reasoner


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[PromptHub]:
    store = Store(tmp_path / "hub.duckdb")
    yield PromptHub(store)
    store.close()


def start_version(hub: PromptHub) -> PromptVersion:
    version, _ = hub.push(
        PromptVersionInput(
            name="triage",
            template=TEMPLATE,
            model_provider="openai",
            model_name="gpt-4o-mini",
            invocation_parameters={"temperature": 0},
            metadata={"owner": "support"},
        )
    )
    hub.move_tag("triage", "production", version.version)
    return version


def optimize(fake: FakeOpenAI, version: PromptVersion, *replies: str) -> OptimizationResult:
    fake.script.push(*(proposal(text) for text in replies))
    config = {"prompt": version, "reflection_provider": reasoner(fake), "dataset_name": "intents", "dataset_version": 2}
    return PromptOptimization(
        "triage-run",
        examples(),
        task=PromptAwareTask(),
        config=config,
        max_iterations=len(replies),
        minibatch_size=4,
        strategies=("reflection",),
        seed=0,
        retries=0,
    ).run()


def test_the_winner_is_saved_with_its_lineage_and_tagged_only_when_asked(
    hub: PromptHub, fake_openai: FakeOpenAI
) -> None:
    base = start_version(hub)
    result = optimize(fake_openai, base, "KNOW-card KNOW-loan KNOW-fee")
    saved = save_winner(hub, result, base, run_id="run-1")
    version = saved.version
    assert version is not None and saved.created and version.version == 2 and version.tags == []
    assert version.template == result.best_prompt
    assert (version.model_provider, version.model_name, version.invocation_parameters) == (
        "openai", "gpt-4o-mini", {"temperature": 0}
    )  # fmt: skip
    lineage = version.metadata["optimizer"]
    assert version.metadata["owner"] == "support", "the starting version's metadata is kept"
    assert lineage["run_id"] == "run-1" and lineage["parent_version"] == "triage@1"
    assert lineage["dataset"] == {"name": "intents", "version": 2}
    assert lineage["scores"]["validation_baseline"] == 0 and lineage["scores"]["validation_best"] == 1
    assert lineage["scores"]["test_baseline"] == 0 and lineage["scores"]["test_best"] == 1
    assert lineage["scores"]["test_delta_ci"][0] > 0
    assert lineage["candidate"] == {"id": "c1", "origin": "reflection", "iteration": 1, "demos": 0}
    assert lineage["settings"]["max_iterations"] == 1 and lineage["rollouts"] == result.usage.rollouts
    assert "triage@1" in (version.commit_message or "")
    assert hub.resolve("triage@production").version == 1, "production stays where it was"
    again = save_winner(hub, result, base, tag="staging", run_id="run-1")
    assert again.version is not None and not again.created and again.version.tags == ["staging"]
    assert hub.tag_history("triage", "staging")[0].note == "optimizer triage-run (run-1)"


def test_production_moves_only_when_named_and_a_bad_tag_writes_nothing(hub: PromptHub, fake_openai: FakeOpenAI) -> None:
    base = start_version(hub)
    result = optimize(fake_openai, base, "KNOW-card")
    with pytest.raises(OptimizerInvalid, match="not all digits"):
        save_winner(hub, result, base, tag="42")
    assert [v.version for v in hub.versions("triage")] == [1], "nothing was pushed"
    saved = save_winner(hub, result, base, tag="production")
    assert saved.version is not None and hub.resolve("triage@production").version == saved.version.version


def test_nothing_is_saved_when_no_candidate_beat_the_start(hub: PromptHub, fake_openai: FakeOpenAI) -> None:
    base = start_version(hub)
    result = optimize(fake_openai, base, "Classify the banking question with great care and attention.")
    saved = save_winner(hub, result, base, tag="staging")
    assert saved.version is None and "nothing was saved" in saved.note
    assert [v.version for v in hub.versions("triage")] == [1] and hub.tags("triage")[0].tag == "production"


def test_the_result_round_trips_and_draws_its_history(hub: PromptHub, fake_openai: FakeOpenAI) -> None:
    result = optimize(fake_openai, start_version(hub), "KNOW-card", "KNOW-card KNOW-loan")
    again = OptimizationResult.model_validate_json(result.model_dump_json())
    assert again == result and again.get_score_history() == result.get_score_history()
    assert [item["id"] for item in result.get_prompt_history()] == ["c0", "c1", "c2"]
    summary = result.summary()
    for text in ("validation score", "0.000 → 0.667", "test score", "95% CI", "rollouts", "c2 ★", "max_iterations"):
        assert text in summary
    svg = result_svg(result)
    root = ElementTree.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    circles = root.findall(".//{http://www.w3.org/2000/svg}circle")
    titles = [c.findtext("{http://www.w3.org/2000/svg}title") or "" for c in circles]
    assert [t for t in titles if t] == ["c0 (baseline): 0.000", "c1 (reflection): 0.333", "c2 (reflection): 0.667"]
    assert "test 0.000 → 0.667" in svg
    json.loads(result.model_dump_json())
