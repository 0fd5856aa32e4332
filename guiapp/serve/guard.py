"""Who may talk to the server, checked for every request before its body is read.

With a token (`--token`), every path but /healthz needs `Authorization: Bearer <token>`:
the API, and its documentation (/docs, /openapi.json) too. A web page elsewhere cannot
send that header to us: browsers ask first (a CORS preflight) and we never agree.

Without a token the server listens on loopback only (settings.check_exposure), but a web
page the user opens can still reach 127.0.0.1: a form POST from http://evil.example is a
"simple" cross-origin request that browsers send without asking, and DNS rebinding
(evil.example first resolving to the attacker, then to 127.0.0.1) makes a page's own
origin reach us with `Host: evil.example`. So a request must name a loopback host
(localhost, 127.x.x.x, [::1]), and a request a browser marks as coming from another site
(an `Origin` that is not a loopback address, `Origin: null`, `Sec-Fetch-Site:
cross-site`) is refused with 403. curl, scripts and pages served from localhost pass.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from .errors import ApiError

OPEN_PATHS = ("/healthz",)  # liveness, for load balancers and process managers
Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


def token_matches(header: str, token: str) -> bool:
    """An `Authorization` header carrying `Bearer <token>` (compared in constant time)."""
    scheme, _, given = header.partition(" ")
    # compare_digest: the time taken must not reveal how much of the token matched.
    return scheme.lower() == "bearer" and secrets.compare_digest(given.strip().encode(), token.encode())


def is_loopback_name(host: str) -> bool:
    host = host.strip().lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True  # RFC 6761: always this machine
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _host_name(host_header: str) -> str:
    """'127.0.0.1:8000' -> '127.0.0.1', '[::1]:8000' -> '::1', 'localhost' -> 'localhost'."""
    value = host_header.strip()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def unauthorized() -> ApiError:
    return ApiError(401, "unauthorized", "missing or wrong token: send 'Authorization: Bearer <token>'",
                    headers={"WWW-Authenticate": "Bearer"})


def check_request(headers: dict[str, str], path: str, token: str | None) -> ApiError | None:
    """The refusal for a request, or None to let it through."""
    if token is not None:
        if path in OPEN_PATHS or token_matches(headers.get("authorization", ""), token):
            return None
        return unauthorized()
    host = headers.get("host")
    if host is not None and not is_loopback_name(_host_name(host)):
        return ApiError(403, "forbidden_host", f"this server answers requests to localhost only, not to "
                        f"{host[:80]!r} (a web page may be trying DNS rebinding); start it with --token to serve "
                        "other names")
    origin = headers.get("origin")
    if origin is not None:
        parts = urlsplit(origin.strip()) if origin.strip().lower() != "null" else None
        if parts is None or parts.scheme not in ("http", "https") or not is_loopback_name(parts.hostname or ""):
            return ApiError(403, "forbidden_origin", f"requests from the web page {origin[:80]!r} are refused: a "
                            "server without --token answers this machine's programs and localhost pages only")
    if headers.get("sec-fetch-site", "").lower() == "cross-site":
        return ApiError(403, "forbidden_origin", "cross-site requests are refused by a server without --token")
    return None


class RequestGuard:
    """ASGI middleware applying `check_request` to every HTTP request."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Any]],
                       send: Callable[[Any], Awaitable[None]]) -> None:
        if scope["type"] == "http":
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
            refusal = check_request(headers, scope.get("path", ""), self.token)
            if refusal is not None:
                await refusal.response()(scope, receive, send)
                return
        await self.app(scope, receive, send)
