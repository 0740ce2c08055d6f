"""Serve the fake provider in a process of its own: `python -m tests.fakeopenai [--latency 0.05]`.

Prints the base URL (`http://127.0.0.1:PORT/v1`) as the first line of stdout, then serves until
SIGINT or SIGTERM. Useful for benchmarks, where a server in the measured process would compete for
the GIL; clients script it with markers in their messages (see README.md).
"""

from __future__ import annotations

import argparse
import signal

from .server import FakeOpenAI


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.fakeopenai", description=__doc__)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each model response")
    parser.add_argument("--between-chunks", type=float, default=0.0, help="seconds between stream events")
    args = parser.parse_args()
    # Blocked before the server thread starts, so it inherits the mask and the signal can only be
    # taken by sigwait below (a handler would not run while the main thread sleeps if the kernel
    # delivered the signal to the server thread).
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    with FakeOpenAI() as fake:
        fake.script.set_latency(args.latency, between_chunks=args.between_chunks)
        print(fake.base_url, flush=True)
        signal.sigwait(stop_signals)


if __name__ == "__main__":
    main()
