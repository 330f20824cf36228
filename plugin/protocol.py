"""FSI v2.1 on the wire: decoding a request body, encoding an answer.

Requests are ``{"cmd", "token", "params"}`` objects, answers are
``{"err", "msg", "results"}``. Decoding is strict (duplicate keys, NaN,
non-object roots, NUL bytes, deep nesting are refused, each with its own
message) because a NAS front end that sends something ambiguous should hear
about it rather than get a guess. docs/API.md lists the codes.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from plugin.errors import Err, FsiError

CMD_PATTERN = re.compile(r"[a-z_][a-z0-9_]{0,63}\Z")

JSON_CONTENT_TYPE = "application/json; charset=utf-8"

#: Headers of every answer: JSON, never cached (tokens and states are in
#: bodies), never sniffed as something else by a browser.
ANSWER_HEADERS = {
    "Content-Type": JSON_CONTENT_TYPE,
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


@dataclass(frozen=True)
class FsiRequest:
    cmd: str
    token: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


#: Deepest nesting of arrays/objects accepted; FSI requests need three levels.
MAX_DEPTH = 32
#: Longest integer literal accepted; longer ones are no port or count anyone means.
MAX_INT_DIGITS = 100


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise FsiError(Err.REDUPLICATED, "duplicate key %r in the request JSON" % key[:64])
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise FsiError(Err.CONTENT, "%s is not valid JSON" % name)


def _bounded_int(literal: str) -> int:
    if len(literal.lstrip("-")) > MAX_INT_DIGITS:
        raise FsiError(Err.CONTENT, "an integer in the request has more than %d digits"
                       % MAX_INT_DIGITS)
    return int(literal)


def _check_tree(data: Any) -> None:
    """Refuse deep nesting and strings that cannot be UTF-8 (lone surrogate escapes).

    Iterative on purpose: a recursive walk is what the limit protects against.
    """
    pending: list[tuple[Any, int]] = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise FsiError(Err.CONTENT, "the request JSON has a lone UTF-16 surrogate "
                               "escape (\\ud800-\\udfff) that is no character") from None
            continue
        if isinstance(value, dict):
            children = [*value.keys(), *value.values()]
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > MAX_DEPTH:
            raise FsiError(Err.CONTENT, "the request JSON is nested deeper than %d levels"
                           % MAX_DEPTH)
        pending.extend((child, depth + 1) for child in children)


_JSON_NAMES = {list: "an array", str: "a string", int: "a number", float: "a number",
               bool: "a boolean", type(None): "null"}


def _is_json_type(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return not media or media == "application/json" or media.endswith("+json")


def _parse(text: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_unique_keys,
                          parse_constant=_reject_constant, parse_int=_bounded_int)
    except RecursionError:
        raise FsiError(Err.CONTENT, "the request JSON is nested deeper than %d levels"
                       % MAX_DEPTH) from None
    except json.JSONDecodeError as exc:
        raise FsiError(Err.CONTENT, "malformed JSON: %s" % exc) from None


def decode_request(body: bytes, content_type: str = "") -> FsiRequest:
    """Parse a raw request body into an :class:`FsiRequest` or raise FsiError.

    The body is JSON whatever ``content_type`` says (jQuery sends JSON labelled
    as a form by default); the label only makes the message of a body that is
    not JSON say why it may not be.
    """
    if not body.strip():
        raise FsiError(Err.NO_INPUT, "empty request: send a JSON object with a cmd")
    try:
        if b"\x00" in body:
            raise FsiError(Err.CONTENT, "the request body contains a NUL byte")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FsiError(Err.CONTENT, "the request body is not UTF-8 (byte %d)"
                           % exc.start) from None
        data = _parse(text)
        if not isinstance(data, dict):
            raise FsiError(Err.CONTENT, "the request must be a JSON object, not %s"
                           % _JSON_NAMES.get(type(data), "this"))
        _check_tree(data)
    except FsiError as error:
        if error.code == Err.CONTENT and not _is_json_type(content_type):
            error.msg += ("; the body is read as JSON whatever the Content-Type (this one "
                          "was sent as %r)" % content_type[:80])
        raise
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
