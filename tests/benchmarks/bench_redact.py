"""Redaction and guard throughput (run on demand: python tests/benchmarks/bench_redact.py).

Ingest calls redact() once per message, so its cost per typical chat message bounds how much it
adds to an import. Prints microseconds per call for typical and secret-bearing messages.
"""

from __future__ import annotations

import time

from pxprofile.guard import line_problem
from pxprofile.redact import redact

TYPICAL = (
    "I would like you to explain how the borrow checker works in Rust, with examples. My project "
    "uses tokio and serde; version 1.2.3. "
) * 4
SECRETS = (
    "My key is AKIAIOSFODNN7EXAMPLE and the db is postgres://admin:S3cr3t@db:5432/app; mail "
    "jane@example.com or call +1 415 555 0132. card 4111 1111 1111 1111. password=hunter22 "
) * 2
LINE = "Prefers short, direct answers without a long preamble."


def bench(fn, arg, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn(arg)
    return (time.perf_counter() - start) / n * 1e6


if __name__ == "__main__":
    print(f"redact, typical {len(TYPICAL)}-char message: {bench(redact, TYPICAL, 5000):.0f} us")
    us = bench(redact, SECRETS, 2000)
    print(f"redact, message with secrets ({len(SECRETS)} chars): {us:.0f} us")
    print(f"line_problem, one profile line: {bench(line_problem, LINE, 5000):.0f} us")
