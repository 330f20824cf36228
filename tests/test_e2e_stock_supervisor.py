"""End to end: the plugin inside Debian's own supervisord, which is not ours.

Debian's ``supervisor`` package runs from its own main config (paths moved
into a temp root, see tests/debian_supervisor.py); the programs come from
``qbittorrent-fsi install-conf --dest conf.d``; supervisord runs with no
FSI_* variable in its environment. FSI and supervisorctl must agree.
"""
from __future__ import annotations

import os
import signal

import pytest

from tests.debian_supervisor import DebianSupervisor, EmbeddedStack
from tests.stack import accepting, free_port, wait_for


@pytest.fixture(scope="module")
def stock():
    running = EmbeddedStack(DebianSupervisor().start()).start()
    yield running
    running.close()


def ctl_state(stock: EmbeddedStack) -> str:
    return stock.ctl("status", "qbittorrent").split()[1]


def both_say(stock: EmbeddedStack, state: str) -> bool:
    """supervisorctl and FSI status report ``state`` (after supervisord's startsecs)."""
    if not wait_for(lambda: ctl_state(stock) == state.upper(), timeout=15):
        return False
    return stock.call("status")["results"]["state"] == state


def test_the_snippets_hold_absolute_paths_only(stock):
    for snippet in stock.supervisor.conf_d.iterdir():
        assert "ENV_" not in snippet.read_text(), snippet
    assert (stock.supervisor.conf_d / "qbittorrent.conf").resolve() == stock.program_conf


def test_fsi_and_supervisorctl_agree(stock):
    port, other = free_port(), free_port()
    assert stock.call("start", port=port)["err"] == 0
    assert both_say(stock, "running")
    status = stock.call("status")["results"]
    assert "pid %d" % status["pid"] in stock.ctl("status", "qbittorrent")

    assert "stopped" in stock.ctl("stop", "qbittorrent")
    status = stock.call("status")["results"]
    assert (status["state"], status["running"], status["pid"]) == ("stopped", False, None)
    assert not accepting(port)

    # A start from supervisorctl uses the port FSI configured last.
    assert "started" in stock.ctl("start", "qbittorrent")
    assert wait_for(lambda: accepting(port))
    assert both_say(stock, "running")
    assert stock.call("status")["results"]["port"] == port

    assert stock.call("start", port=other)["err"] == 0
    assert "--webui-port=%d" % other in stock.program_conf.read_text()
    assert both_say(stock, "running") and accepting(other)

    assert stock.call("stop")["err"] == 0
    assert both_say(stock, "stopped")


def test_supervisord_brings_a_killed_qbittorrent_back_and_both_see_it(stock):
    port = free_port()
    pid = stock.ok("start", port=port)["pid"]
    os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: stock.call("status")["results"]["pid"] not in (None, pid)
                    and accepting(port), timeout=15)
    assert both_say(stock, "running")
    new_pid = stock.call("status")["results"]["pid"]
    assert "pid %d" % new_pid in stock.ctl("status", "qbittorrent")
    assert stock.call("stop")["err"] == 0
