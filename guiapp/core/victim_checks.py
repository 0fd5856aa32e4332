"""Checks of a victim before any work: an address that is not a URL, a URL nobody answers at.
Crafting takes a while; a victim that cannot be asked should fail before it, and these
checks ask no question (none is counted)."""

from __future__ import annotations

import re
import socket
import urllib.parse
import urllib.request

from .errors import GuiappError


def check_reachable(url: str, timeout_s: float) -> None:
    """Fail now, before any crafting, when nothing listens at a URL victim's host and port
    (a TCP connection only: no request, so no question is asked or counted). Skipped when a
    proxy carries the requests: the host is the proxy's to reach."""
    parts = urllib.parse.urlsplit(url.strip())
    host = parts.hostname or ""
    if not host or (urllib.request.getproxies().get(parts.scheme.lower()) and not urllib.request.proxy_bypass(host)):
        return
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError as exc:  # a port that is not a number, or out of range
        raise GuiappError(f"the victim {url[:80]!r} has a bad port: {exc}") from None
    try:
        with socket.create_connection((host, port), timeout=min(timeout_s, 10.0)):
            pass
    except OSError as exc:
        why = exc.strerror or type(exc).__name__ if not isinstance(exc, TimeoutError) else "no answer in time"
        raise GuiappError(f"nothing answers at the victim's {host}:{port} ({why}): is its server running? "
                          "(a connection only: no question was asked)") from None


# host:port[/path] or another scheme's URL: never a model spec (those are names, files, or
# torchvision:NAME-style prefixes without a port number).
_ADDRESS = re.compile(r"^([a-z][a-z0-9+.-]*://|[a-z0-9.-]+:\d+(/|$)|www\.)", re.IGNORECASE)


def check_model_spec(spec: str) -> None:
    """A victim that is not an http(s) URL is a model spec: say so when it reads as an address."""
    if _ADDRESS.match(spec.strip()):
        raise GuiappError(f"the victim {spec.strip()[:80]!r} looks like an address, but a victim URL starts with "
                          "http:// or https:// (e.g. http://127.0.0.1:8765/classify); anything else is read as a "
                          "model spec")
