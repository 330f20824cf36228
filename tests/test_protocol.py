"""FSI decoding of hostile and odd request bodies: each gets its own code and message."""
from __future__ import annotations

import json

import pytest

from plugin.errors import Err, FsiError
from plugin.protocol import MAX_DEPTH, decode_request, encode_answer


def refusal(body: bytes, content_type: str = "") -> FsiError:
    with pytest.raises(FsiError) as caught:
        decode_request(body, content_type)
    return caught.value


def test_a_plain_request_decodes():
    request = decode_request(b'{"cmd":"start","token":"t","params":{"port":8080}}')
    assert (request.cmd, request.token, request.params) == ("start", "t", {"port": 8080})


def test_params_and_token_are_optional():
    request = decode_request(b'{"cmd":"status"}')
    assert request.token is None and request.params == {}


@pytest.mark.parametrize("body", [b"", b"   ", b"\r\n"])
def test_an_empty_body_is_missing_input(body):
    assert refusal(body).code == Err.NO_INPUT


@pytest.mark.parametrize("body", [b"{", b"{'cmd': 'status'}", b'{"cmd":}', b"cmd=status",
                                  b'{"cmd":"status"} trailing'])
def test_malformed_json_is_content(body):
    error = refusal(body)
    assert error.code == Err.CONTENT and "malformed JSON" in error.msg


def test_invalid_utf8_is_content():
    error = refusal(b'{"cmd":"st\xffatus"}')
    assert error.code == Err.CONTENT and "not UTF-8" in error.msg


@pytest.mark.parametrize("body", [b'{"cmd":"status"}\x00', b'{"cmd":"st\x00atus"}',
                                  b'\x00{"cmd":"status"}'])
def test_nul_bytes_are_content(body):
    error = refusal(body)
    assert error.code == Err.CONTENT and "NUL" in error.msg


def test_an_escaped_nul_is_just_a_character():
    assert refusal(b'{"cmd":"sta\\u0000tus"}').code == Err.REQUEST_FAILED


@pytest.mark.parametrize("root, name", [(b"[]", "array"), (b'"status"', "string"),
                                        (b"42", "number"), (b"true", "boolean"),
                                        (b"null", "null")])
def test_a_non_object_root_is_content(root, name):
    error = refusal(root)
    assert error.code == Err.CONTENT and name in error.msg


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_non_json_constants_are_content(literal):
    error = refusal(b'{"cmd":"start","params":{"port":%s}}' % literal)
    assert error.code == Err.CONTENT and "not valid JSON" in error.msg


def test_duplicate_keys_are_reduplicated_at_any_level():
    assert refusal(b'{"cmd":"status","cmd":"stop"}').code == Err.REDUPLICATED
    error = refusal(b'{"cmd":"start","params":{"port":1,"port":2}}')
    assert error.code == Err.REDUPLICATED and "'port'" in error.msg


def test_nesting_up_to_the_limit_is_fine_and_deeper_is_content():
    def nested(depth: int) -> bytes:
        # the root object is level 1, params level 2, each list one more
        inner = "[" * (depth - 2) + "]" * (depth - 2)
        return ('{"cmd":"status","params":{"x":%s}}' % inner).encode()

    assert decode_request(nested(MAX_DEPTH)).cmd == "status"
    error = refusal(nested(MAX_DEPTH + 1))
    assert error.code == Err.CONTENT and "nested deeper" in error.msg


def test_nesting_beyond_the_interpreter_recursion_limit_is_content():
    error = refusal(b'{"cmd":"status","params":{"x":' + b"[" * 50000 + b"]" * 50000 + b"}}")
    assert error.code == Err.CONTENT and "nested deeper" in error.msg


def test_huge_numbers_parse_and_are_left_to_the_parameter_check():
    assert decode_request(b'{"cmd":"start","params":{"port":1e400}}').params["port"] == float(
        "inf")
    assert decode_request(b'{"cmd":"start","params":{"port":%s}}' % (b"9" * 100)).params


def test_integer_literals_longer_than_100_digits_are_content():
    error = refusal(b'{"cmd":"start","params":{"port":%s}}' % (b"9" * 101))
    assert error.code == Err.CONTENT and "digits" in error.msg
    assert refusal(b'{"cmd":"start","params":{"port":-%s}}' % (b"9" * 5000)).code == Err.CONTENT


@pytest.mark.parametrize("escape", [b"\\ud800", b"\\udfff"])
def test_lone_surrogate_escapes_are_content(escape):
    error = refusal(b'{"cmd":"login","params":{"username":"a%sb"}}' % escape)
    assert error.code == Err.CONTENT and "surrogate" in error.msg
    assert refusal(b'{"cmd":"status","params":{"%s":1}}' % escape).code == Err.CONTENT


def test_a_surrogate_pair_escape_is_a_character():
    request = decode_request(b'{"cmd":"login","params":{"username":"\\ud83d\\ude00"}}')
    assert request.params["username"] == "\U0001F600"


def test_a_wrong_content_type_with_a_json_body_is_accepted():
    request = decode_request(b'{"cmd":"status"}', "application/x-www-form-urlencoded")
    assert request.cmd == "status"


def test_a_wrong_content_type_is_named_when_the_body_is_not_json():
    error = refusal(b"cmd=status&token=x", "application/x-www-form-urlencoded; charset=UTF-8")
    assert error.code == Err.CONTENT
    assert "whatever the Content-Type" in error.msg and "x-www-form-urlencoded" in error.msg


@pytest.mark.parametrize("content_type", ["", "application/json",
                                          "application/json; charset=utf-8",
                                          "application/vnd.fsi+json"])
def test_a_json_content_type_is_not_blamed(content_type):
    assert "Content-Type" not in refusal(b"{", content_type).msg


@pytest.mark.parametrize("body, code", [
    (b'{"params":{}}', Err.NO_INPUT),
    (b'{"cmd":null}', Err.NO_INPUT),
    (b'{"cmd":7}', Err.PARAMS),
    (b'{"cmd":"Status"}', Err.REQUEST_FAILED),
    (b'{"cmd":"status","token":5}', Err.PARAMS),
    (b'{"cmd":"status","params":[]}', Err.PARAMS),
])
def test_envelope_fields_are_checked(body, code):
    assert refusal(body).code == code


def test_answers_are_compact_utf8_json():
    body = encode_answer(Err.SUCCEED, "ok", {"name": "qBittorrent ✓"})
    assert json.loads(body.decode("utf-8")) == {"err": 0, "msg": "ok",
                                                "results": {"name": "qBittorrent ✓"}}
