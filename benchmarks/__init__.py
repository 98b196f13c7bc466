"""fslib's benchmarks: every figure a ratio or percentile set against the raw redis-py floor, in one run.

Run with ``make bench`` (``python -m benchmarks``). Environment:

- ``REDIS_URL``: the server to measure (else the embedded Redis 8);
- ``BENCH_QUICK=1``: a smoke test with tiny sizes (numbers meaningless);
- ``BENCH_ONLY=reads,bulk``: run only these sections (see ``benchmarks.__main__.SECTIONS``);
- ``BENCH_OUT``: the results folder (default ``benchmarks/results``).
"""
