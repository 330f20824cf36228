"""Hostile and odd HTTP at the endpoint, through the real waitress server in-process."""
from __future__ import annotations

import json
import warnings

import pytest

from plugin.auth import LOCKOUT_FAILURES
from plugin.errors import Err
from plugin.server import create_server
from plugin.settings import Settings
from plugin.web import MAX_BODY
from tests.local_server import PASSWORD, LocalServer, fsi


@pytest.fixture(scope="module")
def token(server):
    return server.login()


def raw_fsi(response: bytes) -> dict:
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0].split(" ", 1)[1] == "200 OK"
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return fsi((200, headers, body))


def test_success_answers_carry_the_security_headers(server, token):
    assert fsi(server.post_raw(json.dumps({"cmd": "status", "token": token}).encode()))[
        "err"] == 0


@pytest.mark.parametrize("body, code, words", [
    (b"", Err.NO_INPUT, "empty"),
    (b"{not json", Err.CONTENT, "malformed JSON"),
    (b'{"cmd":"status"}\x00', Err.CONTENT, "NUL"),
    (b'{"cmd":"\xc3\x28"}', Err.CONTENT, "UTF-8"),
    (b"[1,2]", Err.CONTENT, "JSON object"),
    (b'{"cmd":"status","params":{"a":' + b"[" * 40 + b"]" * 40 + b"}}", Err.CONTENT,
     "nested"),
    (b'{"cmd":"status","cmd":"status"}', Err.REDUPLICATED, "duplicate"),
    (b'{"cmd":"status","params":{"p":NaN}}', Err.CONTENT, "NaN"),
    (b'{"cmd":"launch"}', Err.REQUEST_FAILED, "unknown command"),
    (b'{"cmd":"status"}', Err.NOT_LOGGED_IN, "not logged in"),
    (b'{"cmd":"status","token":"forged"}', Err.AUTHORIZE, "invalid or expired"),
])
def test_each_kind_of_bad_body_has_its_code_and_message(server, body, code, words):
    answer = fsi(server.post_raw(body))
    assert answer["err"] == code and words in answer["msg"], answer


@pytest.mark.parametrize("port", ["1e400", "-1e400", "1e308", "65536", "0", "8080.0",
                                  "9" * 100, "true", '"8080"', "null", "[8080]"])
def test_huge_and_odd_ports_are_parameter_errors(server, token, port):
    body = b'{"cmd":"start","token":"%s","params":{"port":%s}}' % (token.encode(),
                                                                   port.encode())
    answer = fsi(server.post_raw(body))
    assert answer["err"] == Err.PARAMS and "port" in answer["msg"], answer
    assert server.service.changes == []


def test_a_json_body_is_read_whatever_the_content_type(server, token):
    body = json.dumps({"cmd": "status", "token": token}).encode()
    for content_type in ("application/x-www-form-urlencoded; charset=UTF-8", "text/plain",
                         "multipart/form-data; boundary=x", ""):
        assert fsi(server.post_raw(body, content_type))["err"] == 0


def test_a_form_body_is_content_with_the_content_type_named(server):
    answer = fsi(server.post_raw(b"cmd=status&token=x", "application/x-www-form-urlencoded"))
    assert answer["err"] == Err.CONTENT
    assert "Content-Type" in answer["msg"] and "x-www-form-urlencoded" in answer["msg"]


def test_a_body_of_exactly_64_kib_is_read(server, token):
    body = json.dumps({"cmd": "status", "token": token, "params": {}}).encode()
    body = body[:-1] + b" " * (MAX_BODY - len(body)) + b"}"
    assert len(body) == MAX_BODY
    assert fsi(server.post_raw(body))["err"] == 0


@pytest.mark.parametrize("size", [MAX_BODY + 1, 1024 * 1024, 15 * 1024 * 1024])
def test_larger_bodies_are_refused_and_the_server_keeps_answering(server, token, size):
    answer = fsi(server.post_raw(b"{" + b" " * (size - 1)))
    assert answer["err"] == Err.REQUEST_FAILED and "too large" in answer["msg"]
    assert "%d bytes" % MAX_BODY in answer["msg"]
    assert server.post({"cmd": "status", "token": token})["err"] == 0


def test_a_chunked_body_over_the_limit_is_refused(server, token):
    chunk = b" " * 8192
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(9))
    answer = raw_fsi(server.send_bytes(
        b"POST /include/index.php HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunks + b"0\r\n\r\n"))
    assert answer["err"] == Err.REQUEST_FAILED and "too large" in answer["msg"]
    assert server.post({"cmd": "status", "token": token})["err"] == 0


@pytest.mark.parametrize("request_bytes, words", [
    (b"POST /include/index.php HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n",
     "Too Large"),
    (b"GARBAGE\r\n\r\n", "Bad Request"),
    (b"POST /include/index.php HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"zz\r\n", "Bad Request"),
], ids=["content-length-over-16-MiB", "bad-request-line", "bad-chunk"])
def test_what_waitress_refuses_itself_is_fsi_json_too(server, token, request_bytes, words):
    answer = raw_fsi(server.send_bytes(request_bytes))
    assert answer["err"] == Err.REQUEST_FAILED and words in answer["msg"], answer
    assert server.post({"cmd": "status", "token": token})["err"] == 0


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_other_methods_answer_9972_and_change_nothing(server, token, method):
    query = "?cmd=start&token=%s" % token
    answer = fsi(server.request(method, json.dumps({"cmd": "start", "token": token}).encode(),
                                path="/include/index.php" + query))
    assert answer["err"] == Err.REQUEST_FAILED and "POST" in answer["msg"]
    assert server.service.changes == []


@pytest.mark.parametrize("method, path", [("POST", "/"), ("PUT", "/page.js")])
def test_a_method_a_path_does_not_take_is_9972(server, method, path):
    answer = fsi(server.request(method, b"{}", path=path))
    assert answer["err"] == Err.REQUEST_FAILED and "POST /include/index.php" in answer["msg"]


def test_unknown_paths_are_fsi_json_with_the_security_headers(server):
    answer = fsi(server.request("POST", b"{}", path="/admin"))
    assert answer["err"] == Err.NOT_EXISTS


def test_an_unexpected_failure_is_9987_without_a_traceback(server, token, monkeypatch):
    def broken_status():
        raise RuntimeError("secret internals")

    monkeypatch.setattr(server.service, "status", broken_status)
    answer = fsi(server.post_raw(json.dumps({"cmd": "status", "token": token}).encode()))
    assert answer["err"] == Err.SYSTEM and "secret internals" not in answer["msg"]
    assert "Traceback" not in answer["msg"]


def test_a_password_is_never_echoed(server):
    answer = server.post({"cmd": "login", "params": {"username": "admin",
                                                     "password": "guess-1234",
                                                     "extra": "x"}})
    assert answer["err"] == Err.PARAMS and "guess-1234" not in json.dumps(answer)


def login_from(server, origin_header: dict[str, str], password: str) -> dict:
    body = json.dumps({"cmd": "login", "params": {"username": "admin", "password": password}})
    return fsi(server.request("POST", body.encode(), headers={
        "Content-Type": "text/plain", **origin_header}))


@pytest.mark.parametrize("header", [
    {"Origin": "http://evil.example"}, {"Origin": "null"},
    {"Origin": "http://127.0.0.1:1"}, {"Referer": "http://evil.example/page.html"},
    {"Origin": "http://127.0.0.1:notaport"}])
def test_a_foreign_page_is_refused_before_any_password_check(server, header):
    for _ in range(LOCKOUT_FAILURES + 1):
        answer = login_from(server, header, "wrong")
        assert answer["err"] == Err.REQUEST_FAILED and "cross-site" in answer["msg"]
    # None of those counted: the admin's own page still logs in.
    own = {"Origin": "http://127.0.0.1:%s" % server.port}
    assert login_from(server, own, PASSWORD)["err"] == Err.SUCCEED
    assert login_from(server, {"Referer": "http://127.0.0.1:%s/" % server.port},
                      PASSWORD)["err"] == Err.SUCCEED


@pytest.fixture(scope="module")
def named_server(tmp_path_factory):
    """The plugin answering only to the names nas.local and ::1."""
    running = LocalServer(tmp_path_factory.mktemp("named"), allowed_hosts="nas.local ::1")
    yield running
    running.close()


def login_to(server, host: str, password: str) -> dict:
    body = json.dumps({"cmd": "login", "params": {"username": "admin", "password": password}})
    return fsi(server.request("POST", body.encode(), headers={"Host": host}))


@pytest.mark.parametrize("host", ["rebound.example:8086", "127.0.0.1", "nas.local.evil.example",
                                  "[::2]:8086", "\"><script>"])
def test_a_name_the_admin_did_not_allow_is_refused_before_any_password_check(named_server,
                                                                            host):
    for _ in range(LOCKOUT_FAILURES + 1):
        answer = login_to(named_server, host, "wrong")
        assert answer["err"] == Err.REQUEST_FAILED and "FSI_ALLOWED_HOSTS" in answer["msg"]
    # None of those counted: the admin, on an allowed name, still logs in.
    assert login_to(named_server, "NAS.local:%s" % named_server.port, PASSWORD)["err"] == 0
    assert login_to(named_server, "[::1]:%s" % named_server.port, PASSWORD)["err"] == 0


def test_a_request_without_a_host_is_refused_when_names_are_allowed(named_server):
    body = json.dumps({"cmd": "login", "params": {"username": "admin", "password": PASSWORD}})
    answer = raw_fsi(named_server.send_bytes(
        b"POST /include/index.php HTTP/1.0\r\nContent-Length: %d\r\n\r\n%s"
        % (len(body), body.encode())))
    assert answer["err"] == Err.REQUEST_FAILED and "FSI_ALLOWED_HOSTS" in answer["msg"]


def test_without_allowed_hosts_every_name_is_served(server):
    assert login_to(server, "rebound.example:8086", PASSWORD)["err"] == Err.SUCCEED


def test_every_waitress_drops_a_client_s_forwarded_headers_without_a_warning():
    # waitress 2 (Debian 12's) passes X-Forwarded-* on unless told, with a warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        server = create_server(lambda environ, start_response: [],
                               Settings(host="127.0.0.1", port=0, threads=1))
    try:
        assert server.adj.clear_untrusted_proxy_headers is True
    finally:
        server.task_dispatcher.shutdown()
        server.close()
