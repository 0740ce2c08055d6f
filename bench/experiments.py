"""Experiment throughput: N examples through the experiment runner against the fake model server.

Run: ``.venv/bin/python -m bench.experiments [--examples 1000] [--latency 0.05] [--jobs 32] [--repeat 3]``.

The fake OpenAI-compatible server runs in a process of its own (``python -m tests.fakeopenai --latency S``), so
it does not compete with the runner for the GIL. Each repeat runs a prompt-version task (``PromptTask``, one
``openai.AsyncOpenAI`` chat call per example) over the examples with one ``exact_match`` evaluator, after a
warm-up of 64 examples (connections, imports). Figures: **wall s** from start to the last run recorded;
**ideal s** = examples x latency / jobs, what a runner with no overhead of its own would take; **ratio** =
ideal / wall (1.0 = the model's latency is the only cost; the target is 0.8); **runs/s**; **cli CPU s** and
**fake CPU s** the CPU seconds of this process and of the fake server during the run; **errors**. With
``--trace`` the runs are also traced (spans built and batched, then dropped by a no-op exporter).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import psutil
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from bench.table import format_table
from replay.experiments import ExperimentTracer, PromptTask, run_experiment
from replay.prompts.models import PromptVersion
from replay.providers import Provider, ResolvedProvider

__all__ = ["main"]


@dataclass
class Run:
    examples: int
    jobs: int
    latency: float
    wall_seconds: float
    ideal_seconds: float
    ratio: float
    runs_per_second: float
    client_cpu_seconds: float
    fake_cpu_seconds: float
    errors: int
    load_average: float

    def row(self) -> dict[str, Any]:
        return {
            "examples": self.examples,
            "jobs": self.jobs,
            "latency s": f"{self.latency:g}",
            "wall s": f"{self.wall_seconds:.2f}",
            "ideal s": f"{self.ideal_seconds:.2f}",
            "ratio": f"{self.ratio:.2f}",
            "runs/s": f"{self.runs_per_second:,.0f}",
            "cli CPU s": f"{self.client_cpu_seconds:.2f}",
            "fake CPU s": f"{self.fake_cpu_seconds:.2f}",
            "errors": self.errors,
            "load1": f"{self.load_average:.1f}",
        }


class _Discard(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def _task(base_url: str) -> PromptTask:
    version = PromptVersion(
        prompt_name="bench-triage",
        version=1,
        template=[
            {"role": "system", "content": "You classify online-banking questions into one intent."},
            {"role": "user", "content": "{{question}}"},
        ],
        model_name="gpt-4o-mini",
        invocation_parameters={"temperature": 0},
        created_at=datetime.now(UTC),
        content_hash="sha256:bench",
    )
    return PromptTask(version, ResolvedProvider(Provider("fake", base_url, "sk-bench"), "bench"))


def _examples(count: int, offset: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "input": {"question": f"Why was my card payment {i} declined?"},
            "expected_output": f"fake reply to: Why was my card payment {i} declined?",
        }
        for i in range(offset, offset + count)
    ]


def run_once(base_url: str, fake: psutil.Process, options: argparse.Namespace) -> Run:
    tracer = ExperimentTracer.for_exporter(_Discard()) if options.trace else None
    examples = _examples(options.examples, offset=10_000)
    load_average = os.getloadavg()[0]
    me = psutil.Process()
    cpu_before, fake_before = me.cpu_times(), fake.cpu_times()
    started = time.perf_counter()
    result = run_experiment(examples, _task(base_url), ["exact_match"], jobs=options.jobs, tracer=tracer)
    wall = time.perf_counter() - started
    cpu_after, fake_after = me.cpu_times(), fake.cpu_times()
    if tracer is not None:
        tracer.shutdown()
    ideal = options.examples * options.latency / options.jobs
    return Run(
        examples=options.examples,
        jobs=options.jobs,
        latency=options.latency,
        wall_seconds=wall,
        ideal_seconds=ideal,
        ratio=ideal / wall,
        runs_per_second=options.examples / wall,
        client_cpu_seconds=(cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system),
        fake_cpu_seconds=(fake_after.user + fake_after.system) - (fake_before.user + fake_before.system),
        errors=result.summary.errors,
        load_average=load_average,
    )


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.experiments", description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=1000, help="examples per run (default 1,000)")
    parser.add_argument("--latency", type=float, default=0.05, help="the fake model's latency in s (default 0.05)")
    parser.add_argument("--jobs", type=int, default=32, help="runs in flight at once (default 32)")
    parser.add_argument("--repeat", type=int, default=3, help="runs; the median ratio is quoted")
    parser.add_argument("--trace", action="store_true", help="trace the runs too (spans dropped by a no-op exporter)")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    options = _parse(argv)
    command = [sys.executable, "-m", "tests.fakeopenai", "--latency", str(options.latency)]
    fake = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert fake.stdout is not None
        base_url = fake.stdout.readline().strip()
        if not base_url.startswith("http"):
            print("the fake model server did not start", file=sys.stderr)
            return 1
        run_experiment(_examples(64), _task(base_url), ["exact_match"], jobs=options.jobs)  # warm-up, not timed
        runs = [run_once(base_url, psutil.Process(fake.pid), options) for _ in range(options.repeat)]
    finally:
        fake.terminate()
        fake.wait(10)
    median = statistics.median(run.ratio for run in runs)
    if options.json:
        print(json.dumps({"runs": [asdict(run) for run in runs], "median_ratio": median}, indent=2))
    else:
        print(format_table([run.row() for run in runs]))
        print(f"median ratio to ideal: {median:.2f} (target ≥ 0.8)")
    return 1 if any(run.errors for run in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
