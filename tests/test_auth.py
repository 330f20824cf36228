"""The password file, tokens, expiry and lockout, with a clock the tests turn."""
from __future__ import annotations

import json
import os
import stat
from concurrent.futures import ThreadPoolExecutor

import pytest

from plugin import auth
from plugin.auth import LOCKOUT_FAILURES, Authenticator, PasswordFile
from plugin.errors import Err, FsiError

PASSWORD = "correct horse"


class DummyClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def passwords(tmp_path):
    file = PasswordFile(tmp_path / "auth.json")
    file.set(PASSWORD)
    return file


@pytest.fixture
def clock():
    return DummyClock()


@pytest.fixture
def authenticator(passwords, clock):
    return Authenticator(passwords, idle=60, lifetime=300, lockout_window=600, clock=clock)


def failure(call, *args) -> FsiError:
    with pytest.raises(FsiError) as caught:
        call(*args)
    return caught.value


# -- the password file ----------------------------------------------------

def test_the_file_holds_a_salted_scrypt_hash_readable_by_its_owner_only(passwords):
    assert stat.S_IMODE(passwords.path.stat().st_mode) == 0o600
    record = json.loads(passwords.path.read_text())
    assert record["scheme"] == "scrypt" and record["n"] >= 2 ** 14
    assert PASSWORD not in passwords.path.read_text()
    first_salt = record["salt"]
    passwords.set(PASSWORD)
    assert json.loads(passwords.path.read_text())["salt"] != first_salt


def test_a_leftover_temp_file_does_not_widen_the_mode(passwords):
    leftover = passwords.path.with_name(".auth.json.tmp")
    leftover.write_text("")
    os.chmod(leftover, 0o666)
    passwords.set("another password")
    assert stat.S_IMODE(passwords.path.stat().st_mode) == 0o600


def test_the_seed_is_used_on_first_run_only(tmp_path):
    file = PasswordFile(tmp_path / "auth.json")
    assert file.ensure("seeded password") is None
    assert file.ensure("a later seed") is None
    authenticator = Authenticator(file, idle=60, lifetime=300, lockout_window=600)
    assert authenticator.login("admin", "seeded password", "a")["token"]
    assert failure(authenticator.login, "admin", "a later seed", "a").code == Err.AUTHORIZE


def test_without_a_seed_a_random_password_is_generated_once(tmp_path):
    file = PasswordFile(tmp_path / "auth.json")
    generated = file.ensure(None)
    assert generated and len(generated) >= 16
    assert file.ensure(None) is None
    assert Authenticator(file, idle=60, lifetime=300, lockout_window=600).login("admin", generated, "a")


def test_an_empty_password_is_refused(passwords):
    assert failure(passwords.set, "").code == Err.PARAMS


# -- login and tokens -------------------------------------------------------

def test_login_gives_a_random_token_and_its_expiry(authenticator):
    first = authenticator.login("admin", PASSWORD, "a")
    second = authenticator.login("admin", PASSWORD, "a")
    assert first["expires_in"] == 60
    assert len(first["token"]) >= 40 and first["token"] != second["token"]
    authenticator.check(first["token"])
    authenticator.check(second["token"])


def test_expires_in_never_promises_more_than_the_lifetime(passwords, clock):
    short = Authenticator(passwords, idle=600, lifetime=30, lockout_window=600, clock=clock)
    assert short.login("admin", PASSWORD, "a")["expires_in"] == 30


def test_wrong_username_and_wrong_password_look_the_same(authenticator):
    user = failure(authenticator.login, "root", PASSWORD, "a")
    password = failure(authenticator.login, "admin", "wrong", "b")
    assert (user.code, user.msg, user.results) == (password.code, password.msg, password.results)
    assert user.code == Err.AUTHORIZE


def test_wrong_username_and_wrong_password_both_run_scrypt(authenticator, monkeypatch):
    verified = []
    real_verify = auth._verify

    def counting_verify(record, password):
        verified.append(record["n"])
        return real_verify(record, password)

    monkeypatch.setattr(auth, "_verify", counting_verify)
    failure(authenticator.login, "root", "wrong", "a")
    failure(authenticator.login, "admin", "wrong", "a")
    authenticator.login("admin", PASSWORD, "a")
    assert verified == [2 ** 14] * 3


def test_no_token_is_not_logged_in_and_a_forged_one_is_refused(authenticator):
    assert failure(authenticator.check, None).code == Err.NOT_LOGGED_IN
    assert failure(authenticator.check, "").code == Err.NOT_LOGGED_IN
    assert failure(authenticator.check, "forged").code == Err.AUTHORIZE


def test_a_token_expires_after_the_idle_time(authenticator, clock):
    token = authenticator.login("admin", PASSWORD, "a")["token"]
    clock.advance(59)
    authenticator.check(token)
    clock.advance(60)
    error = failure(authenticator.check, token)
    assert error.code == Err.AUTHORIZE and "expired" in error.msg


def test_use_renews_the_idle_time_up_to_the_absolute_cap(authenticator, clock):
    token = authenticator.login("admin", PASSWORD, "a")["token"]
    for _ in range(5):
        clock.advance(50)
        authenticator.check(token)
    clock.advance(49)  # 299 s after login: still inside the cap
    authenticator.check(token)
    clock.advance(2)
    assert failure(authenticator.check, token).code == Err.AUTHORIZE


def test_logout_ends_the_token_at_once_and_only_that_one(authenticator):
    token = authenticator.login("admin", PASSWORD, "a")["token"]
    other = authenticator.login("admin", PASSWORD, "a")["token"]
    authenticator.logout(token)
    assert failure(authenticator.check, token).code == Err.AUTHORIZE
    authenticator.check(other)


def test_changing_the_password_drops_every_token(authenticator, passwords):
    tokens = [authenticator.login("admin", PASSWORD, "a")["token"] for _ in range(2)]
    PasswordFile(passwords.path).set("a new password")  # as `passwd` does, from outside
    for token in tokens:
        assert failure(authenticator.check, token).code == Err.AUTHORIZE
    assert failure(authenticator.login, "admin", PASSWORD, "a").code == Err.AUTHORIZE
    authenticator.check(authenticator.login("admin", "a new password", "a")["token"])


def test_a_missing_password_file_is_a_load_error(tmp_path):
    authenticator = Authenticator(PasswordFile(tmp_path / "absent.json"), idle=60, lifetime=300,
                                  lockout_window=600)
    assert failure(authenticator.login, "admin", PASSWORD, "a").code == Err.LOAD


# -- lockout ----------------------------------------------------------------

def lock_out(authenticator, address="10.0.0.9", username="admin"):
    for _ in range(LOCKOUT_FAILURES):
        assert failure(authenticator.login, username, "wrong", address).code == Err.AUTHORIZE


def test_five_failures_lock_the_address_even_for_the_right_password(authenticator, clock):
    lock_out(authenticator)
    clock.advance(5)
    error = failure(authenticator.login, "admin", PASSWORD, "10.0.0.9")
    assert error.code == Err.LOCKED
    assert "try again in 10 s" in error.msg and error.results == {"retry_after": 10}


def test_wrong_usernames_count_too(authenticator):
    lock_out(authenticator, username="root")
    assert failure(authenticator.login, "admin", PASSWORD, "10.0.0.9").code == Err.LOCKED


def test_the_lockout_is_per_address(authenticator):
    lock_out(authenticator)
    assert authenticator.login("admin", PASSWORD, "10.0.0.10")["token"]


def test_each_further_failure_doubles_the_lockout_up_to_the_window(authenticator, clock):
    lock_out(authenticator)
    waits = []
    for _ in range(8):
        waits.append(failure(authenticator.login, "admin", "x", "10.0.0.9").results["retry_after"])
        clock.advance(waits[-1])
        assert failure(authenticator.login, "admin", "wrong", "10.0.0.9").code == Err.AUTHORIZE
    assert waits == [15, 30, 60, 120, 240, 480, 600, 600]


def test_tries_while_locked_do_not_make_the_lockout_longer(authenticator, clock):
    lock_out(authenticator)
    for _ in range(20):
        assert failure(authenticator.login, "admin", "wrong", "10.0.0.9").code == Err.LOCKED
        clock.advance(0.5)
    clock.advance(5)
    assert authenticator.login("admin", PASSWORD, "10.0.0.9")["token"]


def test_a_login_from_one_address_leaves_another_address_locked(authenticator):
    lock_out(authenticator)
    assert authenticator.login("admin", PASSWORD, "10.0.0.10")["token"]
    assert failure(authenticator.login, "admin", PASSWORD, "10.0.0.9").code == Err.LOCKED


def test_failures_spread_over_more_than_the_window_do_not_lock(authenticator, clock):
    for _ in range(LOCKOUT_FAILURES * 2):
        failure(authenticator.login, "admin", "wrong", "a")
        clock.advance(200)
    assert authenticator.login("admin", PASSWORD, "a")["token"]


def test_a_successful_login_clears_the_failures(authenticator):
    for _ in range(LOCKOUT_FAILURES - 1):
        failure(authenticator.login, "admin", "wrong", "a")
    authenticator.login("admin", PASSWORD, "a")
    for _ in range(LOCKOUT_FAILURES - 1):
        failure(authenticator.login, "admin", "wrong", "a")
    assert authenticator.login("admin", PASSWORD, "a")["token"]


def test_parallel_guesses_get_no_more_than_five_tries(authenticator):
    with ThreadPoolExecutor(8) as pool:
        codes = sorted(pool.map(lambda _: failure(authenticator.login, "admin", "wrong",
                                                  "a").code, range(8)))
    assert codes == [Err.LOCKED] * 3 + [Err.AUTHORIZE] * 5


def test_parallel_right_logins_all_get_in(authenticator):
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: authenticator.login("admin", PASSWORD, "a"),
                                range(8)))
    assert len({answer["token"] for answer in answers}) == 8
