"""Unit tests: FSI parameters are checked in one layer, each refusal with its code."""
from __future__ import annotations

import pytest

from plugin import commands
from plugin.errors import Err, FsiError


def code_of(check, *args) -> int:
    with pytest.raises(FsiError) as caught:
        check(*args)
    return caught.value.code


@pytest.mark.parametrize("value", [True, 1.0, "1", None, 0, 65536])
def test_a_port_is_an_integer_from_1_to_65535(value):
    assert code_of(commands.validate_port, value) == Err.PARAMS


@pytest.mark.parametrize("bad", [0, 1001, -1, "5", 2.0, True, [5]])
def test_line_counts_are_integers_from_1_to_1000(bad):
    assert code_of(commands.validate_lines, bad) == Err.PARAMS


def test_absent_optional_parameters_take_their_defaults():
    assert commands.validate_lines(None) == commands.DEFAULT_LOG_LINES
    assert commands.validate_source(None) == "qbittorrent"
    assert commands.validate_wait(None) is None


@pytest.mark.parametrize("bad", ["syslog", 1, ["stdout"]])
def test_a_log_source_is_one_of_three(bad):
    assert code_of(commands.validate_source, bad) == Err.PARAMS


@pytest.mark.parametrize("bad", [-1, 19, "5", True])
def test_a_stop_wait_is_a_number_of_seconds_up_to_18(bad):
    assert code_of(commands.validate_wait, bad) == Err.PARAMS


@pytest.mark.parametrize("username, password, code", [
    (None, "pw", Err.NO_INPUT), ("admin", None, Err.NO_INPUT),
    (1, "pw", Err.PARAMS), ("admin", ["x"], Err.PARAMS)])
def test_login_needs_two_strings(username, password, code):
    assert code_of(commands.validate_login, username, password) == code


@pytest.mark.parametrize("username, password, code", [
    (None, "secret12", Err.NO_INPUT), ("ab", "secret12", Err.PARAMS),
    ("a b c", "secret12", Err.PARAMS), ("admin", "short", Err.PARAMS),
    ("admin", "tab\there", Err.PARAMS), ("admin", 123456, Err.PARAMS)])
def test_webui_credentials_are_what_qbittorrent_accepts(username, password, code):
    assert code_of(commands.validate_credentials, username, password) == code
