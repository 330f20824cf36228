"""Property-based, on the real stack: a slice of tests/test_fuzz.py's hostile requests.

Lifecycle commands carrying the valid token get parameters that must be
refused, so that qBittorrent may never start: the program config stays
byte-identical and supervisord's state stays "stopped" throughout.
"""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plugin.errors import Err
from tests.fuzzing import CONTENT_TYPES, LIFECYCLE, VALID_TOKEN, carries, check_answer, \
    json_values, request_bodies, with_token

STACK_EXAMPLES = max(50, settings.default.max_examples // 4)

invalid_ports = (json_values.filter(lambda v: type(v) is not int or not 1 <= v <= 65535)
                 | st.sampled_from([0, 65536, -1, 8080.0, True]))


@st.composite
def harmless_bodies(draw: st.DrawFn) -> tuple[object, bytes]:
    payload, body = draw(request_bodies())
    if isinstance(payload, dict) and payload.get("token") == VALID_TOKEN:
        if payload.get("cmd") in LIFECYCLE:
            # start: a bad port; stop and restart: an unknown parameter
            payload["params"] = {"port": draw(invalid_ports)}
        elif payload.get("cmd") == "logout":
            payload["token"] = "not the token"
    return payload, body


@pytest.fixture(scope="module")
def before(stack):
    stack.login()
    return stack.program_conf.read_bytes()


@settings(max_examples=STACK_EXAMPLES)
@given(drawn=harmless_bodies(), content_type=CONTENT_TYPES,
       authenticated=st.booleans())
def test_hostile_requests_on_the_real_stack_change_nothing(stack, before, drawn, content_type,
                                                           authenticated):
    payload, body = drawn
    if authenticated:
        body = with_token(payload, body, stack.token)
    answer = check_answer(*stack.post_raw(body, content_type))
    if carries(payload, stack.token, *LIFECYCLE):
        assert answer["err"] == Err.PARAMS, answer
    assert stack.program_conf.read_bytes() == before
    state = check_answer(*stack.post_raw(b'{"cmd":"status","token":"%s"}' % stack.token.encode()))
    assert state["err"] == 0 and state["results"]["state"] == "stopped", state
