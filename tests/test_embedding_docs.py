"""docs/EMBEDDING.md's commands, run in order against Debian's own supervisord.

Each ```sh block runs with bash as root (``sudo`` dropped), with the docs'
system paths moved into the test's temp root: conf.d, the runtime and log
directories, supervisorctl's main config, the user ``qbt`` (a user of the
test's own), the port 8081 (a free one) and the example password. Between blocks the test checks
what the docs say the block did.
"""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from tests.debian_supervisor import (BIN, SUPERVISORCTL, DebianSupervisor, EmbeddedStack,
                                     SystemUser)
from tests.stack import PASSWORD, accepting, free_port, wait_for

EMBEDDING_MD = Path(__file__).resolve().parent.parent / "docs" / "EMBEDDING.md"
SH_BLOCK = re.compile(r"```sh\n(.*?)```", re.S)


def test_every_command_of_the_embedding_guide_does_what_it_says():
    supervisor = DebianSupervisor().start()
    user = SystemUser()
    stack = EmbeddedStack(supervisor)
    port = free_port()
    home, logs = str(stack.home), str(supervisor.root / "log" / "fsi")
    try:
        text = EMBEDDING_MD.read_text()
        for old, new in (("sudo ", ""), ("/etc/supervisor/conf.d", str(supervisor.conf_d)),
                         ("/var/lib/qbittorrent-fsi", home), ("8081", str(port)),
                         ("change-me-now", PASSWORD)):
            text = text.replace(old, new)
        text = re.sub(r"\bqbt\b", user.name, text)
        text = re.sub(r"\bsupervisorctl\b", "%s -c %s" % (SUPERVISORCTL, supervisor.main_config),
                      text)
        blocks = SH_BLOCK.findall(text)
        env = dict(os.environ, PATH="%s:%s" % (BIN, os.environ["PATH"]), FSI_HOME=home,
                   FSI_LOG_DIR=logs, FSI_SUPERVISOR_URL=supervisor.url,
                   FSI_PORT=str(stack.port))

        def run(block: str) -> str:
            done = subprocess.run(["bash", "-euc", block], env=env, capture_output=True,
                                  text=True, timeout=700)
            assert done.returncode == 0, (block, done.stdout, done.stderr)
            return done.stdout

        useradd, install, status, by_hand, reload, upgrade, uninstall, purge = blocks
        user.close()  # the docs create it
        run(useradd)
        run(install)
        assert wait_for(lambda: accepting(stack.port))

        def listing() -> str:
            return run(status.strip() + " || true")  # exit 3: qBittorrent is not running

        # RUNNING after the programs' startsecs (1 s).
        assert wait_for(lambda: re.search(r"qbittorrent-fsi\s+RUNNING", listing()), timeout=5)
        assert re.search(r"qbittorrent\s+STOPPED", listing())
        assert stack.login()

        run(by_hand)
        assert wait_for(lambda: accepting(port))
        assert stack.ok("start")["port"] == port  # chosen through FSI
        run(reload)
        assert wait_for(lambda: accepting(port), timeout=15)

        run(upgrade)
        assert stack.configured_port() == port
        run(uninstall)
        assert not accepting(port)
        assert sorted(p.name for p in supervisor.conf_d.iterdir()) == ["admin-sleeper.conf"]
        assert stack.home.is_dir()
        run(purge)
        assert not stack.home.exists() and not Path(logs).exists()
    finally:
        supervisor.close()
        user.close()
