"""FSI v2.1 on the wire: decoding a request body, encoding an answer.

Requests are ``{"cmd", "token", "params"}`` objects, answers are
``{"err", "msg", "results"}``. Decoding is strict (duplicate keys, NaN and
non-object roots are refused) because a NAS front end that sends something
ambiguous should hear about it rather than get a guess.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from plugin.errors import Err, FsiError

CMD_PATTERN = re.compile(r"[a-z_][a-z0-9_]{0,63}\Z")

JSON_CONTENT_TYPE = "application/json; charset=utf-8"


@dataclass(frozen=True)
class FsiRequest:
    cmd: str
    token: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise FsiError(Err.CONTENT, "duplicate key %r in the request JSON" % key)
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise FsiError(Err.CONTENT, "%s is not valid JSON" % name)


def decode_request(body: bytes) -> FsiRequest:
    """Parse a raw request body into an :class:`FsiRequest` or raise FsiError."""
    if not body.strip():
        raise FsiError(Err.NO_INPUT, "empty request: send a JSON object with a cmd")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise FsiError(Err.CONTENT, "the request body is not UTF-8") from None
    try:
        data = json.loads(
            text, object_pairs_hook=_unique_keys, parse_constant=_reject_constant
        )
    except FsiError:
        raise
    except RecursionError:
        raise FsiError(Err.CONTENT, "the request JSON is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, over-long integer literals
        raise FsiError(Err.CONTENT, "malformed JSON: %s" % exc) from None
    if not isinstance(data, dict):
        raise FsiError(Err.CONTENT, "the request must be a JSON object")
    if "cmd" not in data or data["cmd"] in (None, ""):
        raise FsiError(Err.NO_INPUT, "missing cmd")
    cmd = data["cmd"]
    if not isinstance(cmd, str):
        raise FsiError(Err.PARAMS, "cmd must be a string")
    if not CMD_PATTERN.match(cmd):
        raise FsiError(Err.REQUEST_FAILED, "unknown command %r" % cmd[:64])
    token = data.get("token")
    if token is not None and not isinstance(token, str):
        raise FsiError(Err.PARAMS, "token must be a string")
    params = data.get("params")
    if params is None:
        params = {}
    elif not isinstance(params, dict):
        raise FsiError(Err.PARAMS, "params must be a JSON object")
    return FsiRequest(cmd=cmd, token=token or None, params=params)


def encode_answer(
    code: int = Err.SUCCEED, msg: str = "ok", results: dict[str, Any] | None = None
) -> bytes:
    answer: dict[str, Any] = {"err": code, "msg": msg}
    if results is not None:
        answer["results"] = results
    return json.dumps(answer, ensure_ascii=False, separators=(",", ":")).encode()


def encode_error(error: FsiError) -> bytes:
    return encode_answer(error.code, error.msg, error.results)
