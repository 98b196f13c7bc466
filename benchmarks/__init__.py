"""fslib's benchmarks: both transports against the raw redis-py floor, every figure a ratio or percentile of one run.

Run with ``make bench`` (``python -m benchmarks``); ``benchmarks/README.md`` says
what each section measures, how, and why the figures look as they do. Environment:

- ``REDIS_URL``: the server to measure (else the embedded Redis 8);
- ``BENCH_QUICK=1``: a smoke test with tiny sizes (numbers meaningless);
- ``BENCH_ONLY=single,bulk``: run only these sections (see ``benchmarks.__main__.SECTIONS``);
- ``BENCH_OUT``: the results folder (default ``benchmarks/results``).
"""
