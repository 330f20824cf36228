"""Unit tests: bounded log tails and version lookups."""
from __future__ import annotations

import pytest

from plugin import diagnostics
from plugin.errors import FsiError
from plugin.rpc_client import SupervisorFault


def test_a_file_tail_reads_a_bounded_amount_and_drops_a_cut_line(tmp_path):
    log = tmp_path / "qbittorrent.log"
    log.write_bytes(b"".join(b"line %d\n" % n for n in range(100_000)))
    assert diagnostics.tail_file(log, 3) == ["line 99997", "line 99998", "line 99999"]
    assert diagnostics.tail_file(log, 1000)[0] == "line 99000"
    log.write_bytes(b"x" * 5000 + b"\nlast\n")
    assert diagnostics.tail_file(log, 2) == ["last"]
    assert diagnostics.tail_file(tmp_path / "missing.log", 5) == []


class DummyClient:
    def __init__(self, text: str = "", fault: bool = False) -> None:
        self.text = text
        self.fault = fault
        self.asked: list[tuple[str, int]] = []

    def tail_log(self, name: str, channel: str, length: int) -> tuple[str, int]:
        self.asked.append((name, length))
        if self.fault:
            raise SupervisorFault(70, "NO_FILE")
        return self.text[-length:], len(self.text)


def test_an_output_tail_asks_supervisord_for_a_bounded_length():
    client = DummyClient("".join("out %d\n" % n for n in range(5000)))
    output = diagnostics.ProgramOutput(client, "qbittorrent")
    assert output.tail("stdout", 2) == ["out 4998", "out 4999"]
    assert client.asked == [("qbittorrent", 2 * diagnostics.BYTES_PER_LINE)]
    with pytest.raises(FsiError) as error:
        diagnostics.ProgramOutput(DummyClient(fault=True), "qbittorrent").tail("stderr", 5)
    assert error.value.code == 9991


def test_qbittorrent_version_is_cached_and_missing_binaries_are_none(tmp_path, monkeypatch):
    fake = tmp_path / "fake-qbt"
    counter = tmp_path / "runs"
    fake.write_text("#!/bin/sh\necho x >> %s\necho 'qBittorrent v9.8.7'\n" % counter)
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert diagnostics.qbittorrent_version("fake-qbt") == "9.8.7"
    assert diagnostics.qbittorrent_version("fake-qbt") == "9.8.7"
    assert counter.read_text().count("x") == 1
    assert diagnostics.qbittorrent_version("not-installed") is None


class DummyFailedClient(DummyClient):
    """A supervisord whose program died: old lines, then this start's own."""

    def process_info(self, name: str) -> dict:
        return {"spawnerr": "", "description": "Exited too quickly"}


def test_a_failed_start_quotes_only_what_this_start_wrote():
    old = "OSError: [Errno 9] Bad file descriptor\n"
    client = DummyFailedClient(old + "this start: cannot bind port\n")
    output = diagnostics.ProgramOutput(client, "qbittorrent")
    sizes = {"stderr": len(old), "stdout": len(client.text)}
    assert output.failure_reason(sizes) == "this start: cannot bind port"
    # A stream whose size before the start is unknown is not quoted at all.
    assert output.failure_reason({}) == "Exited too quickly"
