"""INI text read and edited line by line, so that everything not touched stays as written.

Both INI dialects the plugin meets are handled here: supervisor's program
configs (a section cut out, the ``command=`` line found) and qBittorrent's
QSettings file (a value read, values set). A parser that re-serialises would
drop comments and reorder keys of files that admins and qBittorrent own.
Files are decoded losslessly (:func:`decode`): a byte that is not UTF-8
comes back unchanged from :func:`encode` and never blocks an edit.
"""
from __future__ import annotations

import re

_SECTION_LINE = re.compile(r"^\s*\[([^\]]*)\]")
#: supervisor's ``name = value`` or ``name: value``.
_KEY_LINE = re.compile(r"^([^\s=:;#][^=:]*?)\s*[=:]")
#: A value continued on an indented line (supervisor's configparser).
_CONTINUATION = re.compile(r"^[ \t]+\S")


def decode(data: bytes) -> str:
    """File bytes as text; bytes that are not UTF-8 survive :func:`encode` unchanged."""
    return data.decode("utf-8", "surrogateescape")


def encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _lines(text: str) -> list[str]:
    """The lines of ``text``, split at ``\\n`` only (a ``\\r`` stays with its line)."""
    if not text:
        return []
    return (text[:-1] if text.endswith("\n") else text).split("\n")


def section_name(line: str) -> str | None:
    """The name of the section a ``[name]`` line opens, or None for any other line."""
    header = _SECTION_LINE.match(line)
    return header.group(1).strip() if header else None


def cut_section(text: str, name: str) -> str:
    """The ``[<name>]`` section of ``text``, comments included; ValueError when absent."""
    lines: list[str] = []
    inside = False
    for line in _lines(text):
        opened = section_name(line)
        if opened is not None:
            inside = opened == name
        if inside:
            lines.append(line)
    if not lines:
        raise ValueError("no [%s] section" % name)
    return "\n".join(lines).rstrip() + "\n"


def without_sections(text: str, names: set[str]) -> str:
    """``text`` without the named sections (each from its ``[name]`` line to the next section)."""
    kept: list[str] = []
    inside = False
    for line in _lines(text):
        opened = section_name(line)
        if opened is not None:
            inside = opened in names
        if not inside:
            kept.append(line)
    return "\n".join(kept).rstrip() + "\n"


def key_span(text: str, section: str, key: str) -> tuple[int, int] | None:
    """Where ``key``'s line and its continuation lines are in ``[section]`` of ``text``."""
    inside = False
    offset = 0
    start = -1
    for line in _lines(text):
        opened = section_name(line)
        if start >= 0 and (opened is not None or not _CONTINUATION.match(line)):
            return start, offset
        if opened is not None:
            inside = opened == section
        elif inside and start < 0:
            found = _KEY_LINE.match(line)
            if found and found.group(1) == key:
                start = offset
        offset = min(offset + len(line) + 1, len(text))
    return (start, offset) if start >= 0 else None


def read_value(text: str, section: str, key: str) -> str | None:
    """A value of ``key`` in ``section``, without its surrounding quotes."""
    current = None
    for line in _lines(text):
        opened = section_name(line)
        if opened is not None:
            current = opened
        elif current == section and "=" in line:
            name, value = line.split("=", 1)
            if name.strip() == key:
                value = value.strip()
                if len(value) >= 2 and value[0] == value[-1] == '"':
                    value = value[1:-1]
                return value
    return None


def write_values(text: str, section: str, values: dict[str, str]) -> str:
    """``text`` with ``values`` set in ``section``; every other line kept as it was."""
    pending = dict(values)
    out: list[str] = []
    current = None

    def flush() -> None:
        while out and not out[-1].strip():
            out.pop()  # keep new keys next to their section, before the blank line
        out.extend("%s=%s" % item for item in pending.items())
        pending.clear()
        out.append("")

    for line in _lines(text):
        opened = section_name(line)
        if opened is not None:
            if current == section and pending:
                flush()
            current = opened
        elif current == section and "=" in line and line.split("=", 1)[0].strip() in pending:
            name = line.split("=", 1)[0].strip()
            line = "%s=%s" % (name, pending.pop(name))
        out.append(line)
    if pending:
        if current != section:
            if out and out[-1].strip():
                out.append("")
            out.append("[%s]" % section)
        flush()
    return "\n".join(out).rstrip("\n") + "\n"
