"""Unit tests: the XML-RPC client's own copy of supervisord's protocol constants."""
from __future__ import annotations

from supervisor import xmlrpc

from plugin.rpc_client import Faults


def test_the_fault_codes_are_supervisors_own():
    ours = {name: code for name, code in vars(Faults).items() if name.isupper()}
    theirs = {name: code for name, code in vars(xmlrpc.Faults).items() if name.isupper()}
    assert ours == theirs
