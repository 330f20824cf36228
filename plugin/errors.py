"""FSI v2.1 error codes and the one exception that carries them to the wire.

The codes and their meanings are the FSI table of the U-NAS spec. A code is
chosen where the failure is understood: parameter checks in
:mod:`plugin.commands`, lifecycle outcomes in :mod:`plugin.lifecycle`, and
file and RPC failures where they happen (:mod:`plugin.program_config`,
:mod:`plugin.rpc_client`), since those know best what went wrong. Every
failure reaches the web layer as an :class:`FsiError`
(:func:`plugin.web.as_fsi_error` converts the rest), and
:func:`plugin.protocol.encode_error` is the one encoder of an answer.
"""
from __future__ import annotations

from typing import Any


class Err:
    """FSI error codes (ERR_* of the spec, without the prefix)."""

    SUCCEED = 0
    FAILED = 9999
    TIMEOUT = 9998
    NO_INPUT = 9997
    DAMAGE = 9996
    PARAMS = 9995
    NOT_EXISTS = 9994
    EXISTS = 9993
    BUSY = 9992
    LOAD = 9991
    SAVE = 9990
    CONTENT = 9989
    AUTHORIZE = 9988
    SYSTEM = 9987
    LOCKED = 9986
    NOT_ACTIVE = 9985
    NOT_LOGGED_IN = 9984
    NOT_SCENE = 9983
    USED = 9982
    UNCOOLED = 9981
    MAINTENANCE = 9980
    LOGIN_OUTSIDE = 9979
    SCRIPT_FAILED = 9978
    SERVER_OFFLINE = 9977
    SCENE_EXISTS = 9976
    SQLERROR = 9975
    INCOMPATIBLE = 9974
    NOT_ENOUGH = 9973
    REQUEST_FAILED = 9972
    OFFLINE = 9971
    CONFIG = 9970
    CREATE = 9969
    CHANGE = 9968
    DELETE = 9967
    CANCEL = 9966
    UNKNOWN = 9965
    UNTREATED = 9964
    CORRELATIVE = 9963
    DIFFERENCE = 9962
    VERSION = 9961
    READY = 9960
    NO_RESPONSE = 9959
    BEHIND = 9958
    REDUPLICATED = 9957
    PWDERR = 9956
    UNCCGDPT = 9955


#: Every code of the spec's table, for validation in tests and docs.
ALL_CODES: frozenset[int] = frozenset(
    value for name, value in vars(Err).items() if name.isupper()
)

#: Default human message per code, used when a raise site gives none.
DEFAULT_MESSAGES: dict[int, str] = {
    Err.SUCCEED: "ok",
    Err.FAILED: "operation failed",
    Err.TIMEOUT: "operation timed out",
    Err.NO_INPUT: "a required input is missing",
    Err.PARAMS: "invalid parameter",
    Err.NOT_EXISTS: "not found",
    Err.BUSY: "another operation is in progress, try again shortly",
    Err.SAVE: "could not write the configuration",
    Err.CONTENT: "the request body is not valid FSI JSON",
    Err.AUTHORIZE: "authentication failed",
    Err.LOCKED: "locked",
    Err.NOT_LOGGED_IN: "not logged in: send a token from the login command",
    Err.USED: "already in use",
    Err.SERVER_OFFLINE: "supervisord is not reachable",
    Err.REQUEST_FAILED: "invalid request or unknown command",
    Err.CONFIG: "configuration error",
}


class FsiError(Exception):
    """A failure with an FSI code, a human message and optional results."""

    def __init__(
        self, code: int, msg: str | None = None, results: dict[str, Any] | None = None
    ) -> None:
        self.code = code
        self.msg = msg or DEFAULT_MESSAGES.get(code, "error %d" % code)
        self.results = results
        super().__init__(code, self.msg)

    def __str__(self) -> str:
        return self.msg
