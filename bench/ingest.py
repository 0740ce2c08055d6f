"""Ingest throughput: N spans through each OTLP path into a fresh ``spanlab serve``, until stored.

Run: ``.venv/bin/python -m bench.ingest [--spans 200000] [--repeat 3] [--modes raw-grpc,grpc] [--json]``.
Each (mode, repeat) gets a fresh server on a fresh temporary DuckDB file, so runs do not influence each other;
see bench/README.md for what each column means.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.checks import normalization_rows
from bench.conventions import CONVENTIONS, LEGACY
from bench.load import LoadOptions, LoadResult, run_load, warm_up
from bench.senders import MODES, SDK_MODES
from bench.server import BenchError, start_server
from bench.table import format_table

__all__ = ["main"]

_MB = 1024 * 1024


@dataclass(slots=True)
class RunRecord:
    mode: str
    repeat: int
    load: LoadResult
    exit_code: int | None = None
    stop_seconds: float = 0.0
    db_bytes: int = 0
    load_average: float = 0.0  # 1-minute load average just before the run (other work on the machine)
    warmup_seconds: float = 0.0  # first export after start-up until stored (not in the timed run)
    normalization: list[dict[str, Any]] | str = field(default_factory=list)
    server_problems: list[str] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        r = self.load
        return {
            "mode": self.mode,
            "run": self.repeat + 1,
            "spans": r.spans,
            "wall s": f"{r.wall_seconds:.2f}",
            "spans/s": f"{r.spans_per_second:,.0f}",
            "acked s": f"{r.ack_seconds:.2f}",
            "exports": r.exports + r.log_exports,
            "retries": r.retries,
            "gave up": r.failed_spans,
            "lost": r.lost,
            "peak RSS MB": f"{r.peak_rss / _MB:,.0f}",
            "srv CPU s": f"{r.server_cpu_seconds:.1f}",
            "cli CPU s": f"{r.client_cpu_seconds:.1f}",
            "stop s": f"{self.stop_seconds:.1f}",
            "warm-up s": f"{self.warmup_seconds:.1f}",
            "load1": f"{self.load_average:.1f}",
        }


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.split("\n")[0])
    parser.add_argument("--spans", type=int, default=200_000, help="spans per run (default 200,000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per mode; the median is quoted")
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, from {', '.join(MODES)}")
    parser.add_argument("--senders", type=int, help="sender processes (default: 2 for SDK modes, 1 for raw)")
    parser.add_argument("--threads", type=int, help="exporting threads per sender (default: 2 SDK, 4 raw)")
    parser.add_argument("--batch-size", type=int, default=512, help="spans per export (BatchSpanProcessor's)")
    parser.add_argument("--gzip", action="store_true", help="gzip request bodies (HTTP and gRPC)")
    parser.add_argument("--mixed-logs", action="store_true", help="add legacy GenAI log-event traces")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--no-warmup", dest="warmup", action="store_false", help="time the cold start too (no warm-up export)"
    )
    parser.add_argument("--stall-timeout", type=float, default=120.0, help="give up after this long idle")
    parser.add_argument("--server-cmd", help="command that starts the server (default: venv `spanlab serve`)")
    parser.add_argument("--server-arg", action="append", default=[], help="extra server flag (repeatable)")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of tables")
    options = parser.parse_args(argv)
    unknown = set(options.modes.split(",")) - set(MODES)
    if unknown:
        parser.error(f"unknown mode(s) {sorted(unknown)}; choose from {', '.join(MODES)}")
    return options


def _load_options(options: argparse.Namespace, mode: str, repeat: int) -> LoadOptions:
    sdk = mode in SDK_MODES
    return LoadOptions(
        mode=mode,
        spans=options.spans,
        senders=options.senders or (2 if sdk else 1),
        threads=options.threads or (2 if sdk else 4),
        seed=options.seed,
        run_tag=f"{mode}-{repeat}-{uuid.uuid4().hex[:8]}",
        conventions=(*CONVENTIONS, LEGACY) if options.mixed_logs else CONVENTIONS,
        batch_size=options.batch_size,
        gzip=options.gzip,
        stall_timeout=options.stall_timeout,
        quiet=options.json,
    )


def run_one(options: argparse.Namespace, mode: str, repeat: int) -> RunRecord:
    """One run on a fresh server and a fresh DuckDB file, both gone afterwards."""
    load_average = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="spanlab-bench-") as tmp:
        db = Path(tmp) / "bench.duckdb"
        command = shlex.split(options.server_cmd) if options.server_cmd else None
        server = start_server(db, log_dir=Path(tmp), command=command, extra_args=options.server_arg)
        try:
            warmup_seconds = warm_up(server) if options.warmup else 0.0
            load = run_load(server, _load_options(options, mode, repeat))
            normalization = normalization_rows(server)
        finally:
            exit_code, stop_seconds = server.stop()
            problems = server.problems()
        db_bytes = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file() and "stderr" not in p.name)
        return RunRecord(
            mode,
            repeat,
            load,
            exit_code=exit_code,
            stop_seconds=stop_seconds,
            db_bytes=db_bytes,
            load_average=load_average,
            warmup_seconds=warmup_seconds,
            normalization=normalization,
            server_problems=problems,
        )


def _summary(records: list[RunRecord]) -> list[dict[str, Any]]:
    rows = []
    for mode in dict.fromkeys(r.mode for r in records):
        runs = [r for r in records if r.mode == mode]
        rows.append(
            {
                "mode": mode,
                "runs": len(runs),
                "median spans/s": f"{statistics.median(r.load.spans_per_second for r in runs):,.0f}",
                "min-max spans/s": f"{min(r.load.spans_per_second for r in runs):,.0f}-"
                f"{max(r.load.spans_per_second for r in runs):,.0f}",
                "median wall s": f"{statistics.median(r.load.wall_seconds for r in runs):.2f}",
                "retries": sum(r.load.retries for r in runs),
                "lost": sum(r.load.lost for r in runs),
                "median peak RSS MB": f"{statistics.median(r.load.peak_rss for r in runs) / _MB:,.0f}",
                "DB MB": f"{statistics.median(r.db_bytes for r in runs) / _MB:,.0f}",
            }
        )
    return rows


def _report(records: list[RunRecord], options: argparse.Namespace, failures: list[str]) -> None:
    if options.json:
        document = {
            "spans": options.spans,
            "repeat": options.repeat,
            "gzip": options.gzip,
            "mixed_logs": options.mixed_logs,
            "runs": [{**asdict(r), "spans_per_second": r.load.spans_per_second, "lost": r.load.lost} for r in records],
            "summary": _summary(records),
            "failures": failures,
        }
        print(json.dumps(document, indent=2, default=str))
        return
    print(format_table([r.row() for r in records]))
    print()
    print(format_table(_summary(records)))
    if records:
        print("\nwhat the store made of the last run (spans with each canonical field):")
        last = records[-1].normalization
        print(last if isinstance(last, str) else format_table(last))
    _print_findings(records, failures)


def _print_findings(records: list[RunRecord], failures: list[str]) -> None:
    for record in records:
        where = f"{record.mode} run {record.repeat + 1}"
        if record.load.errors:
            print(f"! {where}: client errors: {record.load.errors[:3]}")
        if record.exit_code not in (0, None):
            print(f"! {where}: server exit code {record.exit_code} after SIGTERM")
        if record.server_problems:
            print(f"! {where}: {len(record.server_problems)} error/warning line(s) on server stderr, e.g.")
            for line in record.server_problems[:5]:
                print(f"    {line[:200]}")
    for failure in failures:
        print(f"! {failure}")


def main(argv: list[str] | None = None) -> int:
    options = _parse(argv)
    records: list[RunRecord] = []
    failures: list[str] = []
    for mode in options.modes.split(","):
        for repeat in range(options.repeat):
            if not options.json:
                print(f"{mode} run {repeat + 1}/{options.repeat}: {options.spans:,} spans", file=sys.stderr)
            started = time.monotonic()
            try:
                records.append(run_one(options, mode, repeat))
            except BenchError as exc:
                failures.append(f"{mode} run {repeat + 1} failed after {time.monotonic() - started:.0f}s: {exc}")
                print(f"! {failures[-1]}", file=sys.stderr)
    _report(records, options, failures)
    return 1 if failures or any(r.load.lost for r in records) else 0


if __name__ == "__main__":
    sys.exit(main())
