"""A stand-in for qbittorrent-nox with a slow start and a slow stop, for stop/start semantics.

Takes qBittorrent's ``--profile=`` and ``--webui-port=`` arguments, opens the
port on 127.0.0.1 only after ``--listen-delay`` seconds and, on SIGTERM,
keeps running for ``--term-delay`` seconds (as qBittorrent does while it
writes resume data) before it exits by itself with status 0, saying so.
"""
import argparse
import signal
import socket
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument("--profile")
parser.add_argument("--webui-port", type=int, required=True)
parser.add_argument("--listen-delay", type=float, default=0.0)
parser.add_argument("--term-delay", type=float, default=0.0)
args = parser.parse_args()
terminated_at: list[float] = []
signal.signal(signal.SIGTERM, lambda *_: terminated_at.append(time.monotonic()))


def finished() -> bool:
    return bool(terminated_at) and time.monotonic() - terminated_at[0] >= args.term_delay


deadline = time.monotonic() + args.listen_delay
while time.monotonic() < deadline and not finished():
    time.sleep(0.01)
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", args.webui_port))
server.listen(16)
server.settimeout(0.05)
print("fake qBittorrent listening on %d" % args.webui_port, flush=True)
while not finished():
    try:
        server.accept()[0].close()
    except OSError:
        pass
print("fake qBittorrent saved its resume data and exits after SIGTERM", flush=True)
sys.exit(0)
