"""End to end: a storm of mixed commands from 16 threads (real supervisord, qbittorrent-nox)."""
from __future__ import annotations

import os
import random
import threading
import time

from tests.stack import accepting, free_port, wait_for

THREADS = 16
#: The issue asks for 30 s; STORM_SECONDS shortens it for quick local runs.
SECONDS = float(os.environ.get("STORM_SECONDS", "30"))
ALLOWED = {0, 9992, 9998}


def test_storm_of_mixed_commands_only_gives_allowed_codes_and_ends_consistent(stack):
    ports = [free_port(), free_port()]
    stop_at = time.monotonic() + SECONDS
    unexpected: list[tuple[str, dict]] = []
    answered: list[int] = []  # list.append is atomic: no lock among the workers

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        while time.monotonic() < stop_at:
            cmd = rng.choice(["start", "start", "stop", "status", "status", "restart"])
            params = {"port": rng.choice(ports)} if cmd == "start" and rng.random() < 0.8 \
                else {"wait": 2} if cmd == "stop" else {}
            answer = stack.call(cmd, **params)
            answered.append(answer["err"])
            if answer["err"] not in ALLOWED:
                unexpected.append((cmd, answer))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(SECONDS + 60)
    assert not any(thread.is_alive() for thread in threads), "deadlock: a worker never returned"
    assert not unexpected, unexpected[:5]
    assert answered.count(0) > THREADS, sorted(answered)

    def settled() -> bool:
        return stack.call("status")["results"]["state"] in ("running", "starting", "stopped")

    assert wait_for(settled, timeout=20)
    status = stack.call("status")["results"]
    configured = stack.configured_port()
    assert status["port"] == configured
    if status["running"]:
        assert wait_for(lambda: accepting(configured), timeout=5)
        assert not any(accepting(p) for p in ports if p != configured)
    else:
        assert not any(accepting(p) for p in ports)
    assert stack.call("stop")["err"] == 0
    assert stack.call("start")["err"] == 0 and accepting(configured)
    assert stack.call("stop")["err"] == 0
