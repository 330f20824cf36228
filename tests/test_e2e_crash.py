"""End to end: supervisord killed with SIGKILL, then `qbittorrent-fsi run` again, same home."""
from __future__ import annotations

import os
import signal
import time
from typing import Any

from plugin.probes import exited, listening
from plugin.rpc_client import SupervisorClient
from tests.stack import Stack, accepting, free_port, wait_for

#: How long the new stack may take to tell the truth and start on the old port.
RECOVERY = 30.0


def kill_supervisord(stack: Stack) -> None:
    """SIGKILL the stack's supervisord, as a crash or the OOM killer would."""
    supervisord = int((stack.home / "supervisord.pid").read_text())
    assert supervisord == stack.process.pid  # `run` execs supervisord in its own process
    os.kill(supervisord, signal.SIGKILL)
    stack.process.wait(10)
    stack.shutdown()  # closes the run's output; the runtime directory stays


def truthful_status(stack: Stack, old: int) -> dict[str, Any]:
    """One status, checked against the old qBittorrent's fate around the request."""
    alive_before = not exited(old)
    status = stack.call("status")
    assert status["err"] == 0, status
    results = status["results"]
    if results["state"] == "stopping":
        assert results["pid"] == old and alive_before, results
    elif results["state"] == "stopped":
        assert results["pid"] is None, results
        assert exited(old), "status says stopped while pid %d runs on" % old
    else:  # started again, as the admin had chosen: a new process, the old one gone
        assert results["pid"] != old and exited(old), results
    return results


def test_a_killed_supervisord_takes_the_plugin_along_and_the_next_run_recovers():
    stack = Stack().start()
    try:
        port = free_port()
        answer = stack.call("start", port=port)
        assert answer["err"] == 0, answer
        old = answer["results"]["pid"]
        rpc = SupervisorClient(stack.settings.supervisor_url)
        plugin = rpc.process_info("qbittorrent-fsi")["pid"]
        listener = rpc.process_info("qbittorrent-fsi-events")["pid"]

        kill_supervisord(stack)
        assert wait_for(lambda: exited(plugin) and exited(listener), timeout=5), \
            "the plugin or its event listener outlived supervisord"
        assert not exited(old) and listening(port, old)  # left to the next run

        began = time.monotonic()
        stack.start()

        def back_on_its_port() -> bool:
            results = truthful_status(stack, old)
            return results["running"] and results["port"] == port

        # It ran by the admin's choice: once the orphan is gone, the new
        # plugin starts it again by itself, on the same port.
        assert wait_for(back_on_its_port, timeout=RECOVERY, interval=0.2)
        answer = stack.call("start")
        assert answer["err"] == 0, answer
        new = answer["results"]["pid"]
        assert answer["results"]["port"] == port and new != old
        assert listening(port, new) and accepting(stack.port)
        assert exited(old)
        assert time.monotonic() - began < RECOVERY
    finally:
        stack.close()
