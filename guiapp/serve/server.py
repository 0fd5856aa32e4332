"""Running the app under uvicorn: bind, serve, and stop cleanly on SIGINT/SIGTERM.

We bind the socket ourselves so that a taken port is a clear one-line error, `--port 0`
works (the chosen port is printed), and the address printed is the real one. On a stop
signal, running attacks are cancelled first (their clients get 503 at once), open
requests are answered, the temp folder is deleted, and the process exits with status 0
within seconds: an attack step still running (one iteration can take long on a large
image) is not waited for beyond a moment, the process exits without it.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from collections.abc import Sequence

import uvicorn

from ..core.errors import GuiappError
from ..core.models import Classifier
from .app import create_app
from .engine import Engine
from .settings import ServeSettings, check_exposure

GRACE_S = 3  # after a stop signal, how long open requests may take to be answered (they are cancelled)


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, engine: Engine) -> None:
        super().__init__(config)
        self.engine = engine

    async def shutdown(self, sockets: Sequence[socket.socket] | None = None) -> None:
        self.engine.stop_accepting()
        await super().shutdown(sockets=list(sockets) if sockets is not None else None)


def bind(host: str, port: int) -> socket.socket:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise GuiappError(f"cannot resolve host {host!r}: {exc.strerror}") from exc
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise GuiappError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.set_inheritable(True)
    return sock


def serve(settings: ServeSettings, model: Classifier, sock: socket.socket | None = None) -> int:
    """Serve until SIGINT/SIGTERM; returns the exit status (0 after a clean stop).

    `sock`: already bound by `bind` (the CLI binds before loading the model, so a taken
    port is reported at once)."""
    check_exposure(settings)
    sock = sock or bind(settings.host, settings.port)
    app = create_app(settings, model)
    config = uvicorn.Config(app, log_level="info", timeout_graceful_shutdown=GRACE_S, access_log=True)
    server = _Server(config, app.state.engine)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(
        f"guiapp server on http://{shown}:{port} (model {model.name} on {model.device}, "
        f"{settings.workers} worker(s), queue {settings.max_queue}{', token required' if settings.token else ''}); "
        f"API docs at /docs",
        flush=True,
    )
    # uvicorn re-raises the stop signal once it is done; a no-op handler here makes that
    # a normal return (exit 0) instead of a KeyboardInterrupt or death by SIGTERM.
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
    if getattr(app.state, "workers_idle", True):
        print("guiapp server stopped", file=sys.stderr, flush=True)
        return 0
    # A worker thread is inside a long attack step (cancelled; nothing of it is kept, the
    # temp folder is gone): Python would wait for it at exit, so exit without it.
    print("guiapp server stopped (an attack step in progress was abandoned)", file=sys.stderr, flush=True)
    sys.stdout.flush()
    os._exit(0)
