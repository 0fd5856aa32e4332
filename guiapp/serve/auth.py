"""Bearer-token check, run before a request body is read (so strangers cannot upload)."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from fastapi import Request

from .errors import ApiError


def bearer_guard(token: str | None) -> Callable[[Request], None]:
    """A FastAPI dependency: no-op without a token, else 401 unless the header matches."""

    def check(request: Request) -> None:
        if token is None:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        # compare_digest: the time taken must not reveal how much of the token matched.
        if scheme.lower() != "bearer" or not secrets.compare_digest(given.strip().encode(), token.encode()):
            raise ApiError(
                401,
                "unauthorized",
                "missing or wrong token: send 'Authorization: Bearer <token>'",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return check
