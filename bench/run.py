"""`make bench`: the lifecycle's figures next to their baselines, measured in one run.

Everything runs on a real stack (tests.stack.Stack: supervisord with the
project's conf files, the plugin under waitress, qbittorrent-nox with the
loopback profile). Baselines are measured in the same run, interleaved with
the FSI figures round by round, so that noise from a shared machine hits
both alike. Prints one table; ``--json FILE`` also writes the raw figures.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import xmlrpc.client
from importlib.metadata import version
from pathlib import Path
from typing import Any, Callable, NamedTuple

from supervisor.xmlrpc import SupervisorTransport

from plugin.conf_text import PRESETS, template
from plugin.qbt_profile import profile_config
from plugin.stats import SHARE_FOR
from tests.stack import Stack, accepting, free_port, terminate, wait_for, webui_client
from tests.torrents import dataless_torrent

#: Targets: (figure, operator, bound).
START_RATIO = 1.2
MOVE_RATIO = 1.5
STATUS_RATIO = 1.5
POLLERS = 16
POLLERS_MIN_RATE = 1500
RSS_MAX_MB = 30.0
RSS_GROWTH_MAX_MB = 0.5
LISTENER_RSS_MAX_MB = 13.0
STATS_RATIO = 1.5
STATS_GROWTH = 2.0
STATS_TORRENTS = 1000


def until_accepting(port: int, timeout: float = 15.0) -> None:
    """Poll the port every millisecond, as tightly for every contestant."""
    if not wait_for(lambda: accepting(port), timeout, interval=0.001):
        raise RuntimeError("port %d never opened" % port)


def timed(action: Callable[[], Any]) -> float:
    begin = time.perf_counter()
    action()
    return time.perf_counter() - begin


class FsiClient:
    """FSI over HTTP with a new connection per request, as a NAS page does."""

    def __init__(self, port: int, token: str = "") -> None:
        self.port = port
        self.token = token

    def body(self, cmd: str, **params: Any) -> bytes:
        return json.dumps({"cmd": cmd, "token": self.token, "params": params}).encode()

    def post(self, body: bytes) -> dict[str, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("POST", "/include/index.php", body,
                         {"Content-Type": "application/json"})
            return json.loads(conn.getresponse().read())
        finally:
            conn.close()

    def call(self, cmd: str, **params: Any) -> dict[str, Any]:
        answer = self.post(self.body(cmd, **params))
        if answer["err"] != 0:
            raise RuntimeError("%s failed: %s" % (cmd, answer))
        return answer


#: The baseline of the pollers: waitress alone, answering one fixed FSI answer.
BARE_WAITRESS = """
import sys, waitress
ANSWER = b'{"err": 0, "msg": "ok", "results": {"running": true, "state": "running"}}'
def app(environ, start_response):
    environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(ANSWER)))])
    return [ANSWER]
waitress.serve(app, host="127.0.0.1", port=int(sys.argv[1]), threads=int(sys.argv[2]),
               _quiet=True)
"""


class BareServer(NamedTuple):
    process: subprocess.Popen
    port: int


def bare_waitress(threads: int) -> BareServer:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", BARE_WAITRESS, str(port), str(threads)])
    until_accepting(port)
    return BareServer(process, port)


def poll_rate(client: "FsiClient", body: bytes, seconds: float) -> tuple[float, int]:
    """Answers per second of POLLERS threads posting ``body`` for ``seconds``, and failures."""
    counts = [0] * POLLERS
    errors: list[str] = []
    stop_at = time.monotonic() + seconds

    def poll(index: int) -> None:
        while time.monotonic() < stop_at:
            try:
                answer = client.post(body)
            except OSError as exc:
                errors.append(repr(exc))
                continue
            if answer["err"] != 0:
                errors.append(answer["msg"])
            counts[index] += 1

    begin = time.perf_counter()
    threads = [threading.Thread(target=poll, args=(i,)) for i in range(POLLERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 60)
    return sum(counts) / (time.perf_counter() - begin), len(errors)


class DirectWebApi:
    """qBittorrent's Web API asked directly, the cheapest way: one kept-alive connection,
    one session, ``sync/maindata`` with the ``rid`` of its last answer."""

    def __init__(self, port: int, credentials: dict[str, str]) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        form = urllib.parse.urlencode({"username": credentials["username"],
                                       "password": credentials["password"]})
        self.conn.request("POST", "/api/v2/auth/login", form,
                          {"Content-Type": "application/x-www-form-urlencoded"})
        response = self.conn.getresponse()
        if response.read() != b"Ok.":
            raise RuntimeError("qBittorrent refused the login")
        self.cookie = response.getheader("Set-Cookie").split(";")[0]
        self.rid = 0

    def maindata(self) -> dict[str, Any]:
        self.conn.request("GET", "/api/v2/sync/maindata?rid=%d" % self.rid,
                          headers={"Cookie": self.cookie})
        answer = json.loads(self.conn.getresponse().read())
        self.rid = answer["rid"]
        return answer

    def close(self) -> None:
        self.conn.close()


class Bench:
    def __init__(self, stack: Stack, rounds: int) -> None:
        self.stack = stack
        self.rounds = rounds
        self.fsi = FsiClient(stack.port, stack.login())
        self.rpc = xmlrpc.client.ServerProxy("http://127.0.0.1", transport=SupervisorTransport(
            serverurl="unix://%s" % (stack.home / "supervisor.sock")))
        self.bare_profile = Path(tempfile.mkdtemp(prefix="fsi-bench-"))
        seeded = profile_config(self.bare_profile)
        seeded.parent.mkdir(parents=True)
        seeded.write_text(template(PRESETS["loopback"]))
        self.figures: dict[str, Any] = {}

    def close(self) -> None:
        shutil.rmtree(self.bare_profile, ignore_errors=True)

    def supervisorctl(self, *args: str) -> None:
        """The real supervisorctl against the stack's socket, as an admin runs it."""
        subprocess.run([str(Path(sys.executable).with_name("supervisorctl")), "-s",
                        "unix://%s" % (self.stack.home / "supervisor.sock"), *args],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)

    # -- contestants -------------------------------------------------------

    def bare_start(self) -> float:
        port = free_port()
        begin = time.perf_counter()
        process = subprocess.Popen(["qbittorrent-nox", "--profile=%s" % self.bare_profile,
                                    "--webui-port=%d" % port],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            until_accepting(port)
            return time.perf_counter() - begin
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(60)

    def fsi_start(self, **params: Any) -> float:
        elapsed = timed(lambda: self.fsi.call("start", **params))
        self.fsi.call("stop")
        return elapsed

    def ctl_start(self) -> float:
        port = free_port()
        self.fsi.call("start", port=port)
        self.fsi.call("stop")
        elapsed = timed(lambda: (self.supervisorctl("start", "qbittorrent"), until_accepting(port)))
        self.fsi.call("stop")
        return elapsed

    def fsi_move(self) -> float:
        self.fsi.call("start", port=free_port())
        new = free_port()
        elapsed = timed(lambda: self.fsi.call("start", port=new))
        self.fsi.call("stop")
        return elapsed

    # -- figures -----------------------------------------------------------

    def starts(self) -> None:
        bare, fsi, fresh, move, ctl = [], [], [], [], []
        self.bare_start(), self.fsi_start(port=free_port()), self.fsi_move()  # warm up
        for index in range(self.rounds):
            bare.append(self.bare_start())
            fsi.append(self.fsi_start())  # the configured port, as a NAS page starts it
            fresh.append(self.fsi_start(port=free_port()))
            move.append(self.fsi_move())
            if index < 3:  # each takes over a second (startsecs)
                ctl.append(self.ctl_start())
        self.figures.update(bare_start=statistics.median(bare),
                            fsi_start=statistics.median(fsi),
                            fsi_start_new_port=statistics.median(fresh),
                            fsi_move=statistics.median(move),
                            ctl_start=statistics.median(ctl),
                            start_ratio=paired_ratio(fsi, bare),
                            start_new_port_ratio=paired_ratio(fresh, bare),
                            move_ratio=paired_ratio(move, bare),
                            ctl_start_ratio=paired_ratio(fsi, ctl))

    def statuses(self, per_round: int = 300) -> None:
        self.fsi.call("start", port=free_port())
        body = self.fsi.body("status")
        fsi, raw, ctl = [], [], []
        for _ in range(self.rounds):
            for _ in range(per_round):
                raw.append(timed(lambda: self.rpc.supervisor.getProcessInfo("qbittorrent")))
            for _ in range(per_round):
                fsi.append(timed(lambda: self.fsi.post(body)))
            ctl.append(timed(lambda: self.supervisorctl("status", "qbittorrent")))
        self.figures.update(fsi_status=statistics.median(fsi),
                            raw_status=statistics.median(raw),
                            ctl_status=statistics.median(ctl))

    def pollers(self, seconds: float = 5.0, slices: int = 4) -> None:
        """16 pollers on FSI status, and on a bare waitress answering a fixed JSON.

        The bare waitress, with the plugin's thread count, is the baseline:
        what the web server alone allows on this machine. Both are measured
        in alternating slices, so that they see the same load.
        """
        body = self.fsi.body("status")
        fsi_rates, bare_rates, errors = [], [], 0
        bare = bare_waitress(self.stack.settings.threads)
        try:
            bare_client = FsiClient(bare.port)
            for _ in range(slices):
                bare_rates.append(poll_rate(bare_client, body, seconds / slices)[0])
                rate, failed = poll_rate(self.fsi, body, seconds / slices)
                fsi_rates.append(rate)
                errors += failed
        finally:
            terminate(bare.process)
        self.figures.update(pollers_rate=statistics.mean(fsi_rates), pollers_errors=errors,
                            bare_pollers_rate=statistics.mean(bare_rates))

    def memory(self, requests: int = 10_000) -> None:
        pid = self.rpc.supervisor.getProcessInfo("qbittorrent-fsi")["pid"]
        body = self.fsi.body("status")
        for _ in range(1000):  # first allocations: arenas, caches, the token's session
            self.fsi.post(body)
        before = rss_mb(pid)
        for _ in range(requests):
            self.fsi.post(body)
        after = rss_mb(pid)
        listener = self.rpc.supervisor.getProcessInfo("qbittorrent-fsi-events")["pid"]
        self.figures.update(rss=after, rss_growth=after - before, rss_requests=requests,
                            listener_rss=rss_mb(listener))


    def stats(self) -> None:
        """``stats`` with 1 and with STATS_TORRENTS paused torrents (no data, no peers)."""
        status = self.fsi.call("status")["results"]
        credentials = self.fsi.call("webui_credentials")["results"]
        client = webui_client(status["port"], credentials)
        direct = DirectWebApi(status["port"], credentials)
        try:
            for count in (1, STATS_TORRENTS):
                have = self.fsi.call("stats")["results"]["torrents"]["total"]
                for first in range(have, count, 100):
                    client.torrents_add(is_paused=True, torrent_files=[
                        dataless_torrent("bench-%04d.bin" % index)[0]
                        for index in range(first, min(first + 100, count))])
                if not wait_for(lambda: self.fsi.call("stats")["results"]["torrents"]["total"]
                                == count, timeout=120, interval=0.5):
                    raise RuntimeError("qBittorrent did not take %d torrents" % count)
                direct.maindata()  # its full update, before the incremental ones
                self.stats_polled(count, direct)
                self.stats_fresh(count, direct)
        finally:
            direct.close()
            client.torrents_delete(delete_files=False, torrent_hashes="all")

    def stats_polled(self, count: int, direct: DirectWebApi, per_round: int = 300,
                     direct_per_round: int = 10) -> None:
        """Back-to-back requests, as for status: most get the answer shared for a second."""
        body = self.fsi.body("stats")
        fsi, raw = [], []
        for _ in range(self.rounds):
            for _ in range(direct_per_round):
                raw.append(timed(direct.maindata))
            for _ in range(per_round):
                fsi.append(timed(lambda: self.fsi.post(body)))
        self.figures.update({"stats_%d" % count: statistics.median(fsi),
                             "direct_maindata_%d" % count: statistics.median(raw)})

    def stats_fresh(self, count: int, direct: DirectWebApi) -> None:
        """Each request once the shared answer is over a second old, as one page polling
        every 2 s sends them: each asks qBittorrent; the direct call next to it."""
        body = self.fsi.body("stats")
        fsi, raw = [], []
        for index in range(self.rounds):
            time.sleep(SHARE_FOR + 0.05)
            # The first request after the pause meets a sleepy machine: take turns.
            if index % 2:
                raw.append(timed(direct.maindata))
            fsi.append(timed(lambda: self.fsi.post(body)))
            if not index % 2:
                raw.append(timed(direct.maindata))
        self.figures.update({"stats_fresh_%d" % count: statistics.median(fsi),
                             "direct_fresh_%d" % count: statistics.median(raw),
                             "stats_fresh_ratio_%d" % count: paired_ratio(fsi, raw)})


def paired_ratio(measured: list[float], baseline: list[float]) -> float:
    """Median of the round-by-round ratios.

    Each round measures both sides back to back, under the same load; the
    median of those ratios is steadier on a shared machine than the ratio
    of two medians taken over minutes of changing load.
    """
    return statistics.median(m / b for m, b in zip(measured, baseline))


def rss_mb(pid: int) -> float:
    for line in Path("/proc/%d/status" % pid).read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS for pid %d" % pid)


def machine() -> list[str]:
    cpu = next((line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    qbt = subprocess.run(["qbittorrent-nox", "--version"], capture_output=True,
                         text=True).stdout.strip()
    return ["machine: %d cores (nproc), %s, Linux %s" % (os.cpu_count(), cpu, platform.release()),
            "versions: Python %s, supervisor %s, waitress %s, bottle %s, %s"
            % (platform.python_version(), version("supervisor"), version("waitress"),
               version("bottle"), qbt)]


def ms(seconds: float) -> str:
    return ("%.2f ms" if seconds < 0.01 else "%.1f ms") % (seconds * 1000)


def rows(f: dict[str, Any]) -> list[tuple[str, str, str, float | None, str, bool | None]]:
    """(figure, FSI, baseline, ratio, target, met) per line; met is None without a target."""
    return [
        ("start -> Web UI accepting", ms(f["fsi_start"]), "bare exec %s" % ms(f["bare_start"]),
         f["start_ratio"], "<= %.1fx" % START_RATIO, f["start_ratio"] <= START_RATIO),
        ("", "", "supervisorctl start %s" % ms(f["ctl_start"]), f["ctl_start_ratio"], "", None),
        ("start on a new port (stopped)", ms(f["fsi_start_new_port"]),
         "bare exec %s" % ms(f["bare_start"]), f["start_new_port_ratio"], "", None),
        ("start on a new port (running)", ms(f["fsi_move"]), "bare exec %s" % ms(f["bare_start"]),
         f["move_ratio"], "<= %.1fx" % MOVE_RATIO, f["move_ratio"] <= MOVE_RATIO),
        ("status p50, new conn/request", ms(f["fsi_status"]),
         "raw XML-RPC %s" % ms(f["raw_status"]), f["fsi_status"] / f["raw_status"],
         "<= %.1fx" % STATUS_RATIO, f["fsi_status"] / f["raw_status"] <= STATUS_RATIO),
        ("", "", "supervisorctl status %s" % ms(f["ctl_status"]),
         f["fsi_status"] / f["ctl_status"], "", None),
        ("%d pollers, status/s" % POLLERS, "%d/s, %d errors" % (f["pollers_rate"],
                                                                f["pollers_errors"]),
         "bare waitress %d/s" % f["bare_pollers_rate"],
         f["pollers_rate"] / f["bare_pollers_rate"], ">= %d/s, 0 errors" % POLLERS_MIN_RATE,
         f["pollers_rate"] >= POLLERS_MIN_RATE and f["pollers_errors"] == 0),
        ("plugin RSS", "%.1f MB" % f["rss"], "", None, "<= %.0f MB" % RSS_MAX_MB,
         f["rss"] <= RSS_MAX_MB),
        ("RSS growth, %d requests" % f["rss_requests"], "%+.2f MB" % f["rss_growth"], "", None,
         "<= %.1f MB" % RSS_GROWTH_MAX_MB, f["rss_growth"] <= RSS_GROWTH_MAX_MB),
        ("event listener RSS", "%.1f MB" % f["listener_rss"], "", None,
         "<= %.0f MB" % LISTENER_RSS_MAX_MB, f["listener_rss"] <= LISTENER_RSS_MAX_MB),
        *stats_rows(f),
    ]


def stats_rows(f: dict[str, Any]) -> list[tuple[str, str, str, float | None, str, bool | None]]:
    many = STATS_TORRENTS
    measured: list[tuple[str, str, str, float | None, str, bool | None]] = []
    for count in (1, many):
        ratio = f["stats_%d" % count] / f["direct_maindata_%d" % count]
        measured.append(("stats p50, %d torrent%s" % (count, "s" * (count > 1)),
                         ms(f["stats_%d" % count]),
                         "direct maindata %s" % ms(f["direct_maindata_%d" % count]), ratio,
                         "<= %.1fx" % STATS_RATIO, ratio <= STATS_RATIO))
    growth = f["stats_%d" % many] / f["stats_1"]
    measured.append(("stats p50, 1 -> %d torrents" % many,
                     "%s -> %s" % (ms(f["stats_1"]), ms(f["stats_%d" % many])), "", growth,
                     "<= %.1fx" % STATS_GROWTH, growth <= STATS_GROWTH))
    for count in (1, many):
        measured.append(("stats read anew, %d torrent%s" % (count, "s" * (count > 1)),
                         ms(f["stats_fresh_%d" % count]),
                         "direct maindata %s" % ms(f["direct_fresh_%d" % count]),
                         f["stats_fresh_ratio_%d" % count], "", None))
    return measured


def table(measured: list[tuple[str, str, str, float | None, str, bool | None]]) -> list[str]:
    widths = (30, 18, 28, 7, 18)
    head = ("figure", "FSI", "baseline", "ratio", "target")
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths)) + "  met",
             "-" * (sum(widths) + 2 * len(widths) + 3)]
    for name, value, base, ratio, target, met in measured:
        cells = (name, value, base, "" if ratio is None else "%.2fx" % ratio, target)
        lines.append("  ".join(c.ljust(w) for c, w in zip(cells, widths)) + "  " +
                     ("" if met is None else "yes" if met else "NO"))
    return lines


def main() -> int:
    """Run the bench; exit status 1 when a figure misses its target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args()
    stack = Stack().start()
    bench = Bench(stack, args.rounds)
    try:
        bench.starts()
        bench.statuses()
        bench.pollers()
        bench.memory()
        bench.stats()
        bench.fsi.call("stop")
    finally:
        bench.close()
        stack.close()
    measured = rows(bench.figures)
    lines = machine() + ["rounds: %d (medians; start ratios: median of per-round ratios)"
                         % args.rounds, ""] + table(measured)
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps(bench.figures, indent=2))
    missed = ["%s (%s)" % (row[0], row[4]) for row in measured if row[5] is False]
    if missed:
        print("missed targets: %s" % ", ".join(missed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
