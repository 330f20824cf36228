"""Hypothesis strategies for hostile FSI requests, and what every answer must satisfy."""
from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from plugin.errors import ALL_CODES
from plugin.protocol import ANSWER_HEADERS

#: Stands for the valid token in drawn payloads; tests put the real one in.
VALID_TOKEN = "<valid token>"
LIFECYCLE = ("start", "stop", "restart")
COMMANDS = ("login", "logout", "status", "stats", *LIFECYCLE, "passwd", "")

CONTENT_TYPES = st.sampled_from([
    "application/json", "application/json; charset=utf-8", "text/plain",
    "application/x-www-form-urlencoded; charset=UTF-8", "multipart/form-data; boundary=x",
    "", "application/xml", "*/*"])

# NaN and Infinity are left to the byte-level examples: in every other
# payload they would make the whole body unparseable (9989) and hide the rest.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (st.lists(children, max_size=4)
                      | st.dictionaries(st.text(max_size=8), children, max_size=4)),
    max_leaves=12)

param_names = st.sampled_from(["port", "wait", "username", "password"]) | st.text(max_size=6)

fsi_payloads = st.fixed_dictionaries(
    {"cmd": st.sampled_from(COMMANDS) | st.text(max_size=10) | json_values},
    optional={
        "token": st.sampled_from([VALID_TOKEN]) | st.text(max_size=50) | json_values,
        "params": (st.dictionaries(param_names, st.integers(0, 70000) | json_values, max_size=3)
                   | json_values),
    })


@st.composite
def request_bodies(draw: st.DrawFn) -> tuple[Any, bytes]:
    """A body and the payload it encodes (None when the body is not from a payload)."""
    kind = draw(st.sampled_from(["bytes", "json", "fsi", "fsi", "fsi", "fsi-mangled"]))
    if kind == "bytes":
        return None, draw(st.binary(max_size=300))
    payload = draw(json_values if kind == "json" else fsi_payloads)
    body = json.dumps(payload, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
    if kind == "fsi-mangled":
        at = draw(st.integers(0, len(body)))
        return None, body[:at] + draw(st.binary(min_size=1, max_size=8)) + body[at:]
    return payload, body


def with_token(payload: Any, body: bytes, token: str) -> bytes:
    """Put the real token where the placeholder was drawn."""
    if isinstance(payload, dict) and payload.get("token") == VALID_TOKEN:
        payload["token"] = token
        return json.dumps(payload).encode("utf-8", "surrogatepass")
    return body


def carries(payload: Any, token: str, *commands: str) -> bool:
    return (isinstance(payload, dict) and payload.get("token") == token
            and payload.get("cmd") in commands)


def check_answer(status: int, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """The invariants of every answer of the endpoint."""
    assert status == 200, (status, body[:300])
    for name, value in ANSWER_HEADERS.items():
        assert headers.get(name) == value, (name, headers)
    answer = json.loads(body.decode("utf-8"))
    assert isinstance(answer, dict) and set(answer) <= {"err", "msg", "results"}, answer
    assert type(answer["err"]) is int and answer["err"] in ALL_CODES, answer
    assert isinstance(answer["msg"], str) and answer["msg"], answer
    assert "Traceback" not in answer["msg"], answer
    assert isinstance(answer.get("results", {}), dict), answer
    return answer
