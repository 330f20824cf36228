"""End to end: real supervisord, real qbittorrent-nox, checked from outside."""
from __future__ import annotations

import os
import signal
import socket
import threading

import pytest

from tests.stack import accepting, free_port, wait_for


pytestmark = pytest.mark.usefixtures("stopped_after")


def test_start_opens_the_web_ui_before_answering(stack):
    port = free_port()
    answer = stack.call("start", port=port)
    assert answer["err"] == 0, answer
    assert accepting(port)
    status = stack.call("status")["results"]
    assert status["running"] is True
    assert status["port"] == port
    assert status["pid"] == answer["results"]["pid"]
    assert status["webui_url"] == "http://127.0.0.1:%d/" % port


def test_start_on_the_running_port_keeps_the_process(stack):
    port = free_port()
    first = stack.ok("start", port=port)
    again = stack.call("start", port=port)
    assert again["err"] == 0
    assert again["results"]["pid"] == first["pid"]


def test_start_without_port_uses_the_configured_one(stack):
    port = free_port()
    stack.call("start", port=port)
    stack.call("stop")
    answer = stack.call("start")
    assert answer["err"] == 0
    assert answer["results"]["port"] == port and accepting(port)


def test_start_on_a_new_port_moves_the_web_ui(stack):
    old, new = free_port(), free_port()
    stack.call("start", port=old)
    answer = stack.call("start", port=new)
    assert answer["err"] == 0, answer
    assert accepting(new)
    assert not accepting(old)
    assert b"--webui-port=%d" % new in stack.program_conf.read_bytes()
    assert "qbittorrent" in stack.ctl("status", "qbittorrent")


def test_stop_closes_the_port_and_is_idempotent(stack):
    port = free_port()
    stack.call("start", port=port)
    answer = stack.call("stop")
    assert answer["err"] == 0
    assert answer["results"]["state"] == "stopped"
    assert not accepting(port)
    assert stack.call("stop")["err"] == 0


def test_port_held_by_another_program_is_refused_untouched(stack):
    port = free_port()
    running = stack.ok("start", port=port)
    before = stack.program_conf.read_bytes()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        answer = stack.call("start", port=taken)
    assert answer["err"] == 9982, answer
    assert "in use" in answer["msg"]
    assert stack.program_conf.read_bytes() == before
    status = stack.call("status")["results"]
    assert status["pid"] == running["pid"] and status["port"] == port
    assert accepting(port)


@pytest.mark.parametrize("bad", ["8080", 8080.0, True, None, [8080], {"port": 8080},
                                 0, -1, 65536, 2 ** 70])
def test_bad_ports_change_nothing(stack, bad):
    before = stack.program_conf.read_bytes()
    answer = stack.call("start", port=bad)
    assert answer["err"] == 9995, answer
    assert "port" in answer["msg"]
    assert stack.program_conf.read_bytes() == before
    assert stack.call("status")["results"]["state"] == "stopped"


def test_killed_qbittorrent_comes_back_on_the_same_port(stack):
    port = free_port()
    pid = stack.ok("start", port=port)["pid"]
    os.kill(pid, signal.SIGKILL)

    def back() -> bool:
        status = stack.call("status")["results"]
        return status["pid"] not in (None, pid) and status["running"] and accepting(port)

    assert wait_for(back, timeout=10)
    assert stack.call("status")["results"]["port"] == port


def test_concurrent_lifecycle_requests_stay_consistent(stack):
    ports = [free_port(), free_port()]
    errors: list[dict] = []

    def worker(index: int) -> None:
        for step in range(6):
            kind = (index + step) % 3
            if kind == 0:
                answer = stack.call("start", port=ports[(index + step) % 2])
            elif kind == 1:
                answer = stack.call("stop")
            else:
                answer = stack.call("status")
            if answer["err"] not in (0, 9992):
                errors.append(answer)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads), "a worker never returned"
    assert not errors
    status = stack.call("status")["results"]
    configured = stack.configured_port()
    assert status["port"] == configured
    if status["running"]:
        assert wait_for(lambda: accepting(configured), timeout=5)
    else:
        assert not any(accepting(p) for p in ports)
