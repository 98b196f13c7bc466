"""``POST /worker/toggle`` while ``POST /reset`` runs: the reset still leaves nothing under the prefix.

A toggle during a reset must wait for it (or get a 409). Resuming the worker
in the middle let a tick pick entities the reset had not reached yet and
write them after it had deleted them: hashes of streaming fields only,
without a key TTL, survived the reset (9 to 59 of 20,000 users).
"""

from __future__ import annotations

import threading
import time

import httpx

from fslib import FeatureStore

import test_serve
from polling import wait_until
from test_serve import MakeClient

direct = test_serve.direct  # the fixtures of test_serve.py: the test's own store, a server with options
make_client = test_serve.make_client

USERS = 20_000
ROUNDS = 6
TIME_BUDGET = 40.0
"""Seconds after which no new round starts (the test stays well under a minute)."""
MAX_TOGGLES = 2_000
"""Toggles per reset at most: a bound, never reached while a reset of 20,000 users takes under a minute."""


def toggle_while_resetting(http: httpx.Client, reset_client: httpx.Client) -> tuple[int, list[int]]:
    """``POST /reset`` in a thread and ``POST /worker/toggle`` until it answers; its answer and the toggles'."""
    answer: list[httpx.Response] = []
    reset = threading.Thread(target=lambda: answer.append(reset_client.post("/reset", json={})), name="reset")
    reset.start()
    statuses = []
    try:
        while reset.is_alive() and len(statuses) < MAX_TOGGLES:
            statuses.append(http.post("/worker/toggle", json={}).status_code)
    finally:
        reset.join(60)
    [response] = answer
    assert response.status_code == 200, response.text
    return response.json()["deleted"], statuses


def test_a_toggle_during_a_reset_leaves_no_entity_behind(make_client: MakeClient, direct: FeatureStore) -> None:
    http = make_client(start_worker=True, tick_seconds=0.005, users_per_tick=1_000, streaming_ttl_seconds=300)
    with httpx.Client(base_url=http.base_url, timeout=60) as reset_client:
        started, answered = time.monotonic(), []  # every toggle's status, over the rounds
        for round_ in range(ROUNDS):
            if round_ and time.monotonic() - started > TIME_BUDGET:
                break
            assert http.post("/bulk-load", json={"count": USERS}).json()["written"] == USERS
            while http.get("/state").json()["worker"]["status"] != "running":
                http.post("/worker/toggle", json={})
            writes = http.get("/state").json()["worker"]["stats"]["writes"]
            assert wait_until(lambda w=writes: http.get("/state").json()["worker"]["stats"]["writes"] > w)

            deleted, toggles = toggle_while_resetting(http, reset_client)
            left = sum(1 for _ in direct.client.scan_iter(match=direct.key_prefix + "*", count=1_000))
            assert toggles, f"round {round_}: no toggle was sent while the reset ran"
            assert set(toggles) <= {200, 409}, toggles
            answered += toggles
            assert left == 0, (
                f"round {round_}: {left} keys survived /reset (deleted {deleted}) "
                f"while {len(toggles)} toggles ran ({toggles.count(200)} answered 200)"
            )
    assert 200 in answered, (
        f"no toggle got through in {len(answered)}: the race was never run"
    )  # all 409 proves nothing
