"""Query latency on a big store: load N spans (default 1,000,000) over raw OTLP, then time the REST API.

Run: ``.venv/bin/python -m bench.queries [--spans 1000000] [--runs 30] [--db PATH] [--json]``.
With ``--db`` the DuckDB file is kept, and reused without loading when it already holds enough spans (same
``--seed``), so the timings can be repeated without the long load. Every request goes through real HTTP
with one keep-alive connection; each query runs twice untimed, then ``--runs`` times.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import random
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.checks import normalization_rows
from bench.corpus import search_words
from bench.load import LoadOptions, LoadResult, run_load
from bench.server import BenchError, MemorySampler, ServerProcess, start_server
from bench.table import format_table
from bench.tracegen import TRACE_SPAN_MEAN
from bench.workload import CONVENTIONS, Workload

__all__ = ["main"]

_MB = 1024 * 1024
_WARMUP = 2


@dataclass(frozen=True, slots=True)
class QuerySpec:
    name: str
    path: Callable[[int], str]  # run number → request path (lookups vary the id)
    target_ms: float | None
    target_stat: str = "p50"


@dataclass(slots=True)
class QueryTiming:
    name: str
    example: str
    target_ms: float | None
    target_stat: str
    first_ms: float = 0.0
    samples_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    rows: int | None = None
    error: str | None = None

    @property
    def p50(self) -> float:
        return statistics.median(self.samples_ms) if self.samples_ms else math.nan

    @property
    def p95(self) -> float:
        ordered = sorted(self.samples_ms)
        return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)] if ordered else math.nan

    def met(self) -> str:
        if self.error or self.target_ms is None or not self.samples_ms:
            return "—"
        value = self.p50 if self.target_stat == "p50" else self.p95
        return "yes" if value < self.target_ms else "NO"

    def row(self) -> dict[str, Any]:
        target = "—" if self.target_ms is None else f"{self.target_stat} < {self.target_ms:,.0f} ms"
        return {
            "query": self.name,
            "p50 ms": f"{self.p50:.1f}",
            "p95 ms": f"{self.p95:.1f}",
            "min ms": f"{min(self.samples_ms, default=math.nan):.1f}",
            "max ms": f"{max(self.samples_ms, default=math.nan):.1f}",
            "first ms": f"{self.first_ms:.1f}",
            "target": target,
            "met": self.met(),
            "rows": "—" if self.rows is None else self.rows,
            "HTTP": ",".join(f"{code}x{n}" for code, n in sorted(self.statuses.items())),
        }


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.queries", description=__doc__.split("\n")[0])
    parser.add_argument("--spans", type=int, default=1_000_000, help="spans to load (default 1,000,000)")
    parser.add_argument("--runs", type=int, default=30, help="timed runs per query (default 30)")
    parser.add_argument("--transport", choices=("raw-grpc", "raw-http"), default="raw-grpc")
    parser.add_argument("--senders", type=int, default=2, help="loading processes (default 2)")
    parser.add_argument("--threads", type=int, default=2, help="threads per loading process (default 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default="mistral-small-latest", help="model for the ?model= filter")
    parser.add_argument("--db", type=Path, help="keep the DuckDB file here (reused when already loaded)")
    parser.add_argument("--stall-timeout", type=float, default=120.0, help="give up after this long idle")
    parser.add_argument("--server-cmd", help="command that starts the server (default: venv `spanlab serve`)")
    parser.add_argument("--server-arg", action="append", default=[], help="extra server flag (repeatable)")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of tables")
    return parser.parse_args(argv)


def _run_tag(seed: int) -> str:
    return f"queries-{seed}"  # fixed, so a kept --db and this run agree on the ids


def _lookup_ids(options: argparse.Namespace, count: int) -> list[tuple[str, str]]:
    """(trace id, span id) pairs of spans that were loaded, picked at random over the whole store."""
    workload = Workload(seed=options.seed, run_tag=_run_tag(options.seed), spans_hint=options.spans)
    rng = random.Random(options.seed)
    loaded_traces = int(options.spans / TRACE_SPAN_MEAN * 0.9)  # stay clear of the cut-short last traces
    pairs = []
    for index in rng.sample(range(loaded_traces), count):
        span = rng.choice(workload.trace(index))
        pairs.append((span.trace_id.hex(), span.span_id.hex()))
    return pairs


def _specs(options: argparse.Namespace) -> list[QuerySpec]:
    common, rare = search_words(0.01)
    ids = _lookup_ids(options, options.runs + _WARMUP)
    return [
        QuerySpec("latest 50 traces", lambda i: "/api/v1/traces?limit=50", 100),
        QuerySpec(f"search q={common} (~1%)", lambda i: f"/api/v1/traces?q={common}&limit=50", 1000),
        QuerySpec(f"search q={rare} (rare)", lambda i: f"/api/v1/traces?q={rare}&limit=50", 1000),
        QuerySpec("one span", lambda i: f"/api/v1/spans/{ids[i][1]}", 20),
        QuerySpec("one trace (tree)", lambda i: f"/api/v1/traces/{ids[i][0]}", None),
        QuerySpec("filter status=ERROR", lambda i: "/api/v1/traces?status=ERROR&limit=50", None),
        QuerySpec(f"filter model={options.model}", lambda i: f"/api/v1/traces?model={options.model}&limit=50", None),
    ]


def time_query(client: httpx.Client, spec: QuerySpec, runs: int) -> QueryTiming:
    timing = QueryTiming(spec.name, spec.path(0), spec.target_ms, spec.target_stat)
    for i in range(runs + _WARMUP):
        started = time.perf_counter()
        try:
            response = client.get(spec.path(i))
        except httpx.HTTPError as exc:
            timing.error = f"{type(exc).__name__}: {exc}"
            return timing
        elapsed = (time.perf_counter() - started) * 1000
        timing.statuses[response.status_code] = timing.statuses.get(response.status_code, 0) + 1
        if i == 0:
            timing.first_ms = elapsed
            timing.rows = _rows(response)
            if response.status_code in (404, 405) and "/spans/" not in spec.path(0):
                timing.error = f"endpoint missing (HTTP {response.status_code})"
                return timing
        if i >= _WARMUP:
            timing.samples_ms.append(elapsed)
    return timing


def _rows(response: httpx.Response) -> int | None:
    with contextlib.suppress(ValueError):
        body = response.json()
        if isinstance(body, dict) and isinstance(body.get("data"), list):
            return len(body["data"])
        if isinstance(body, dict) and isinstance(body.get("spans"), list):
            return len(body["spans"])
        return 1 if response.status_code == 200 else 0
    return None


def _store_checks(server: ServerProcess, model: str) -> dict[str, Any]:
    """What the store holds, through ``/api/v1/sql`` (None values when the endpoint is missing)."""
    common, rare = search_words(0.01)
    queries = {
        "spans": "SELECT count(*) FROM spans",
        "error spans": "SELECT count(*) FROM spans WHERE status_code = 'ERROR'",
        f"spans with model {model}": f"SELECT count(*) FROM spans WHERE model = '{model}'",
        f"search_text has '{common}'": f"SELECT count(*) FROM spans WHERE contains(search_text, '{common}')",
        f"search_text has '{rare}'": f"SELECT count(*) FROM spans WHERE contains(search_text, '{rare}')",
    }
    checks: dict[str, Any] = {}
    for name, sql in queries.items():
        try:
            rows = server.sql(sql)
        except httpx.HTTPError as exc:
            checks[name] = f"failed: {exc}"
            continue
        checks[name] = rows if rows is None or len(rows) != 1 or len(rows[0]) != 1 else rows[0][0]
    checks["normalization"] = normalization_rows(server)
    return checks


def _file_sizes(db: Path) -> dict[str, int]:
    def size(path: Path) -> int:
        return path.stat().st_size if path.is_file() else 0

    wal_dir = db.with_suffix(".wal")
    return {
        "duckdb file": size(db),
        "duckdb wal": size(db.with_name(db.name + ".wal")),
        "spanlab WAL dir": sum(size(p) for p in wal_dir.glob("*")) if wal_dir.is_dir() else 0,
    }


@dataclass(slots=True)
class QueriesReport:
    spans: int
    load: LoadResult | None = None
    timings: list[QueryTiming] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)
    sizes_loaded: dict[str, int] = field(default_factory=dict)
    sizes_stopped: dict[str, int] = field(default_factory=dict)
    rss_after_load: int = 0
    rss_peak_queries: int = 0
    exit_code: int | None = None
    stop_seconds: float = 0.0
    server_problems: list[str] = field(default_factory=list)


@contextlib.contextmanager
def _database(options: argparse.Namespace) -> Iterator[tuple[Path, Path]]:
    """(db file, folder for logs): the --db path, or a temporary folder removed afterwards."""
    if options.db is not None:
        options.db.parent.mkdir(parents=True, exist_ok=True)
        yield options.db, options.db.parent
        return
    with tempfile.TemporaryDirectory(prefix="spanlab-bench-") as tmp:
        yield Path(tmp) / "bench.duckdb", Path(tmp)


def _load_if_needed(server: ServerProcess, options: argparse.Namespace, report: QueriesReport) -> None:
    stored = int(server.status()["spans"])
    if stored >= options.spans:
        print(f"reusing {options.db}: {stored:,} spans already stored", file=sys.stderr)
        return
    if stored:
        raise BenchError(f"{options.db} holds {stored:,} spans, fewer than --spans; use a fresh --db")
    print(f"loading {options.spans:,} spans over {options.transport}...", file=sys.stderr)
    report.load = run_load(
        server,
        LoadOptions(
            mode=options.transport,
            spans=options.spans,
            senders=options.senders,
            threads=options.threads,
            seed=options.seed,
            run_tag=_run_tag(options.seed),
            conventions=CONVENTIONS,
            prebuild=False,
            stall_timeout=options.stall_timeout,
            quiet=options.json,
        ),
    )


def run(options: argparse.Namespace) -> QueriesReport:
    report = QueriesReport(options.spans)
    with _database(options) as (db, log_dir):
        command = shlex.split(options.server_cmd) if options.server_cmd else None
        server = start_server(db, log_dir=log_dir, command=command, extra_args=options.server_arg)
        try:
            _load_if_needed(server, options, report)
            report.sizes_loaded = _file_sizes(db)
            report.checks = _store_checks(server, options.model)
            with MemorySampler(server.process.pid) as memory:
                report.rss_after_load = memory.sample() or 0
                with httpx.Client(base_url=server.http_url, timeout=60.0, trust_env=False) as client:
                    report.timings = [time_query(client, spec, options.runs) for spec in _specs(options)]
                report.rss_peak_queries = memory.peak_rss
        finally:
            report.exit_code, report.stop_seconds = server.stop()
            report.server_problems = server.problems()
        report.sizes_stopped = _file_sizes(db)
    return report


def _print(report: QueriesReport) -> None:
    if report.load is not None:
        load = report.load
        print(
            f"loaded {load.stored:,} spans in {load.wall_seconds:.1f}s ({load.spans_per_second:,.0f} spans/s), "
            f"{load.retries} retries, {load.lost} lost, peak RSS {load.peak_rss / _MB:,.0f} MB"
        )
    print(format_table([t.row() for t in report.timings]))
    for timing in report.timings:
        if timing.error:
            print(f"! {timing.name}: {timing.error}")
    print()
    for label, sizes in (("after load", report.sizes_loaded), ("after SIGTERM", report.sizes_stopped)):
        print(f"files {label}: " + ", ".join(f"{k} {v / _MB:,.1f} MB" for k, v in sizes.items()))
    print(
        f"server RSS after load {report.rss_after_load / _MB:,.0f} MB, "
        f"peak during queries {report.rss_peak_queries / _MB:,.0f} MB"
    )
    print(f"server stop: exit code {report.exit_code} in {report.stop_seconds:.1f}s")
    for name, value in report.checks.items():
        if isinstance(value, list):
            print(f"{name}:\n{format_table(value)}")
        else:
            print(f"{name}: {value}")
    for line in report.server_problems[:10]:
        print(f"! server stderr: {line[:200]}")


def main(argv: list[str] | None = None) -> int:
    options = _parse(argv)
    try:
        report = run(options)
    except BenchError as exc:
        print(f"! {exc}", file=sys.stderr)
        return 1
    if options.json:
        document = asdict(report)
        for timing, row in zip(report.timings, document["timings"], strict=True):
            row.update(p50_ms=timing.p50, p95_ms=timing.p95, met=timing.met())
        print(json.dumps(document, indent=2, default=str))
    else:
        _print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
