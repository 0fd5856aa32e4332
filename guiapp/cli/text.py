"""Text the CLI prints: safe for any terminal encoding, errors on one line."""

from __future__ import annotations

import sys


def shown(value: object) -> str:
    """Text safe to print: file names that are not valid UTF-8 get backslash escapes
    instead of crashing print() after the work is done."""
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    return str(value).encode(encoding, "backslashreplace").decode(encoding)


def one_line(message: object) -> str:
    """The CLI's errors are one line: fold any newline a message carries."""
    return shown(" ".join(str(message).split()))


def short_name(name: str, most: int = 28) -> str:
    """A file name for a progress line: long ones keep their start and end ("n01440764_te…nch.JPEG")."""
    if len(name) <= most:
        return name
    keep = most - 1
    return name[: keep - keep // 2] + "…" + name[-(keep // 2):]
