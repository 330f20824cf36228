"""The plugin on Debian 12's own Python stack, as well as on the pinned one.

/usr/bin/python3 with python3-bottle 0.12.23, python3-waitress 2.1.2 and
Debian's supervisor 4.2.5 (/usr/bin/supervisord), the checkout on PYTHONPATH:
the unit tests of everything that touches bottle, waitress or supervisor, and
the end-to-end journey, run there under Debian's pytest.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

from plugin.probes import command_line
from tests.stack import Stack, plain_shell_env

CHECKOUT = Path(__file__).resolve().parent.parent
DEBIAN_PYTHON = "/usr/bin/python3"
DEBIAN_VERSIONS = {"bottle": "0.12.23", "waitress": "2.1.2", "supervisor": "4.2.5"}
#: Debian's bottle, waitress and supervisor, and the journey on a real stack.
ON_DEBIAN = [
    "tests/test_atomic.py", "tests/test_auth.py", "tests/test_cli_access.py",
    "tests/test_commands.py", "tests/test_diagnostics.py", "tests/test_install_conf.py",
    "tests/test_lifecycle_unit.py", "tests/test_orphans.py", "tests/test_page.py",
    "tests/test_program_config.py", "tests/test_protocol.py", "tests/test_qbt_profile.py",
    "tests/test_settings.py", "tests/test_state_cache.py", "tests/test_web_errors.py",
    "tests/test_web_hostile.py", "tests/test_e2e_lifecycle.py",
]


def debian_env() -> dict[str, str]:
    return plain_shell_env(PYTHONPATH=str(CHECKOUT))


def test_debian_python_has_debian_s_packages_and_not_the_venv_s():
    done = subprocess.run(
        [DEBIAN_PYTHON, "-c", "import importlib.metadata as m, bottle, waitress, supervisor\n"
         "for module in (bottle, waitress, supervisor):\n"
         "    print(module.__name__, m.version(module.__name__), module.__file__)"],
        env=debian_env(), cwd="/", capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    found = {name: (version, path) for name, version, path in
             (line.split() for line in done.stdout.splitlines())}
    assert {name: version for name, (version, _) in found.items()} == DEBIAN_VERSIONS
    assert all(path.startswith("/usr/lib/python3/dist-packages/")
               for _, path in found.values()), found


def test_the_stack_runs_on_debian_s_supervisord():
    stack = Stack(command=[DEBIAN_PYTHON, "-m", "plugin"], environ=debian_env()).start()
    try:
        assert b"/usr/bin/supervisord" in command_line(stack.process.pid).split()
        assert stack.call("version")["results"]["supervisor"] == DEBIAN_VERSIONS["supervisor"]
    finally:
        stack.close()


def test_unit_tests_and_the_journey_pass_under_debian_s_pytest():
    done = subprocess.run([DEBIAN_PYTHON, "-m", "pytest", "-q", *ON_DEBIAN], cwd=CHECKOUT,
                          env=debian_env(), capture_output=True, text=True, timeout=900)
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert re.fullmatch(r"=* ?\d+ passed(, \d+ warnings?)? in .*", summary), summary
