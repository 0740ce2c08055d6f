"""spanlab benchmarks: ingest throughput (:mod:`bench.ingest`) and query latency (:mod:`bench.queries`).

Run them from the repository root with ``.venv/bin/python -m bench.ingest`` / ``-m bench.queries``; they start
their own ``spanlab serve`` on ephemeral 127.0.0.1 ports and are never run by the test suite.
"""
