"""What each stage of ingest costs per span on its own, and the throughput those costs allow on this machine.

Run: ``.venv/bin/python -m bench.ingest_floor [--spans 20000] [--repeat 3]``.

``bench/ingest.py`` measures the whole server under load; this script times the stages one by one, in one
process with nothing else running, on the workload of ``bench/workload.py`` (the three conventions mixed):

- **exporter encode** — what an instrumented app (or the ``http-protobuf``/``grpc`` bench senders) spends
  turning SDK spans into an OTLP protobuf body: the official exporters' ``encode_spans`` + serialization, in
  batches of 512;
- **decode + normalize + columns** — the server's normalizer: protobuf parsing, the three conventions into the
  canonical fields, the Arrow columns (:func:`collector.ingest.rows.build_batch`, groups of 4 exports as the
  pipeline makes them);
- **DuckDB insert** — the pipeline's own insert (:func:`collector.ingest.pipeline._insert`: ``INSERT … ON
  CONFLICT DO NOTHING`` into the real schema with its primary key and indexes, zstd), then the same rows into a
  copy of the table without key or indexes — the least DuckDB itself needs for these rows.

CPU per span is the process's CPU time (DuckDB's insert uses its own threads), median of ``--repeat`` runs. The
last lines divide the machine's CPU (cores x 1 s) by the sum of the server's stages, and by that sum plus the
exporter's encoding when the senders share the machine: the most spans a second any arrangement of those
stages could reach here, before receiving, the write-ahead log, queues and the senders' own I/O are counted.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from bench.sdk import readable_spans
from bench.table import format_table
from bench.workload import RESOURCE, Workload, trace_request
from collector.ingest.otlp import ExportKind
from collector.ingest.pipeline import _insert
from collector.ingest.rows import Batch, build_batch
from collector.store.database import Store

__all__ = ["main"]

_BATCH = 512  # spans per export, the BatchSpanProcessor's default
_GROUP = 4  # exports per normalizer group


def _cpu_us_per_span(work: Callable[[], object], spans: int) -> float:
    started = time.process_time()
    work()
    return (time.process_time() - started) / spans * 1e6


def _build_into(out: list[Batch], groups: list[list[tuple[int, bytes]]]) -> None:
    out.extend(build_batch(group) for group in groups)


def _append(con: duckdb.DuckDBPyConnection, batch: Batch) -> None:
    """The spans of ``batch`` appended as they are (a table without a key has no conflict to check)."""
    con.register("_floor_batch", batch.spans)
    con.execute("INSERT INTO spans BY NAME SELECT * FROM _floor_batch")
    con.unregister("_floor_batch")


def _insert_all(batches: list[Batch], *, bare: bool) -> Callable[[], object]:
    """A fresh store (real migrations); with ``bare`` the spans table loses its key and indexes first."""
    folder = tempfile.mkdtemp(prefix="spanlab-floor-")
    store = Store(Path(folder) / "floor.duckdb")
    if bare:

        def strip(con: duckdb.DuckDBPyConnection) -> None:
            for statement in (
                "DROP INDEX spans_span_id",
                "DROP INDEX spans_trace_id",
                "CREATE TABLE spans_bare AS SELECT * FROM spans LIMIT 0",
                "DROP TABLE spans",
                "ALTER TABLE spans_bare RENAME TO spans",
            ):
                con.execute(statement)

        store.write(strip).result()

    def run() -> None:
        try:
            for batch in batches:
                store.write(functools.partial(_append if bare else _insert, batch=batch)).result()
            store.write(lambda con: con.execute("CHECKPOINT")).result()
        finally:
            store.close()

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_floor", description=__doc__.split("\n")[0])
    parser.add_argument("--spans", type=int, default=20_000, help="spans per run (default 20,000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs; medians are quoted")
    options = parser.parse_args(argv)

    workload = Workload(seed=7, run_tag="floor", spans_hint=options.spans)
    plans = list(workload.batches(options.spans, _BATCH))
    sdk_batches = [readable_spans(batch, resource=RESOURCE) for batch in plans]
    bodies = [trace_request(batch).SerializeToString() for batch in plans]
    groups: list[list[tuple[int, bytes]]] = [
        [(int(ExportKind.TRACES), body) for body in bodies[i : i + _GROUP]] for i in range(0, len(bodies), _GROUP)
    ]
    count = options.spans
    print(
        f"{count:,} spans, {sum(map(len, bodies)) / count:,.0f} protobuf bytes a span; load average "
        f"{os.getloadavg()[0]:.1f}",
        file=sys.stderr,
    )

    stages: dict[str, list[float]] = {name: [] for name in ("encode", "normalize", "insert", "bare")}
    for _ in range(options.repeat):
        stages["encode"].append(
            _cpu_us_per_span(lambda: [encode_spans(b).SerializeToString() for b in sdk_batches], count)
        )
        built: list[Batch] = []
        stages["normalize"].append(_cpu_us_per_span(functools.partial(_build_into, built, groups), count))
        stages["insert"].append(_cpu_us_per_span(_insert_all(built, bare=False), count))
        stages["bare"].append(_cpu_us_per_span(_insert_all(built, bare=True), count))
    median = {name: statistics.median(values) for name, values in stages.items()}
    rows = [
        ("exporter encode (client)", "encode"),
        ("decode + normalize + columns (server)", "normalize"),
        ("DuckDB insert, real schema (server)", "insert"),
        ("DuckDB insert, no key or indexes", "bare"),
    ]
    print(
        format_table(
            [
                {
                    "stage": label,
                    "CPU µs/span": f"{median[key]:.1f}",
                    "runs": " / ".join(f"{v:.1f}" for v in stages[key]),
                }
                for label, key in rows
            ]
        )
    )
    cores = os.cpu_count() or 1
    server = median["normalize"] + median["insert"]
    floor = median["normalize"] + median["bare"]
    print(
        f"\n{cores} cores. Server stages: {server:.0f} µs/span → at most {cores * 1e6 / server:,.0f} spans/s; "
        f"with the least DuckDB insert: {cores * 1e6 / floor:,.0f} spans/s."
    )
    print(
        f"Official exporters on the same cores: +{median['encode']:.0f} µs/span → at most "
        f"{cores * 1e6 / (server + median['encode']):,.0f} spans/s, and {cores * 1e6 / median['encode']:,.0f} "
        "spans/s for the senders alone with an idle server."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
