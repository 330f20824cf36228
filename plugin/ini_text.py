"""INI text read and edited line by line, so that everything not touched stays as written.

Both INI dialects the plugin meets are handled here: supervisor's program
configs (sections cut out for ``install-conf``) and qBittorrent's QSettings
file (a value read, values set). A parser that re-serialises would drop
comments and reorder keys of files that admins and qBittorrent own.
"""
from __future__ import annotations

import re

_SECTION_LINE = re.compile(r"^\s*\[([^\]]*)\]")


def section_name(line: str) -> str | None:
    """The name of the section a ``[name]`` line opens, or None for any other line."""
    header = _SECTION_LINE.match(line)
    return header.group(1).strip() if header else None


def cut_section(text: str, name: str) -> str:
    """The ``[<name>]`` section of ``text``, comments included; ValueError when absent."""
    lines: list[str] = []
    inside = False
    for line in text.splitlines():
        opened = section_name(line)
        if opened is not None:
            inside = opened == name
        if inside:
            lines.append(line)
    if not lines:
        raise ValueError("no [%s] section" % name)
    return "\n".join(lines).rstrip() + "\n"


def read_value(text: str, section: str, key: str) -> str | None:
    """A value of ``key`` in ``section``, without its surrounding quotes."""
    current = None
    for line in text.splitlines():
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

    for line in text.splitlines():
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
