"""OrphanStopper against stand-ins that look like qbittorrent-nox; die_with_parent."""
from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys

import pytest

from plugin.errors import Err, FsiError
from plugin.orphans import KILL_WAIT, OrphanStopper
from plugin.parent import die_with_parent
from plugin.probes import exited, listening
from tests.stack import wait_for


def never_asked() -> int | None:
    raise AssertionError("supervisord was asked although nothing ran on the profile")


def test_an_orphan_gets_sigterm_and_is_reported_until_it_has_saved(tmp_path, fakes):
    fake = fakes.start(tmp_path / "profile", term_delay=1.0)
    stopper = OrphanStopper(tmp_path / "profile", 30, lambda: None)
    orphan = stopper.current()
    assert (orphan.pid, orphan.port, orphan.error) == (fake.pid, fake.port, None)
    assert not exited(fake.pid)  # saving its resume data
    assert wait_for(lambda: stopper.current() is None, timeout=10)
    assert fake.process.wait(5) == 0
    assert "saved its resume data" in fake.process.stdout.read()


def test_supervisords_child_and_other_profiles_are_left_alone(tmp_path, fakes):
    supervised = fakes.start(tmp_path / "profile")
    elsewhere = fakes.start(tmp_path / "other")
    stopper = OrphanStopper(tmp_path / "profile", 30, lambda: supervised.pid)
    assert stopper.current() is None
    assert listening(supervised.port, supervised.pid)
    assert listening(elsewhere.port, elsewhere.pid)


def test_nothing_on_the_profile_asks_supervisord_nothing(tmp_path, fakes):
    fakes.start(tmp_path / "other")
    assert OrphanStopper(tmp_path / "profile", 30, never_asked).current() is None


def test_an_orphan_still_saving_after_its_grace_is_killed(tmp_path, fakes):
    fake = fakes.start(tmp_path / "profile", term_delay=60)
    stopper = OrphanStopper(tmp_path / "profile", 0.5, lambda: None)
    assert stopper.current().pid == fake.pid
    assert wait_for(lambda: stopper.current() is None, timeout=0.5 + KILL_WAIT)
    assert fake.process.wait(5) == -signal.SIGKILL


def test_an_orphan_it_may_not_signal_is_reported_with_the_reason(tmp_path, fakes,
                                                                 monkeypatch):
    fake = fakes.start(tmp_path / "profile")

    def refuse(pidfd: int, sig: int) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(signal, "pidfd_send_signal", refuse)
    stopper = OrphanStopper(tmp_path / "profile", 0.5, lambda: None)
    orphan = stopper.current()
    assert orphan.pid == fake.pid and "stop it by hand" in orphan.error
    assert wait_for(lambda: stopper.current() is None, timeout=5)  # after its grace
    assert listening(fake.port, fake.pid)


def test_a_look_that_could_not_ask_supervisord_touches_nothing_and_is_done_again(
        tmp_path, fakes):
    fake = fakes.start(tmp_path / "profile")
    answers: list[int | None] = []

    def supervised_pid() -> int | None:
        if not answers:
            answers.append(None)
            raise FsiError(Err.SERVER_OFFLINE, "supervisord is not running")
        return None

    stopper = OrphanStopper(tmp_path / "profile", 30, supervised_pid)
    with pytest.raises(FsiError):
        stopper.current()
    assert listening(fake.port, fake.pid)
    assert stopper.current().pid == fake.pid
    assert fake.process.wait(10) == 0


def test_a_process_dies_with_its_parent():
    # The middle process starts a child that asks for the parent-death
    # signal and says so; SIGKILL of the middle one must end the child.
    child = ("import time; from plugin.parent import die_with_parent; die_with_parent(); "
             "print('ready', flush=True); time.sleep(60)")
    middle = ("import subprocess, sys, time; "
              "child = subprocess.Popen([sys.executable, '-c', %r]); "
              "print(child.pid, flush=True); time.sleep(60)" % child)
    process = subprocess.Popen([sys.executable, "-c", middle], stdout=subprocess.PIPE,
                               text=True)
    try:
        pid = int(process.stdout.readline())
        assert process.stdout.readline() == "ready\n"
        process.kill()
        assert wait_for(lambda: exited(pid), timeout=5)
    finally:
        process.kill()
        process.wait(10)
        process.stdout.close()


def test_a_parent_gone_before_it_was_held_ends_the_process_at_once(monkeypatch):
    def gone(pid: int) -> int:
        raise ProcessLookupError(errno.ESRCH, "No such process")

    sent: list[tuple[int, int]] = []
    monkeypatch.setattr(os, "pidfd_open", gone)
    monkeypatch.setattr(os, "kill", lambda pid, sig: sent.append((pid, sig)))
    die_with_parent()
    assert sent == [(os.getpid(), signal.SIGTERM)]


def test_without_pidfds_the_process_says_it_outlives_its_parent(monkeypatch, capsys):
    def unsupported(pid: int) -> int:
        raise OSError(errno.ENOSYS, "Function not implemented")

    monkeypatch.setattr(os, "pidfd_open", unsupported)
    die_with_parent()
    assert "will outlive it" in capsys.readouterr().err
