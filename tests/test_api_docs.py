"""docs/API.md's curl examples, run in order against a real stack.

Each ```sh block is run with bash; the ```json block after it is the answer
the docs promise: the real answer must have the same ``err``, the same
``results`` keys and, for errors, the same ``msg``. The docs' port 8080 is
replaced by a free port.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.stack import PASSWORD, Stack, free_port

API_MD = Path(__file__).resolve().parent.parent / "docs" / "API.md"
BLOCK = re.compile(r"```(\w*)\n(.*?)```", re.S)


def examples(text: str) -> list[tuple[str, dict]]:
    blocks = BLOCK.findall(text)
    pairs = [(code, json.loads(answer)) for (kind, code), (next_kind, answer)
             in zip(blocks, blocks[1:]) if kind == "sh" and next_kind == "json"]
    assert len(pairs) == sum(1 for kind, _ in blocks if kind == "sh")
    return pairs


@pytest.fixture(scope="module")
def docs_stack():
    running = Stack().start()
    yield running
    running.call("stop")
    running.close()


def test_every_curl_example_answers_what_the_docs_say(docs_stack: Stack):
    port = str(free_port())
    text = API_MD.read_text().replace("8080", port)
    env = dict(os.environ, FSI=docs_stack.url, PASSWORD=PASSWORD, TOKEN=docs_stack.login())
    pairs = examples(text)
    assert {"login", "status", "start", "restart", "stop", "log", "version", "logout",
            "webui_credentials", "set_webui_credentials", "backup", "backups", "restore",
            "delete_backup", "stats"} <= {
        json.loads(re.search(r"\{.*\}", code).group(0))["cmd"] for code, _ in pairs
        if "<<EOF" in code}
    for code, promised in pairs:
        done = subprocess.run(["bash", "-euc", code], env=env, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, (code, done.stderr)
        answer = json.loads(done.stdout)
        assert answer["err"] == promised["err"], (code, answer)
        assert set(answer.get("results") or {}) == set(promised.get("results") or {}), \
            (code, answer)
        if promised["err"]:
            assert answer["msg"] == promised["msg"], (code, answer)
