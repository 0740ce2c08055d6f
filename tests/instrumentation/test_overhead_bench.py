"""``bench/instrumentation_overhead.py`` runs end to end on a few calls: every mode's calls are timed, the
instrumentors take turns without leaving a patch behind, and the summary has a row per mode. No figure is
checked: timings belong to the benchmark's own runs."""

from __future__ import annotations

import pytest
from openai.resources.chat.completions import Completions

from bench.instrumentation_overhead import MODES, baseline_spread, main, measure, summarize


def test_the_overhead_benchmark_runs_every_mode_and_unpatches() -> None:
    create = Completions.__dict__["create"]
    results = measure(counts={"plain": 100, "streamed": 20}, cold_counts={"plain": 3, "streamed": 2})
    assert Completions.__dict__["create"] is create
    for shape, calls in {"plain": 100, "streamed": 20}.items():
        assert {mode: len(results["steady"][shape][mode]) for mode in MODES} == dict.fromkeys(MODES, calls)
    assert all(len(results["cold"]["streamed"][mode]) == 2 for mode in MODES)
    steady, cold = summarize(results)
    assert [row["mode"] for row in steady] == [row["mode"] for row in cold] == list(MODES)
    assert set(baseline_spread(results)) == {"plain", "streamed"}


def test_the_overhead_benchmark_prints_a_verdict_per_shape(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--calls", "50", "--stream-calls", "10", "--cold-calls", "2", "--cold-stream-calls", "2"])
    out = capsys.readouterr().out
    assert "Steady state (µs)" in out and "Cold calls (µs)" in out
    assert [line.split(",")[0] for line in out.splitlines() if "steady state: spanlab" in line] == ["plain", "streamed"]
