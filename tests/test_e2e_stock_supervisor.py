"""End to end: the plugin inside a stock supervisord that is not ours.

The main config is written here like Debian's /etc/supervisor/supervisord.conf
(``[include] files = conf.d/*.conf``); the programs come from
``qbittorrent-fsi install-conf --dest conf.d``; supervisord runs with no
FSI_* variable in its environment. FSI and supervisorctl must agree.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.stack import Stack, accepting, free_port, wait_for

BIN = Path(sys.executable).parent

MAIN_CONFIG = """\
; supervisor config file (as Debian ships it, with paths in a temp dir)
[unix_http_server]
file={root}/supervisor.sock
chmod=0700

[supervisord]
logfile={root}/supervisord.log
pidfile={root}/supervisord.pid
childlogdir={root}

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{root}/supervisor.sock

[include]
files = conf.d/*.conf
"""


class StockSupervisorStack(Stack):
    """Stack's HTTP helpers, with supervisord started from a stock main config."""

    def start(self) -> "StockSupervisorStack":
        self.root = self.home / "etc"
        self.root.mkdir()
        self.main_config = self.root / "supervisord.conf"
        self.main_config.write_text(MAIN_CONFIG.format(root=self.root))
        self.env["FSI_HOME"] = str(self.home / "fsi")
        install = subprocess.run(
            [str(BIN / "qbittorrent-fsi"), "install-conf", "--dest", str(self.root / "conf.d"),
             "--supervisor-url", "unix://%s/supervisor.sock" % self.root],
            env=self.env, capture_output=True, text=True, timeout=60)
        assert install.returncode == 0, install.stderr
        stock_env = {k: v for k, v in self.env.items() if not k.startswith("FSI_")}
        self.output = open(self.home / "run.out", "wb")
        self.process = subprocess.Popen(
            [str(BIN / "supervisord"), "-n", "-c", str(self.main_config)], env=stock_env,
            stdout=self.output, stderr=subprocess.STDOUT)
        if not wait_for(lambda: accepting(self.port) or self.process.poll() is not None):
            raise RuntimeError("the plugin did not come up: %s" % self.log())
        return self

    @property
    def program_conf(self) -> Path:
        return self.home / "fsi" / "qbittorrent.ini"

    def ctl(self, *args: str) -> str:
        result = subprocess.run([str(BIN / "supervisorctl"), "-c", str(self.main_config), *args],
                                env={k: v for k, v in self.env.items()
                                     if not k.startswith("FSI_")},
                                capture_output=True, text=True, timeout=60)
        return result.stdout + result.stderr


@pytest.fixture(scope="module")
def stock():
    running = StockSupervisorStack().start()
    yield running
    running.close()


def ctl_state(stock: StockSupervisorStack) -> str:
    return stock.ctl("status", "qbittorrent").split()[1]


def both_say(stock: StockSupervisorStack, state: str) -> bool:
    """supervisorctl and FSI status report ``state`` (after supervisord's startsecs)."""
    if not wait_for(lambda: ctl_state(stock) == state.upper(), timeout=15):
        return False
    return stock.call("status")["results"]["state"] == state


def test_the_snippets_hold_absolute_paths_only(stock):
    for snippet in (stock.root / "conf.d").iterdir():
        assert "ENV_" not in snippet.read_text(), snippet
    assert (stock.root / "conf.d" / "qbittorrent.conf").resolve() == stock.program_conf


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
    pid = stock.call("start", port=port)["results"]["pid"]
    os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: stock.call("status")["results"]["pid"] not in (None, pid)
                    and accepting(port), timeout=15)
    assert both_say(stock, "running")
    new_pid = stock.call("status")["results"]["pid"]
    assert "pid %d" % new_pid in stock.ctl("status", "qbittorrent")
    assert stock.call("stop")["err"] == 0
