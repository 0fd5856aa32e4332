"""Every failure as a JSON body with a status that says whose fault it is.

Body: {"error": "<machine code>", "message": "<one readable line>", ...extra}. Input
problems are 4xx; a bug still answers JSON (500) rather than a bare traceback page.
Messages never name a path on the server (the engine's messages do, for the CLI's user:
a model's cache folder, a centroid file, our temp folder): every absolute path becomes
"<server path>", and a message is at most 1000 characters.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..core.errors import GuiappError, ImageLoadError, LabelError, MemoryLimitError, ModelUnavailableError, OutputError
from .pool import PoolClosed, QueueFull

log = logging.getLogger("guiapp.serve")


MAX_MESSAGE = 1000
# An absolute path: /x/y (not the "/" of "1/255", "multipart/form-data" or a URL), ~/x, C:\x.
_PATH = re.compile(r"(?<![\w.:/~\\-])(?:/|~/|[A-Za-z]:\\)(?=[^\s'\"`,;:()]*[A-Za-z])[^\s'\"`,;:()]+")


def scrub_paths(message: str) -> str:
    """Replace every absolute path in a message with "<server path>"."""
    return _PATH.sub("<server path>", message)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None,
                 **extra: Any) -> None:
        message = scrub_paths(message)
        if len(message) > MAX_MESSAGE:
            message = message[: MAX_MESSAGE - 1] + "…"
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.extra = extra

    def response(self) -> JSONResponse:
        return JSONResponse({"error": self.code, "message": self.message, **self.extra}, self.status, self.headers)


def from_guiapp_error(exc: GuiappError) -> ApiError:
    """The engine's user errors as HTTP errors (the CLI prints the same messages)."""
    if isinstance(exc, ImageLoadError):
        return ApiError(400, "bad_image", strip_server_path(str(exc)))
    if isinstance(exc, MemoryLimitError):
        return ApiError(413, "too_large_for_memory", str(exc))
    if isinstance(exc, LabelError):
        return ApiError(422, "bad_label", str(exc))
    if isinstance(exc, ModelUnavailableError):
        return ApiError(422, "model_unavailable", str(exc))
    if isinstance(exc, OutputError):
        # Our own temp folder failed (disk full...): the server's problem, and maybe passing.
        return ApiError(503, "server_storage", str(exc), headers={"Retry-After": "30"})
    return ApiError(422, "bad_request", str(exc))


def shutting_down() -> ApiError:
    return ApiError(503, "shutting_down", "the server is shutting down", headers={"Retry-After": "10"})


def strip_server_path(message: str) -> str:
    """Image errors start with the file's path; ours is a private temp path, not the client's."""
    head, sep, tail = message.partition(": ")
    return tail if sep and "/" in head else message


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(GuiappError)
    async def guiapp_error(request: Request, exc: GuiappError) -> JSONResponse:
        return from_guiapp_error(exc).response()

    @app.exception_handler(QueueFull)
    async def queue_full(request: Request, exc: QueueFull) -> JSONResponse:
        return ApiError(
            429, "queue_full", f"all workers are busy and the queue is full; retry in {exc.retry_after} s",
            headers={"Retry-After": str(exc.retry_after)},
        ).response()

    @app.exception_handler(PoolClosed)
    async def closed(request: Request, exc: PoolClosed) -> JSONResponse:
        return shutting_down().response()

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return ApiError(exc.status_code, code, str(exc.detail), headers=dict(exc.headers or {})).response()

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in exc.errors()]
        return ApiError(422, "bad_request", "; ".join(problems) or "invalid request").response()

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return ApiError(500, "internal", f"internal error ({type(exc).__name__}); see the server log").response()
