"""Ingest throughput with an online-evaluation rule on, beside the same load without it.

Run: ``.venv/bin/python -m bench.online_eval [--spans 50000] [--repeat 1] [--mode raw-http]
[--evaluator contains:texts=card] [--sample-rate 1.0]``.

For each repeat, two runs on fresh servers (``bench.ingest``'s workload, senders and server handling): one
without rules, one with a rule judging every LLM span (at ``--sample-rate``) with a code evaluator. Columns:
**spans/s** until every span is stored and queryable (as in ``bench.ingest``); **srv CPU s** of the server
and its normalizer; **LLM spans** in the run; **evaluated** spans the rule judged by the time ingest ended, and
**catch-up s** from then until it had judged every sampled span (the evaluation runs behind ingest, off its
path). A judge rule is not measured: its pace is its model's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.conventions import CONVENTIONS
from bench.load import LoadOptions, LoadResult, run_load, warm_up
from bench.senders import MODES, SDK_MODES
from bench.server import ServerProcess, start_server
from bench.table import format_table
from replay.experiments.online import sampled

__all__ = ["main"]

_CATCH_UP_TIMEOUT = 600.0


@dataclass
class Record:
    rule: bool
    load: LoadResult
    llm_spans: int = 0
    evaluated_at_end: int = 0
    expected: int = 0
    catch_up_seconds: float | None = None
    load_average: float = 0.0

    def row(self) -> dict[str, Any]:
        return {
            "rule": "on" if self.rule else "off",
            "spans": self.load.stored,
            "spans/s": f"{self.load.spans_per_second:,.0f}",
            "wall s": f"{self.load.wall_seconds:.2f}",
            "srv CPU s": f"{self.load.server_cpu_seconds:.1f}",
            "LLM spans": self.llm_spans if self.rule else "",
            "evaluated": f"{self.evaluated_at_end}/{self.expected}" if self.rule else "",
            "catch-up s": "" if self.catch_up_seconds is None else f"{self.catch_up_seconds:.1f}",
            "load1": f"{self.load_average:.1f}",
        }


def _rule(server: ServerProcess, options: argparse.Namespace) -> str:
    body = {"name": "bench", "evaluators": [options.evaluator], "sample_rate": options.sample_rate}
    response = server.client.post("/api/v1/online-rules", json=body)
    response.raise_for_status()
    rule_id: str = response.json()["id"]
    return rule_id


def _evaluated(server: ServerProcess, rule_id: str) -> int:
    response = server.client.get(f"/api/v1/online-rules/{rule_id}")
    response.raise_for_status()
    return int(response.json()["evaluated"])


def run_one(options: argparse.Namespace, *, rule: bool) -> Record:
    load_average = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="spanlab-bench-") as tmp:
        server = start_server(Path(tmp) / "bench.duckdb", log_dir=Path(tmp))
        try:
            warm_up(server)
            rule_id = _rule(server, options) if rule else None
            sdk = options.mode in SDK_MODES
            load = run_load(
                server,
                LoadOptions(
                    mode=options.mode,
                    spans=options.spans,
                    senders=2 if sdk else 1,
                    threads=2 if sdk else 4,
                    run_tag=f"online-{uuid.uuid4().hex[:8]}",
                    conventions=CONVENTIONS,
                ),
            )
            record = Record(rule=rule, load=load, load_average=load_average)
            if rule_id is not None:
                _catch_up(server, rule_id, record, options.sample_rate)
        finally:
            server.stop()
    return record


def _catch_up(server: ServerProcess, rule_id: str, record: Record, rate: float) -> None:
    """How many sampled LLM spans the rule had judged when ingest ended, and how long the rest took."""
    ended = time.monotonic()
    record.evaluated_at_end = _evaluated(server, rule_id)
    created = server.client.get(f"/api/v1/online-rules/{rule_id}").json()["created_at"]
    # a rule judges spans with an output that arrive after it (the warm-up's were stored before)
    where = (
        "kind = 'LLM' AND (coalesce(json_array_length(output_messages), 0) > 0 OR output_value IS NOT NULL) "
        f"AND ingested_at > TIMESTAMP '{created.replace('T', ' ').removesuffix('Z')}'"
    )
    span_ids: list[str] = []
    while True:  # pages: the SQL endpoint returns at most SPANLAB_SQL_MAX_ROWS rows
        rows = server.sql(
            f"SELECT span_id FROM spans WHERE {where} ORDER BY span_id LIMIT 10000 OFFSET {len(span_ids)}"
        )
        span_ids += [row[0] for row in rows or []]
        if not rows or len(rows) < 10000:
            break
    record.llm_spans = len(span_ids)
    record.expected = sum(1 for span_id in span_ids if sampled(rule_id, span_id, rate))
    while time.monotonic() - ended < _CATCH_UP_TIMEOUT:
        if _evaluated(server, rule_id) >= record.expected:
            record.catch_up_seconds = time.monotonic() - ended
            return
        time.sleep(0.2)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.online_eval", description=__doc__.split("\n")[0])
    parser.add_argument("--spans", type=int, default=50_000, help="spans per run (default 50,000)")
    parser.add_argument("--repeat", type=int, default=1, help="pairs of runs (off, on); medians are quoted")
    parser.add_argument("--mode", default="raw-http", choices=MODES, help="how spans are sent (bench.ingest's)")
    parser.add_argument("--evaluator", default="contains:texts=card", help="the rule's evaluator spec")
    parser.add_argument("--sample-rate", type=float, default=1.0, help="the rule's sample rate")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    options = _parse(argv)
    records: list[Record] = []
    for _ in range(options.repeat):
        records.append(run_one(options, rule=False))
        records.append(run_one(options, rule=True))
    print(format_table([record.row() for record in records]))
    for rule in (False, True):
        rates = [r.load.spans_per_second for r in records if r.rule is rule]
        print(f"median spans/s with the rule {'on' if rule else 'off'}: {statistics.median(rates):,.0f}")
    return 1 if any(r.load.lost for r in records) else 0


if __name__ == "__main__":
    sys.exit(main())
