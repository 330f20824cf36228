"""End to end: idle and slow connections do not keep the plugin from answering.

Real supervisord and plugin; 200 sockets that send nothing and 100 that send
one header line every 3 s, until their request heads are nearly as large as
the plugin accepts, stay open while ``status`` must still answer within 1 s
and the plugin's memory stays within its bound.
"""
from __future__ import annotations

import socket
import threading
import time
from contextlib import ExitStack
from pathlib import Path

from plugin.conf_text import ProgramNames
from plugin.rpc_client import SupervisorClient
from tests.stack import Stack

IDLE_CONNECTIONS = 200
SLOW_CONNECTIONS = 100
#: A slow client sends one header line this often (seconds).
TRICKLE_EVERY = 3.0
#: How long the connections stay open.
FLOOD_SECONDS = 15.0
#: Header lines a slow client sends after its request line, one per TRICKLE_EVERY.
HEADER_LINES = int(FLOOD_SECONDS / TRICKLE_EVERY) - 1
#: What a slow client's head stays below the plugin's limit by: never refused.
HEAD_MARGIN = 256
REQUEST_LINE = b"POST /include/index.php HTTP/1.1\r\n"
#: How long a normal status may take while they do.
ANSWER_TIMEOUT = 1.0
STATUS_CALLS = 5
#: The plugin process' resident memory bound.
RSS_BOUND = 30 * 1024 * 1024


def plugin_rss(stack: Stack) -> int:
    """The plugin process' resident memory in bytes (VmRSS), its pid from supervisord."""
    name = ProgramNames.for_settings(stack.settings).plugin
    pid = SupervisorClient(stack.settings.supervisor_url).process_info(name)["pid"]
    for line in Path("/proc/%d/status" % pid).read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS for pid %d" % pid)


def open_connections(stack: Stack, count: int, closing: ExitStack) -> list[socket.socket]:
    """``count`` connections to the plugin, each closed when ``closing`` closes."""
    return [closing.enter_context(socket.create_connection(("127.0.0.1", stack.port),
                                                           timeout=ANSWER_TIMEOUT))
            for _ in range(count)]


def send_to_all(sockets: list[socket.socket], data: bytes) -> None:
    for sock in list(sockets):
        try:
            sock.sendall(data)
        except OSError:  # the server closed it: one slow client fewer
            sockets.remove(sock)


def trickle(sockets: list[socket.socket], line_bytes: int, stop: threading.Event) -> None:
    """Send a request head one line every TRICKLE_EVERY seconds, never ending it."""
    send_to_all(sockets, REQUEST_LINE)
    for number in range(1, HEADER_LINES + 1):
        if stop.wait(TRICKLE_EVERY):
            return
        name = b"X-Slow-%d: " % number
        send_to_all(sockets, name + b"x" * (line_bytes - len(name) - 2) + b"\r\n")


def test_idle_and_slow_connections_leave_status_answering_within_a_second(stack):
    stack.login()
    stop = threading.Event()
    with ExitStack() as closing:
        open_connections(stack, IDLE_CONNECTIONS, closing)
        slow = open_connections(stack, SLOW_CONNECTIONS, closing)
        line_bytes = (stack.settings.max_header_size - HEAD_MARGIN) // HEADER_LINES
        sender = threading.Thread(target=trickle, args=(slow, line_bytes, stop))
        sender.start()
        closing.callback(sender.join, TRICKLE_EVERY + 5)
        closing.callback(stop.set)
        for _ in range(STATUS_CALLS):
            time.sleep(FLOOD_SECONDS / STATUS_CALLS)
            answer = stack.post({"cmd": "status", "token": stack.token}, timeout=ANSWER_TIMEOUT)
            assert answer["err"] == 0, answer
            assert plugin_rss(stack) <= RSS_BOUND
    assert stack.call("status")["err"] == 0
    assert plugin_rss(stack) <= RSS_BOUND
